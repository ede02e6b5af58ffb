/**
 * Frictions a first-time operator hit (issue 17), through the CLI as typed: the lab's name from
 * RUNBOOK_LAB, `lab down` of a lab that was not running, `lab ssh NODE CMD -opts` passed through,
 * and the defaults shown in apply's help.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const bin = join(resolve('.'), 'bin/runbook.js');
const auditDir = mkdtempSync(join(tmpdir(), 'rb-fric-'));
afterAll(() => rmSync(auditDir, { recursive: true, force: true }));
function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('node', [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('lab commands', () => {
  it('take the lab name from RUNBOOK_LAB when --name is not given', () => {
    const r = run(['lab', 'status'], { RUNBOOK_LAB: 'rbfric' });
    expect(r.stderr.trim()).toBe('lab "rbfric" is not running (start it with: runbook lab up --name rbfric)');
  });

  it('lab down of a lab that was not running says so', () => {
    const r = run(['lab', 'down', '--name', 'rbfric']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('lab rbfric was not running: nothing to remove');
  });

  it('lab ssh passes everything after the node to ssh, options included', () => {
    const r = run(['lab', 'ssh', '--name', 'rbfric', 'd', 'sysctl', '-n', 'net.ipv4.ip_forward']);
    expect(r.stderr).not.toMatch(/unknown option/);
    expect(r.stderr.trim()).toBe('lab "rbfric" is not running (start it with: runbook lab up --name rbfric)');
  });
});

describe('apply --help', () => {
  it('shows the defaults of --forks and --connect-timeout', () => {
    const r = run(['apply', '--help']);
    expect(r.stdout).toMatch(/--forks <n>\s+hosts worked on at once \(default: 50\)/);
    expect(r.stdout).toMatch(/--connect-timeout <seconds>\s+connection timeout \(default: 10, or\s+ConnectTimeout from ssh config\)/);
  });
});

describe('the shipped runbooks', () => {
  it.each([
    ['fix-forwarding', ['a', 'b', 'c', 'd']],
    ['fix-flannel-docker-order', ['a', 'b', 'c', 'd']],
    ['fix-stale-flannel-lease', ['a', 'b', 'c', 'd']],
    ['diagnose-pod-network', ['a', 'b', 'c', 'd']],
    ['check-etcd-health', ['m1']],
  ])('a bare apply of %s targets only the nodes it is for (never the etcd node for a worker fix)', (name, hosts) => {
    const r = run(['apply', name, '--dry-run', '--json', '--connect-timeout', '1', '-i', 'inventory/default.yaml', '--audit-file', join(auditDir, `${name}.jsonl`)]);
    const start = JSON.parse(r.stdout.split('\n')[0]!) as { type: string; hosts: string[] };
    expect(start.type).toBe('run-start');
    expect(start.hosts.slice(0, hosts.length)).toEqual(hosts);
    expect(start.hosts.filter((h) => !hosts.includes(h))).toEqual(name.startsWith('fix-stale') || name.startsWith('diagnose') ? ['m1'] : []);
  });
});
