/**
 * `runbook resume`: what the run being continued (and the runs it continued in turn) finished. A
 * step that ended ok or fixed on a host is not run there again; it is reported as not applicable,
 * naming the run that did it, and a fix it made still notifies handlers and counts for changed().
 */
export interface DoneStep {
  status: 'ok' | 'fixed';
  /** The run that finished it. */
  runId: string;
}

export interface ResumeFrom {
  /** The run this one continues. */
  runId: string;
  /** Host → step or handler name → how it was finished. */
  done: ReadonlyMap<string, ReadonlyMap<string, DoneStep>>;
}

export const doneReason = (d: DoneStep): string => `done in run ${d.runId}: ${d.status}`;
