/**
 * Approval is a decision on a planned fix. The gate decides; how the question is put to a human
 * (listr2 + inquirer in a TTY) is a Prompter supplied by the caller, so the engine never touches
 * the terminal. Prompts are serialised: one question at a time, while other hosts keep checking.
 */
import type { ApprovalDecision } from './events.js';
import type { RunControl } from './control.js';

export interface ApprovalRequest {
  host: string;
  step: string;
  stepIndex: number;
  /** Why the check failed, one line. */
  reason: string;
  /** Last lines of the check output (safe to display). */
  checkTail: string;
  /** The whole captured check output (safe to display), for "show full output". */
  checkOutput: string;
  /** The exact commands, secrets masked. */
  commands: string[];
  /** The step's preview: what its file would become, as a diff. */
  preview?: string;
  /** apply --plan: the host drifted since the plan; the operator decides with the difference in view. */
  drift?: { reason: string; plannedOutput: string };
}

export interface Approval {
  decision: ApprovalDecision;
  by: string;
}

/** 'yes' | 'all-hosts' | 'all' | 'auto' let the fix run. */
export function approves(decision: ApprovalDecision): boolean {
  return decision === 'yes' || decision === 'all-hosts' || decision === 'all' || decision === 'auto';
}

export interface ApprovalGate {
  /** A human answers (a drifted planned fix is put to them); without one it is skipped. */
  readonly asks: boolean;
  decide(request: ApprovalRequest): Promise<Approval>;
}

/** --yes: every fix is approved up front by the operator who ran the command. */
export function autoApprove(by: string): ApprovalGate {
  return { asks: false, decide: async () => ({ decision: 'auto', by }) };
}

export type PromptAnswer = 'yes' | 'no' | 'all-hosts' | 'all' | 'quit';

/**
 * Asks a human. Must handle "show full output" itself (by showing it and asking again).
 * Rejects when the operator cancels (Ctrl-C in raw mode) or `signal` aborts.
 */
export type Prompter = (request: ApprovalRequest, signal: AbortSignal) => Promise<PromptAnswer>;

export function createInteractiveGate(prompter: Prompter, by: string, control: RunControl): ApprovalGate {
  const approvedSteps = new Set<number>();
  let approveAll = false;
  let queue: Promise<unknown> = Promise.resolve();
  // Closing an open prompt when the run stops (Ctrl-C, quit elsewhere) keeps stop from hanging on it.
  const cancel = new AbortController();
  control.onStop(() => cancel.abort());

  async function ask(req: ApprovalRequest): Promise<Approval> {
    if (control.stopping) return { decision: 'quit', by };
    // A drifted planned fix is always put to the operator: "all" was said of fixes as planned.
    if (approveAll && !req.drift) return { decision: 'all', by };
    if (approvedSteps.has(req.stepIndex) && !req.drift) return { decision: 'all-hosts', by };
    let answer: PromptAnswer;
    try {
      answer = await prompter(req, cancel.signal);
    } catch {
      // Ctrl-C inside the prompt arrives as a rejected prompt (the terminal is in raw mode, so no SIGINT).
      control.stop('interrupted by the operator (Ctrl-C at the approval prompt)', { byOperator: true });
      return { decision: 'quit', by };
    }
    if (answer === 'all') approveAll = true;
    if (answer === 'all-hosts') approvedSteps.add(req.stepIndex);
    if (answer === 'quit') control.stop('the operator quit at the approval prompt', { byOperator: true });
    return { decision: answer, by };
  }

  return {
    asks: true,
    decide(req) {
      const next = queue.then(() => ask(req));
      queue = next.catch(() => undefined);
      return next;
    },
  };
}
