/**
 * What the lab's kube-controller-manager does each pass, as actions on the API: the ReplicaSet
 * controller (pods missing from spec.replicas created from the template, unbound, named
 * `<rs>-xxxxx`: pkg/controller/replicaset manageReplicas), the DaemonSet controller (one pod per
 * node it may run on, with the daemon tolerations: pkg/controller/daemon), and the scheduler's
 * binding of unbound pods (scheduling.ts). Pure; bin/kube-controller-manager.ts carries the
 * actions out.
 */
import { isObject, type Json, type JsonObject } from './patch.js';
import { metadata } from './store.js';
import { controllerOf } from './disruption.js';
import { DAEMON_TOLERATIONS, feasible, pickNode } from './scheduling.js';

const obj = (v: Json | undefined): JsonObject => (isObject(v) ? v : {});

export interface Cluster {
  nodes: JsonObject[];
  pods: JsonObject[];
  replicasets: JsonObject[];
  daemonsets: JsonObject[];
}

export type Action = { create: { namespace: string; pod: JsonObject } } | { bind: { namespace: string; name: string; node: string } };

/** A pod that still counts for its owner: not finished (controller.FilterActivePods). */
const active = (p: JsonObject): boolean => !['Succeeded', 'Failed'].includes(String(obj(p.status).phase)) && metadata(p).deletionTimestamp === undefined;

const ownedBy = (owner: JsonObject, pods: readonly JsonObject[]): JsonObject[] => pods.filter((p) => active(p) && controllerOf(p)?.uid === metadata(owner).uid);

/** A pod from the owner's template, owned by it (controller: true, as GetPodFromTemplate sets). */
function fromTemplate(owner: JsonObject, kind: string, spec: JsonObject): { namespace: string; pod: JsonObject } {
  const m = metadata(owner);
  const template = obj(obj(owner.spec).template);
  return {
    namespace: String(m.namespace),
    pod: {
      metadata: {
        generateName: `${String(m.name)}-`,
        namespace: String(m.namespace),
        labels: obj(metadata(template).labels),
        ownerReferences: [{ apiVersion: 'apps/v1', kind, name: String(m.name), uid: String(m.uid), controller: true, blockOwnerDeletion: true }],
      },
      spec,
    },
  };
}

export function reconcile(c: Cluster, random = Math.random): Action[] {
  const actions: Action[] = [];
  for (const rs of c.replicasets) {
    const want = Number(obj(rs.spec).replicas ?? 1);
    const missing = want - ownedBy(rs, c.pods).length;
    for (let i = 0; i < missing; i++) actions.push({ create: fromTemplate(rs, 'ReplicaSet', obj(obj(obj(rs.spec).template).spec)) });
  }
  for (const ds of c.daemonsets) {
    const have = new Set(ownedBy(ds, c.pods).map((p) => obj(p.spec).nodeName));
    const spec = obj(obj(obj(ds.spec).template).spec);
    const tolerations = [...(Array.isArray(spec.tolerations) ? spec.tolerations : []), ...DAEMON_TOLERATIONS];
    for (const n of c.nodes) {
      const name = String(metadata(n).name);
      const pod = { ...spec, tolerations, nodeName: name };
      if (!have.has(name) && feasible({ spec: pod }, n)) actions.push({ create: fromTemplate(ds, 'DaemonSet', pod) });
    }
  }
  // The scheduler: each unbound pod to a node, counting the pods bound in this pass.
  const bound = [...c.pods];
  for (const p of c.pods.filter((x) => active(x) && !obj(x.spec).nodeName)) {
    const node = pickNode(p, c.nodes, bound.filter(active), random);
    if (!node) continue;
    actions.push({ bind: { namespace: String(metadata(p).namespace), name: String(metadata(p).name), node } });
    bound.push({ ...p, spec: { ...obj(p.spec), nodeName: node } });
  }
  return actions;
}
