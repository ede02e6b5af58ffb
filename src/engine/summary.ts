/** Totals and the run's verdict, from step outcomes. Pure. */
import type { StepStatus } from './events.js';
import type { HostOutcome } from './step-report.js';
import { isPending, statusClass, type RunVerdict } from './status.js';

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

/**
 * aborted when the operator stopped the run; else failed if anything failed, was unreachable,
 * unknown, blocked or not run; else locked if another operator held a host's lock; else pending
 * if fixes are still to be made (dry-run "would fix", or a fix the operator declined); else ok:
 * every step is ok, fixed or not applicable.
 */
export function runVerdict(hosts: HostOutcome[], opts: { aborted: boolean }): RunVerdict {
  if (opts.aborted) return 'aborted';
  // A host another operator has locked means "try again later", unless something else broke.
  const statuses = hosts.filter((h) => h.locked === undefined).flatMap((h) => h.steps.map((s) => s.status));
  if (statuses.some((s) => statusClass(s) === 'failed' || statusClass(s) === 'not-done')) return 'failed';
  if (hosts.some((h) => h.locked !== undefined)) return 'locked';
  if (statuses.some(isPending)) return 'pending';
  return 'ok';
}
