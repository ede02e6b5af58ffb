import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditListener } from '../../src/report/audit-listener.js';
import { parseRecordLine } from '../../src/report/audit-record.js';
import { verifyAuditFile } from '../../src/report/audit-verify.js';
import { syntheticRun } from './audit-fixtures.js';

// Children load the compiled listener (global setup builds dist/), as the real CLI would.
const listenerUrl = pathToFileURL(resolve('dist/report/audit-listener.js')).href;

/**
 * A child that appends `n` command records for its run as fast as it can; with `together`, it
 * first says it is ready and waits for the go file, so that two children really overlap.
 */
function writerScript(file: string, runId: string, n: number, together = false): string {
  const barrier = together
    ? `import { existsSync, writeFileSync } from 'node:fs';
    writeFileSync(${JSON.stringify(`${file}.ready-${runId}`)}, '');
    while (!existsSync(${JSON.stringify(`${file}.go`)})) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);`
    : '';
  return `
    ${barrier}
    import { createAuditListener } from ${JSON.stringify(listenerUrl)};
    const l = createAuditListener({ file: ${JSON.stringify(file)}, operator: ${JSON.stringify(runId)} });
    const time = new Date().toISOString();
    const runId = ${JSON.stringify(runId)};
    l({ type: 'run-start', time, runId, runbook: 'rb', runbookFile: 'rb.yaml', runbookHash: 'x', operator: runId, mode: 'apply', hosts: ['h'], steps: ['s'] });
    for (let i = 0; i < ${n}; i++) {
      // Commands take time, and the event loop turns while they run: the writer keeps the lock
      // only for the rest of a turn, so it is free between a run's records, as in a real run.
      ${together ? 'await new Promise((r) => setTimeout(r, 1));' : ''}
      l({ type: 'command', time, runId, host: 'h' + i, step: 's', phase: 'check', command: 'echo ' + 'x'.repeat(i % 500), outcome: 'exit', exitCode: 0, durationMs: 1, output: { tail: 'ok', digest: 'd', truncated: false } });
    }
    l({ type: 'run-end', time, runId, exitCode: 0, aborted: false, summary: {}, durationMs: 1 });
    l.close();
  `;
}

function runChild(script: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => res({ code, stderr }));
  });
}

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-audit-conc-'));
  file = join(dir, 'audit.jsonl');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('concurrent appends', () => {
  it('two processes appending at once keep whole lines and one valid chain', async () => {
    const n = 300;
    const children = Promise.all([runChild(writerScript(file, 'op-a', n, true)), runChild(writerScript(file, 'op-b', n, true))]);
    while (!existsSync(`${file}.ready-op-a`) || !existsSync(`${file}.ready-op-b`)) await new Promise((r) => setTimeout(r, 5));
    writeFileSync(`${file}.go`, '');
    const results = await children;
    expect(results).toEqual([{ code: 0, stderr: '' }, { code: 0, stderr: '' }]);
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(2 * (n + 2));
    const runIds = lines.map((l) => {
      const p = parseRecordLine(l);
      if (!p.ok) throw new Error(`bad line: ${l.slice(0, 80)}`);
      return p.record.runId;
    });
    // The runs really did interleave, so the lock was exercised.
    const switches = runIds.filter((id, i) => i > 0 && id !== runIds[i - 1]).length;
    expect(switches).toBeGreaterThan(1);
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, problems: [], runs: 2, records: 2 * (n + 2) });
  });

  it('a writer SIGKILLed mid-run leaves a chain that verifies, and the next run appends', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', writerScript(file, 'killed', 100_000)], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 700));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const v = verifyAuditFile(file);
    expect(v.ok).toBe(true);
    expect(v.records).toBeGreaterThan(1);
    expect(v.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(v.problems).toContainEqual(expect.objectContaining({ message: expect.stringMatching(/run killed has no run-end/) }));

    const l = createAuditListener({ file, operator: 'bob', lockTimeoutMs: 3_000 });
    for (const e of syntheticRun('after-kill')) l(e);
    l.close();
    const after = verifyAuditFile(file);
    expect(after.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(after.runs).toBe(2);
  });
});

describe('the audit lock', () => {
  it('is held by a writer for the rest of the event loop turn, then released', async () => {
    const l = createAuditListener({ file, operator: 'alice', deferSync: true });
    for (const e of syntheticRun('turn').slice(0, 3)) l(e);
    expect(existsSync(`${file}.lock`)).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(existsSync(`${file}.lock`)).toBe(false);
    l.close();
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it('breaks a lock left by a dead process', () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(`${file}.lock`, `${dead.stdout} ${hostname()} 2025-01-01T00:00:00.000Z x\n`);
    const l = createAuditListener({ file, operator: 'bob', lockTimeoutMs: 2_000 });
    for (const e of syntheticRun('r')) l(e);
    l.close();
    expect(verifyAuditFile(file).ok).toBe(true);
  });

  it('waits for a live holder, then fails naming it', () => {
    // PID 1 is alive on any machine and never ours.
    writeFileSync(`${file}.lock`, `1 ${hostname()} 2025-01-01T00:00:00.000Z x\n`);
    const start = Date.now();
    // Opening the trail takes the lock too (to check it against its head), so it fails there.
    expect(() => createAuditListener({ file, operator: 'bob', lockTimeoutMs: 200 })).toThrow(/audit file lock .*audit\.jsonl\.lock is held by pid 1 on /);
    expect(Date.now() - start).toBeGreaterThanOrEqual(200);
  });
});
