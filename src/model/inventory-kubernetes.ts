/**
 * An inventory that names a cluster (`kubernetes:` in the native format, docs/formats.md): its
 * nodes become hosts, their roles and chosen labels groups, their labels and annotations vars.
 * What the file says about connecting (defaults, hosts:) applies to them as to any host; that merge
 * is inventory-native.ts's.
 */
import { existsSync } from 'node:fs';
import type { Problem, SourcePos } from './errors.js';
import type { KubernetesYaml } from './inventory-schema.js';
import { listNodes, nodeAddress, type KubeNode, type KubeSetting } from './kube-nodes.js';
import { oneLine } from './printable.js';
import { resolvePath } from './secrets.js';
import type { YamlSource } from './yaml-source.js';
import type { KubeNodeRef } from './types.js';

/** Labels naming a node's role, as kubeadm and `kubectl get nodes` (ROLES) read them. */
const ROLE_PREFIX = 'node-role.kubernetes.io/';
const GROUP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export interface ClusterHost {
  name: string;
  address: string;
  groups: string[];
  /** Plain strings and string maps only: never read as secret definitions (a label may be named `secret`). */
  vars: Record<string, string | Record<string, string>>;
  /** The node, and the kubectl settings it was listed with: what draining it uses. */
  kube: KubeNodeRef;
}

/**
 * A var name for a label or annotation key, safe in a template path: every character other than
 * a letter, digit or _ becomes _ (`topology.kubernetes.io/zone` → `k8s_label_topology_kubernetes_io_zone`).
 */
export function flatVarName(kind: 'label' | 'annotation', key: string): string {
  return `k8s_${kind}_${key.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/**
 * The map whole (`k8s_labels`, exact keys, for `| json`), and each key as its own flat var. Two
 * keys that flatten to one name (`a.b`, `a_b`) get no flat var: neither could be told apart.
 */
function keyVars(kind: 'label' | 'annotation', map: Record<string, string>): Record<string, string | Record<string, string>> {
  const flat = new Map<string, string[]>();
  for (const k of Object.keys(map)) {
    const name = flatVarName(kind, k);
    flat.set(name, [...(flat.get(name) ?? []), k]);
  }
  const out: Record<string, string | Record<string, string>> = { [`k8s_${kind}s`]: map };
  for (const [name, keys] of [...flat].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) if (keys.length === 1) out[name] = map[keys[0]!]!;
  return out;
}

/** The node's groups: each `node-role.kubernetes.io/ROLE` label, and `NAME_VALUE` for each chosen label it has. */
function nodeGroups(node: KubeNode, fromLabels: readonly string[]): { groups: string[] } | { problem: string } {
  const groups: string[] = [];
  for (const key of Object.keys(node.labels)) if (key.startsWith(ROLE_PREFIX) && key.length > ROLE_PREFIX.length) groups.push(key.slice(ROLE_PREFIX.length));
  for (const key of fromLabels) {
    const value = node.labels[key];
    if (value) groups.push(`${key.slice(key.lastIndexOf('/') + 1)}_${value}`);
  }
  const bad = groups.find((g) => !GROUP_NAME.test(g));
  if (bad !== undefined) return { problem: oneLine(`node "${node.name}": its labels make the group name ${JSON.stringify(bad)}, which is not a usable name`, 300) };
  return { groups: [...new Set(groups)] };
}

/** The cluster's nodes as hosts, or the problems (located in the `kubernetes:` section) that stop it. */
export function clusterHosts(k: KubernetesYaml, baseDir: string, src: YamlSource): { hosts: ClusterHost[]; problems: Problem[] } {
  const at = (setting?: KubeSetting | 'address' | 'groups_from_labels'): SourcePos =>
    setting !== undefined && k[setting] !== undefined ? src.posAt(['kubernetes', setting]) : src.posAt([], { key: 'kubernetes' });
  const kubeconfig = k.kubeconfig === undefined ? undefined : resolvePath(k.kubeconfig, baseDir);
  if (kubeconfig !== undefined && !existsSync(kubeconfig)) {
    return { hosts: [], problems: [{ pos: at('kubeconfig'), message: `kubernetes: kubeconfig ${kubeconfig} does not exist`, hint: "fix the path (a relative one is read from the inventory's directory), or leave it out to use kubectl's ($KUBECONFIG, ~/.kube/config)" }] };
  }
  const listed = listNodes({ ...(kubeconfig !== undefined && { kubeconfig }), ...(k.context !== undefined && { context: k.context }), ...(k.selector !== undefined && { selector: k.selector }) });
  if ('problem' in listed) return { hosts: [], problems: [{ pos: at(listed.problem.setting), message: `kubernetes: ${listed.problem.message}`, hint: listed.problem.hint }] };
  if (listed.nodes.length === 0) {
    return {
      hosts: [],
      problems: [
        k.selector !== undefined
          ? { pos: at('selector'), message: `kubernetes: no node matches selector ${JSON.stringify(k.selector)}`, hint: 'fix the selector (kubectl get nodes --show-labels shows the labels), or leave it out for every node' }
          : { pos: at(), message: 'kubernetes: the cluster lists no nodes', hint: 'check the context: kubectl config current-context' },
      ],
    };
  }
  const type = k.address ?? 'InternalIP';
  const problems: Problem[] = [];
  const hosts: ClusterHost[] = [];
  for (const node of listed.nodes) {
    const address = nodeAddress(node, type);
    const groups = nodeGroups(node, k.groups_from_labels ?? []);
    if ('problem' in address) problems.push({ pos: at('address'), message: `kubernetes: ${address.problem}`, hint: 'choose another address: InternalIP, ExternalIP, Hostname, InternalDNS or ExternalDNS' });
    if ('problem' in groups) problems.push({ pos: at('groups_from_labels'), message: `kubernetes: ${groups.problem}`, hint: 'fix the node\'s label, or leave that label out of groups_from_labels' });
    if ('problem' in address || 'problem' in groups) continue;
    hosts.push({
      name: node.name,
      address: address.address,
      groups: groups.groups,
      // How kubectl reaches this cluster, for local steps' kubectl: as the node list was read.
      vars: { ...keyVars('label', node.labels), ...keyVars('annotation', node.annotations), k8s_kubeconfig: kubeconfig ?? '', k8s_context: k.context ?? '' },
      kube: { name: node.name, ...(kubeconfig !== undefined && { kubeconfig }), ...(k.context !== undefined && { context: k.context }) },
    });
  }
  return { hosts, problems };
}
