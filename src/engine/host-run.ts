/**
 * What happens on one host: its steps in order over one connection. Step semantics live here
 * (check → ok | would-fix | approval → fix → verify → fixed | failed); which hosts run when is
 * a strategy's business (strategy.ts), and what the operator sees is a listener's.
 */
import { randomBytes } from 'node:crypto';
import type { ExecResult, Connection } from '../transport/types.js';
import type { Expectation, Host } from '../model/types.js';
import type { Phase, StepStatus } from './events.js';
import type { HostPlan, PlannedStep, RenderedCommand, RunMode } from './plan.js';
import { approves, type Approval, type ApprovalGate } from './approval.js';
import type { RunControl } from './control.js';
import { judge, type Verdict } from './judge.js';
import { oneLine, outputTail, safeFullOutput } from './sanitize.js';
import { failureReason, killReport, reportStepResult, startCommand, type HostOutcome, type Reporting, type StepOutcome, type StepResultExtra } from './step-report.js';
import { lockHost, type HeldLock, type HostLockOptions } from './host-lock.js';
import { leavesHostUnknown } from './status.js';
import { commandsDigest, driftMatches } from './drift.js';
import type { PlanGuard } from './plan-guard.js';
import { capturePrelude, capturePreview, captureStep, changesBetween, storeCaptures, type Capture, type CapturePrelude, type CaptureStore, type Change } from './capture.js';
import { drainBefore, KUBECTL_MARGIN_MS, shownFixCommands, type DrainExec, type DrainGate, type DrainPlan, type Drained } from './node-drain.js';
import { armCommand, confirmCommand, disarmCommand, newConfirmToken, revertNowCommand, revertScript, REVERTED, watchdogLogCommand } from './confirm.js';

export interface HostRunContext extends Reporting {
  mode: RunMode;
  gate: ApprovalGate;
  control: RunControl;
  /** For steps without a `timeout`. */
  defaultTimeoutMs: number;
  /** Wraps the wait for an approval so the strategy can lend this host's slot meanwhile. */
  idle?: <T>(wait: Promise<T>) => Promise<T>;
  /** Apply mode: take the host-side lock (host-lock.ts) before the host's first step. */
  hostLock?: HostLockOptions & { operator: string };
  /** Fleet control (fleet.ts): targeting, once, when, registered values, barriers and handlers. */
  fleet: FleetHooks;
  /** apply --plan: which fixes may run (plan-guard.ts). */
  planGuard?: PlanGuard;
  /** Where captured content is kept, by digest (capture.ts). */
  captureStore?: CaptureStore;
  /** How many nodes disruptive steps drain at once, and whether one was left cordoned (node-drain.ts). */
  drains?: DrainGate;
}

/** How fleet control runs each of a host's steps (through runStep) and then its handlers. */
export interface FleetHooks {
  runStep(conn: Connection, hp: HostPlan, ps: PlannedStep, ctx: HostRunContext): Promise<StepOutcome>;
  /** After the host's steps: the notified handlers, in handler order. `blockedBy`: an earlier step failed. */
  runHandlers(conn: Connection, hp: HostPlan, ctx: HostRunContext, blockedBy: string | undefined): Promise<StepOutcome[]>;
  /** resume: a host the resumed run left nothing to do on gets its results here, unconnected. */
  finishedEarlier(hp: HostPlan, ctx: HostRunContext): StepOutcome[] | undefined;
}

export interface RunStepOptions {
  /**
   * Sees the stdout of the step's last read-only command (the check, or the verify after a fix)
   * before the result is reported; returning a reason fails the step (e.g. `json: true` and not JSON).
   */
  register?: (stdout: string, status: StepStatus) => string | undefined;
  /** A fresh connection to the host (not the run's shared one): a `confirm:` step reads its watchdog's log over it after a cut. */
  reconnect?: () => Promise<Connection>;
  /** A connection to this machine, as the operator: a disruptive step's kubectl drain runs over it. */
  here?: () => Promise<Connection>;
}


export type Connect = (host: Host) => Promise<Connection>;

export interface Ran {
  result: ExecResult;
  verdict: Verdict;
  /** What a prelude captured before the command (ExecOptions.prelude). */
  captures?: Capture[];
}

export interface ExecOptions {
  /** The operator's decision, for a fix. */
  approval?: Approval;
  /** Runs even once the run is being interrupted (putting a confirm step's state back). */
  ignoreStop?: boolean;
  /** Captures run in the same shell just before the command, and recorded with it (capture.ts). */
  prelude?: CapturePrelude;
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const hint = (err as { hint?: unknown }).hint;
    return typeof hint === 'string' && hint ? `${err.message} (${hint})` : err.message;
  }
  return String(err);
}

/**
 * Runs one command and reports it: 'command-start' before it is sent (the audit trail makes that
 * durable first), 'command' with its outcome before anything else starts on this host.
 */
export async function execAndReport(
  conn: Connection,
  host: string,
  ps: PlannedStep,
  phase: Phase,
  cmd: RenderedCommand,
  expect: Expectation | undefined,
  ctx: HostRunContext,
  opts: ExecOptions = {},
): Promise<Ran> {
  const { approval, ignoreStop = false, prelude } = opts;
  const started = Date.now();
  const local = ps.source.local ?? false;
  const sent = prelude ? prelude.wrap(cmd) : cmd;
  const report = startCommand(ctx, host, ps.name, phase, sent.display, approval, local);
  let result: ExecResult;
  try {
    result = await conn.exec(sent.command, {
      timeoutMs: ps.timeoutMs ?? ctx.defaultTimeoutMs,
      become: ps.become,
      ...(ignoreStop ? {} : { signal: ctx.control.signal }),
      commandId: report.id,
      onKill: killReport(ctx, host, ps.name, local),
    });
  } catch (err) {
    // A transport that throws instead of returning gives us no exit status: the outcome is unknown.
    result = {
      outcome: ctx.control.interrupted ? 'interrupted' : 'lost',
      code: null,
      signal: null,
      stdout: '',
      stderr: '',
      stdoutTruncated: false,
      stderrTruncated: false,
      durationMs: Date.now() - started,
      reason: errorMessage(err),
    };
  }
  // The captures' output is theirs (file content as base64): the command's result is the rest.
  let captures: Capture[] | undefined;
  let didNotRun = false;
  if (prelude) {
    const exited = result.outcome === 'exit';
    const why = exited ? 'its capture did not finish' : failureReason('capture', { result, verdict: judge(result, undefined) }, ctx);
    const split = prelude.split(result.stdout, result.stdoutTruncated, exited, why);
    captures = split.captures;
    didNotRun = exited && !split.ran;
    result = { ...result, stdout: split.stdout, stdoutTruncated: split.truncated };
  }
  const drift = ps.source.drift;
  report.ended(result, phase === 'check' && drift?.kind === 'regex' ? driftMatches(result.stdout, result.stderr, drift.value, ctx.redact) : undefined);
  // A shell that ended before the command: its exit status is not the command's, never a verdict.
  const verdict: Verdict = didNotRun ? { kind: 'error', reason: 'did not run: the shell ended during the captures before it' } : judge(result, expect);
  return { result, verdict, ...(captures ? { captures } : {}) };
}

/** Starts each line of output a check prints for a program it needs and does not find; a nonce per command follows. */
const NEEDS_MARK = 'runbook-needs-missing-';
/** The shell's "command not found", with which that check exits before its own commands run. */
const NEEDS_EXIT = 127;

/**
 * A step's `needs`, looked up on the host in the check's own shell before the check runs (through
 * sudo when the step uses it: sudo's secure_path is the PATH its commands get). One exec per
 * check, not two: a second session per step was a third of the commands a run sent. Like sudo's
 * wrapper, the lookup is not part of the command shown or recorded; the step's result names what
 * is missing. The loop runs only when something is missing, then exits, so no variable of the
 * lookup reaches the check. Names are validated as [A-Za-z0-9._+-] by the schema: nothing here
 * needs quoting. `; `, not a new line, keeps the check's own line numbers in the shell's errors.
 */
function needsFirst(check: RenderedCommand, needs: readonly string[], mark: string): RenderedCommand {
  if (needs.length === 0) return check;
  const lookup = `{ ${needs.map((t) => `command -v ${t}`).join(' && ')}; } >/dev/null 2>&1 || { for t in ${needs.join(' ')}; do command -v "$t" >/dev/null 2>&1 || echo "${mark} $t"; done; exit ${NEEDS_EXIT}; }; `;
  return { ...check, command: lookup + check.command };
}

/**
 * A missing program is that host's result for the step, named as such, instead of a check failing
 * with "jq: not found" and being read as a finding about the node. Returns the reason, or
 * undefined when the check ran. Only names the step needs count: the output is the host's.
 */
function missingTools(ran: Ran, mark: string, host: string, ps: PlannedStep, ctx: HostRunContext): string | undefined {
  if (ps.needs.length === 0 || ran.result.outcome !== 'exit' || ran.result.code !== NEEDS_EXIT) return undefined;
  const named = new Set(ran.result.stdout.split('\n').flatMap((l) => (l.startsWith(`${mark} `) ? [l.slice(mark.length + 1).trim()] : [])));
  const missing = ps.needs.filter((t) => named.has(t));
  if (missing.length === 0) return undefined;
  const them = missing.length > 1 ? 'them' : 'it';
  if (ps.source.local) return oneLine(ctx.redact(`needs ${missing.join(', ')} on this machine (a local step, run here for ${host}): install ${them} here (or put ${them} on runbook's PATH); the check did not run`));
  return oneLine(ctx.redact(`needs ${missing.join(', ')} on ${host}: install ${them} there (or put ${them} on the PATH its commands get); the check did not run`));
}

/** check → (ok | would-fix | approve → fix → verify). Emits step-start, commands, approval, step-result. */
export async function runStep(conn: Connection, host: string, ps: PlannedStep, ctx: HostRunContext, opts: RunStepOptions = {}): Promise<StepOutcome> {
  const started = Date.now();
  ctx.emit({ type: 'step-start', time: ctx.now().toISOString(), runId: ctx.runId, host, step: ps.name, stepIndex: ps.index });
  const report = (status: StepStatus, extra?: StepResultExtra) => reportStepResult(ctx, host, ps, status, started, extra);
  // A completed read-only command's output goes to `register` first; it may turn the result into a failure.
  const done = (status: StepStatus, extra?: StepResultExtra, read?: Ran) => {
    const problem = read && read.result.outcome === 'exit' && opts.register ? opts.register(read.result.stdout, status) : undefined;
    return problem === undefined ? report(status, extra) : report('failed', { ...extra, reason: oneLine(ctx.redact(problem)) });
  };

  // The nonce: a check's own output (or a host's) saying "missing" is the check's output, not a lookup.
  const mark = `${NEEDS_MARK}${randomBytes(6).toString('hex')}:`;
  const check = await execAndReport(conn, host, ps, 'check', needsFirst(ps.check, ps.needs, mark), ps.expect, ctx);
  const missing = missingTools(check, mark, host, ps, ctx);
  if (missing !== undefined) return report('failed', { reason: missing });
  switch (check.verdict.kind) {
    case 'pass': {
      const noLonger = ctx.planGuard?.passed(host, ps);
      return done('ok', noLonger ? { reason: noLonger } : {}, check);
    }
    case 'unknown':
      return done('unknown', { reason: failureReason('check', check, ctx) });
    case 'interrupted':
      return done('interrupted', { reason: failureReason('check', check, ctx) });
    case 'error':
      return done('failed', { reason: failureReason('check', check, ctx) });
    case 'fail':
      break;
  }

  const checkTail = outputTail(check.result.stdout, check.result.stderr, false, ctx.redact).tail;
  // The check itself says the fix must not run here (e.g. a firewall rule only the operator may
  // remove): the step fails in a dry run exactly as in an apply, with nothing proposed.
  if (ps.source.refuseExit !== undefined && check.result.outcome === 'exit' && check.result.code === ps.source.refuseExit) {
    return done('failed', { reason: failureReason('refused', check, ctx), checkOutput: checkTail }, check);
  }
  // The plan and the run's lines list the commands briefly; the approval shows them whole.
  const fixCommands = shownFixCommands(ps.fix.map((f) => ctx.redact(f.brief ?? f.display)), ps.drain, ctx.redact);
  const pending = {
    checkOutput: checkTail,
    fixCommands,
    verifyCommand: ctx.redact(ps.verify.brief ?? ps.verify.display),
    commandsDigest: commandsDigest(
      ps.fix.map((f) => ctx.redact(f.display)),
      ctx.redact(ps.verify.display),
    ),
  };
  const why = failureReason('check failed', check, ctx);
  if (ps.fix.length === 0) return done('failed', { reason: why, checkOutput: checkTail, finding: true }, check);
  // The preview (read-only, like the check) runs in a dry run, and in an apply just before a
  // person's question, so the operator sees what the fix would change (nobody reads it under --yes).
  const capture = captureExec(conn, host, ps, ctx);
  if (ctx.mode === 'dry-run') {
    const preview = ps.preview ? await capturePreview(ps, ps.preview, capture, ctx) : undefined;
    return done('would-fix', { reason: why, ...pending, ...(preview ? { changes: [preview] } : {}) }, check);
  }
  if (ctx.control.stopping) return done('not-run', { reason: ctx.control.stopReason, ...pending });
  const planned = ctx.planGuard?.beforeFix(host, ps, check.result, ctx.redact);
  if (planned?.kind === 'skip' || (planned?.kind === 'drifted' && !ctx.gate.asks)) return done('skipped', { reason: oneLine(planned.reason), ...pending });
  const preview = ps.preview && ctx.gate.asks ? await capturePreview(ps, ps.preview, capture, ctx) : undefined;

  const asking = ctx.gate.decide({
    host,
    step: ps.name,
    stepIndex: ps.index,
    reason: why,
    checkTail,
    checkOutput: safeFullOutput(check.result.stdout, check.result.stderr, ctx.redact),
    commands: shownFixCommands(ps.fix.map((f) => ctx.redact(f.display)), ps.drain, ctx.redact),
    ...(planned?.kind === 'drifted' ? { drift: { reason: planned.reason, plannedOutput: planned.plannedOutput } } : {}),
    ...(preview ? { preview: preview.diff } : {}),
  });
  // The slot is lent only while a person decides: an automatic approval keeps --forks exact.
  const approval = await (ctx.idle && ctx.gate.asks ? ctx.idle(asking) : asking);
  ctx.emit({ type: 'approval', time: ctx.now().toISOString(), runId: ctx.runId, host, step: ps.name, ...approval });
  if (!approves(approval.decision)) {
    const reason = approval.decision === 'quit' ? `not fixed: ${ctx.control.stopReason ?? 'the run was stopped'}` : `fix declined by ${approval.by}`;
    return done('skipped', { reason, ...pending });
  }
  if (ctx.control.stopping) return done('not-run', { reason: ctx.control.stopReason, ...pending });

  // A disruptive step's node is drained once the fix is approved, and uncordoned after it (node-drain.ts).
  let drained: Drained | undefined;
  let here: Connection | undefined;
  if (ps.drain) {
    const got = await drainNode(ps, ps.drain, host, approval, ctx, opts);
    if ('refused' in got) return done('failed', { reason: oneLine(ctx.redact(got.refused)), ...pending });
    if ('notRun' in got) return done('not-run', { reason: got.notRun, ...pending });
    ({ drained, here } = got);
  }
  if (!drained) {
    const ended = await fixAndVerify(conn, host, ps, ctx, opts, approval, pending, capture);
    return done(ended.status, ended.extra, ended.read);
  }
  let ended: FixEnded;
  try {
    ended = await fixAndVerify(conn, host, ps, ctx, opts, approval, pending, capture);
  } catch (err) {
    // Whatever broke, the node stays cordoned and no other is drained: the slot is given back.
    await drained.after({ fixed: false, fixStarted: true, host, status: 'unknown' }).catch(() => undefined);
    await here?.close().catch(() => undefined);
    throw err;
  }
  try {
    const { note, failed } = await drained.after({ fixed: ended.status === 'fixed', fixStarted: ended.fixStarted, host, status: ended.status });
    const reason = ended.extra.reason ? `${ended.extra.reason}; ${note}` : note;
    return done(failed ? 'failed' : ended.status, { ...ended.extra, reason: oneLine(ctx.redact(reason)) }, ended.read);
  } finally {
    await here?.close().catch(() => undefined);
  }
}

/** How the fix and its verify ended: done()'s arguments, and whether a fix command was sent. */
interface FixEnded {
  status: StepStatus;
  extra: StepResultExtra;
  read?: Ran;
  fixStarted: boolean;
}

type Pending = Pick<StepResultExtra, 'checkOutput' | 'fixCommands' | 'verifyCommand' | 'commandsDigest'>;

/** The approved fix: captures, the confirm watchdog, the fix commands, the verify. */
async function fixAndVerify(
  conn: Connection,
  host: string,
  ps: PlannedStep,
  ctx: HostRunContext,
  opts: RunStepOptions,
  approval: Approval,
  pending: Pending,
  capture: ReturnType<typeof captureExec>,
): Promise<FixEnded> {
  let fixStarted = false;
  const ended = (status: StepStatus, extra: StepResultExtra = {}, read?: Ran): FixEnded => ({ status, extra, ...(read ? { read } : {}), fixStarted });
  // What the fix may change, as it is now; captured again after the fix, for the diff.
  const capturing = ps.files.length > 0 || ps.snapshot.length > 0;
  // Read here, after the check (and any approval or drain): a healthy step reads nothing.
  const before = capturing ? await captureStep(ps, capture, ctx) : [];
  storeCaptures(before, ctx.captureStore);
  // A stop that came while capturing still keeps the fix from starting.
  if (ctx.control.stopping) return ended('not-run', { reason: ctx.control.stopReason, ...pending });
  // confirm: the watchdog is armed before the fix, or the fix does not run.
  let armed: Armed | undefined;
  if (ps.source.confirmMs !== undefined) {
    const got = await arm(conn, host, ps, before, ps.source.confirmMs, ctx);
    if (typeof got === 'string') return ended('failed', { reason: got, ...pending });
    if ('unknown' in got) return ended('unknown', { reason: oneLine(ctx.redact(got.unknown)), ...pending });
    armed = got;
  }
  const watched = armed ? watchdog(conn, host, ps, armed, ctx, opts) : undefined;
  const finish = ([status, extra]: Ended, more: StepResultExtra) => ended(status, { ...more, ...extra });
  // Nothing more is sent to a host in an unknown state, not even a capture: the trail keeps the
  // "before" digests, the way back to what the host held.
  const unknownAfter = (): { changes?: Change[] } =>
    before.length ? { changes: before.map((c) => ({ target: c.target, kind: c.kind, ...(c.sha256 ? { before: c.sha256 } : {}), diff: `${c.target}: after not captured: the host's state is unknown` })) } : {};
  const compared = (after: readonly Capture[] | undefined): { changes?: Change[] } => {
    if (!after) return {};
    storeCaptures(after, ctx.captureStore);
    const changes = changesBetween(before, after, ctx.redact);
    return changes.length ? { changes } : {};
  };
  const changed = async (): Promise<{ changes?: Change[] }> => (capturing ? compared(await captureStep(ps, capture, ctx)) : {});

  for (const [i, fix] of ps.fix.entries()) {
    fixStarted = true;
    const ran = await execAndReport(conn, host, ps, 'fix', fix, undefined, ctx, { approval });
    const what = ps.fix.length > 1 ? `fix command ${i + 1} of ${ps.fix.length}` : 'fix';
    switch (ran.verdict.kind) {
      case 'pass':
        continue;
      case 'unknown':
        if (watched) return finish(await watched.afterCut(failureReason(what, ran, ctx)), pending);
        return ended('unknown', { reason: failureReason(what, ran, ctx), ...pending, ...unknownAfter() });
      case 'interrupted':
        if (watched) return finish(await watched.revertNow(failureReason(what, ran, ctx), 'interrupted'), { ...pending, ...unknownAfter() });
        return ended('interrupted', { reason: failureReason(what, ran, ctx), ...pending, ...unknownAfter() });
      default: {
        const reason = failureReason(what, ran, ctx);
        if (watched) return finish(await watched.revertNow(reason), { ...pending, ...(await changed()) });
        return ended('failed', { reason, ...pending, ...(await changed()) });
      }
    }
  }
  // What the fix itself changed, captured in the verify's shell just before the verify runs: one
  // command, not two.
  const verify = await execAndReport(conn, host, ps, 'verify', ps.verify, ps.verifyExpect, ctx, capturing ? { prelude: capturePrelude(ps, ctx) } : {});
  // No answer since the armed fix ran (lost, or silent until its deadline): the fix may have cut
  // the connection, and nothing more is sent over it.
  if (watched && cut(verify)) return finish(await watched.afterCut(failureReason('verify', verify, ctx)), { ...pending, ...compared(verify.captures) });
  // The captures share the verify's output bound and deadline: one cut or unfinished there is
  // read again on its own (the verify is read-only), as it would have been before the fold.
  const again = verify.result.outcome === 'exit' && verify.captures?.some((c) => c.problem) ? await captureStep(ps, capture, ctx) : undefined;
  const changes = compared(again ?? verify.captures);
  switch (verify.verdict.kind) {
    case 'pass': {
      if (!watched) return ended('fixed', { ...pending, ...changes }, verify);
      const confirmed = await watched.confirm();
      return confirmed === true ? ended('fixed', { ...pending, ...changes }, verify) : finish(confirmed, { ...pending, ...changes });
    }
    case 'unknown':
      if (watched) return finish(await watched.afterCut(failureReason('verify', verify, ctx)), { ...pending, ...changes });
      return ended('unknown', { reason: failureReason('verify', verify, ctx), ...pending, ...changes });
    case 'interrupted':
      if (watched) return finish(await watched.revertNow(failureReason('verify', verify, ctx), 'interrupted'), { ...pending, ...changes });
      return ended('interrupted', { reason: failureReason('verify', verify, ctx), ...pending, ...changes });
    default: {
      const reason = failureReason('verify after fix', verify, ctx);
      if (watched) return finish(await watched.revertNow(reason), { ...pending, ...changes });
      return ended('failed', { reason, ...pending, ...changes });
    }
  }
}

/** Drains a disruptive step's node from this machine; the connection here stays open for the uncordon. */
async function drainNode(ps: PlannedStep, dp: DrainPlan, host: string, approval: Approval, ctx: HostRunContext, opts: RunStepOptions): Promise<{ refused: string } | { notRun: string } | { drained: Drained; here: Connection }> {
  if (!opts.here || !ctx.drains) throw new Error('internal: a disruptive step without a connection to this machine or a drain gate');
  let here: Connection;
  try {
    here = await opts.here();
  } catch (err) {
    return { refused: `cannot run kubectl on this machine to drain node ${dp.node} (${errorMessage(err)}); nothing changed, the fix did not run` };
  }
  // kubectl runs here as the operator (never through sudo), reported like a local step's command.
  const { drift: _drift, ...source } = ps.source;
  const kubectlStep: PlannedStep = { ...ps, become: false, timeoutMs: dp.timeoutMs + KUBECTL_MARGIN_MS, source: { ...source, local: true } };
  const exec: DrainExec = async (cmd, phase) => {
    // Putting the node back runs even while the run is being interrupted.
    const ran = await execAndReport(here, host, kubectlStep, phase, cmd, undefined, ctx, { approval, ignoreStop: phase === 'uncordon' });
    return { ok: ran.verdict.kind === 'pass', stdout: ran.result.stdout, why: failureReason(phase === 'uncordon' ? 'kubectl uncordon' : 'kubectl', ran, ctx) };
  };
  // Waiting for another node's drain to end lends this host's fork slot, as an approval does.
  const got = await drainBefore(dp, ctx.drains, exec, (p) => (ctx.idle ? ctx.idle(p) : p), () => (ctx.control.stopping ? (ctx.control.stopReason ?? 'the run was stopped') : undefined));
  if (!('refused' in got) && !('notRun' in got)) return { drained: got, here };
  await here.close().catch(() => undefined);
  return got;
}

interface Armed {
  token: string;
  /** When the watchdog fires (controller clock; the host's timer started no earlier). */
  firesAt: number;
}

/** Arms a `confirm:` step's watchdog; returns why not (the fix then does not run). */
async function arm(conn: Connection, host: string, ps: PlannedStep, before: readonly Capture[], ms: number, ctx: HostRunContext): Promise<Armed | string | { unknown: string }> {
  const revert = revertScript(ps, before, ctx.redact);
  if ('problem' in revert) return oneLine(ctx.redact(`cannot arm the confirm watchdog: ${revert.problem}; the fix did not run`));
  const seconds = Math.ceil(ms / 1000);
  const token = newConfirmToken();
  const ran = await execAndReport(conn, host, ps, 'confirm', armCommand(revert, seconds, token), undefined, ctx);
  if (ran.verdict.kind === 'pass' && ran.result.stdout.trim() === 'armed') return { token, firesAt: Date.now() + seconds * 1000 };
  // Its timer may have started all the same: disarm it, so it never puts back a later step's work.
  const disarmed = await execAndReport(conn, host, ps, 'confirm', disarmCommand(token), undefined, ctx, { ignoreStop: true });
  const why = `${failureReason('arming the confirm watchdog', ran, ctx)}; the fix did not run`;
  return disarmed.verdict.kind === 'pass' ? why : { unknown: `${why}, and a watchdog may be armed at ${token} (disarming it: ${failureReason('disarm', disarmed, ctx)})` };
}

/** No answer over the connection (lost, or silent until the deadline): the fix may have cut it. */
const cut = (ran: Ran): boolean => ran.result.outcome === 'lost' || ran.result.outcome === 'timeout';

/** A result for done(): status and the extra fields. */
type Ended = [StepStatus, StepResultExtra];
/** How long after the watchdog's time the controller looks again (its revert must have run by then). */
const WATCHDOG_MARGIN_MS = 5_000;

/** What happens to an armed step after its fix: confirm, revert now, or find out what the host did after a cut. */
function watchdog(conn: Connection, host: string, ps: PlannedStep, armed: Armed, ctx: HostRunContext, opts: RunStepOptions) {
  const pendingNote = (): string => `; not confirmed: the host reverts the fix within ${Math.max(0, Math.round((armed.firesAt - Date.now()) / 1000))}s`;
  /** The host says the state was put back: its last line is "reverted". */
  const reverted = (ran: Ran): boolean => ran.result.outcome === 'exit' && ran.result.stdout.split('\n').map((l) => l.trim()).includes(REVERTED);
  const notReverted = (reason: string, ran: Ran): string =>
    oneLine(ctx.redact(`${reason}; the state was not put back: ${ran.result.stdout.trim().split('\n').at(-1) || failureReason('reverting', ran, ctx)}`));
  return {
    pendingNote,
    async confirm(): Promise<true | Ended> {
      const ran = await execAndReport(conn, host, ps, 'confirm', confirmCommand(armed.token), undefined, ctx);
      if (ran.verdict.kind === 'pass') return true;
      if (cut(ran)) return this.afterCut(failureReason('confirming', ran, ctx));
      return reverted(ran) ? ['failed', { reason: 'reverted on the host: the confirmation came too late' }] : ['unknown', { reason: notReverted('the confirmation came too late', ran) }];
    },
    /** The fix or its verify failed, or the run is being interrupted: put the state back now (after a cut, the watchdog does). */
    async revertNow(reason: string, status: 'failed' | 'interrupted' = 'failed'): Promise<Ended> {
      const ran = await execAndReport(conn, host, ps, 'confirm', revertNowCommand(armed.token), undefined, ctx, { ignoreStop: true });
      if (cut(ran)) return this.afterCut(reason);
      return reverted(ran) ? [status, { reason: `${reason}; reverted on the host` }] : ['unknown', { reason: notReverted(reason, ran) }];
    },
    /** The connection broke: wait for the watchdog, then read its log over a fresh connection. */
    async afterCut(reason: string): Promise<Ended> {
      const unknown = (why: string): Ended => ['unknown', { reason: oneLine(ctx.redact(`${reason}; ${why}`)) }];
      if (!opts.reconnect) return unknown('the host reverts the fix when its watchdog fires, and nothing here can look');
      const wait = armed.firesAt + WATCHDOG_MARGIN_MS - Date.now();
      if (!(await sleepUnlessAborted(wait, ctx.control.signal))) return unknown(`interrupted while waiting for the watchdog${this.pendingNote()}`);
      let fresh: Connection;
      try {
        fresh = await opts.reconnect();
      } catch (err) {
        return unknown(`no connection after the watchdog's time either (${errorMessage(err)})`);
      }
      try {
        const ran = await execAndReport(fresh, host, ps, 'confirm', watchdogLogCommand(armed.token), undefined, ctx);
        const lines = ran.result.stdout.split('\n').map((l) => l.trim());
        if (ran.verdict.kind === 'pass' && lines.includes(REVERTED)) return ['failed', { reason: oneLine(ctx.redact(`reverted on the host: connection lost (${reason})`)) }];
        return unknown(`the watchdog did not revert: ${oneLine(ctx.redact(lines.filter((l) => l).at(-1) ?? failureReason('reading its log', ran, ctx)))}`);
      } finally {
        await fresh.close().catch(() => undefined);
      }
    },
  };
}

/** Waits; false when the run was interrupted first. */
function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, Math.max(0, ms));
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs a capture (read-only) and reports it like any command. */
function captureExec(conn: Connection, host: string, ps: PlannedStep, ctx: HostRunContext) {
  return async (cmd: RenderedCommand) => {
    const ran = await execAndReport(conn, host, ps, 'capture', cmd, undefined, ctx);
    return { ok: ran.verdict.kind === 'pass', exited: ran.result.outcome === 'exit', stdout: ran.result.stdout, truncated: ran.result.stdoutTruncated, why: failureReason('capture', ran, ctx) };
  };
}

/** Every step of a host that could not be reached gets the same status and reason. */
function reportAll(ctx: HostRunContext, hp: HostPlan, from: number, status: StepStatus, reason: string | undefined): StepOutcome[] {
  const now = Date.now();
  return hp.steps.slice(from).map((ps) => reportStepResult(ctx, hp.host.name, ps, status, now, reason ? { reason } : {}));
}

/** Connects, runs the host's steps in order, closes. Never throws for a host problem. */
export async function runHost(hp: HostPlan, connect: Connect, ctx: HostRunContext): Promise<HostOutcome> {
  const host = hp.host.name;
  if (ctx.control.stopping) return { host, reachable: false, steps: reportAll(ctx, hp, 0, 'not-run', ctx.control.stopReason) };
  const finished = ctx.fleet.finishedEarlier(hp, ctx);
  if (finished) return { host, reachable: true, steps: finished };

  const started = Date.now();
  let conn: Connection;
  try {
    conn = await connect(hp.host);
  } catch (err) {
    const error = oneLine(ctx.redact(errorMessage(err)));
    ctx.emit({ type: 'host-connect', time: ctx.now().toISOString(), runId: ctx.runId, host, ok: false, error, durationMs: Date.now() - started });
    return { host, reachable: false, steps: reportAll(ctx, hp, 0, 'unreachable', error) };
  }
  ctx.emit({ type: 'host-connect', time: ctx.now().toISOString(), runId: ctx.runId, host, ok: true, durationMs: Date.now() - started });

  let lock: HeldLock | undefined;
  if (ctx.hostLock && ctx.mode === 'apply') {
    const got = await lockHost(conn, hp, ctx, ctx.hostLock);
    if (!('release' in got)) {
      await conn.close().catch(() => undefined);
      return got;
    }
    lock = got;
  }

  const steps: StepOutcome[] = [];
  try {
    let blockedBy: string | undefined;
    for (const ps of hp.steps) {
      if (blockedBy !== undefined) {
        steps.push(reportStepResult(ctx, host, ps, 'blocked', Date.now(), { reason: blockedBy }));
        continue;
      }
      if (ctx.control.stopping) {
        steps.push(reportStepResult(ctx, host, ps, 'not-run', Date.now(), { reason: ctx.control.stopReason }));
        continue;
      }
      const outcome = await ctx.fleet.runStep(conn, hp, ps, ctx);
      steps.push(outcome);
      if (leavesHostUnknown(outcome.status)) blockedBy = `blocked: the outcome of "${ps.name}" is ${outcome.status}`;
      else if (outcome.status === 'failed' && !ps.continueOnFailure) blockedBy = `blocked: "${ps.name}" failed`;
      // Fleet control blocks a host whose once step failed elsewhere.
      else if (outcome.status === 'blocked') blockedBy = outcome.reason ?? `blocked: "${ps.name}" failed`;
    }
    steps.push(...(await ctx.fleet.runHandlers(conn, hp, ctx, blockedBy)));
  } finally {
    await lock?.release().catch(() => undefined);
    await conn.close().catch(() => undefined);
  }
  return { host, reachable: true, steps };
}
