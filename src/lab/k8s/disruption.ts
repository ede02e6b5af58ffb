/**
 * PodDisruptionBudgets: the disruption controller's status, computed from the pods when it is
 * asked for (pkg/controller/disruption/disruption.go: getExpectedPodCount, countHealthyPods,
 * updatePdbStatus), and the eviction subresource's decision (pkg/registry/core/pod/storage/
 * eviction.go: getPodDisruptionBudgets, canIgnorePDB, checkAndDecrement). The lab has no
 * controller writing PDB status, so the status is always current (observedGeneration = generation).
 * Pure.
 */
import { isObject, type Json, type JsonObject } from './patch.js';
import { metadata } from './store.js';

const obj = (v: Json | undefined): JsonObject => (isObject(v) ? v : {});
const strMap = (v: Json | undefined): Record<string, string> => Object.fromEntries(Object.entries(obj(v)).map(([k, x]) => [k, String(x)]));

/** metav1.LabelSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist), and-ed. */
function selectorMatches(selector: Json | undefined, labels: Record<string, string>): boolean {
  const s = obj(selector);
  const byLabel = Object.entries(strMap(s.matchLabels)).every(([k, v]) => labels[k] === v);
  const byExpr = (Array.isArray(s.matchExpressions) ? s.matchExpressions : []).map(obj).every((e) => {
    const values = (Array.isArray(e.values) ? e.values : []).map(String);
    const v = labels[String(e.key)];
    switch (e.operator) {
      case 'In':
        return v !== undefined && values.includes(v);
      case 'NotIn':
        return v === undefined || !values.includes(v);
      case 'Exists':
        return v !== undefined;
      case 'DoesNotExist':
        return v === undefined;
      default:
        return false;
    }
  });
  return byLabel && byExpr;
}

/** An empty or missing selector: the eviction handler lets it match nothing. */
const selectorEmpty = (selector: Json | undefined): boolean => {
  const s = obj(selector);
  return Object.keys(obj(s.matchLabels)).length === 0 && !(Array.isArray(s.matchExpressions) && s.matchExpressions.length > 0);
};

const podLabels = (pod: JsonObject): Record<string, string> => strMap(metadata(pod).labels);

/** podutil.IsPodReady: the Ready condition is True. */
const podReady = (pod: JsonObject): boolean => (Array.isArray(obj(pod.status).conditions) ? (obj(pod.status).conditions as Json[]) : []).map(obj).some((c) => c.type === 'Ready' && c.status === 'True');

/** intstr.GetScaledValueFromIntOrPercent(v, total, roundUp = true). */
function scaled(v: Json | undefined, total: number): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(String(v));
  if (!m) throw new Error(`invalid value for IntOrString: invalid value ${JSON.stringify(v)}`);
  return Math.ceil((Number(m[1]) * total) / 100);
}

/** The owner that controls an object (metav1.GetControllerOf). */
export const controllerOf = (o: JsonObject): JsonObject | undefined =>
  (Array.isArray(metadata(o).ownerReferences) ? (metadata(o).ownerReferences as Json[]) : []).map(obj).find((r) => r.controller === true);

export interface PdbStatus {
  observedGeneration: number;
  expectedPods: number;
  desiredHealthy: number;
  currentHealthy: number;
  disruptionsAllowed: number;
}

/**
 * The status the disruption controller would write. `replicasOf` gives a controlling owner's
 * spec.replicas (getExpectedScale's finders; the lab has ReplicaSets), undefined when the owner is
 * not a scalable controller it knows, which fails the sync: no disruption is allowed.
 */
export function pdbStatus(pdb: JsonObject, namespacePods: readonly JsonObject[], replicasOf: (owner: JsonObject) => number | undefined): PdbStatus {
  const spec = obj(pdb.spec);
  const pods = namespacePods.filter((p) => !selectorEmpty(spec.selector) && selectorMatches(spec.selector, podLabels(p)));
  const generation = Number(metadata(pdb).generation ?? 1);
  const failed: PdbStatus = { observedGeneration: generation, expectedPods: 0, desiredHealthy: 0, currentHealthy: 0, disruptionsAllowed: 0 };
  // getExpectedScale: the sum of the replicas of each distinct controller of the matched pods.
  const expectedScale = (): number | undefined => {
    const owners = new Map<string, number | undefined>();
    for (const p of pods) {
      const c = controllerOf(p);
      if (!c) return undefined;
      owners.set(String(c.uid), replicasOf(c));
    }
    const counts = [...owners.values()];
    return counts.includes(undefined) ? undefined : counts.reduce<number>((a, n) => a + (n ?? 0), 0);
  };
  let expected: number | undefined;
  let desired: number;
  if (spec.maxUnavailable !== undefined && spec.maxUnavailable !== null) {
    expected = expectedScale();
    if (expected === undefined) return failed;
    desired = Math.max(0, expected - scaled(spec.maxUnavailable, expected));
  } else if (typeof spec.minAvailable === 'number') {
    expected = pods.length;
    desired = spec.minAvailable;
  } else if (spec.minAvailable !== undefined && spec.minAvailable !== null) {
    expected = expectedScale();
    if (expected === undefined) return failed;
    desired = scaled(spec.minAvailable, expected);
  } else {
    return failed;
  }
  // countHealthyPods: ready and not being deleted.
  const healthy = pods.filter((p) => podReady(p) && metadata(p).deletionTimestamp === undefined).length;
  const allowed = expected <= 0 ? 0 : Math.max(0, healthy - desired);
  return { observedGeneration: generation, expectedPods: expected, desiredHealthy: desired, currentHealthy: healthy, disruptionsAllowed: allowed };
}

/** The eviction's decision for one pod: allowed, or the 429's cause message. */
export type EvictionVerdict = { allowed: true } | { allowed: false; tooMany: string } | { allowed: false; internal: string };

export function evictionVerdict(pod: JsonObject, namespacePdbs: readonly JsonObject[], status: (pdb: JsonObject) => PdbStatus): EvictionVerdict {
  // canIgnorePDB: a pod that is not running, or already being deleted, goes without a budget.
  const phase = obj(pod.status).phase;
  if (phase === 'Succeeded' || phase === 'Failed' || phase === 'Pending' || metadata(pod).deletionTimestamp !== undefined) return { allowed: true };
  const labels = podLabels(pod);
  // An empty selector matches nothing here, "not everything" (getPodDisruptionBudgets).
  const pdbs = namespacePdbs.filter((b) => !selectorEmpty(obj(b.spec).selector) && selectorMatches(obj(b.spec).selector, labels));
  if (pdbs.length === 0) return { allowed: true };
  if (pdbs.length > 1) return { allowed: false, internal: 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.' };
  const pdb = pdbs[0] as JsonObject;
  const s = status(pdb);
  // IfHealthyBudget (the default policy): an unready pod goes when the budget is met anyway.
  if (!podReady(pod) && s.currentHealthy >= s.desiredHealthy && s.desiredHealthy > 0) return { allowed: true };
  if (s.disruptionsAllowed === 0) {
    return { allowed: false, tooMany: `The disruption budget ${String(metadata(pdb).name)} needs ${s.desiredHealthy} healthy pods and has ${s.currentHealthy} currently` };
  }
  return { allowed: true };
}
