/**
 * The engine's only output: a stream of events. The live view, --json, the recap and the audit
 * trail are listeners on this stream (src/report/*); none of them is called by the engine directly.
 * The --json format is these objects, one per line; docs/events.md documents it.
 * All strings that could carry a secret are masked by the engine before an event is emitted.
 */

export type StepStatus =
  | 'ok'
  | 'fixed'
  | 'would-fix'
  | 'failed'
  | 'skipped'
  | 'blocked'
  | 'unreachable'
  | 'unknown'
  | 'interrupted'
  | 'depends-on-pending-fix'
  /** Fleet control: not this host's step (`on:`, a `once` step that ran elsewhere), a false `when:`, a handler nobody notified. */
  | 'not-applicable'
  | 'not-run';

export type Phase = 'check' | 'fix' | 'verify' | 'when' | 'lock';

export type ApprovalDecision = 'yes' | 'no' | 'all-hosts' | 'all' | 'quit' | 'auto';

export interface OutputTail {
  /** Last lines of stdout+stderr, ANSI-neutralised, secrets masked. */
  tail: string;
  /** sha256 of the full captured output. */
  digest: string;
  truncated: boolean;
}

export type RunEvent =
  | {
      type: 'run-start';
      time: string;
      runId: string;
      runbook: string;
      runbookFile: string;
      runbookHash: string;
      operator: string;
      mode: 'dry-run' | 'apply';
      hosts: string[];
      steps: string[];
    }
  | { type: 'host-connect'; time: string; runId: string; host: string; ok: boolean; error?: string; durationMs: number }
  | { type: 'step-start'; time: string; runId: string; host: string; step: string; stepIndex: number }
  | {
      type: 'command';
      time: string;
      runId: string;
      host: string;
      step: string;
      phase: Phase;
      /** Rendered, secrets masked. */
      command: string;
      outcome: 'exit' | 'signal' | 'timeout' | 'lost' | 'interrupted';
      exitCode: number | null;
      durationMs: number;
      output: OutputTail;
      approval?: { decision: ApprovalDecision; by: string };
    }
  | {
      type: 'approval';
      time: string;
      runId: string;
      host: string;
      step: string;
      decision: ApprovalDecision;
      by: string;
    }
  | {
      type: 'step-result';
      time: string;
      runId: string;
      host: string;
      step: string;
      stepIndex: number;
      status: StepStatus;
      /** One line: why it failed / was blocked / would fix. */
      reason?: string;
      /** The check output that triggered a fix (tail). */
      checkOutput?: string;
      /** Rendered fix commands (masked): what ran, or what a dry run would run. */
      fixCommands?: string[];
      durationMs: number;
    }
  | {
      type: 'run-end';
      time: string;
      runId: string;
      exitCode: number;
      aborted: boolean;
      /** Why the run stopped early (max_failures, quit, SIGINT), if it did. */
      stopReason?: string;
      summary: Record<string, Partial<Record<StepStatus, number>>>;
      durationMs: number;
    };

export type RunEventListener = (event: RunEvent) => void;
