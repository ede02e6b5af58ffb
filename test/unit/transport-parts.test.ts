import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { parseProxyJump } from '../../src/transport/proxy-jump.js';
import { TailBuffer } from '../../src/transport/tail-buffer.js';
import { Semaphore } from '../../src/transport/semaphore.js';
import { planCommand } from '../../src/transport/become.js';
import { parseSshG } from '../../src/transport/ssh-config.js';
import { targetFromHost } from '../../src/transport/index.js';
import type { Host } from '../../src/model/types.js';

describe('ProxyJump parsing', () => {
  it('parses chains with users and ports', () => {
    expect(parseProxyJump('ops@b1:2222,b2,[fe80::1]:22')).toEqual([
      { user: 'ops', host: 'b1', port: 2222 },
      { host: 'b2' },
      { host: 'fe80::1', port: 22 },
    ]);
    expect(parseProxyJump('none')).toEqual([]);
    expect(() => parseProxyJump('b1:99999')).toThrow(/invalid ProxyJump/);
  });
});

describe('TailBuffer', () => {
  it('keeps the tail and flags truncation', () => {
    const t = new TailBuffer(5);
    for (const s of ['abc', 'defg', 'hij']) t.push(Buffer.from(s));
    expect(t.toString()).toBe('fghij');
    expect(t.truncated).toBe(true);
    const u = new TailBuffer(10);
    u.push(Buffer.from('short'));
    expect([u.toString(), u.truncated]).toEqual(['short', false]);
  });
  it('does not emit a broken multi-byte character at the cut', () => {
    const t = new TailBuffer(4);
    t.push(Buffer.from('xxé€')); // é is 2 bytes, € is 3
    expect(t.toString()).toBe('€');
  });
});

describe('Semaphore', () => {
  it('queues beyond the limit in order and never fails', async () => {
    const s = new Semaphore(2);
    const order: number[] = [];
    await s.acquire();
    await s.acquire();
    const waiting = [3, 4].map((n) => s.acquire().then(() => order.push(n)));
    expect(s.inUse).toBe(2);
    s.release();
    s.release();
    await Promise.all(waiting);
    expect(order).toEqual([3, 4]);
    expect(s.inUse).toBe(2);
  });
});

describe('become', () => {
  it('uses sudo -n and quotes the command as one word, after the start marker', () => {
    const { command } = planCommand(`echo 'a b'`, true, undefined);
    expect(command.startsWith('sudo -n -- /bin/sh -c ')).toBe(true);
    const ran = spawnSync('/bin/sh', ['-c', command.slice('sudo -n -- '.length)], { encoding: 'utf8' });
    expect(ran.stdout).toBe('a b\n');
    expect(ran.stderr).toMatch(/^\[runbook-started-[0-9a-f]+:\d+\]$/);
  });
  it('learns the pid from the start marker, even split across chunks, and strips it', () => {
    const plan = planCommand('id', false, undefined);
    const started = /'(\[runbook-started-[0-9a-f]+:)'/.exec(plan.command)![1]!;
    const marker = `${started}4242]`;
    const a = plan.watcher.filter(Buffer.from(marker.slice(0, 30)), () => undefined, () => undefined, () => undefined);
    const b = plan.watcher.filter(Buffer.from(`${marker.slice(30)}err`), () => undefined, () => undefined, () => undefined);
    expect(plan.watcher.pid).toBe(4242);
    expect(Buffer.concat([a, b]).toString()).toBe('err');
  });
  it('never puts the password in the command line; answers the prompt once, strips markers', () => {
    const plan = planCommand('id', true, 'pw-secret');
    expect(plan.command).not.toContain('pw-secret');
    const feeder = plan.watcher;
    const prompt = /-p '(\[runbook-sudo-[0-9a-f]+\])'/.exec(plan.command)![1]!;
    const started = `${/'(\[runbook-started-[0-9a-f]+:)'/.exec(plan.command)![1]!}77]`;
    const writes: string[] = [];
    let begun = false;
    // The prompt arrives split across chunks.
    const a = feeder.filter(Buffer.from(prompt.slice(0, 5)), (s) => writes.push(s), () => (begun = true), () => undefined);
    const b = feeder.filter(Buffer.from(prompt.slice(5) + started + 'real stderr'), (s) => writes.push(s), () => (begun = true), () => undefined);
    expect(writes).toEqual(['pw-secret\n']);
    expect(begun).toBe(true);
    expect(Buffer.concat([a, b]).toString()).toBe('real stderr');
  });
  it('does not send the password when sudo does not ask', () => {
    const plan = planCommand('id', true, 'pw-secret');
    const started = `${/'(\[runbook-started-[0-9a-f]+:)'/.exec(plan.command)![1]!}77]`;
    const writes: string[] = [];
    plan.watcher.filter(Buffer.from(started), (s) => writes.push(s), () => undefined, () => undefined);
    expect(writes).toEqual([]);
  });
});

describe('ssh -G output', () => {
  it('extracts the honoured settings', () => {
    const v = parseSshG(
      ['user deploy', 'hostname 10.0.0.9', 'port 2200', 'identityfile ~/.ssh/work', 'proxyjump bastion', 'userknownhostsfile ~/.ssh/kh /etc/kh', 'stricthostkeychecking accept-new', 'connecttimeout 7'].join('\n'),
      '/home/u',
    );
    expect(v).toEqual({
      user: 'deploy', hostname: '10.0.0.9', port: 2200, identityFiles: ['/home/u/.ssh/work'], proxyJump: 'bastion',
      userKnownHostsFiles: ['/home/u/.ssh/kh', '/etc/kh'], strictHostKeyChecking: 'accept-new', connectTimeoutMs: 7000,
    });
  });
});

describe('targetFromHost', () => {
  it('maps inventory settings and lets the caller force become', () => {
    const h: Host = { name: 'a', address: '10.0.0.1', port: 22, user: 'root', groups: [], vars: {}, secretVars: [], connection: 'ssh', proxyJump: 'b' };
    expect(targetFromHost(h, { become: true })).toEqual({ name: 'a', address: '10.0.0.1', port: 22, user: 'root', connection: 'ssh', proxyJump: 'b', become: true });
  });
});
