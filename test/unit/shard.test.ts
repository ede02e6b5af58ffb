/**
 * --shard K/N: every host lands in exactly one shard, by its name alone; runbooks whose meaning
 * spans the fleet are refused with one located line per reason; --run-id is checked.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inShard, parseShard, shardProblems } from '../../src/model/shard.js';
import { loadRunbook } from '../../src/model/index.js';
import { createAuditListener } from '../../src/report/audit-listener.js';
import { findRunAcross, listRunsAcross } from '../../src/report/history.js';
import type { RunEvent } from '../../src/engine/events.js';

describe('shards', () => {
  it('K/N is parsed with one-line reasons', () => {
    expect(parseShard('2/8')).toEqual({ k: 2, n: 8 });
    expect(parseShard('0/8')).toBe('--shard 0/8: K must be 1 to N (N ≥ 1)');
    expect(parseShard('9/8')).toBe('--shard 9/8: K must be 1 to N (N ≥ 1)');
    expect(parseShard('2-8')).toBe('--shard "2-8" is not K/N');
  });

  it('every host is in exactly one of N shards, and they are near even', () => {
    const names = Array.from({ length: 2000 }, (_, i) => `node-${i}.example`);
    for (const n of [1, 3, 4, 7]) {
      const sizes = Array.from({ length: n }, (_, k) => names.filter((h) => inShard(h, { k: k + 1, n })).length);
      expect(sizes.reduce((a, b) => a + b)).toBe(names.length);
      for (const h of names.slice(0, 50)) expect(Array.from({ length: n }, (_, k) => inShard(h, { k: k + 1, n })).filter(Boolean)).toHaveLength(1);
      for (const size of sizes) expect(Math.abs(size - names.length / n)).toBeLessThan((names.length / n) * 0.15);
    }
  });

  it('shipped runbooks: fix-forwarding splits; the lease runbook (fleet-wide facts) is refused, each reason located', () => {
    expect(shardProblems(loadRunbook('fix-forwarding'))).toEqual([]);
    const lease = shardProblems(loadRunbook('fix-stale-flannel-lease'));
    expect(lease.length).toBeGreaterThan(0);
    expect(lease.every((p) => p.pos?.file.endsWith('runbooks/fix-stale-flannel-lease.yaml'))).toBe(true);
    expect(lease.map((p) => p.message)).toContainEqual(expect.stringMatching(/reads \{\{ groups\.all\.facts \}\}, other hosts' values, and a shard sees only its own hosts$/));
  });

  it('the CLI refuses serial, max_failures and once, naming the line; --shard needs --run-id', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-shard-'));
    writeFileSync(join(dir, 'inv.yaml'), 'hosts:\n  a: { connection: local }\n');
    writeFileSync(join(dir, 'wide.yaml'), 'name: wide\nserial: 2\nmax_failures: 1\nsteps:\n  - name: one\n    once: true\n    on: all\n    check: "true"\n');
    writeFileSync(join(dir, 'ok.yaml'), 'name: ok\nsteps:\n  - name: fine\n    check: "true"\n');
    const cli = (args: string[]) => spawnSync('node', [resolve('bin/runbook.js'), ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, RUNBOOK_AUDIT_FILE: join(dir, 'audit.jsonl') } });
    const wide = cli(['apply', './wide.yaml', '-i', 'inv.yaml', '--dry-run', '--shard', '1/2', '--run-id', 'r1']);
    expect(wide.status).toBe(2);
    expect(wide.stderr.trim().split('\n')).toEqual([
      `${dir}/wide.yaml:2:9: serial batches the whole fleet, and each shard would batch only its own hosts (run it without --shard, from one controller)`,
      `${dir}/wide.yaml:3:15: max_failures counts failures across the fleet, and each shard would count only its own (run it without --shard, from one controller)`,
      `${dir}/wide.yaml:5:5: step "one" runs once for the fleet, and under --shard it would run once per shard (run it without --shard, from one controller)`,
    ]);
    expect(cli(['apply', './ok.yaml', '-i', 'inv.yaml', '--dry-run', '--shard', '1/2']).stderr.trim()).toBe(
      '--shard needs --run-id: the id every shard of the run shares, so their trails merge into one run (e.g. --run-id "$JOB_NAME" in a Kubernetes Job, the same value in every shard)',
    );
    expect(cli(['apply', './ok.yaml', '-i', 'inv.yaml', '--dry-run', '--run-id', '../x']).stderr.trim()).toBe('--run-id "../x" is not a run id (letters, digits, . _ and -, at most 64, starting with a letter or digit)');
    const first = cli(['apply', './ok.yaml', '-i', 'inv.yaml', '--dry-run', '--run-id', 'job-7']);
    expect(first.status, first.stderr).toBe(0);
    expect(cli(['apply', './ok.yaml', '-i', 'inv.yaml', '--dry-run', '--run-id', 'job-7']).stderr.trim()).toBe(`run job-7 is already in ${dir}/audit.jsonl (a run id names one run; each shard writes its own --audit-file)`);
    // The shard without the host: nothing to do, exit 0.
    const other = inShard('a', { k: 1, n: 2 }) ? '2/2' : '1/2';
    const none = cli(['apply', './ok.yaml', '-i', 'inv.yaml', '--dry-run', '--shard', other, '--run-id', 'job-8']);
    expect(none.status).toBe(0);
    expect(none.stderr.trim()).toBe(`runbook: shard ${other} has none of the 1 hosts selected; nothing to do`);
  });
});

describe('one run from several trails (its shards)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-merge-'));
  const trail = (name: string, hosts: string[], bad: string[], exitCode: number, mode: 'apply' | 'dry-run' = 'apply'): string => {
    const file = join(dir, `${name}.jsonl`);
    const l = createAuditListener({ file, operator: 'alice' });
    const time = '2026-12-03T00:00:00.000Z';
    const events: RunEvent[] = [
      { type: 'run-start', time, runId: 'job-1', runbook: 'rb', runbookFile: 'x.yaml', runbookHash: 'h', operator: 'alice', mode, hosts, steps: ['s'] },
      ...hosts.map((host): RunEvent => ({ type: 'step-result', time, runId: 'job-1', host, step: 's', stepIndex: 0, status: bad.includes(host) ? 'failed' : mode === 'apply' ? 'ok' : 'would-fix', durationMs: 1 })),
      { type: 'run-end', time, runId: 'job-1', exitCode, aborted: false, durationMs: 1, summary: Object.fromEntries(hosts.map((h) => [h, bad.includes(h) ? { failed: 1 } : { ok: 1 }])) },
    ];
    for (const e of events) l(e);
    l.close();
    return file;
  };

  it("merges hosts and counts; the exit code is the worst part's as the engine judges (failed beats pending), not the largest number", () => {
    const a = trail('a', ['h1', 'h2'], ['h2'], 1);
    const b = trail('b', ['h3'], [], 3);
    const { run, trails } = findRunAcross([a, b], 'job-1');
    expect(trails).toEqual([a, b]);
    expect(run.hosts.sort()).toEqual(['h1', 'h2', 'h3']);
    expect(run.exitCode).toBe(1);
    expect(listRunsAcross([a, b]).map((r) => `${r.runId} ${r.exitCode} ${r.hosts.length}`)).toEqual(['job-1 1 3']);
  });

  it('the same trail named twice (another path) is read once', () => {
    const a = trail('c', ['h1'], [], 0);
    const { run, trails } = findRunAcross([a, join(dir, '.', 'c.jsonl')], 'job-1');
    expect(trails).toEqual([a]);
    expect(run.perHost.map((h) => h.host)).toEqual(['h1']);
  });

  it('parts that share a host, or differ in mode, are not shards of one run: refused', () => {
    const a = trail('d', ['h1', 'h2'], [], 0);
    const b = trail('e', ['h2'], [], 0);
    expect(() => findRunAcross([a, b], 'job-1')).toThrow(`run job-1 has host h2 in both ${a} and ${b}: shards of one run share no host`);
    const c = trail('f', ['h9'], [], 3, 'dry-run');
    expect(() => findRunAcross([a, c], 'job-1')).toThrow(`run job-1 is recorded differently in ${a} and ${c} (mode apply and dry-run): these are not shards of one run`);
  });
});

describe('fleet-wide reads and flags under --shard', () => {
  it('a when: that reads other hosts is refused; {{ inventory }} is not fleet-wide; rollout flags are refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-shard-when-'));
    writeFileSync(join(dir, 'w.yaml'), 'name: w\nsteps:\n  - name: r\n    check: echo x\n    register: facts\n  - name: s\n    when: len(groups.all.facts) > 2\n    check: "true"\n  - name: t\n    check: echo {{ inventory | json }}\n');
    expect(shardProblems(loadRunbook(join(dir, 'w.yaml'))).map((p) => `${p.pos?.line}: ${p.message}`)).toEqual([`7: step "s" reads when: groups.all.facts, other hosts' values, and a shard sees only its own hosts`]);
    writeFileSync(join(dir, 'inv.yaml'), 'hosts:\n  a: { connection: local }\n');
    writeFileSync(join(dir, 'ok.yaml'), 'name: ok\nsteps:\n  - name: fine\n    check: "true"\n');
    const r = spawnSync('node', [resolve('bin/runbook.js'), 'apply', './ok.yaml', '-i', 'inv.yaml', '--dry-run', '--shard', '1/2', '--run-id', 'x', '--max-failures', '1'], { cwd: dir, encoding: 'utf8', env: { ...process.env, RUNBOOK_AUDIT_FILE: join(dir, 'a.jsonl') } });
    expect(r.stderr.trim()).toBe('--max-failures counts hosts across the fleet, and under --shard each shard would count only its own (drop --max-failures, or run without --shard from one controller)');
  });
});
