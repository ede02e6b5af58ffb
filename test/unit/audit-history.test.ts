import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/engine/events.js';
import { createAuditListener } from '../../src/report/audit-listener.js';
import { filterRuns, findRun, lastFailedSet, listRuns } from '../../src/report/history.js';
import { syntheticRun } from './audit-fixtures.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-history-'));
  file = join(dir, 'audit.jsonl');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function record(events: RunEvent[]): void {
  // The trail's operator is the listener's (the run-start event's is the same in a real run).
  const start = events.find((e) => e.type === 'run-start');
  const l = createAuditListener({ file, operator: start?.type === 'run-start' ? start.operator : 'alice' });
  for (const e of events) l(e);
  l.close();
}

/** A run of `runbook` in which only `bad` fails (failed) and everything else is ok. */
function simpleRun(runId: string, runbook: string, hosts: string[], bad: string[], o: { mode?: 'apply' | 'dry-run'; operator?: string; time?: string } = {}): RunEvent[] {
  const time = o.time ?? '2025-01-02T00:00:00.000Z';
  return [
    { type: 'run-start', time, runId, runbook, runbookFile: 'x.yaml', runbookHash: 'h', operator: o.operator ?? 'alice', mode: o.mode ?? 'apply', hosts, steps: ['s'] },
    ...hosts.map((host): RunEvent => ({ type: 'step-result', time, runId, host, step: 's', stepIndex: 0, status: bad.includes(host) ? 'failed' : 'ok', durationMs: 1 })),
    {
      type: 'run-end', time, runId, exitCode: bad.length ? 1 : 0, aborted: false, durationMs: 1,
      summary: Object.fromEntries(hosts.map((h) => [h, bad.includes(h) ? { failed: 1 } : { ok: 1 }])),
    },
  ];
}

describe('history', () => {
  it('lists runs with operator, runbook, mode, hosts, outcome counts and exit code', () => {
    record(syntheticRun('20250101-aaaa'));
    record(simpleRun('20250102-bbbb', 'other', ['w1', 'w2'], []));
    expect(listRuns(file)).toEqual([
      expect.objectContaining({
        runId: '20250101-aaaa', operator: 'alice', runbook: 'fix-forwarding', mode: 'apply', hosts: ['w1', 'w2', 'w3'], exitCode: 1,
        counts: { ok: 1, unknown: 1, fixed: 1, failed: 1, unreachable: 2 },
      }),
      expect.objectContaining({ runId: '20250102-bbbb', runbook: 'other', exitCode: 0, counts: { ok: 2 } }),
    ]);
  });

  it('shows one run by unique prefix, per host and step', () => {
    record(syntheticRun('20250101-aaaa'));
    record(simpleRun('20250102-bbbb', 'other', ['w1'], []));
    const run = findRun(file, '20250101');
    expect(run.perHost).toEqual([
      { host: 'w1', failed: true, steps: [expect.objectContaining({ step: 'ip_forward', status: 'ok' }), expect.objectContaining({ step: 'forward-policy', status: 'unknown' })] },
      { host: 'w2', failed: true, steps: [expect.objectContaining({ status: 'fixed' }), expect.objectContaining({ status: 'failed', reason: 'fix exited 1' })] },
      { host: 'w3', failed: true, steps: [expect.objectContaining({ status: 'unreachable' }), expect.objectContaining({ status: 'unreachable' })] },
    ]);
    expect(run.commands).toHaveLength(7);
    expect(() => findRun(file, '2025')).toThrow(/ambiguous/);
    expect(() => findRun(file, 'nope')).toThrow(/no run nope/);
  });

  it('judges a run cut short by a killed controller from its commands', () => {
    const events = syntheticRun('cut', 'fix-forwarding', { withEnd: false });
    // Stop right after w2's fix ran, before its step result.
    record(events.slice(0, events.findIndex((e) => e.type === 'command' && e.phase === 'verify')));
    const run = findRun(file, 'cut');
    expect(run.exitCode).toBeNull();
    expect(run.perHost.find((h) => h.host === 'w2')).toMatchObject({ failed: true, steps: [{ step: 'ip_forward', status: 'unknown' }] });
    expect(run.perHost.find((h) => h.host === 'w3')).toMatchObject({ failed: true, steps: [{ step: '(connect)', status: 'unreachable' }] });
  });
});

describe('lastFailedSet (@failed)', () => {
  it('gives the failed, unreachable and unknown hosts of the last run of that runbook only, and names the run', () => {
    expect(lastFailedSet(file, 'fix-forwarding')).toBeUndefined();
    record(simpleRun('r1', 'fix-forwarding', ['w1', 'w2', 'w3', 'w4'], ['w4']));
    record(syntheticRun('r2'));
    record(simpleRun('r3', 'other', ['w1', 'w2'], ['w1']));
    expect(lastFailedSet(file, 'fix-forwarding')).toMatchObject({ run: { runId: 'r2' }, hosts: ['w1', 'w2', 'w3'] });
    expect(lastFailedSet(file, 'other')?.hosts).toEqual(['w1']);
    record(simpleRun('r4', 'fix-forwarding', ['w1', 'w2'], []));
    expect(lastFailedSet(file, 'fix-forwarding')).toMatchObject({ run: { runId: 'r4' }, hosts: [] });
  });

  it('a later dry run does not replace what the last apply left to retry; with no apply, the last dry run counts', () => {
    record(simpleRun('d1', 'rb', ['w1', 'w2'], ['w2'], { mode: 'dry-run' }));
    expect(lastFailedSet(file, 'rb')).toMatchObject({ run: { runId: 'd1', mode: 'dry-run' }, hosts: ['w2'] });
    record(simpleRun('a1', 'rb', ['w1', 'w2'], ['w1']));
    record(simpleRun('d2', 'rb', ['w1', 'w2'], [], { mode: 'dry-run' }));
    expect(lastFailedSet(file, 'rb')).toMatchObject({ run: { runId: 'a1', mode: 'apply' }, hosts: ['w1'] });
  });
});

describe('history filters', () => {
  it('by operator, runbook, host and time, keeping the newest N and saying how many were left out', () => {
    record(simpleRun('r1', 'fix-forwarding', ['a', 'b'], [], { operator: 'alice', time: '2026-11-30T10:00:00.000Z' }));
    record(simpleRun('r2', 'fix-forwarding', ['c'], [], { operator: 'bob', time: '2026-12-01T10:00:00.000Z' }));
    record(simpleRun('r3', 'other', ['a'], [], { operator: 'alice', time: '2026-12-02T10:00:00.000Z' }));
    const ids = (f: Parameters<typeof filterRuns>[1]) => filterRuns(listRuns(file), f).runs.map((r) => r.runId);
    expect(ids({ operator: 'alice' })).toEqual(['r1', 'r3']);
    expect(ids({ runbook: 'fix-forwarding' })).toEqual(['r1', 'r2']);
    expect(ids({ host: 'a' })).toEqual(['r1', 'r3']);
    expect(ids({ since: new Date('2026-12-01T00:00:00Z') })).toEqual(['r2', 'r3']);
    expect(filterRuns(listRuns(file), { limit: 2 })).toMatchObject({ runs: [{ runId: 'r2' }, { runId: 'r3' }], leftOut: 1 });
    expect(filterRuns(listRuns(file), { limit: 0 }).runs).toHaveLength(3);
  });
});

describe('CLI', () => {
  const cli = (args: string[]) => spawnSync('node', ['bin/runbook.js', ...args], { encoding: 'utf8', env: { ...process.env, RUNBOOK_AUDIT_FILE: file } });

  it('audit verify exits 0 when intact, 1 naming the line when tampered, 2 on a missing file', () => {
    record(syntheticRun('20250101-aaaa'));
    const ok = cli(['audit', 'verify']);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/chain intact: 17 records, 1 run; anchor 17:[0-9a-f]{64}/);

    const lines = readFileSync(file, 'utf8').split('\n');
    lines[2] = lines[2]!.replace('"exitCode":0', '"exitCode":9');
    writeFileSync(file, lines.join('\n'));
    const bad = cli(['audit', 'verify', file]);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain(`${file}:3: error: record #3 was edited`);

    const json = JSON.parse(cli(['audit', 'verify', '--json']).stdout) as { ok: boolean; problems: { line: number }[] };
    expect(json).toMatchObject({ ok: false, problems: [{ line: 3 }] });

    const anchor = /anchor (\d+:[0-9a-f]{64})/.exec(ok.stdout)![1]!;
    const anchored = cli(['audit', 'verify', '--anchor', anchor]);
    expect(anchored.stdout).toContain(`${file}:3: error: record #3 was edited`);
    expect(cli(['audit', 'verify', '--anchor', 'junk']).status).toBe(2);

    const missing = cli(['audit', 'verify', join(dir, 'nope.jsonl')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/nope\.jsonl does not exist/);
    expect(missing.stderr).not.toMatch(/at .*\.js/);
  });

  it('history lists runs and shows one, in text and JSON', () => {
    record(syntheticRun('20250101-aaaa'));
    const list = cli(['history']);
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/20250101-aaaa .* alice .* fix-forwarding .* apply .* 3 .* 1 .*failed=1/);
    const one = cli(['history', '2025', '--json']);
    expect(JSON.parse(one.stdout)).toMatchObject({ runId: '20250101-aaaa', perHost: [{ host: 'w1' }, { host: 'w2' }, { host: 'w3' }] });
    const text = execFileSync('node', ['bin/runbook.js', 'history', '20250101-aaaa', '--audit-file', file], { encoding: 'utf8' });
    expect(text).toMatch(/w2 +forward-policy +failed +fix exited 1/);
    const none = cli(['history', 'zzz']);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/no run zzz/);
  });

  it('history takes filters, shows the newest 20 by default and says how to see the rest', () => {
    for (let i = 0; i < 22; i++) record(simpleRun(`r${String(i).padStart(2, '0')}`, i % 2 ? 'odd' : 'even', ['w1'], [], { operator: i < 2 ? 'bob' : 'alice' }));
    const list = cli(['history']);
    expect(list.stdout.trim().split('\n').slice(1, -1)).toHaveLength(20);
    expect(list.stdout.trim().split('\n').at(-1)).toBe('(2 older runs not shown: --limit 0 shows all)');
    expect(cli(['history', '--operator', 'bob']).stdout).toMatch(/^RUN .*\nr00 .*\nr01 .*\n$/);
    expect(cli(['history', '--runbook', 'nope']).stdout).toBe(`no run in ${file} matches these filters (22 runs recorded)\n`);
    expect(JSON.parse(cli(['history', '--json']).stdout)).toHaveLength(22);
    expect(cli(['history', '--format', 'json']).stdout).toBe(cli(['history', '--json']).stdout);
    expect(cli(['history', '--since', '2026']).status).toBe(2);
    expect(cli(['history', '--since', '3d', '--json']).status).toBe(0);
    const bad = cli(['history', '--since', 'yesterday']);
    expect([bad.status, bad.stderr.split('\n')[0]]).toEqual([2, 'error: option \'--since <when>\' argument \'yesterday\' is invalid. --since needs a duration such as "2h" or "3d", or a date such as 2026-12-01, got "yesterday"']);
  });
});
