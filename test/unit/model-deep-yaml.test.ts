import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FUZZ_SEED, generateCase, shippedBases } from '../fuzz/generate.js';

describe('YAML nested past the parser\'s stack', () => {
  // Fuzz case 810 (deep nesting in group_vars/all.yml) made the yaml parser itself throw a
  // RangeError on a small stack; a smaller --stack-size makes that certain here. The case's base is
  // picked by index over the shipped files: pinned to that one file, the same bytes come out
  // whatever runbooks are shipped later.
  it('is a located one-line problem, not a stack trace', () => {
    const c = generateCase(shippedBases('.').filter((b) => b.path === 'inventory/ansible/group_vars/all.yml'), FUZZ_SEED, 810);
    expect(c.ops).toContain('deep-nesting');
    const file = join(mkdtempSync(join(tmpdir(), 'rb-deep-')), 'deep.yaml');
    writeFileSync(file, c.bytes);
    const r = spawnSync('node', ['--stack-size=300', 'bin/runbook.js', 'validate', file], { encoding: 'utf8' });
    expect(r.stderr).toMatch(new RegExp(`^${file}:\\d+:\\d+: YAML nested too deeply`, 'm'));
    expect(r.stderr).not.toMatch(/RangeError|internal error/);
    expect(r.status).toBe(2);
  });
});

describe('validate of a file with very many problems', () => {
  // The unpinned case 810 found it: validate gathered each file's problems with push(...ps), one
  // argument per problem, which overflows a small stack as an internal error.
  it('reports every one of them, not an internal error', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'rb-many-')), 'many.yaml');
    writeFileSync(file, `steps:\n${'  - {name: s, check: x, chek: y}\n'.repeat(60_000)}`);
    const r = spawnSync('node', ['--stack-size=300', 'bin/runbook.js', 'validate', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
    expect(r.stderr).not.toMatch(/RangeError|internal error/);
    expect(r.stderr.trim().split('\n').at(-1)).toBe('60000 problems in 1 file');
    expect(r.status).toBe(2);
  }, 60_000);
});
