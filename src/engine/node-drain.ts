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
import type { RenderedCommand } from './rendered.js';

export const DEFAULT_DRAIN_TIMEOUT_MS = 5 * 60_000;
/** Beyond kubectl drain's own --timeout: its last eviction round and exit. */
export const KUBECTL_MARGIN_MS = 60_000;
/** kubectl's deadline for each API request of the short commands (reading the node, marking it, uncordoning it). */
const REQUEST_TIMEOUT = '--request-timeout=20s';
/**
 * The annotation runbook puts on a node it cordons, removed when it uncordons it: a node left
 * cordoned by a fix that failed is then known as runbook's, and the next run that fixes it
 * uncordons it, instead of taking it for a node someone cordoned on purpose.
 */
const DRAINED_BY = 'runbook/drained-by';

/** What a disruptive step does around its fix on one node: part of the plan, shown before it runs. */
export interface DrainPlan {
  node: string;
  /** Prints the node's spec.unschedulable ("true" when cordoned) and runbook's mark, space-separated. */
  schedulable: RenderedCommand;
  /** Marks the node as cordoned by runbook (DRAINED_BY = the runbook's name), before the drain. */
  mark: RenderedCommand;
  /** Cordons, then evicts: kubectl drain, with its own --timeout. */
  drain: RenderedCommand;
  /** Uncordons, then removes the mark. */
  uncordon: RenderedCommand;
  timeoutMs: number;
}

function kubectl(node: KubeNodeRef, ...commands: string[][]): RenderedCommand {
  const words = (args: string[]): string =>
    ['kubectl', ...(node.kubeconfig !== undefined ? ['--kubeconfig', node.kubeconfig] : []), ...(node.context !== undefined ? ['--context', node.context] : []), ...args].map(shellQuote).join(' ');
  const command = commands.map(words).join(' && ');
  return { command, display: command };
}

export function drainPlan(node: KubeNodeRef, runbook: string, timeoutMs: number): DrainPlan {
  return {
    node: node.name,
    schedulable: kubectl(node, ['get', 'node', node.name, '--output', `jsonpath={.spec.unschedulable} {.metadata.annotations.${DRAINED_BY}}`, REQUEST_TIMEOUT]),
    mark: kubectl(node, ['annotate', '--overwrite', 'node', node.name, `${DRAINED_BY}=${runbook}`, REQUEST_TIMEOUT]),
    drain: kubectl(node, ['drain', node.name, '--ignore-daemonsets', `--timeout=${Math.ceil(timeoutMs / 1000)}s`]),
    uncordon: kubectl(node, ['uncordon', node.name, REQUEST_TIMEOUT], ['annotate', 'node', node.name, `${DRAINED_BY}-`, REQUEST_TIMEOUT]),
    timeoutMs,
  };
}

/**
 * The fix's commands as a dry run, a plan and the approval prompt show them: a disruptive step's
 * with its drain before them and its uncordon after (one definition: apply --plan compares these).
 */
export function shownFixCommands(commands: string[], dp: DrainPlan | undefined, redact: (s: string) => string): string[] {
  if (!dp) return commands;
  return [redact(`first, on this machine: ${dp.drain.display}`), ...commands, redact(`after the verify passes, if ${dp.node} took pods before: ${dp.uncordon.display}`)];
}

/** How one kubectl command went: passed, its stdout, and why not in one line. */
interface KubectlRan {
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
interface FixEnd {
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
 * was left cordoned, when the node cannot be read or marked, or when the drain fails (the node is
 * then uncordoned again if it took pods before: nothing else has changed). `stopping`: the run's
 * stop reason, looked at once the slot is ours and again before anything is changed: a node is
 * never drained for a fix that will not run.
 */
export async function drainBefore(
  dp: DrainPlan,
  gate: DrainGate,
  exec: DrainExec,
  wait: <T>(p: Promise<T>) => Promise<T>,
  stopping: () => string | undefined,
): Promise<{ refused: string } | { notRun: string } | Drained> {
  const notRun = 'the fix did not run';
  const stuckHint = (stuck: string): string => `not drained: ${stuck}; ${notRun} (uncordon that node once it is healthy, then run again for this host)`;
  if (gate.stuck) return { refused: stuckHint(gate.stuck) };
  const release = await wait(gate.acquire());
  const before = (): { refused: string } | { notRun: string } | undefined => {
    const stop = stopping();
    if (stop !== undefined) return { notRun: stop };
    if (gate.stuck) return { refused: stuckHint(gate.stuck) };
    return undefined;
  };
  const early = before();
  if (early) {
    release();
    return early;
  }
  const read = await exec(dp.schedulable, 'drain');
  const stopped = before();
  if (!read.ok || stopped) {
    release();
    return stopped ?? { refused: `cannot read whether node ${dp.node} takes pods (${read.why}); nothing changed, ${notRun}` };
  }
  const [unschedulable = '', ...mark] = read.stdout.trim().split(' ');
  const markedBy = mark.join(' ');
  // Cordoned by someone else: left cordoned, whatever happens. Cordoned by an earlier run of
  // runbook (its mark): it took pods before that run, and is uncordoned once fixed.
  const tookPods = unschedulable !== 'true' || markedBy !== '';
  const earlier = markedBy ? ` (left cordoned by an earlier run of runbook ${markedBy})` : '';
  const uncordonBack = async (): Promise<string> => {
    const back = await exec(dp.uncordon, 'uncordon');
    if (back.ok) return `node ${dp.node} uncordoned again`;
    gate.stuck = `node ${dp.node} was left cordoned (uncordoning it failed)`;
    return `uncordoning node ${dp.node} failed (${back.why}): it stays cordoned, run ${dp.uncordon.display}`;
  };
  if (tookPods && !markedBy) {
    const marked = await exec(dp.mark, 'drain');
    if (!marked.ok) {
      release();
      return { refused: `cannot mark node ${dp.node} as drained by runbook (${marked.why}); nothing changed, ${notRun}` };
    }
  }
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
        if (back.ok) return { note: `node ${dp.node} drained, then uncordoned${earlier}` };
        gate.stuck = `node ${dp.node} was left cordoned (uncordoning it failed)`;
        return { note: `fixed and verified, but uncordoning node ${dp.node} failed (${back.why}): it stays cordoned, run ${dp.uncordon.display}`, failed: true };
      } finally {
        release();
      }
    },
  };
}
