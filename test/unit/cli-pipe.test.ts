import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Runs the CLI with a reader that closes the pipe after the first chunk, like `| head -c 1`. */
function runIntoClosedPipe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('node', ['bin/runbook.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('a reader that goes away', () => {
  it('ends a read-only command quietly, without a stack trace', async () => {
    // Far more than a pipe buffer, so runbook is still writing when the pipe closes.
    const inv = join(mkdtempSync(join(tmpdir(), 'rb-pipe-')), 'big.yaml');
    const hosts = Array.from({ length: 3000 }, (_, i) => `  node-${i}: { address: 10.1.${i >> 8}.${i & 255}, vars: { role: worker, rack: r${i % 40} } }`);
    writeFileSync(inv, `hosts:\n${hosts.join('\n')}\n`);
    const r = await runIntoClosedPipe(['inventory', '-i', inv]);
    expect(r.stderr).not.toMatch(/EPIPE|internal error|at .*\.js/);
    expect(r.code).toBe(0);
  });
});
