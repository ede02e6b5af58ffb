/**
 * `apply --plan`: only the planned fixes run, on the planned hosts, with the planned commands, and
 * only while the host is as it was planned. The step pipeline asks the guard after each check:
 * a check that passes now is "no longer needed"; a failing one runs its fix only if the plan had
 * that fix, with the same commands, and the check still reads as planned (the step's `drift:`).
 */
import type { PlanFile, PlannedStepFile } from '../model/plan-file.js';
import type { ExecResult } from '../transport/types.js';
import { checkPrint, commandsDigest, driftBetween } from './drift.js';
import type { PlannedStep } from './plan.js';
import { shownFixCommands } from './node-drain.js';
import type { Redact } from './sanitize.js';

export type GuardDecision =
  | { kind: 'planned' }
  /** Not run, and not asked: the fix was not planned, or its commands are not the planned ones. */
  | { kind: 'skip'; reason: string }
  /** Drifted: skipped with --yes; in a terminal the operator sees the difference and decides. */
  | { kind: 'drifted'; reason: string; plannedOutput: string };

export interface PlanGuard {
  /** The check passes: the reason to report with 'ok' when the plan meant to fix it. */
  passed(host: string, ps: PlannedStep): string | undefined;
  /** The check failed and the step has a fix. */
  beforeFix(host: string, ps: PlannedStep, check: ExecResult, redact: Redact): GuardDecision;
  /**
   * A notified handler with a fix. Its commands were compared with the plan's before the run
   * (the host's identity), unless they read values registered during the run: no plan shows those.
   */
  beforeHandler(host: string, ps: PlannedStep): GuardDecision;
}

/** `targets`: the hosts this run applies the plan to (--hosts may narrow it): no other host's planned fix runs. */
export function planGuard(plan: PlanFile, targets: readonly string[]): PlanGuard {
  const id = plan.id;
  const steps = new Map(plan.body.hosts.filter((h) => targets.includes(h.name)).map((h) => [h.name, new Map([...h.steps, ...(h.handlers ?? [])].map((s) => [s.index, s]))]));
  const planned = (host: string, ps: PlannedStep): PlannedStepFile | undefined => steps.get(host)?.get(ps.index);
  return {
    passed(host, ps) {
      return planned(host, ps)?.status === 'would-fix' ? `no longer needed: the check passes now (plan ${id} had a fix for it)` : undefined;
    },
    beforeHandler(host, ps) {
      const p = planned(host, ps);
      if (!p) return { kind: 'skip', reason: `not in plan ${id}: it has no such handler for ${host}` };
      if (p.deferred) return { kind: 'skip', reason: `not in plan ${id}: this handler's commands read values registered during the run, which a plan cannot show; apply the runbook itself to run it` };
      return { kind: 'planned' };
    },
    beforeFix(host, ps, check, redact) {
      const p = planned(host, ps);
      if (!p) return { kind: 'skip', reason: `not in plan ${id}: it has no such step for ${host}` };
      if (p.status !== 'would-fix' || !p.print) {
        const then = p.status === 'ok' ? 'its check passed' : `it was ${p.status}`;
        return { kind: 'skip', reason: `not in plan ${id}: ${then} when planned; make a new plan to fix it` };
      }
      // As shown to the reviewer (summarised) and whole (by digest): the plan's shown form cannot
      // differ from what runs, and a summarised value ({{ pids: 84 lines }}) hides no difference.
      const shown = [...shownFixCommands(ps.fix.map((f) => redact(f.brief ?? f.display)), ps.drain, redact), redact(ps.verify.brief ?? ps.verify.display)];
      const want = [...(p.fixCommands ?? []), p.verifyCommand ?? ''];
      const whole = commandsDigest(
        ps.fix.map((f) => redact(f.display)),
        redact(ps.verify.display),
      );
      if (whole !== p.commandsDigest || shown.length !== want.length || shown.some((c, k) => c !== want[k])) {
        const i = shown.findIndex((c, k) => c !== want[k]);
        const which = i >= 0 ? `planned: ${want[i] ?? '(none)'}; now: ${shown[i]}` : 'a value too long to show differs';
        return { kind: 'skip', reason: `not in plan ${id}: the fix is not the planned one (${which})` };
      }
      const diff = driftBetween(p.print, checkPrint(check, ps.source.drift, redact), ps.source.drift);
      if (diff === undefined) return { kind: 'planned' };
      return { kind: 'drifted', reason: `drifted since plan ${id}: ${diff}`, plannedOutput: p.checkOutput ?? '' };
    },
  };
}
