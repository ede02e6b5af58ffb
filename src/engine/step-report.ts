/**
 * The one place a step's result and a command's outcome become events. Every path that ends a
 * step (checked, fixed, blocked, locked out, unreachable, not applicable) goes through
 * reportStepResult, so the event, the returned outcome and the reason's form cannot drift apart.
 */
import type { ExecResult } from '../transport/types.js';
import type { Approval } from './approval.js';
import type { Phase, RunEvent, StepStatus } from './events.js';
import type { Verdict } from './judge.js';
import { lastLines, oneLine, outputTail, type Redact } from './sanitize.js';

/** What emitting needs from a run's context. */
export interface Reporting {
  runId: string;
  emit: (event: RunEvent) => void;
  redact: Redact;
  now: () => Date;
}

export interface StepOutcome {
  step: string;
  status: StepStatus;
  reason?: string;
}

export interface HostOutcome {
  host: string;
  reachable: boolean;
  steps: StepOutcome[];
  /** Another run holds the host's lock: who (one line). Nothing ran on the host. */
  locked?: string;
}

export interface StepResultExtra {
  reason?: string;
  checkOutput?: string;
  fixCommands?: string[];
}

export function reportStepResult(
  ctx: Reporting,
  host: string,
  ps: { name: string; index: number },
  status: StepStatus,
  started: number,
  extra: StepResultExtra = {},
): StepOutcome {
  ctx.emit({
    type: 'step-result',
    time: ctx.now().toISOString(),
    runId: ctx.runId,
    host,
    step: ps.name,
    stepIndex: ps.index,
    status,
    ...extra,
    durationMs: Date.now() - started,
  });
  return { step: ps.name, status, ...(extra.reason !== undefined ? { reason: extra.reason } : {}) };
}

/** A command's outcome as the 'command' event. `display`: the command with secrets masked. */
export function reportCommand(ctx: Reporting, host: string, step: string, phase: Phase, display: string, result: ExecResult, approval?: Approval): void {
  ctx.emit({
    type: 'command',
    time: ctx.now().toISOString(),
    runId: ctx.runId,
    host,
    step,
    phase,
    command: ctx.redact(display),
    outcome: result.outcome,
    exitCode: result.code,
    durationMs: result.durationMs,
    output: outputTail(result.stdout, result.stderr, result.stdoutTruncated || result.stderrTruncated, ctx.redact),
    ...(approval ? { approval } : {}),
  });
}

/** Why a command did not pass, in one safe line, with the last line of its output. */
export function failureReason(what: string, ran: { result: ExecResult; verdict: Verdict }, ctx: Pick<Reporting, 'redact'>): string {
  const reason = ran.verdict.kind === 'pass' ? 'passed' : ran.verdict.reason;
  const last = lastLines(ran.result.stderr || ran.result.stdout, 1);
  return oneLine(ctx.redact(last ? `${what}: ${reason}: ${last}` : `${what}: ${reason}`));
}
