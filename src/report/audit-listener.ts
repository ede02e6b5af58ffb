/**
 * The audit trail as an event listener: for every command, a sealed, fsynced record before it is
 * sent (command-start) and one with its outcome (command), plus the run's start, approvals, step
 * results, failed connections and end.
 */
import type { RunEvent, RunEventListener } from '../engine/events.js';
import { UserError } from '../model/errors.js';
import { operatorName } from '../model/operator.js';
import type { AuditBody, AuditRecord } from './audit-record.js';

/** A delivery report: the body of a `notify` or `syslog-gap` record. */
type Header = 'time' | 'runId' | 'operator';
export type DeliveryReport = Omit<Extract<AuditBody, { kind: 'notify' }>, Header> | Omit<Extract<AuditBody, { kind: 'syslog-gap' }>, Header>;
import { AuditWriter } from './audit-writer.js';

export interface AuditListenerOptions {
  file: string;
  /** Defaults to $SUDO_USER, else $USER. */
  operator?: string;
  /** Applied to every string written; the engine already masks secrets, this is a second guard. */
  redact?: (text: string) => string;
  /** How long to wait for another process's append before failing (default 10 s). */
  lockTimeoutMs?: number;
  /**
   * Write every record at once but leave the fsync to flush(), which the caller must await before
   * it sends each command. Default: a command-start record is fsynced before the listener returns.
   */
  deferSync?: boolean;
  /** Hears every record as written (sealed, with seq and hash): --audit-syslog sends them on. */
  forward?: (record: AuditRecord) => void;
}

export interface AuditListener extends RunEventListener {
  readonly file: string;
  /** Records a delivery report: a notification not delivered, records the syslog server did not get (durable at once; not counted in the run's records). */
  noteDelivery(runId: string, report: DeliveryReport): void;
  /** Resolves when every record so far is on disk (one fsync for everyone waiting); see deferSync. */
  flush(): Promise<void>;
  close(): void;
}

/** Bounds on what one record holds, so a record stays small whatever a host prints. */
const MAX_COMMAND = 16 * 1024;
const MAX_TAIL = 4 * 1024;
const MAX_TEXT = 2 * 1024;
/** A change's diff as the engine bounded it (masked, at most 200 lines / 32 KiB): reports show it. */
const MAX_DIFF = 32 * 1024;
/** Hex digests: masking a secret that happens to be a substring of one would corrupt them. */
const NOT_TEXT = new Set(['digest', 'runbookHash']);

function keepHead(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…[${s.length - max} chars cut]`;
}
function keepTail(s: string, max: number): string {
  return s.length <= max ? s : `[${s.length - max} chars cut]…${s.slice(-max)}`;
}

function redactDeep<T>(value: T, redact: (s: string) => string): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => redactDeep(v, redact)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = NOT_TEXT.has(k) ? v : redactDeep(v, redact);
    return out as T;
  }
  return value;
}

/** What a command's start record and its outcome record both carry. */
function commandHead(e: Extract<RunEvent, { type: 'command-start' | 'command' }>, run: RunState) {
  return {
    runbook: run.runbook,
    runbookHash: run.runbookHash,
    host: e.host,
    step: e.step,
    phase: e.phase,
    commandId: e.commandId,
    command: keepHead(e.command, MAX_COMMAND),
    approval: e.approval,
    // Ran on the controller for this host (a local step), not on the host.
    ...(e.local ? { local: e.local } : {}),
  };
}

interface RunState {
  runbook: string;
  runbookHash: string;
  records: number;
}

export function createAuditListener(opts: AuditListenerOptions): AuditListener {
  const operator = opts.operator ?? operatorName();
  let writer: AuditWriter;
  try {
    writer = new AuditWriter(opts.file, opts.lockTimeoutMs);
  } catch (err) {
    // The writer's own refusals (a link, a directory others can write) already say it all.
    if (err instanceof UserError) throw err;
    throw new UserError({
      message: `cannot open audit file ${opts.file}: ${(err as Error).message}`,
      hint: 'choose another with --audit-file or RUNBOOK_AUDIT_FILE',
    });
  }
  const runs = new Map<string, RunState>();

  function bodyOf(e: RunEvent, run: RunState): AuditBody | undefined {
    const head = { time: e.time, runId: e.runId, operator };
    switch (e.type) {
      case 'run-start':
        return {
          ...head,
          kind: 'run-start',
          runbook: e.runbook,
          runbookFile: e.runbookFile,
          runbookHash: e.runbookHash,
          mode: e.mode,
          ...(e.plan ? { plan: e.plan } : {}),
          ...(e.undoes ? { undoes: e.undoes } : {}),
          ...(e.resumes ? { resumes: e.resumes } : {}),
          ...(e.vars ? { vars: e.vars } : {}),
          hosts: e.hosts,
          ...(e.onceHosts ? { onceHosts: e.onceHosts } : {}),
          steps: e.steps,
          ...(e.noDrain ? { noDrain: e.noDrain } : {}),
        };
      case 'command-start':
        return { ...head, kind: 'command-start', ...commandHead(e, run) };
      case 'command': {
        // The text is in the command's start record (same commandId), written before it was sent.
        const { command: _text, ...ref } = commandHead(e, run);
        return {
          ...head,
          kind: 'command',
          ...ref,
          outcome: e.outcome,
          exitCode: e.exitCode,
          durationMs: Math.round(e.durationMs),
          output: { digest: e.output.digest, tail: keepTail(e.output.tail, MAX_TAIL), truncated: e.output.truncated },
        };
      }
      case 'approval':
        return { ...head, kind: 'approval', runbook: run.runbook, host: e.host, step: e.step, decision: e.decision, by: e.by };
      case 'step-result':
        return {
          ...head,
          kind: 'step',
          runbook: run.runbook,
          host: e.host,
          step: e.step,
          stepIndex: e.stepIndex,
          status: e.status,
          reason: e.reason === undefined ? undefined : keepHead(e.reason, MAX_TEXT),
          ...(e.changes ? { changes: e.changes.map((c) => ({ ...c, diff: keepHead(c.diff, MAX_DIFF) })) } : {}),
          ...(e.local ? { local: e.local } : {}),
          durationMs: Math.round(e.durationMs),
        };
      case 'host-connect':
        if (e.ok) return undefined;
        return {
          ...head,
          kind: 'connect',
          runbook: run.runbook,
          host: e.host,
          ok: e.ok,
          error: e.error === undefined ? undefined : keepHead(e.error, MAX_TEXT),
          durationMs: Math.round(e.durationMs),
        };
      case 'run-end':
        return {
          ...head,
          kind: 'run-end',
          runbook: run.runbook,
          runbookHash: run.runbookHash,
          exitCode: e.exitCode,
          aborted: e.aborted,
          stopReason: e.stopReason === undefined ? undefined : keepHead(e.stopReason, MAX_TEXT),
          summary: e.summary,
          durationMs: Math.round(e.durationMs),
          records: run.records + 1,
        };
      default:
        return undefined;
    }
  }

  const listener = (event: RunEvent): void => {
    let run = runs.get(event.runId);
    if (!run) {
      run = event.type === 'run-start' ? { runbook: event.runbook, runbookHash: event.runbookHash, records: 0 } : { runbook: '', runbookHash: '', records: 0 };
      runs.set(event.runId, run);
    }
    let body = bodyOf(event, run);
    if (!body) return;
    if (opts.redact) body = redactDeep(body, opts.redact);
    try {
      // Only commands gate what is sent next, so only their records (and the run's end) wait for
      // fsync; the records in between become durable with them, with fewer fsyncs.
      const record = writer.append(body, { durable: !opts.deferSync && (event.type === 'command-start' || event.type === 'command' || event.type === 'run-end') });
      opts.forward?.(record);
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new UserError(
        { message: `cannot write audit record to ${opts.file}: ${(err as Error).message}`, hint: 'stopping: nothing runs unrecorded' },
        1,
      );
    }
    run.records++;
    if (event.type === 'run-end') runs.delete(event.runId);
  };

  const close = (): void => {
    try {
      writer.close();
    } catch (err) {
      throw new UserError({ message: `cannot write audit records to ${opts.file}: ${(err as Error).message}`, hint: 'the last step results of this run may be missing from it' }, 1);
    }
  };
  const flush = (): Promise<void> =>
    writer.flush().catch((err: unknown) => {
      throw new UserError({ message: `cannot write audit record to ${opts.file}: ${(err as Error).message}`, hint: 'stopping: nothing runs unrecorded' }, 1);
    });
  const noteDelivery: AuditListener['noteDelivery'] = (runId, report) => {
    let body = { time: new Date().toISOString(), runId, operator, ...report } as AuditBody;
    if (opts.redact) body = redactDeep(body, opts.redact);
    try {
      const record = writer.append(body, { durable: true });
      // The syslog copy gets it too, but for a syslog gap: that is written once the copy is closed.
      if (report.kind !== 'syslog-gap') opts.forward?.(record);
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new UserError({ message: `cannot write audit record to ${opts.file}: ${(err as Error).message}`, hint: `the ${report.kind} record is missing from it` }, 1);
    }
  };
  return Object.assign(listener, { file: opts.file, flush, close, noteDelivery });
}
