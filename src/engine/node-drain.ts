/**
 * Drain around disruption: a `disruptive: true` step's fix runs on a Kubernetes node that has no
 * workload pods left. After the fix is approved, the node is cordoned and drained through the
 * operator's kubectl on this machine, exactly as `kubectl drain` does it: evictions through the
 * eviction API, so PodDisruptionBudgets hold; DaemonSet pods left in place (their controller would
 * put them back at once); nothing forced (a pod no controller recreates, or one with emptyDir data,
 * stops the drain instead of being deleted). After the verify passes, the node is uncordoned, but
 * only if it took pods before. A fix that fails, or whose outcome is unknown, leaves it cordoned:
 * pods would otherwise land on a node whose network the run just failed to repair. No other node is
 * drained after that in the run.
 *
 * Why kubectl, and not a client of our own: the kubeconfig's authentication is kubectl's business
 * (kube-nodes.ts says why), and a drain is more than evictions (retries on 429 while a budget
 * allows none, DaemonSet and mirror pods filtered out, waiting until the evicted pods are gone).
 *
 * Nodes are drained one at a time unless the run goes in batches (`serial:`, `--batch`): then a
 * batch is the unit the operator chose, and its nodes may be drained together.
 */
import type { KubeNodeRef } from '../model/types.js';
import { shellQuote } from '../model/shell-quote.js';
import type { RenderedCommand } from './plan.js';

export const DEFAULT_DRAIN_TIMEOUT_MS = 5 * 60_000;
/** kubectl's deadline for each API request of the short commands (reading the node, uncordoning it). */
const REQUEST_TIMEOUT = '--request-timeout=20s';

/** What a disruptive step does around its fix on one node: part of the plan, shown before it runs. */
export interface DrainPlan {
  node: string;
  /** Prints the node's spec.unschedulable: "true" when it is cordoned already. */
  schedulable: RenderedCommand;
  /** Cordons, then evicts: kubectl drain, with its own --timeout. */
  drain: RenderedCommand;
  uncordon: RenderedCommand;
  timeoutMs: number;
}

function kubectl(node: KubeNodeRef, args: string[]): RenderedCommand {
  const words = ['kubectl', ...(node.kubeconfig !== undefined ? ['--kubeconfig', node.kubeconfig] : []), ...(node.context !== undefined ? ['--context', node.context] : []), ...args];
  const command = words.map(shellQuote).join(' ');
  return { command, display: command };
}

export function drainPlan(node: KubeNodeRef, timeoutMs: number): DrainPlan {
  return {
    node: node.name,
    schedulable: kubectl(node, ['get', 'node', node.name, '--output', 'jsonpath={.spec.unschedulable}', REQUEST_TIMEOUT]),
    drain: kubectl(node, ['drain', node.name, '--ignore-daemonsets', `--timeout=${Math.ceil(timeoutMs / 1000)}s`]),
    uncordon: kubectl(node, ['uncordon', node.name, REQUEST_TIMEOUT]),
    timeoutMs,
  };
}

/** The lines a dry run, the approval prompt and the plan show around the fix's own commands. */
export function drainLines(dp: DrainPlan): { before: string; after: string } {
  return {
    before: `first, on this machine: ${dp.drain.display}`,
    after: `after the verify passes, if ${dp.node} took pods before: ${dp.uncordon.display}`,
  };
}

/** How one kubectl command went: passed, its stdout, and why not in one line. */
export interface KubectlRan {
  ok: boolean;
  stdout: string;
  why: string;
}
export type DrainExec = (cmd: RenderedCommand, phase: 'drain' | 'uncordon') => Promise<KubectlRan>;

/** How many nodes a run drains at once, and whether one was left cordoned (then no other is drained). */
export class DrainGate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  /** Why no further node is drained in this run. */
  stuck: string | undefined;

  constructor(private readonly limit: number) {}

  /** Resolves with the release once this node may be drained. */
  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = (): void => {
        this.active++;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.active--;
          this.waiting.shift()?.();
        });
      };
      if (this.active < this.limit) grant();
      else this.waiting.push(grant);
    });
  }
}

/** How the fix went, as far as the node is concerned. */
export interface FixEnd {
  /** The verify passed. */
  fixed: boolean;
  /** A fix command was sent (else nothing on the host changed). */
  fixStarted: boolean;
  host: string;
  status: string;
}

/** A drained node, held until the fix ends. */
export interface Drained {
  /** Uncordons when that is safe and releases the slot; a note for the step's reason, and whether the step must fail. */
  after(end: FixEnd): Promise<{ note: string; failed?: boolean }>;
}

/**
 * Cordons and drains the node before the fix. Refuses (the fix must not run) when another node
 * was left cordoned, when the node cannot be read, or when the drain fails (the node is then
 * uncordoned again if it took pods before: nothing else has changed).
 */
export async function drainBefore(dp: DrainPlan, gate: DrainGate, exec: DrainExec, wait: <T>(p: Promise<T>) => Promise<T>): Promise<{ refused: string } | Drained> {
  const notRun = 'the fix did not run';
  if (gate.stuck) return { refused: `not drained: ${gate.stuck}; ${notRun}` };
  const release = await wait(gate.acquire());
  if (gate.stuck) {
    release();
    return { refused: `not drained: ${gate.stuck}; ${notRun}` };
  }
  const read = await exec(dp.schedulable, 'drain');
  if (!read.ok) {
    release();
    return { refused: `cannot read whether node ${dp.node} takes pods (${read.why}); nothing changed, ${notRun}` };
  }
  const tookPods = read.stdout.trim() !== 'true';
  const uncordonBack = async (): Promise<string> => {
    const back = await exec(dp.uncordon, 'uncordon');
    if (back.ok) return `node ${dp.node} uncordoned again`;
    gate.stuck = `node ${dp.node} was left cordoned (uncordoning it failed)`;
    return `uncordoning node ${dp.node} failed (${back.why}): it stays cordoned, run ${dp.uncordon.display}`;
  };
  const drained = await exec(dp.drain, 'drain');
  if (!drained.ok) {
    const back = tookPods ? await uncordonBack() : `node ${dp.node} stays cordoned, as it was before the run`;
    release();
    return { refused: `draining node ${dp.node} failed (${drained.why}); ${back}; ${notRun}` };
  }
  return {
    async after(end) {
      try {
        if (!end.fixStarted) return { note: tookPods ? await uncordonBack() : `node ${dp.node} stays cordoned, as it was before the run` };
        if (!end.fixed) {
          gate.stuck = `node ${dp.node} was left cordoned after its fix on ${end.host} ended ${end.status}`;
          return { note: `node ${dp.node} stays cordoned (drained for this fix): run ${dp.uncordon.display} once it is healthy` };
        }
        if (!tookPods) return { note: `node ${dp.node} drained; it stays cordoned, as it was before the run` };
        const back = await exec(dp.uncordon, 'uncordon');
        if (back.ok) return { note: `node ${dp.node} drained, then uncordoned` };
        gate.stuck = `node ${dp.node} was left cordoned (uncordoning it failed)`;
        return { note: `fixed and verified, but uncordoning node ${dp.node} failed (${back.why}): it stays cordoned, run ${dp.uncordon.display}`, failed: true };
      } finally {
        release();
      }
    },
  };
}
