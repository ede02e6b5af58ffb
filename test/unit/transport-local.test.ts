import { describe, expect, it } from 'vitest';
import { createTransport } from '../../src/transport/index.js';

const local = () => createTransport().connect({ name: 'here', address: 'here', port: 0, user: '', connection: 'local' });

describe('local transport', () => {
  it('captures stdout, stderr and the exit code', async () => {
    const r = await (await local()).exec('echo out; echo err >&2; exit 3');
    expect(r).toMatchObject({ outcome: 'exit', code: 3, stdout: 'out\n', stderr: 'err\n' });
  });
  it('reports death by signal', async () => {
    const r = await (await local()).exec('kill -TERM $$');
    expect(r).toMatchObject({ outcome: 'signal', signal: 'SIGTERM', code: null });
  });
  it('times out, killing the whole process group', async () => {
    const c = await local();
    const t0 = Date.now();
    const r = await c.exec('sleep 30 | cat', { timeoutMs: 200 });
    expect(r.outcome).toBe('timeout');
    expect(Date.now() - t0).toBeLessThan(2000);
  });
  it('abort gives interrupted', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const r = await (await local()).exec('sleep 30', { signal: ac.signal });
    expect(r.outcome).toBe('interrupted');
  });
  it('bounds output to the tail', async () => {
    const r = await (await local()).exec('seq 1 100000', { maxOutputBytes: 12 });
    expect(r.stdoutTruncated).toBe(true);
    expect(r.stdout).toBe('99999\n100000\n'.slice(-12));
  });
  it('feeds stdin', async () => {
    expect((await (await local()).exec('tr a-z A-Z', { stdin: 'abc' })).stdout).toBe('ABC');
  });
});
