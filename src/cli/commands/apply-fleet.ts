/**
 * apply's fleet control wiring: `--hosts @failed` and the rollout (serial/--batch, --canary, max_failures/--max-failures).
 */
import { UserError, selectHosts, type Host, type Inventory, type Runbook } from '../../model/index.js';
import { failureLimit, rolloutStrategy, type CanaryReport, type CountSpec, type RunControl, type RunEventListener, type Strategy } from '../../engine/index.js';
import { lastFailedHosts } from '../../report/history.js';

/** The targets of `--hosts`; `@failed` is the hosts that failed or were unreachable in the last run of this runbook. */
export function selectTargets(inventory: Inventory, pattern: string, runbook: Runbook, auditFile: string): Host[] {
  if (!/(^|[,:&!])@failed\b/.test(pattern)) return selectHosts(inventory, pattern);
  const failed = lastFailedHosts(auditFile, runbook.name);
  if (failed.length === 0) {
    throw new UserError({
      message: `@failed is empty: the last run of ${runbook.name} recorded in ${auditFile} has no failed or unreachable host (or there is no such run)`,
      hint: 'see `runbook history`; target hosts by name instead',
    });
  }
  return selectHosts(inventory, pattern, { namedSets: { failed } });
}

export interface RolloutFlags {
  batch?: CountSpec;
  canary?: number;
  maxFailures?: CountSpec;
  forks?: number;
}

/** One line per canary host that is not green, then the question. */
export function canaryQuestion(r: CanaryReport): string {
  const lines = [r.problems.length === 0 ? `Canary done on ${r.hosts.join(', ')}: all green.` : `Canary done on ${r.hosts.join(', ')}: ${r.problems.length} not green:`];
  for (const p of r.problems) lines.push(`  ${p.host}: "${p.step}" ${p.status}${p.reason ? `: ${p.reason}` : ''}`);
  lines.push(`Go on with the other ${r.remaining.length} host${r.remaining.length === 1 ? '' : 's'} (${r.remaining.join(', ')})?`);
  return lines.join('\n');
}

/**
 * The strategy (flags override the runbook's serial) and, with a failure limit, the listener that
 * enforces it. A dry run never pauses after the canary; --yes goes on only if it is all green.
 */
export function rolloutFor(
  flags: RolloutFlags,
  runbook: Runbook,
  ctx: { mode: 'dry-run' | 'apply'; interactive: boolean; hosts: number; control: RunControl; confirm?: (host: string, message: string, signal: AbortSignal) => Promise<boolean> },
): { strategy: Strategy; limit?: RunEventListener } {
  const batch = flags.batch ?? runbook.serial;
  const maxFailures = flags.maxFailures ?? runbook.maxFailures;
  const confirm = ctx.confirm;
  const stopped = new AbortController();
  ctx.control.onStop(() => stopped.abort());
  const strategy = rolloutStrategy({
    ...(flags.forks !== undefined ? { forks: flags.forks } : {}),
    ...(batch !== undefined ? { batch } : {}),
    ...(flags.canary !== undefined ? { canary: flags.canary } : {}),
    canaryDecision: ctx.mode === 'dry-run' ? 'continue' : ctx.interactive && confirm ? 'ask' : 'green',
    ...(confirm ? { confirm: (r: CanaryReport) => confirm(r.remaining[0]!, canaryQuestion(r), stopped.signal) } : {}),
  });
  return { strategy, ...(maxFailures !== undefined ? { limit: failureLimit(maxFailures, ctx.hosts, ctx.control) } : {}) };
}
