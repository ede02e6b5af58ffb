/**
 * The one place a step's result and a command's outcome become events. Every path that ends a
 * step (checked, fixed, blocked, locked out, unreachable, not applicable) goes through
 * reportStepResult, so the event, the returned outcome and the reason's form cannot drift apart.
 */
import type { ExecResult, KillReport } from '../transport/types.js';
import type { Approval } from './approval.js';
import type { Change } from './capture.js';
import type { Phase, RunEvent, StepStatus } from './events.js';
import type { Verdict } from './judge.js';
import { lastLines, oneLine, outputTail, type Redact } from './sanitize.js';

/** What emitting needs from a run's context. */
export interface Reporting {
  runId: string;
  emit: (event: RunEvent) => void;
  redact: Redact;
  now: () => Date;
  /** A new command id, unique across runs (`<runId>.<n>`). */
  nextCommandId: () => string;
}

/** Numbers a run's commands: `<runId>.1`, `<runId>.2`, ... */
export function commandIds(runId: string): () => string {
  let n = 0;
  return () => `${runId}.${++n}`;
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
  verifyCommand?: string;
  commandsDigest?: string;
  changes?: Change[];
  /** A check-only step's check ran and found what it looks for (not a refusal, a missing tool, a lock). */
  finding?: true;
}

export function reportStepResult(
  ctx: Reporting,
  host: string,
  ps: { name: string; index: number; source?: { local?: boolean } },
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
    ...(ps.source?.local ? { local: true as const } : {}),
    durationMs: Date.now() - started,
  });
  return { step: ps.name, status, ...(extra.reason !== undefined ? { reason: extra.reason } : {}) };
}

/**
 * A command's two events, around sending it: 'command-start' before (the audit trail makes it
 * durable before the command goes out: write-ahead), 'command' with its outcome after, both with
 * the same commandId. `display`: the command with secrets masked.
 */
export interface CommandReport {
  readonly id: string;
  /** `matches`: a check's drift regex matches (drift.ts), for a saved plan. */
  ended(result: ExecResult, matches?: string[]): void;
}

/** `local`: the command runs on the controller for `host` (a `local: true` step). */
export function startCommand(ctx: Reporting, host: string, step: string, phase: Phase, display: string, approval?: Approval, local = false): CommandReport {
  const id = ctx.nextCommandId();
  const command = ctx.redact(display);
  const where = local ? { local: true as const } : {};
  ctx.emit({ type: 'command-start', time: ctx.now().toISOString(), runId: ctx.runId, host, step, phase, commandId: id, command, ...(approval ? { approval } : {}), ...where });
  return {
    id,
    ended(result, matches) {
      ctx.emit({
        type: 'command',
        time: ctx.now().toISOString(),
        runId: ctx.runId,
        host,
        step,
        phase,
        commandId: id,
        command,
        outcome: result.outcome,
        exitCode: result.code,
        durationMs: result.durationMs,
        output: {
          // A capture's output is file content as base64, which masking cannot see into: only its
          // digest is reported (the step's diff shows the content, masked).
          ...outputTail(result.stdout, result.stderr, result.stdoutTruncated || result.stderrTruncated, ctx.redact),
          ...(phase === 'capture' ? { tail: '' } : {}),
          ...(matches ? { matches } : {}),
        },
        ...(approval ? { approval } : {}),
        ...where,
      });
    },
  };
}

/** The kill a transport sends to stop a timed-out or interrupted command, recorded like any command (phase 'kill'). */
export function killReport(ctx: Reporting, host: string, step: string, local = false): KillReport {
  let started: CommandReport | undefined;
  return {
    starting: (command) => {
      started = startCommand(ctx, host, step, 'kill', command, undefined, local);
      return Promise.resolve(started.id);
    },
    ended: ({ problem, durationMs }) =>
      started?.ended({
        outcome: problem === undefined ? 'exit' : 'lost',
        code: problem === undefined ? 0 : null,
        signal: null,
        stdout: '',
        stderr: problem ?? '',
        stdoutTruncated: false,
        stderrTruncated: false,
        durationMs,
      }),
  };
}

/** Why a command did not pass, in one safe line, with the last line of its output. */
export function failureReason(what: string, ran: { result: ExecResult; verdict: Verdict }, ctx: Pick<Reporting, 'redact'>): string {
  const reason = ran.verdict.kind === 'pass' ? 'passed' : ran.verdict.reason;
  const last = lastLines(ran.result.stderr || ran.result.stdout, 1);
  return oneLine(ctx.redact(last ? `${what}: ${reason}: ${last}` : `${what}: ${reason}`));
}
