/**
 * Where a pod may run and where it goes: the scheduler's filters the lab's pods meet
 * (NodeUnschedulable, TaintToleration for NoSchedule and NoExecute, a Ready node) and a spreading
 * score (the node with the fewest pods; ties broken at random, as selectHost samples among equal
 * scores), plus the tolerations the DaemonSet controller adds to its pods
 * (pkg/controller/daemon/util AddOrUpdateDaemonPodTolerations). Pure but for that random tie-break.
 */
import { isObject, type Json, type JsonObject } from './patch.js';
import { metadata } from './store.js';

const obj = (v: Json | undefined): JsonObject => (isObject(v) ? v : {});
const arr = (v: Json | undefined): JsonObject[] => (Array.isArray(v) ? v.map(obj) : []);

/** v1.Toleration.ToleratesTaint. */
function tolerates(t: JsonObject, taint: JsonObject): boolean {
  if (t.effect !== undefined && t.effect !== '' && t.effect !== taint.effect) return false;
  if (t.key !== undefined && t.key !== '' && t.key !== taint.key) return false;
  if (t.operator === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

/** The DaemonSet controller's tolerations: its pods run on cordoned and unready nodes too. */
export const DAEMON_TOLERATIONS: JsonObject[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];

/**
 * Whether the pod may be placed on the node. A cordoned node carries the
 * node.kubernetes.io/unschedulable taint (TaintNodesByCondition), which only a toleration lets through.
 */
export function feasible(pod: JsonObject, node: JsonObject): boolean {
  const spec = obj(node.spec);
  const taints = [...arr(spec.taints), ...(spec.unschedulable === true ? [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] : [])];
  const tolerations = arr(obj(pod.spec).tolerations);
  const ready = arr(obj(node.status).conditions).some((c) => c.type === 'Ready' && c.status === 'True');
  return ready && taints.filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute').every((t) => tolerations.some((x) => tolerates(x, t)));
}

/** The node for a new pod: feasible, with the fewest pods bound to it; undefined when none is feasible. */
export function pickNode(pod: JsonObject, nodes: readonly JsonObject[], pods: readonly JsonObject[], random = Math.random): string | undefined {
  const load = (name: string): number => pods.filter((p) => obj(p.spec).nodeName === name).length;
  const candidates = nodes.filter((n) => feasible(pod, n)).map((n) => ({ name: String(metadata(n).name), load: load(String(metadata(n).name)) }));
  const least = Math.min(...candidates.map((c) => c.load));
  const best = candidates.filter((c) => c.load === least);
  return best[Math.floor(random() * best.length)]?.name;
}
