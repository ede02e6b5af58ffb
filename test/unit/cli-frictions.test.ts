/**
 * Frictions a first-time operator hits, through the CLI as typed: the lab's name from
 * RUNBOOK_LAB, `lab down` of a lab that was not running, `lab ssh NODE CMD -opts` passed through,
 * and the defaults shown in apply's help.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/engine/events.js';
import { createAuditListener } from '../../src/report/audit-listener.js';

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
    expect(r.stdout).toMatch(/--forks <n>\s+hosts worked on at once \(default: forks in the\s+settings, else 50\)/);
    expect(r.stdout).toMatch(/--connect-timeout <seconds>\s+connection timeout \(default: connect_timeout in\s+the settings, else ConnectTimeout from ssh\s+config, else 10\)/);
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

describe('which fleet', () => {
  it('refuses the example inventory found by default, instead of reporting its five hosts unreachable', () => {
    const env = { ...process.env };
    delete env.RUNBOOK_INVENTORY;
    const r = spawnSync('node', [bin, 'apply', 'fix-forwarding', '--dry-run', '--audit-file', join(auditDir, 'ex.jsonl')], { encoding: 'utf8', env });
    expect([r.status, r.stdout, r.stderr]).toEqual([
      2,
      '',
      `no inventory given, and ${resolve('inventory/default.yaml')} is the example shipped with runbook (the incident's fleet on 198.18.0.0/24), not your fleet (pass -i FILE or set $RUNBOOK_INVENTORY; for the lab: -i .lab/inventory.yaml)\n`,
    ]);
  });

  it('names the inventory in use before anything runs, and plain output is ASCII', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-fleet-'));
    writeFileSync(join(dir, 'inv.yaml'), 'hosts:\n  l1: { connection: local }\n');
    writeFileSync(join(dir, 'rb.yaml'), 'steps:\n  - name: always fine\n    check: "true"\n');
    const r = spawnSync('node', [bin, 'apply', join(dir, 'rb.yaml'), '--dry-run', '-i', join(dir, 'inv.yaml'), '--audit-file', join(auditDir, 'fleet.jsonl')], { encoding: 'utf8', cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('runbook rb: dry run on 1 host from inv.yaml');
    expect(r.stdout).toMatch(/^\[\d\d:\d\d:\d\d\] l1: always fine: ok$/m);
    expect(r.stdout).toMatch(/^[\x20-\x7e\n]*$/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('fixed_by', () => {
  it('must name a runbook: validate, show and apply all refuse a typo, with the close match', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-fixedby-'));
    const file = join(dir, 'diag.yaml');
    writeFileSync(file, 'steps:\n  - name: ip_forward is on\n    fixed_by: fix-forwardin\n    check: "true"\n');
    writeFileSync(join(dir, 'inv.yaml'), 'hosts:\n  l1: { connection: local }\n');
    const want = `${file}:2:5: step "ip_forward is on": fixed_by names no runbook "fix-forwardin" (did you mean "fix-forwarding"?)`;
    const v = run(['validate', file]);
    expect(v.code).toBe(2);
    expect(v.stdout + v.stderr).toContain(want);
    const a = run(['apply', file, '--dry-run', '-i', join(dir, 'inv.yaml'), '--audit-file', join(auditDir, 'fb.jsonl')]);
    expect([a.code, a.stderr]).toEqual([2, `${want}\n`]);
    // show refuses before printing anything, with or without --hosts.
    for (const args of [[], ['--hosts', 'all', '-i', join(dir, 'inv.yaml')]]) {
      const s = run(['show', file, ...args]);
      expect([s.code, s.stdout, s.stderr]).toEqual([2, '', `${want}\n`]);
    }
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('--hosts @failed', () => {
  it('names the run it comes from, and refuses a failed host this inventory does not have', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-failed-'));
    const trail = join(dir, 'audit.jsonl');
    const inv = join(dir, 'inv.yaml');
    writeFileSync(inv, 'hosts:\n  l1: { connection: local }\n');
    writeFileSync(join(dir, 'rb.yaml'), 'steps:\n  - name: s\n    check: "true"\n');
    const time = '2026-12-01T10:00:00.000Z';
    const failedRun = (runId: string, hosts: string[]) => {
      const l = createAuditListener({ file: trail, operator: 'alice' });
      const events: RunEvent[] = [
        { type: 'run-start', time, runId, runbook: 'rb', runbookFile: 'rb.yaml', runbookHash: 'h', operator: 'alice', mode: 'apply', hosts, steps: ['s'] },
        ...hosts.map((host): RunEvent => ({ type: 'step-result', time, runId, host, step: 's', stepIndex: 0, status: 'failed', durationMs: 1 })),
        { type: 'run-end', time, runId, exitCode: 1, aborted: false, durationMs: 1, summary: Object.fromEntries(hosts.map((h) => [h, { failed: 1 }])) },
      ];
      for (const e of events) l(e);
      l.close();
    };
    const retry = () => run(['apply', join(dir, 'rb.yaml'), '--hosts', '@failed', '--dry-run', '-i', inv, '--audit-file', trail]);
    failedRun('r1', ['l1', 'w9']);
    const refused = retry();
    expect([refused.code, refused.stderr]).toEqual([2, `@failed: w9 from run r1 (apply of rb by alice, ${time}) is not in the inventory ${inv} (use the inventory that run used (-i FILE), or name the hosts to retry)\n`]);
    failedRun('r2', ['l1']);
    const ok = retry();
    expect([ok.code, ok.stderr]).toEqual([0, `runbook: @failed is l1, from run r2 (apply of rb by alice, ${time})\n`]);
    rmSync(dir, { recursive: true, force: true });
  });
});
