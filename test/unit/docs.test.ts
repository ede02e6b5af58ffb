/**
 * The README and docs/ say what the program does: every `runbook …` command they show exists
 * with the options used, the example runbooks and inventory validate, the error examples are
 * what the program prints, and the sample events fit the events schema.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { runEventSchema } from '../../src/engine/events-schema.js';

const BIN = join(resolve('.'), 'bin/runbook.js');
const DOCS = ['README.md', 'docs/cli.md', 'docs/lab.md', 'docs/engine.md', 'docs/audit.md', 'docs/formats.md'];
const scratch = mkdtempSync(join(tmpdir(), 'rb-docs-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const cli = (args: string[], cwd = scratch) => {
  const env = { ...process.env };
  delete env.RUNBOOK_INVENTORY;
  const r = spawnSync('node', [BIN, ...args], { encoding: 'utf8', cwd, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

/** The fenced blocks of a markdown file, with their language. */
function blocks(file: string): Array<{ lang: string; text: string }> {
  const out: Array<{ lang: string; text: string }> = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  const md = readFileSync(file, 'utf8');
  for (let m = re.exec(md); m; m = re.exec(md)) out.push({ lang: m[1]!, text: m[2]! });
  return out;
}

/** Every `runbook …` command line in the docs' shell and plain blocks (comments and `;`-chains split off). */
function commandLines(): Array<{ file: string; words: string[] }> {
  const out: Array<{ file: string; words: string[] }> = [];
  for (const file of DOCS) {
    for (const b of blocks(file).filter((x) => x.lang === 'sh' || x.lang === '')) {
      for (const line of b.text.split('\n')) {
        for (const part of line.replace(/\s#.*$/, '').split(/;|&&|\|\|/)) {
          const words = part.trim().split(/\s+/);
          if (words[0] === 'runbook' && words.length > 1) out.push({ file, words: words.slice(1) });
        }
      }
    }
  }
  return out;
}

const helpCache = new Map<string, string>();
function helpOf(path: string[]): string {
  const key = path.join(' ');
  if (!helpCache.has(key)) helpCache.set(key, cli([...path, '--help']).stdout);
  return helpCache.get(key)!;
}

describe('the docs match the program', () => {
  const lines = commandLines();

  it('finds the examples it checks', () => {
    expect(lines.length).toBeGreaterThan(30);
  });

  it.each(lines.map((l) => [`${l.file}: runbook ${l.words.join(' ')}`, l] as const))('%s: the command and its options exist', (_name, { words }) => {
    // The command path: `lab up`, `audit verify`, or one word; a|b alternatives take the first.
    const first = words[0]!.split('|')[0]!;
    const path = ['lab', 'audit'].includes(first) && words[1] && !words[1].startsWith('-') ? [first, words[1].split('|')[0]!] : [first];
    const help = helpOf(path);
    expect(help, `runbook ${path.join(' ')} --help`).toMatch(/^Usage: runbook /);
    for (const w of words.filter((x) => /^--[a-z]/.test(x))) {
      const opt = w.replace(/^\[/, '').replace(/[=\]].*$/, '');
      expect(help, `${opt} in runbook ${path.join(' ')} --help`).toContain(`${opt}`);
    }
  });

  it('the example runbooks (README, formats.md) and the README inventory validate', () => {
    const examples = [...blocks('README.md'), ...blocks('docs/formats.md')].filter((b) => b.lang === 'yaml');
    const runbooks = examples.filter((b) => /^name:/m.test(b.text) && /^steps:/m.test(b.text));
    expect(runbooks.length).toBeGreaterThanOrEqual(2);
    mkdirSync(join(scratch, 'ex'), { recursive: true });
    runbooks.forEach((b, i) => {
      const name = (parse(b.text) as { name: string }).name;
      const dir = join(scratch, 'ex', String(i));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${name}.yaml`), b.text);
      const r = cli(['validate', join(dir, `${name}.yaml`)]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    });
    const inv = blocks('README.md').find((b) => b.lang === 'yaml' && /^hosts:/m.test(b.text))!;
    writeFileSync(join(scratch, 'ex', 'inventory.yaml'), inv.text);
    // The files it names, beside it (as the lab writes them).
    for (const f of ['known_hosts', 'id_ed25519']) writeFileSync(join(scratch, 'ex', f), '', { mode: 0o600 });
    const r = cli(['validate', join(scratch, 'ex', 'inventory.yaml')]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it("the README's error examples are what the program prints", () => {
    const shown = blocks('README.md').find((b) => b.text.includes('did you mean "check"'))!.text.split('\n');
    mkdirSync(join(scratch, 'runbooks'), { recursive: true });
    writeFileSync(join(scratch, 'runbooks', 'x.yaml'), 'description: x\nsteps:\n  - name: s\n    check: "true"\n    chek: "true"\n');
    // The program names the file by its full path; the README leaves the directory out.
    expect(cli(['validate', 'runbooks/x.yaml']).stderr.replaceAll(`${scratch}/`, '').split('\n')).toContain(shown[0]);
    writeFileSync(join(scratch, 'inventory.yaml'), 'groups:\n  workers: { hosts: [a] }\nhosts:\n  a: {}\n');
    const pattern = cli(['inventory', '-i', 'inventory.yaml', '--hosts', 'wrkers']).stderr.trim();
    expect(shown[1]).toBe(pattern.replace(join(scratch, 'inventory.yaml'), 'inventory/default.yaml').replace('inventory.yaml', 'inventory/default.yaml'));
    // The host-key refusal: the same words as the transport's (the key and paths elided).
    const source = readFileSync('src/transport/host-key-policy.ts', 'utf8');
    for (const words of ['is not known:', 'refusing to connect, nothing was run', 'check the fingerprint out of band', 'then trust it with: echo', '(or re-run with --accept-new)']) {
      expect(source).toContain(words);
      expect(shown[2]).toContain(words);
    }
  });

  it("events.md's sample events fit the events schema", () => {
    const samples = readFileSync('docs/events.md', 'utf8').split('\n').filter((l) => l.startsWith('{"type"'));
    expect(samples.length).toBeGreaterThan(3);
    for (const s of samples) {
      // "…" stands for what differs per run: a time, a run id.
      const e = JSON.parse(s.replace(/"time":"…"/g, '"time":"2026-11-25T12:48:34.200Z"').replace(/"…"/g, '"x"')) as Record<string, unknown>;
      const parsed = runEventSchema.safeParse(e);
      expect(parsed.success, `${s}\n${parsed.error?.message ?? ''}`).toBe(true);
    }
  });
});
