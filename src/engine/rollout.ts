/**
 * Rollout control as a Strategy: hosts go in batches (`serial` / `--batch`), an optional canary
 * batch first (`--canary N`) with a pause before the rest, and at most `forks` hosts working at
 * once inside a batch. The next batch starts only when the current one is done. A host waiting
 * for something that needs no host resources (an approval, a fleet-wide barrier) gives its slot
 * back and takes a slot again before it goes on, so `forks` bounds the hosts actually working.
 */
import type { StepStatus } from './events.js';
import type { HostOutcome } from './step-report.js';
import type { HostPlan } from './plan.js';
import type { Strategy } from './strategy.js';
import { DEFAULT_FORKS, runLimited } from './strategy.js';
import { isGreen } from './status.js';

/** A count or a percentage such as "25%", as in `serial:` and `max_failures:`. */
export type CountSpec = number | string;

/** Resolves a count or percentage against `total`; percentages round up. */
export function resolveCount(spec: CountSpec, total: number): number {
  if (typeof spec === 'number') return spec;
  const m = /^(\d+(?:\.\d+)?)%$/.exec(spec.trim());
  if (m) return Math.ceil((Number(m[1]) * total) / 100);
  const n = Number(spec);
  if (Number.isInteger(n) && n >= 0) return n;
  throw new Error(`internal: bad count "${spec}"`);
}

/** Host indices per batch: the canary first, then batches of `batch` (or everything left). */
export function planBatches(total: number, opts: { batch?: CountSpec; canary?: number }): number[][] {
  const indices = Array.from({ length: total }, (_, i) => i);
  const out: number[][] = [];
  let rest = indices;
  if (opts.canary !== undefined && opts.canary > 0 && total > 0) {
    out.push(rest.slice(0, opts.canary));
    rest = rest.slice(opts.canary);
  }
  const size = opts.batch === undefined ? rest.length : Math.max(1, resolveCount(opts.batch, total));
  for (let i = 0; i < rest.length; i += size) out.push(rest.slice(i, i + size));
  return out;
}

export interface CanaryReport {
  hosts: string[];
  /** Canary hosts with a step that is not ok/fixed/not-applicable, with the first such step. */
  problems: Array<{ host: string; step: string; status: StepStatus; reason?: string }>;
  remaining: string[];
}

export interface RolloutOptions {
  forks?: number;
  batch?: CountSpec;
  canary?: number;
  /**
   * After the canary batch (when hosts remain): 'ask' calls `confirm`; 'green' goes on only if every
   * canary step is ok, fixed or not applicable (--yes); 'continue' never pauses (dry run).
   */
  canaryDecision?: 'ask' | 'green' | 'continue';
  confirm?: (report: CanaryReport) => Promise<boolean>;
}

export function canaryReport(batch: HostOutcome[], remaining: string[]): CanaryReport {
  const problems: CanaryReport['problems'] = [];
  for (const h of batch) {
    const bad = h.steps.find((s) => !isGreen(s.status));
    if (bad) problems.push({ host: h.host, step: bad.step, status: bad.status, ...(bad.reason !== undefined ? { reason: bad.reason } : {}) });
  }
  return { hosts: batch.map((h) => h.host), problems, remaining };
}

export function rolloutStrategy(opts: RolloutOptions = {}): Strategy {
  return {
    async run(hosts, runOne, control, hooks) {
      const results: HostOutcome[] = new Array<HostOutcome>(hosts.length);
      const batches = planBatches(hosts.length, opts);
      for (const [b, batch] of batches.entries()) {
        hooks?.admit?.(batch.map((i) => hosts[i]!.host.name));
        const done = await runLimited(batch.map((i) => hosts[i]!), opts.forks ?? DEFAULT_FORKS, runOne);
        batch.forEach((i, j) => (results[i] = done[j]!));
        const isCanary = b === 0 && opts.canary !== undefined && opts.canary > 0 && batches.length > 1;
        if (isCanary && !control.stopping) await canaryPause(batch.map((i) => results[i]!), rest(hosts, batches), opts, control);
      }
      return results;
    },
  };
}

function rest(hosts: HostPlan[], batches: number[][]): string[] {
  return batches.slice(1).flatMap((b) => b.map((i) => hosts[i]!.host.name));
}

async function canaryPause(batch: HostOutcome[], remaining: string[], opts: RolloutOptions, control: Parameters<Strategy['run']>[2]): Promise<void> {
  const decision = opts.canaryDecision ?? 'green';
  if (decision === 'continue') return;
  const report = canaryReport(batch, remaining);
  const n = remaining.length;
  if (decision === 'green' || !opts.confirm) {
    if (report.problems.length === 0) return;
    const first = report.problems[0]!;
    control.stop(
      `canary not all green (${first.host}: "${first.step}" ${first.status}${report.problems.length > 1 ? `, and ${report.problems.length - 1} more host(s)` : ''}), so the other ${n} host${n === 1 ? ' was' : 's were'} not started`,
      { byOperator: false },
    );
    return;
  }
  let go: boolean;
  try {
    go = await opts.confirm(report);
  } catch {
    go = false;
  }
  if (!go && !control.stopping) control.stop(`the operator stopped the rollout after the canary (${report.hosts.join(', ')}); the other ${n} host${n === 1 ? ' was' : 's were'} not started`, { byOperator: true });
}
