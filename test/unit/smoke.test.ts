import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('runbook binary', () => {
  it('prints its version', () => {
    const out = execFileSync('node', ['bin/runbook.js', '--version'], { encoding: 'utf8' });
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
