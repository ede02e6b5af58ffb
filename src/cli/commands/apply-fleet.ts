/**
 * apply's fleet control wiring: `--hosts @failed` and the rollout (serial/--batch, --canary, max_failures/--max-failures).
 */
import { UserError, selectHosts, splitPattern, type Host, type Inventory, type Runbook } from '../../model/index.js';
import { failureLimit, rolloutStrategy, type CanaryReport, type CountSpec, type RunControl, type RunEventListener, type Strategy } from '../../engine/index.js';
import { lastFailedSet } from '../../report/history.js';

/**
 * The targets of `--hosts`. `@failed` is the hosts that failed or were unreachable in the last
 * apply of this runbook (history.ts); `notice` hears which run that was. A failed host that this
 * inventory does not have is refused by name: silently dropping it would skip the host that
 * most needs another look.
 */
export function selectTargets(inventory: Inventory, pattern: string, runbook: Runbook, auditFile: string, notice: (line: string) => void): Host[] {
  if (!splitPattern(pattern).some((t) => t.replace(/^[!&]/, '') === '@failed')) return selectHosts(inventory, pattern);
  const set = lastFailedSet(auditFile, runbook.name);
  if (!set) {
    throw new UserError({ message: `@failed is empty: ${auditFile} has no run of ${runbook.name}`, hint: 'see `runbook history`; target hosts by name instead' });
  }
  const from = `run ${set.run.runId} (${set.run.mode} of ${runbook.name} by ${set.run.operator}, ${set.run.time})`;
  if (set.hosts.length === 0) {
    throw new UserError({ message: `@failed is empty: no host failed or was unreachable in the last ${from}`, hint: 'see `runbook history`; target hosts by name instead' });
  }
  const known = new Set(inventory.hosts.map((h) => h.name));
  const missing = set.hosts.filter((h) => !known.has(h));
  if (missing.length) {
    throw new UserError({
      message: `@failed: ${missing.join(', ')} from ${from} ${missing.length === 1 ? 'is' : 'are'} not in the inventory ${inventory.file}`,
      hint: 'use the inventory that run used (-i FILE), or name the hosts to retry',
    });
  }
  notice(`runbook: @failed is ${set.hosts.join(', ')}, from ${from}`);
  return selectHosts(inventory, pattern, { namedSets: { failed: set.hosts } });
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
