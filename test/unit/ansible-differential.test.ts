/**
 * Differential tests against the reference: every Ansible inventory fixture, and a seeded corpus of
 * generated ones, read by runbook's loader and by Ansible's own InventoryManager (through a small
 * python driver, many inventories per process). Hosts, group membership, children, connection
 * fields and every var must agree; a difference is fixed or listed in docs/formats.md.
 * Needs ansible-core (scripts/ensure-deps.sh installs it); skipped without it unless $CI is set.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkInventory, UnavailableSecret, type Inventory } from '../../src/model/index.js';
// The fuzzers' seeded generator: the same corpus on every run and every machine.
import { rng } from '../fuzz/generate.js';

const PYTHON = '/usr/bin/python3';
const DRIVER = resolve('test/differential/ansible_inventory_driver.py');
const haveAnsible = spawnSync(PYTHON, ['-c', 'import ansible'], { stdio: 'ignore' }).status === 0;
if (!haveAnsible && process.env.CI) throw new Error('ansible-core is missing: run bash scripts/ensure-deps.sh');

interface View {
  id: string;
  error?: string;
  hosts?: Record<string, { groups: string[]; vars: Record<string, unknown> }>;
  groups?: Record<string, { hosts: string[]; children: string[] }>;
}

function ansibleViews(cases: { id: string; sources: string[] }[]): Map<string, View> {
  const r = spawnSync(PYTHON, [DRIVER], { input: JSON.stringify(cases), maxBuffer: 1 << 30, encoding: 'utf8', env: { ...process.env, ANSIBLE_LOCALHOST_WARNING: 'false', ANSIBLE_INVENTORY_UNPARSED_WARNING: 'false' } });
  if (r.status !== 0) throw new Error(`driver failed: ${r.stderr}`);
  return new Map((JSON.parse(r.stdout) as View[]).map((v) => [v.id, v]));
}

const plain = (v: unknown): unknown => (v instanceof UnavailableSecret ? { __vault__: true } : JSON.parse(JSON.stringify(v ?? null)));

function runbookView(id: string, sources: string[]): View & { inventory?: Inventory } {
  try {
    const r = checkInventory(sources);
    if (!r.inventory) return { id, error: r.problems[0]?.message ?? 'no inventory' };
    const inv = r.inventory;
    const hosts: View['hosts'] = {};
    for (const h of inv.hosts) hosts[h.name] = { groups: [...h.groups].sort(), vars: Object.fromEntries(Object.entries(h.vars).map(([k, v]) => [k, plain(v)])) };
    const groups: View['groups'] = {};
    for (const g of inv.groups.values()) groups[g.name] = { hosts: [...g.hosts].sort(), children: [...g.children].sort() };
    return { id, hosts, groups, inventory: inv };
  } catch (err) {
    return { id, error: err instanceof Error ? err.message : String(err) };
  }
}

/** Every difference between the two readings, one line each. */
function differences(a: View, r: View & { inventory?: Inventory }): string[] {
  if (a.error || r.error) return a.error && r.error ? [] : [`${a.id}: ansible ${a.error ? `fails (${a.error})` : 'reads it'}, runbook ${r.error ? `fails (${r.error})` : 'reads it'}`];
  const out: string[] = [];
  const eq = (x: unknown, y: unknown): boolean => JSON.stringify(x) === JSON.stringify(y);
  const sortKeys = (v: unknown): unknown => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, x]) => [k, sortKeys(x)])) : Array.isArray(v) ? v.map(sortKeys) : v);
  const ah = a.hosts!;
  const rh = r.hosts!;
  // Host order is not compared: runbook keeps definition order (docs/formats.md).
  if (!eq(Object.keys(ah).sort(), Object.keys(rh).sort())) out.push(`${a.id}: hosts ${JSON.stringify(Object.keys(ah))} vs ${JSON.stringify(Object.keys(rh))}`);
  for (const [name, h] of Object.entries(ah)) {
    const mine = rh[name];
    if (!mine) continue;
    if (!eq(h.groups, mine.groups)) out.push(`${a.id}: ${name} groups ${JSON.stringify(h.groups)} vs ${JSON.stringify(mine.groups)}`);
    for (const k of new Set([...Object.keys(h.vars), ...Object.keys(mine.vars)])) {
      if (!eq(sortKeys(h.vars[k]), sortKeys(mine.vars[k]))) out.push(`${a.id}: ${name} var ${k}: ${JSON.stringify(h.vars[k])} vs ${JSON.stringify(mine.vars[k])}`);
    }
    const host = r.inventory!.hosts.find((x) => x.name === name)!;
    const v = h.vars;
    const expected = { address: String(v.ansible_host ?? v.ansible_ssh_host ?? name), port: Number(v.ansible_port ?? v.ansible_ssh_port ?? 22), user: String(v.ansible_user ?? v.ansible_ssh_user ?? userInfo().username) };
    const got = { address: host.address, port: host.port, user: host.user };
    if (!eq(expected, got)) out.push(`${a.id}: ${name} connection ${JSON.stringify(expected)} vs ${JSON.stringify(got)}`);
  }
  for (const [name, g] of Object.entries(a.groups!)) {
    const mine = r.groups![name];
    if (!mine) out.push(`${a.id}: group ${name} missing`);
    else if (!eq(g.hosts, mine.hosts) || !eq(g.children, mine.children)) out.push(`${a.id}: group ${name} ${JSON.stringify(g)} vs ${JSON.stringify(mine)}`);
  }
  for (const name of Object.keys(r.groups!)) if (!a.groups![name]) out.push(`${a.id}: group ${name} only in runbook`);
  return out;
}

function compare(cases: { id: string; sources: string[] }[]): string[] {
  const views = ansibleViews(cases);
  return cases.flatMap((c) => differences(views.get(c.id)!, runbookView(c.id, c.sources)));
}



const GROUPS = ['web', 'db', 'Alpha', 'beta', 'k8s_cluster', 'kube_node', 'etcd', 'z9'];
const KEYS = ['x', 'y', 'level', 'port_no', 'labels', 'ansible_host', 'ansible_port', 'ansible_user'];
/** INI host-line values (as written on the line) — literals, quoted text, words. */
const INI_HOST_VALUES = ['1', '-7', '0x1f', '1_000', '2.5', 'True', 'False', 'None', 'yes', 'true', 'word', `"two words"`, `"{'disk': 'ssd'}"`, `"[80, 443]"`, `"'quoted'"`, `'"dq"'`, '010', 'a,b', '1,2', `"(1, 'x')"`, 'x#comment', `"a#b"`];
/** INI [g:vars] values (the text after `=`). */
const INI_GROUP_VALUES = ['1', '2.5', 'True', 'None', 'yes', 'two words', `{'a': [1, 2]}`, `"{'not': 'dict'}"`, `'single'`, '[1, "two"]', '3 # note', 'w # note', '0o17', ''];
/** YAML values (as written). */
const YAML_VALUES = ['1', '2.5', 'yes', 'no', 'on', 'true', '~', '"text"', 'word', '0755', '[1, two]', '{a: 1, b: [x]}', "'1_000'", '1_000', '"{{ templated }}"'];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

/** One generated inventory under `dir`; returns its sources. */
function generate(r: () => number, dir: string): string[] {
  const groups = GROUPS.filter(() => r() < 0.6);
  // Children only point to later groups, so there is no cycle.
  const children = new Map(groups.map((g, i) => [g, groups.slice(i + 1).filter(() => r() < 0.25)]));
  const hostNames = ['h1', 'h2', 'h3', 'n[1:3]', 'm[a:b]', 'p[08:10]', 'h4:2222'];
  const value = (key: string, pool: readonly string[]): string => (key === 'ansible_port' ? String(2200 + Math.floor(r() * 10)) : key.startsWith('ansible_') ? `${key.slice(8)}${Math.floor(r() * 3)}` : pick(r, pool));
  const sources: string[] = [];
  const iniFile = (name: string): void => {
    const lines: string[] = [];
    const members = (): string[] => hostNames.filter(() => r() < 0.3);
    for (const h of members()) {
      const k = pick(r, KEYS);
      lines.push(`${h}${r() < 0.5 ? ` ${k}=${value(k, INI_HOST_VALUES)}` : ''}`);
    }
    for (const g of groups) {
      if (r() < 0.5 && children.get(g)!.length) lines.push(`[${g}:children]`, ...children.get(g)!);
      lines.push(`[${g}]`);
      for (const h of members()) {
        const k = pick(r, KEYS);
        lines.push(`${h}${r() < 0.6 ? ` ${k}=${value(k, INI_HOST_VALUES)}` : ''}${r() < 0.2 ? ' # c' : ''}`);
      }
      if (r() < 0.5) lines.push(`[${g}:vars]`, ...KEYS.filter(() => r() < 0.3).map((k) => `${k}=${value(k, INI_GROUP_VALUES)}`));
      if (r() < 0.15) lines.push(`[${g}:vars]`, `ansible_group_priority=${Math.floor(r() * 3)}`);
    }
    writeFileSync(name, `${lines.join('\n')}\n`);
  };
  const yamlFile = (name: string): void => {
    const vars = (indent: string): string => KEYS.filter(() => r() < 0.3).map((k) => `${indent}${k}: ${value(k, YAML_VALUES)}\n`).join('');
    const body = (g: string, indent: string): string => {
      let t = `${indent}${g}:\n`;
      const hs = hostNames.filter(() => r() < 0.25);
      if (hs.length) t += `${indent}  hosts:\n` + hs.map((h) => `${indent}    ${h}:\n${vars(`${indent}      `)}`).join('');
      const v = vars(`${indent}    `);
      if (v) t += `${indent}  vars:\n${v}`;
      const cs = children.get(g) ?? [];
      if (cs.length && indent.length < 12) t += `${indent}  children:\n` + cs.map((c) => body(c, `${indent}    `)).join('');
      return t;
    };
    const top = groups.filter(() => r() < 0.7);
    const allVars = vars('    ');
    writeFileSync(name, `all:\n${allVars ? `  vars:\n${allVars}` : ''}${top.length ? `  children:\n${top.map((g) => body(g, '    ')).join('')}` : '  hosts:\n    solo:\n'}`);
  };
  const varsFiles = (base: string): void => {
    for (const kind of ['group_vars', 'host_vars'] as const) {
      const names = kind === 'group_vars' ? ['all', ...groups] : ['h1', 'h2', 'n1', 'ma', 'p09', 'h4'];
      for (const n of names.filter(() => r() < 0.35)) {
        const d = join(base, kind);
        mkdirSync(d, { recursive: true });
        const text = (): string => KEYS.filter(() => r() < 0.4).map((k) => `${k}: ${value(k, YAML_VALUES)}\n`).join('') || 'z: 0\n';
        const shape = Math.floor(r() * 4);
        if (shape === 0) writeFileSync(join(d, n), text());
        else if (shape === 1) writeFileSync(join(d, `${n}.yml`), text());
        else if (shape === 2) writeFileSync(join(d, `${n}.json`), JSON.stringify({ level: `json-${n}`, x: [1, { y: null }] }));
        else {
          mkdirSync(join(d, n));
          writeFileSync(join(d, n, '10-a.yml'), text());
          writeFileSync(join(d, n, '20-b.yaml'), text());
        }
      }
    }
  };
  const shape = Math.floor(r() * 4);
  if (shape === 0) {
    iniFile(join(dir, 'hosts'));
    sources.push(join(dir, 'hosts'));
  } else if (shape === 1) {
    yamlFile(join(dir, 'hosts.yml'));
    sources.push(join(dir, 'hosts.yml'));
  } else if (shape === 2) {
    // A directory mixing INI without an extension, YAML, and an .ini that Ansible skips.
    iniFile(join(dir, '10-hosts'));
    yamlFile(join(dir, '20-more.yaml'));
    if (r() < 0.5) iniFile(join(dir, 'skipped.ini'));
    sources.push(dir);
  } else {
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    iniFile(join(dir, 'a/hosts'));
    yamlFile(join(dir, 'b/hosts.yml'));
    varsFiles(join(dir, 'b'));
    sources.push(join(dir, 'a/hosts'), join(dir, 'b/hosts.yml'));
  }
  varsFiles(shape === 2 ? dir : dirname(sources[0]!));
  return sources;
}

const fx = resolve('test/fixtures/ansible');

describe.skipIf(!haveAnsible)('runbook reads Ansible inventories as ansible-inventory does', () => {
  it('the fixtures: kubespray layout, a mixed directory, several sources, the unit fixtures', () => {
    const cases = [
      { id: 'kubespray', sources: [join(fx, 'kubespray/inventory.ini')] },
      { id: 'mixed', sources: [join(fx, 'mixed')] },
      { id: 'multi', sources: [join(fx, 'multi/first/hosts.yml'), join(fx, 'multi/second/hosts')] },
      { id: 'multi-dirs', sources: [join(fx, 'multi/first'), join(fx, 'multi/second')] },
      { id: 'unit-ini', sources: [resolve('test/unit/fixtures/model/ansible-ini/hosts')] },
      { id: 'unit-yaml', sources: [resolve('test/unit/fixtures/model/ansible-yaml/inventory.yml')] },
      { id: 'shipped', sources: [resolve('inventory/ansible/hosts.ini')] },
    ];
    expect(compare(cases)).toEqual([]);
  });

  it('a generated corpus: 600 inventories from a fixed seed (INI, YAML, directories, several sources, var files, literals, precedence)', () => {
    const r = rng(20);
    const root = mkdtempSync(join(tmpdir(), 'rb-corpus-'));
    const cases = Array.from({ length: 600 }, (_, i) => {
      const dir = join(root, String(i));
      mkdirSync(dir);
      return { id: `corpus-${i}`, sources: generate(r, dir) };
    });
    try {
      const diffs = compare(cases);
      expect(diffs.length, diffs.slice(0, 30).join('\n')).toBe(0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 180_000);
});
