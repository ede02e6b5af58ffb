/**
 * Turns what an inventory file declares (native or Ansible) into the resolved Inventory: group
 * membership through children, group depth, and var precedence
 *   all < parent groups < child groups (same depth: by name) < host vars.
 */
import type { Problem, SourcePos } from './errors.js';
import type { Group, Host, Inventory } from './types.js';

export interface GroupDraft {
  name: string;
  hosts: string[];
  children: string[];
  vars: Record<string, unknown>;
  secretVars: Set<string>;
  pos?: SourcePos;
}

export interface HostDraft {
  name: string;
  /** Groups the file puts this host in directly. */
  groups: Set<string>;
  vars: Record<string, unknown>;
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
  return { name, hosts: [], children: [], vars: {}, secretVars: new Set(), pos };
}

export function newHost(name: string, pos?: SourcePos): HostDraft {
  return { name, groups: new Set(), vars: {}, secretVars: new Set(), pos };
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
    const ordered = [...all].sort((a, b) => depthOf(a) - depthOf(b) || a.localeCompare(b));
    const vars: Record<string, unknown> = {};
    const secretVars = new Set<string>();
    const layer = (v: Record<string, unknown>, s: Set<string>): void => {
      for (const [k, val] of Object.entries(v)) {
        vars[k] = val;
        if (s.has(k)) secretVars.add(k);
        else secretVars.delete(k);
      }
    };
    const allGroup = groups.get('all')!;
    layer(allGroup.vars, allGroup.secretVars);
    for (const g of ordered) layer(groups.get(g)!.vars, groups.get(g)!.secretVars);
    layer(h.vars, h.secretVars);
    hosts.push({ name: h.name, groups: ordered, vars, secretVars: [...secretVars], pos: h.pos, ...connectionOf(h, vars, secretVars) });
  }

  const resolvedGroups = new Map<string, Group>();
  for (const g of groups.values()) {
    const members = g.name === 'all' ? hosts.map((h) => h.name) : hosts.filter((h) => h.groups.includes(g.name)).map((h) => h.name);
    const topLevel = (n: string) => n !== 'all' && [...(parents.get(n) ?? [])].every((p) => p === 'all');
    const children = g.name === 'all' ? [...groups.keys()].filter(topLevel) : g.children;
    resolvedGroups.set(g.name, { name: g.name, hosts: members, children, vars: { ...g.vars } });
  }
  return { inventory: { file: draft.file, hosts, groups: resolvedGroups }, problems };
}
