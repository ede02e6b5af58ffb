/**
 * The resources the lab API serves, one definition each: where they live (core or an API group,
 * which versions), their kind, scope, verbs and the field labels a `fieldSelector` may name. The
 * discovery documents, the path parser and the store are all built from this table. Pure.
 */
import type { JsonObject } from './patch.js';

export type Resource = 'nodes' | 'pods' | 'poddisruptionbudgets' | 'daemonsets' | 'replicasets';
export const RESOURCE_NAMES: readonly Resource[] = ['nodes', 'pods', 'poddisruptionbudgets', 'daemonsets', 'replicasets'];

export interface ResourceDef {
  /** '' for core (/api/v1). */
  group: string;
  /** The versions served, the preferred first. */
  versions: readonly string[];
  kind: string;
  singular: string;
  namespaced: boolean;
  verbs: readonly string[];
  shortNames?: readonly string[];
  /** Subresources and their verbs (`status`, `binding`, `eviction`). */
  subresources: Readonly<Record<string, { kind: string; verbs: readonly string[]; group?: string; version?: string }>>;
  /**
   * Field labels a fieldSelector may name besides metadata.name and metadata.namespace, with how to
   * read them (each registry's GetAttrs/ToSelectableFields: pkg/registry/core/pod/strategy.go,
   * node/strategy.go).
   */
  fields: Readonly<Record<string, (o: JsonObject) => string>>;
}

const at =
  (...path: string[]) =>
  (o: JsonObject): string => {
    let v: unknown = o;
    for (const p of path) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[p] : undefined;
    return v === undefined || v === null ? '' : String(v);
  };

export const RESOURCES: Readonly<Record<Resource, ResourceDef>> = {
  nodes: {
    group: '',
    versions: ['v1'],
    kind: 'Node',
    singular: 'node',
    namespaced: false,
    verbs: ['get', 'list', 'patch'],
    shortNames: ['no'],
    subresources: { status: { kind: 'Node', verbs: ['get', 'patch'] } },
    // NodeToSelectableFields: spec.unschedulable reads "false" when unset.
    fields: { 'spec.unschedulable': (o) => at('spec', 'unschedulable')(o) || 'false' },
  },
  pods: {
    group: '',
    versions: ['v1'],
    kind: 'Pod',
    singular: 'pod',
    namespaced: true,
    verbs: ['create', 'delete', 'get', 'list', 'patch'],
    shortNames: ['po'],
    // The eviction subresource names its own group and version, as the real /api/v1 does: kubectl
    // drain's CheckEvictionSupport reads them there.
    subresources: {
      status: { kind: 'Pod', verbs: ['get', 'patch'] },
      binding: { kind: 'Binding', verbs: ['create'] },
      eviction: { kind: 'Eviction', verbs: ['create'], group: 'policy', version: 'v1' },
    },
    fields: {
      'spec.nodeName': at('spec', 'nodeName'),
      'spec.restartPolicy': at('spec', 'restartPolicy'),
      'spec.schedulerName': at('spec', 'schedulerName'),
      'spec.serviceAccountName': at('spec', 'serviceAccountName'),
      'spec.hostNetwork': (o) => at('spec', 'hostNetwork')(o) || 'false',
      'status.phase': at('status', 'phase'),
      'status.podIP': at('status', 'podIP'),
      'status.nominatedNodeName': at('status', 'nominatedNodeName'),
    },
  },
  poddisruptionbudgets: {
    group: 'policy',
    versions: ['v1', 'v1beta1'],
    kind: 'PodDisruptionBudget',
    singular: 'poddisruptionbudget',
    namespaced: true,
    verbs: ['create', 'delete', 'get', 'list'],
    shortNames: ['pdb'],
    subresources: {},
    fields: {},
  },
  daemonsets: {
    group: 'apps',
    versions: ['v1'],
    kind: 'DaemonSet',
    singular: 'daemonset',
    namespaced: true,
    verbs: ['get', 'list'],
    shortNames: ['ds'],
    subresources: {},
    fields: {},
  },
  replicasets: {
    group: 'apps',
    versions: ['v1'],
    kind: 'ReplicaSet',
    singular: 'replicaset',
    namespaced: true,
    verbs: ['get', 'list'],
    shortNames: ['rs'],
    subresources: {},
    fields: {},
  },
};

export const groupVersion = (group: string, version: string): string => (group ? `${group}/${version}` : version);

/** The groups under /apis, each with its versions (the preferred first). */
export function apiGroups(): { name: string; versions: string[] }[] {
  const out = new Map<string, Set<string>>();
  for (const r of RESOURCE_NAMES) {
    const d = RESOURCES[r];
    if (!d.group) continue;
    const vs = out.get(d.group) ?? new Set<string>();
    for (const v of d.versions) vs.add(v);
    out.set(d.group, vs);
  }
  return [...out].map(([name, vs]) => ({ name, versions: [...vs] }));
}

/** The APIResourceList of one group version: each resource and subresource served there. */
export function resourceList(group: string, version: string): JsonObject[] | undefined {
  const defs = RESOURCE_NAMES.filter((r) => RESOURCES[r].group === group && RESOURCES[r].versions.includes(version));
  if (defs.length === 0) return undefined;
  return defs.flatMap((r): JsonObject[] => {
    const d = RESOURCES[r];
    return [
      { name: r, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: [...d.verbs], ...(d.shortNames ? { shortNames: [...d.shortNames] } : {}), ...(r === 'pods' ? { categories: ['all'] } : {}) },
      ...Object.entries(d.subresources).map(([sub, s]): JsonObject => ({
        name: `${r}/${sub}`,
        singularName: '',
        namespaced: d.namespaced,
        ...(s.group ? { group: s.group, version: s.version ?? '' } : {}),
        kind: s.kind,
        verbs: [...s.verbs],
      })),
    ];
  });
}
