import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FUZZ_SEED, generateCase, shippedBases } from '../fuzz/generate.js';

describe('YAML nested past the parser\'s stack', () => {
  // Fuzz case 810 (deep nesting in group_vars/all.yml) made the yaml parser itself throw a
  // RangeError on a small stack; a smaller --stack-size makes that certain here.
  it('is a located one-line problem, not a stack trace', () => {
    const c = generateCase(shippedBases('.'), FUZZ_SEED, 810);
    const file = join(mkdtempSync(join(tmpdir(), 'rb-deep-')), 'deep.yaml');
    writeFileSync(file, c.bytes);
    const r = spawnSync('node', ['--stack-size=300', 'bin/runbook.js', 'validate', file], { encoding: 'utf8' });
    expect(r.stderr).toMatch(new RegExp(`^${file}:\\d+:\\d+: YAML nested too deeply`, 'm'));
    expect(r.stderr).not.toMatch(/RangeError|internal error/);
    expect(r.status).toBe(2);
  });
});
