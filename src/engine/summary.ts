/** Totals and the exit code, from step outcomes. Pure. */
import { ExitCode } from '../model/exit-codes.js';
import type { StepStatus } from './events.js';
import type { HostOutcome } from './host-run.js';
import type { RunMode } from './plan.js';

export type HostCounts = Partial<Record<StepStatus, number>>;

export function summarize(hosts: HostOutcome[]): Record<string, HostCounts> {
  const summary: Record<string, HostCounts> = {};
  for (const h of hosts) {
    const counts: HostCounts = {};
    for (const s of h.steps) counts[s.status] = (counts[s.status] ?? 0) + 1;
    summary[h.host] = counts;
  }
  return summary;
}

const BROKEN: ReadonlySet<StepStatus> = new Set(['failed', 'unreachable', 'unknown', 'interrupted', 'blocked']);

/**
 * 130 when the operator stopped the run; else 1 if anything failed, was unreachable or unknown;
 * else 4 if another operator held a host's lock;
 * else 3 if fixes are still pending (dry-run "would fix", or a fix the operator declined);
 * else 0: every step is ok or fixed.
 */
export function exitCodeFor(hosts: HostOutcome[], opts: { mode: RunMode; aborted: boolean }): ExitCode {
  if (opts.aborted) return ExitCode.ABORTED;
  // A host another operator has locked means "try again later" (4), unless something else broke.
  const statuses = hosts.filter((h) => h.locked === undefined).flatMap((h) => h.steps.map((s) => s.status));
  if (statuses.some((s) => BROKEN.has(s) || s === 'not-run')) return ExitCode.FAILED;
  if (hosts.some((h) => h.locked !== undefined)) return ExitCode.LOCKED;
  if (statuses.some((s) => s === 'would-fix' || s === 'skipped' || s === 'depends-on-pending-fix')) return ExitCode.PENDING;
  return ExitCode.OK;
}
