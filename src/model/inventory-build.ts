/**
 * Turns what an inventory file declares (native or Ansible) into the resolved Inventory: group
 * membership through children, group depth, and var precedence (Ansible's VARIABLE_PRECEDENCE):
 *   all < groups, general first (same depth: by priority, then name) < all's files < the groups'
 *   files in the same order < host vars < the host's files.
 */
import type { Problem, SourcePos } from './errors.js';
import type { Group, Host, Inventory } from './types.js';

export interface GroupDraft {
  name: string;
  hosts: string[];
  children: string[];
  vars: Record<string, unknown>;
  /** Vars from group_vars/ files, one map per inventory source in source order. */
  fileVars: Record<string, unknown>[];
  /** Orders groups of the same depth before their names do (Ansible's ansible_group_priority; default 1). */
  priority: number;
  secretVars: Set<string>;
  pos?: SourcePos;
}

export interface HostDraft {
  name: string;
  /** Groups the file puts this host in directly. */
  groups: Set<string>;
  vars: Record<string, unknown>;
  /** Vars from host_vars/ files, one map per inventory source in source order. */
  fileVars: Record<string, unknown>[];
  secretVars: Set<string>;
  pos?: SourcePos;
}

export interface InventoryDraft {
  file: string;
  hosts: Map<string, HostDraft>;
  /** `all` holds the inventory-wide vars. */
  groups: Map<string, GroupDraft>;
}

export type ConnectionOf = (
  host: HostDraft,
  vars: Record<string, unknown>,
  secretVars: Set<string>,
) => Omit<Host, 'name' | 'groups' | 'vars' | 'secretVars' | 'pos'>;

export function newGroup(name: string, pos?: SourcePos): GroupDraft {
  return { name, hosts: [], children: [], vars: {}, fileVars: [], priority: 1, secretVars: new Set(), pos };
}

export function newHost(name: string, pos?: SourcePos): HostDraft {
  return { name, groups: new Set(), vars: {}, fileVars: [], secretVars: new Set(), pos };
}

/** Resolves the draft, or returns the problems (cycles, unknown children) that prevent it. */
export function finishInventory(draft: InventoryDraft, connectionOf: ConnectionOf): { inventory?: Inventory; problems: Problem[] } {
  const problems: Problem[] = [];
  const groups = draft.groups;
  if (!groups.has('all')) groups.set('all', newGroup('all'));

  const parents = new Map<string, Set<string>>();
  for (const g of groups.values()) {
    for (const c of g.children) {
      if (!groups.has(c)) groups.set(c, newGroup(c, g.pos));
      let set = parents.get(c);
      if (!set) parents.set(c, (set = new Set()));
      set.add(g.name);
    }
  }

  // Depth: all = 0, top-level groups = 1, a child is one deeper than its deepest parent.
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (name: string): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (name === 'all') return 0;
    if (visiting.has(name)) {
      problems.push({ pos: groups.get(name)?.pos, message: `group "${name}" is its own ancestor (children form a cycle)`, hint: 'remove one of the children links' });
      return 1;
    }
    visiting.add(name);
    let d = 1;
    for (const p of parents.get(name) ?? []) d = Math.max(d, depthOf(p) + 1);
    visiting.delete(name);
    depth.set(name, d);
    return d;
  };
  for (const name of groups.keys()) depthOf(name);
  if (problems.length) return { problems };

  const ancestorsOf = (name: string, out: Set<string>): void => {
    if (out.has(name)) return;
    out.add(name);
    for (const p of parents.get(name) ?? []) ancestorsOf(p, out);
  };

  const memberOf = new Map<string, Set<string>>();
  for (const h of draft.hosts.values()) memberOf.set(h.name, new Set(h.groups));
  for (const g of groups.values()) for (const h of g.hosts) memberOf.get(h)?.add(g.name);

  const hosts: Host[] = [];
  for (const h of draft.hosts.values()) {
    const all = new Set<string>();
    for (const g of memberOf.get(h.name)!) ancestorsOf(g, all);
    all.delete('all');
    // Names compare by code point, as Python's sorted() does in Ansible.
    const ordered = [...all].sort((a, b) => depthOf(a) - depthOf(b) || groups.get(a)!.priority - groups.get(b)!.priority || (a < b ? -1 : a > b ? 1 : 0));
    const vars: Record<string, unknown> = {};
    const secretVars = new Set<string>();
    const layer = (v: Record<string, unknown>, s: Set<string>): void => {
      for (const [k, val] of Object.entries(v)) {
        vars[k] = val;
        if (s.has(k)) secretVars.add(k);
        else secretVars.delete(k);
      }
    };
    // Files are read source by source, each source for every target in turn, as Ansible's vars plugins are.
    const layerFiles = (targets: (GroupDraft | HostDraft)[]): void => {
      const sources = Math.max(0, ...targets.map((t) => t.fileVars.length));
      for (let s = 0; s < sources; s++) for (const t of targets) layer(t.fileVars[s] ?? {}, t.secretVars);
    };
    const allGroup = groups.get('all')!;
    const ownGroups = ordered.map((g) => groups.get(g)!);
    layer(allGroup.vars, allGroup.secretVars);
    for (const g of ownGroups) layer(g.vars, g.secretVars);
    layerFiles([allGroup]);
    layerFiles(ownGroups);
    layer(h.vars, h.secretVars);
    layerFiles([h]);
    hosts.push({ name: h.name, groups: ordered, vars, secretVars: [...secretVars], pos: h.pos, ...connectionOf(h, vars, secretVars) });
  }

  const resolvedGroups = new Map<string, Group>();
  for (const g of groups.values()) {
    const members = g.name === 'all' ? hosts.map((h) => h.name) : hosts.filter((h) => h.groups.includes(g.name)).map((h) => h.name);
    // `all` has the groups listed under it and every group without a parent, as in Ansible.
    const children = g.name === 'all' ? [...new Set([...g.children, ...[...groups.keys()].filter((n) => n !== 'all' && !parents.has(n))])] : g.children;
    resolvedGroups.set(g.name, { name: g.name, hosts: members, children, vars: Object.assign({}, g.vars, ...g.fileVars) });
  }
  return { inventory: { file: draft.file, hosts, groups: resolvedGroups }, problems };
}
