/**
 * notify / handlers. After a host's steps, each handler runs at most once, in the order the
 * runbook lists them, and only if a step that notifies it changed that host (fixed: its fix ran
 * and its verify passed; a once step's change counts for every host). A notified handler does not
 * check first: it is an action the change calls for (restart flanneld, then docker). It asks for
 * approval like any fix, runs its fix commands, then its verify (default: its check) to confirm.
 * A handler without fix commands just runs its check.
 */
import type { Connection } from '../transport/types.js';
import { approves } from './approval.js';
import type { StepStatus } from './events.js';
import { execAndReport, type HostRunContext } from './host-run.js';
import { failureReason, reportStepResult, type StepOutcome } from './step-report.js';
import type { PlannedStep } from './plan.js';
import type { Change } from './registry.js';

/** Which steps notify each handler, by handler name. */
export function notifiers(steps: readonly { name: string; notify: string[] }[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of steps) for (const h of s.notify) out.set(h, [...(out.get(h) ?? []), s.name]);
  return out;
}

/** The notification state of one handler on one host: who changed it, or who would have. */
export function notification(names: readonly string[], change: (step: string) => Change): { changed: string[]; pending: string[] } {
  return { changed: names.filter((n) => change(n) === 'changed'), pending: names.filter((n) => change(n) === 'pending') };
}

/** approve → fix → verify, without a check first. Emits the usual events. */
export async function runNotifiedHandler(conn: Connection, host: string, ps: PlannedStep, ctx: HostRunContext, notifiedBy: string[]): Promise<StepOutcome> {
  const started = Date.now();
  ctx.emit({ type: 'step-start', time: ctx.now().toISOString(), runId: ctx.runId, host, step: ps.name, stepIndex: ps.index });
  const why = `notified by ${notifiedBy.map((n) => `"${n}"`).join(', ')}`;
  const fixCommands = ps.fix.map((f) => ctx.redact(f.brief ?? f.display));
  const done = (status: StepStatus, reason?: string) => reportStepResult(ctx, host, ps, status, started, { ...(reason ? { reason } : {}), ...(fixCommands.length ? { fixCommands } : {}) });
  const statusOf = (kind: string): StepStatus => (kind === 'unknown' ? 'unknown' : kind === 'interrupted' ? 'interrupted' : 'failed');

  if (ps.fix.length > 0) {
    const planned = ctx.planGuard?.beforeHandler(host, ps);
    if (planned && planned.kind !== 'planned') return done('skipped', planned.reason);
    const asking = ctx.gate.decide({ host, step: ps.name, stepIndex: ps.index, reason: why, checkTail: '', checkOutput: '', commands: ps.fix.map((f) => ctx.redact(f.display)) });
    const approval = await (ctx.idle ? ctx.idle(asking) : asking);
    ctx.emit({ type: 'approval', time: ctx.now().toISOString(), runId: ctx.runId, host, step: ps.name, ...approval });
    if (!approves(approval.decision)) return done('skipped', approval.decision === 'quit' ? `not run: ${ctx.control.stopReason ?? 'the run was stopped'}` : `declined by ${approval.by}`);
    if (ctx.control.stopping) return done('not-run', ctx.control.stopReason);
    for (const [i, fix] of ps.fix.entries()) {
      const ran = await execAndReport(conn, host, ps, 'fix', fix, undefined, ctx, { approval });
      if (ran.verdict.kind !== 'pass') return done(statusOf(ran.verdict.kind), failureReason(ps.fix.length > 1 ? `fix command ${i + 1} of ${ps.fix.length}` : 'fix', ran, ctx));
    }
  }
  const verify = await execAndReport(conn, host, ps, ps.fix.length > 0 ? 'verify' : 'check', ps.verify, ps.verifyExpect, ctx);
  if (verify.verdict.kind !== 'pass') return done(statusOf(verify.verdict.kind), failureReason(ps.fix.length > 0 ? 'verify after handler' : 'check', verify, ctx));
  return done(ps.fix.length > 0 ? 'fixed' : 'ok', why);
}
