/** Loads runbook's own inventory format (docs/formats.md), collecting every problem. */
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import type { Problem } from './errors.js';
import { finishInventory, newGroup, newHost, type InventoryDraft } from './inventory-build.js';
import { clusterHosts, type ClusterHost } from './inventory-kubernetes.js';
import { InventorySchema, type InventoryYaml } from './inventory-schema.js';
import { missingKnownHosts, resolvePath, resolveSecret, resolveVarMap, UnavailableSecret } from './secrets.js';
import { didYouMean } from './suggest.js';
import { DEFAULT_CONNECTION, type Host, type Inventory } from './types.js';
import { sortProblems, type YamlSource } from './yaml-source.js';
import { zodProblems } from './zod-problems.js';

const RESERVED_GROUPS = new Set(['all', 'ungrouped']);

export function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}

export function loadNativeInventory(src: YamlSource): { inventory?: Inventory; problems: Problem[] } {
  const parsed = InventorySchema.safeParse(src.value);
  if (!parsed.success) return { problems: sortProblems([...src.problems, ...zodProblems(src, InventorySchema, parsed.error.issues)]) };
  const y: InventoryYaml = parsed.data;
  const baseDir = dirname(src.file);
  const problems: Problem[] = [...src.problems];
  if (y.hosts === undefined && y.kubernetes === undefined) {
    problems.push({ pos: src.posAt([]), message: 'missing required key "hosts"', hint: 'list the hosts, or name a cluster under kubernetes: to take them from its nodes' });
    return { problems: sortProblems(problems) };
  }
  // A cluster's nodes come first, in the API's order; hosts: sets their connection settings and
  // vars, and adds hosts that are no nodes (a bastion), which must then say where they are.
  let nodes: ClusterHost[] = [];
  if (y.kubernetes !== undefined) {
    const cluster = clusterHosts(y.kubernetes, baseDir, src);
    if (cluster.problems.length) return { problems: sortProblems([...problems, ...cluster.problems]) };
    nodes = cluster.hosts;
  }
  const declared = y.hosts ?? {};
  const nodeByName = new Map(nodes.map((n) => [n.name, n]));
  const hostNames = [...new Set([...nodeByName.keys(), ...Object.keys(declared)])];
  const isHost = (name: string): boolean => nodeByName.has(name) || Object.hasOwn(declared, name);
  const clusterPos = src.posAt([], { key: 'kubernetes' });
  if (y.kubernetes !== undefined) {
    for (const [name, h] of Object.entries(declared)) {
      if (nodeByName.has(name) || h?.address !== undefined) continue;
      problems.push({
        pos: src.posAt(['hosts'], { key: name }),
        message: `host "${name}" is not a node of the cluster and has no address`,
        hint: didYouMean(name, [...nodeByName.keys()]) ?? 'give it an address, or check the selector under kubernetes:',
      });
    }
  }

  const draft: InventoryDraft = { file: src.file, hosts: new Map(), groups: new Map() };
  // Asked once: userInfo() reads the password database on every call (a third of loading 10,000 hosts).
  let loginName: string | undefined;
  const all = newGroup('all');
  const defaultVars = resolveVarMap(y.defaults?.vars, baseDir, (n) => src.posAt(['defaults', 'vars', n]));
  all.vars = defaultVars.values;
  all.secretVars = defaultVars.secrets;
  draft.groups.set('all', all);

  const groupNames = Object.keys(y.groups ?? {});
  for (const [name, g] of Object.entries(y.groups ?? {})) {
    if (RESERVED_GROUPS.has(name)) {
      problems.push({ pos: src.posAt(['groups'], { key: name }), message: `group name "${name}" is reserved`, hint: name === 'all' ? 'put vars for every host under defaults.vars' : 'choose another name' });
      continue;
    }
    if (isHost(name)) problems.push({ pos: src.posAt(['groups'], { key: name }), message: `"${name}" is both a host and a group`, hint: 'host patterns would be ambiguous; rename one' });
    const draftGroup = newGroup(name, src.posAt(['groups'], { key: name }));
    const vars = resolveVarMap(g?.vars, baseDir, (n) => src.posAt(['groups', name, 'vars', n]));
    draftGroup.vars = vars.values;
    draftGroup.secretVars = vars.secrets;
    (g?.hosts ?? []).forEach((h, i) => {
      if (isHost(h)) draftGroup.hosts.push(h);
      else problems.push({ pos: src.posAt(['groups', name, 'hosts', i]), message: `group "${name}" lists host "${h}", which is not under hosts`, hint: didYouMean(h, hostNames) ?? `add it under hosts` });
    });
    (g?.children ?? []).forEach((c, i) => {
      if (c in (y.groups ?? {}) && !RESERVED_GROUPS.has(c)) draftGroup.children.push(c);
      else problems.push({ pos: src.posAt(['groups', name, 'children', i]), message: `group "${name}" has child "${c}", which is not under groups`, hint: didYouMean(c, groupNames) ?? 'add it under groups' });
    });
    draft.groups.set(name, draftGroup);
  }

  const connections = new Map<string, Omit<Host, 'name' | 'groups' | 'vars' | 'secretVars' | 'pos'>>();
  const d = y.defaults ?? {};
  const knownHostsProblems = [
    d.known_hosts !== undefined && missingKnownHosts(resolvePath(d.known_hosts, baseDir), "the inventory's defaults", src.posAt(['defaults', 'known_hosts'])),
    ...Object.entries(declared).map(([name, h]) => h?.known_hosts !== undefined && missingKnownHosts(resolvePath(h.known_hosts, baseDir), `host "${name}"`, src.posAt(['hosts', name, 'known_hosts']))),
  ];
  for (const p of knownHostsProblems) if (p) problems.push(p);
  for (const name of hostNames) {
    const h = declared[name] ?? {};
    const node = nodeByName.get(name);
    const pos = Object.hasOwn(declared, name) ? src.posAt(['hosts'], { key: name }) : clusterPos;
    const host = newHost(name, pos);
    const vars = resolveVarMap(h.vars, baseDir, (n) => src.posAt(['hosts', name, 'vars', n]));
    // The node's vars are set as they are: a label map is never read as a secret's definition.
    host.vars = { ...node?.vars, ...vars.values };
    host.secretVars = vars.secrets;
    const memberships = [
      ...(node?.groups ?? []).map((g) => ({ g, at: clusterPos, by: `kubernetes: node "${name}" joins ` })),
      ...(h.groups ?? []).map((g, i) => ({ g, at: src.posAt(['hosts', name, 'groups', i]), by: '' })),
    ];
    for (const { g, at, by } of memberships) {
      if (RESERVED_GROUPS.has(g)) problems.push({ pos: at, message: `${by}group name "${g}" is reserved`, hint: by ? 'relabel the node' : 'every host is in all already' });
      else if (isHost(g)) problems.push(by ? { pos: at, message: `${by}group "${g}", which is a host`, hint: 'relabel the node, or rename the host' } : { pos: at, message: `"${g}" is a host, not a group` });
      else {
        host.groups.add(g);
        if (!draft.groups.has(g)) draft.groups.set(g, newGroup(g, at));
      }
    }
    draft.hosts.set(name, host);

    const defaulted: Array<'user' | 'port' | 'address'> = [];
    const pick = <K extends 'user' | 'port' | 'address'>(k: K, v: unknown) => {
      if (v === undefined) defaulted.push(k);
      return v;
    };
    const identity = h.identity_file ?? d.identity_file;
    const knownHosts = h.known_hosts ?? d.known_hosts;
    const becomePw = h.become_password ?? d.become_password;
    const becomePwPath = h.become_password !== undefined ? ['hosts', name, 'become_password'] : ['defaults', 'become_password'];
    const pw = becomePw === undefined ? undefined : typeof becomePw === 'string' ? becomePw : resolveSecret(becomePw, baseDir, src.posAt(becomePwPath));
    connections.set(name, {
      address: (pick('address', h.address ?? node?.address) as string | undefined) ?? name,
      port: (pick('port', h.port ?? d.port) as number | undefined) ?? 22,
      user: (pick('user', h.user ?? d.user) as string | undefined) ?? (loginName ??= currentUser()),
      connection: h.connection ?? d.connection ?? DEFAULT_CONNECTION,
      ...(identity !== undefined && { identityFile: resolvePath(identity, baseDir) }),
      ...(knownHosts !== undefined && { knownHostsFile: resolvePath(knownHosts, baseDir) }),
      ...((h.proxy_jump ?? d.proxy_jump) !== undefined && { proxyJump: h.proxy_jump ?? d.proxy_jump }),
      ...((h.become ?? d.become) !== undefined && { become: h.become ?? d.become }),
      ...(typeof pw === 'string' && { becomePassword: pw }),
      ...(pw instanceof UnavailableSecret && { becomePasswordError: `become_password: ${pw.reason}` }),
      ...(node && { kubeNode: node.kube }),
      ...(defaulted.length && { defaulted }),
    });
  }
  if (problems.length) return { problems: sortProblems(problems) };
  return finishInventory(draft, (h) => connections.get(h.name)!);
}
