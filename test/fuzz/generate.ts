/**
 * Reproducible mutations of the shipped runbooks and inventories. Case `i` depends only on
 * (seed, i) and the shipped files, so a failing case reproduces with `generateCase(seed, i)`.
 * Nothing here judges a result; the fuzz tests do that.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export const FUZZ_SEED = 0x5eed_2025;
export const FUZZ_CASES = 1200;

/** A shipped file a case mutates. `kind` says which loader reads it. */
export interface Base {
  /** Path relative to the repository root, e.g. `runbooks/fix-forwarding.yaml`. */
  path: string;
  kind: 'runbook' | 'inventory' | 'ansible-part';
  text: string;
}

export interface FuzzCase {
  id: number;
  base: Base;
  /** The mutators applied, in order: the case's one-line description. */
  ops: string[];
  bytes: Buffer;
}

/** mulberry32: tiny, fast, good enough to spread mutations; deterministic per seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;

function walk(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** Every shipped runbook and inventory file, in a stable order. */
export function shippedBases(root: string): Base[] {
  const files = [...walk(join(root, 'runbooks')).filter((f) => /\.ya?ml$/.test(f)), ...walk(join(root, 'inventory'))];
  return files.map((f) => {
    const path = relative(root, f);
    const kind = path.startsWith('runbooks/') ? 'runbook' : /inventory\/ansible\/(group|host)_vars\//.test(path) ? 'ansible-part' : 'inventory';
    return { path, kind, text: readFileSync(f, 'utf8') };
  });
}

const lines = (t: string): string[] => t.split('\n');
const keyLine = /^(\s*(?:- )?)([A-Za-z_][\w-]*):(\s.*)?$/;

/** Values of every wrong type, for replacing a key's value. */
const WRONG_VALUES = [
  '[1, 2, 3]', '{ a: b }', '123', '-1', '0', 'true', 'null', '~', '""', '3.14', '1e400', '-.inf', '.nan',
  '[]', '{}', '!!binary aGVsbG8=', '!!int "x"', '!vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6162', '2001-12-14t21:59:43.10-05:00',
  '!!python/object:os.system "id"', '"\\u0000"', "'{{ undefined_var }}'", '"{{"', '"}}{{ a | nope }}"', '&a [*a]', '*nowhere',
];

const UNKNOWN_KEYS = ['chek', 'fixx', 'stpes', 'hots', '__proto__', 'constructor', 'prototype', 'toString', 'x-unknown', '"k e y"', '? complex', '<<', 'groups', 'vars'];

type Mutator = (t: string, r: Rand) => string;

const mutators: Record<string, Mutator> = {
  truncate: (t, r) => t.slice(0, int(r, t.length + 1)),
  'wrong-type': (t, r) => {
    const ls = lines(t);
    const idx = ls.map((l, i) => (keyLine.test(l) ? i : -1)).filter((i) => i >= 0);
    if (idx.length === 0) return `${t}\n${pick(r, WRONG_VALUES)}`;
    const i = pick(r, idx);
    const m = keyLine.exec(ls[i]!)!;
    ls[i] = `${m[1]}${m[2]}: ${pick(r, WRONG_VALUES)}`;
    return ls.join('\n');
  },
  'huge-value': (t, r) => {
    const ls = lines(t);
    const idx = ls.map((l, i) => (keyLine.test(l) ? i : -1)).filter((i) => i >= 0);
    const huge = pick(r, [
      () => `"${'A'.repeat(200_000 + int(r, 100_000))}"`,
      () => '9'.repeat(5000),
      () => `[${Array.from({ length: 50_000 }, (_, k) => k).join(',')}]`,
      () => `"${'{{ x }}'.repeat(20_000)}"`,
      () => `"${'\\u00e9'.repeat(30_000)}"`,
    ])();
    if (idx.length === 0) return `${t}\nhuge: ${huge}`;
    const i = pick(r, idx);
    const m = keyLine.exec(ls[i]!)!;
    ls[i] = `${m[1]}${m[2]}: ${huge}`;
    return ls.join('\n');
  },
  'over-size-limit': (t) => `${t}\n# ${'x'.repeat(4 * 1024 * 1024 + 10)}\n`,
  'many-entries': (t, r) => {
    const n = 2000 + int(r, 8000);
    if (t.includes('steps:')) return `${t}\n${Array.from({ length: n }, (_, k) => `  - name: s${k}\n    check: "true"`).join('\n')}\n`;
    return `${t}\n${Array.from({ length: n }, (_, k) => `h${k}: { address: 10.0.${k >> 8}.${k & 255} }`).join('\n')}\n`;
  },
  'unknown-key': (t, r) => {
    const ls = lines(t);
    const i = int(r, ls.length);
    const indent = /^\s*/.exec(ls[i] ?? '')![0];
    ls.splice(i, 0, `${indent}${pick(r, UNKNOWN_KEYS)}: ${pick(r, ['x', '1', '[a]', '{}', ''])}`);
    return ls.join('\n');
  },
  'billion-laughs': () =>
    [
      'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
      ...Array.from({ length: 8 }, (_, k) => {
        const me = String.fromCharCode(98 + k);
        const prev = String.fromCharCode(97 + k);
        return `${me}: &${me} [${Array(9).fill(`*${prev}`).join(',')}]`;
      }),
      'steps: *i',
      'hosts: *i',
    ].join('\n'),
  'alias-tricks': (t, r) =>
    pick(r, [
      `${t}\nx: *undefined_anchor\n`,
      `base: &b { name: s, check: "true" }\nsteps:\n  - <<: *b\n  - <<: *b\n    <<: *b\n`,
      `${t}\nself: &s { me: *s }\n`,
      `steps: &s\n  - name: a\n    check: "true"\n    fix: *s\n`,
      `defaults: &d\n  vars: *d\nhosts: { a: *d }\n`,
      `${t}\n<<: *nope\n`,
      `<<: [1, 2]\n${t}`,
    ]),
  'binary-bytes': (t, r) => {
    const b = Buffer.from(t, 'utf8');
    const at = int(r, b.length + 1);
    const junk = Buffer.from(Array.from({ length: 1 + int(r, 64) }, () => int(r, 256)));
    return Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]).toString('latin1');
  },
  'deep-nesting': (t, r) => {
    const d = pick(r, [50, 500, 5000, 100_000]);
    return pick(r, [
      () => `steps: ${'['.repeat(d)}${']'.repeat(d)}\n`,
      () => `hosts: ${'{a: '.repeat(d)}1${'}'.repeat(d)}\n`,
      () => `${t}\nx:\n${Array.from({ length: Math.min(d, 2000) }, (_, k) => `${' '.repeat(k + 1)}- `).join('\n')}1\n`,
      () => `${'['.repeat(d)}\n`,
    ])();
  },
  'duplicate-key': (t, r) => {
    const ls = lines(t);
    const idx = ls.map((l, i) => (keyLine.test(l) ? i : -1)).filter((i) => i >= 0);
    if (idx.length === 0) return `${t}\n${t}`;
    const i = pick(r, idx);
    ls.splice(i + 1, 0, ls[i]!.replace(/^(\s*)- /, '$1  '));
    return ls.join('\n');
  },
  'byte-flip': (t, r) => {
    const b = Buffer.from(t, 'utf8');
    for (let k = 0, n = 1 + int(r, 8); k < n && b.length; k++) b[int(r, b.length)] = int(r, 256);
    return b.toString('latin1');
  },
  'line-shuffle': (t, r) => {
    const ls = lines(t);
    for (let k = 0, n = 1 + int(r, 4); k < n && ls.length > 1; k++) {
      const i = int(r, ls.length);
      const j = int(r, ls.length);
      [ls[i], ls[j]] = [ls[j]!, ls[i]!];
    }
    return ls.join('\n');
  },
  'line-drop': (t, r) => {
    const ls = lines(t);
    ls.splice(int(r, ls.length), 1 + int(r, 3));
    return ls.join('\n');
  },
  'reindent': (t, r) => {
    const ls = lines(t);
    const i = int(r, ls.length);
    ls[i] = pick(r, ['\t', ' ', '   ', '']) + (ls[i] ?? '').trimStart();
    return ls.join('\n');
  },
  'yaml-oddities': (t, r) =>
    pick(r, [
      `\ufeff${t}`,
      t.replace(/\n/g, '\r\n'),
      t.replace(/\n/g, '\r'),
      `${t}\n---\n${t}`,
      `%YAML 1.1\n---\n${t}`,
      `%TAG ! tag:evil.example,2000:\n---\n${t}`,
      `--- !!map\n${t}`,
      `!!seq\n${t}`,
      `${t}\n...\n`,
      `? [a, b]\n: c\n${t}`,
      `"\\x00\\uD800\\U0010FFFF": 1\n${t}`,
      '',
      '\n\n\n',
      '# only a comment\n',
      '[a, b',
      '- just\n- a\n- list\n',
      '"a plain string"',
      'key: "unterminated\n',
      "key: 'it''s\n",
    ]),
  'ini-oddities': (t, r) =>
    pick(r, [
      `${t}\n[broken\n`,
      `${t}\n[g:children]\nmissing_group\n`,
      `${t}\n[g:vars]\nnot a var line\n`,
      `${t}\nnode[01:99999999]\n`,
      `${t}\nnode[9:1]\n`,
      `${t}\nnode[a:9]\n`,
      `${t}\nhost ansible_port=notanumber\n`,
      `${t}\nhost ansible_port=99999999999999999999\n`,
      `${t}\nhost ansible_connection=telnet\n`,
      `${t}\nhost 'unterminated=\n`,
      `${t}\n[a:children]\nb\n[b:children]\na\n`,
      `${t}\n[]\n`,
      `${t}\n[all:vars]\nx=${'y'.repeat(100_000)}\n`,
    ]),
};

const GENERIC = Object.keys(mutators).filter((k) => k !== 'ini-oddities');

/** Case `id`: one to three mutators applied to one shipped file, chosen from (seed, id) only. */
export function generateCase(bases: readonly Base[], seed: number, id: number): FuzzCase {
  const r = rng((seed ^ Math.imul(id + 1, 0x9e3779b1)) >>> 0);
  const base = bases[id % bases.length]!;
  const isIni = !/\.ya?ml$/.test(base.path);
  const names = isIni ? [...GENERIC, 'ini-oddities', 'ini-oddities'] : GENERIC;
  const ops: string[] = [];
  let text = base.text;
  for (let k = 0, n = 1 + (r() < 0.3 ? int(r, 3) : 0); k < n; k++) {
    const name = pick(r, names);
    ops.push(name);
    text = mutators[name]!(text, r);
  }
  // Mutators that insert raw bytes return latin1 strings; the rest are plain text.
  const raw = ops.some((o) => o === 'binary-bytes' || o === 'byte-flip');
  return { id, base, ops, bytes: Buffer.from(text, raw ? 'latin1' : 'utf8') };
}

export function generateCases(root: string, seed = FUZZ_SEED, count = FUZZ_CASES): FuzzCase[] {
  const bases = shippedBases(root);
  return Array.from({ length: count }, (_, id) => generateCase(bases, seed, id));
}
