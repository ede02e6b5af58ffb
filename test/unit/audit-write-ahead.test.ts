/**
 * Write-ahead records read back: a command announced and never reported is unknown in verify and
 * history and puts its host in @failed; a version 1 trail still verifies; the kill-point hook is
 * inert unless a test enables it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/engine/events.js';
import { runEventSchema } from '../../src/engine/events-schema.js';
import { createAuditListener } from '../../src/report/audit-listener.js';
import { GENESIS_HASH, recordHash } from '../../src/report/audit-record.js';
import { verifyAuditFile } from '../../src/report/audit-verify.js';
import { findRun, lastFailedSet } from '../../src/report/history.js';
import { formatRunDetail } from '../../src/report/history-format.js';
import { testKillPoint } from '../../src/cli/test-kill-point.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-wal-'));
  file = join(dir, 'audit.jsonl');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const time = '2026-12-01T10:00:00.000Z';
const runId = '20261201T100000Z-abcdef';
const output = { tail: '', digest: 'ab'.repeat(32), truncated: false };

/** A run killed while d's fix ran: a and d checked, a fixed, d's fix announced and never reported. */
function killedRun(): RunEvent[] {
  const start = (n: number, host: string, phase: 'check' | 'fix' | 'verify', command: string): RunEvent => ({ type: 'command-start', time, runId, host, step: 's', phase, commandId: `${runId}.${n}`, command });
  const end = (n: number, host: string, phase: 'check' | 'fix' | 'verify', command: string, code: number): RunEvent => ({
    type: 'command', time, runId, host, step: 's', phase, commandId: `${runId}.${n}`, command, outcome: 'exit', exitCode: code, durationMs: 1, output,
  });
  return [
    { type: 'run-start', time, runId, runbook: 'rb', runbookFile: 'rb.yaml', runbookHash: 'cd'.repeat(32), operator: 'alice', mode: 'apply', hosts: ['a', 'd'], steps: ['s'] },
    start(1, 'a', 'check', 'test -e /x'), end(1, 'a', 'check', 'test -e /x', 1),
    start(2, 'd', 'check', 'test -e /x'), end(2, 'd', 'check', 'test -e /x', 1),
    start(3, 'a', 'fix', 'touch /x'), end(3, 'a', 'fix', 'touch /x', 0),
    start(4, 'a', 'verify', 'test -e /x'), end(4, 'a', 'verify', 'test -e /x', 0),
    { type: 'step-result', time, runId, host: 'a', step: 's', stepIndex: 0, status: 'fixed', durationMs: 3 },
    start(5, 'd', 'fix', 'sleep 6 && touch /x'),
  ];
}

function record(events: RunEvent[]): void {
  const l = createAuditListener({ file, operator: 'alice' });
  for (const e of events) l(e);
  l.close();
}

describe('write-ahead records', () => {
  it('are valid events: command-start and its outcome share a commandId', () => {
    for (const e of killedRun()) expect(runEventSchema.safeParse(e).success, JSON.stringify(e)).toBe(true);
  });

  it('verify names the unfinished command and the run that ended abnormally, and still passes', () => {
    record(killedRun());
    const v = verifyAuditFile(file);
    expect(v.ok).toBe(true);
    expect(v.problems.map((p) => `${p.severity}: ${p.message}`)).toEqual([
      `warning: run ${runId} has no run-end record: it ended abnormally (the controller was killed, or the run is still going); 1 command unfinished`,
      `warning: unknown: the controller stopped while it ran: run ${runId}, host d, step "s", fix: sleep 6 && touch /x`,
    ]);
  });

  it('history calls the step unknown, lists the command with what to check, and @failed has the host', () => {
    record(killedRun());
    const run = findRun(file, runId);
    expect(run.unfinished).toEqual([{ time, commandId: `${runId}.5`, host: 'd', step: 's', phase: 'fix', command: 'sleep 6 && touch /x' }]);
    expect(run.perHost.find((h) => h.host === 'd')).toMatchObject({
      failed: true,
      steps: [{ step: 's', status: 'unknown', reason: 'unknown: the controller stopped while it ran (fix: sleep 6 && touch /x)' }],
    });
    const text = formatRunDetail(run);
    expect(text).toContain('ended abnormally: no run-end record');
    expect(text).toMatch(/^d +s +fix +sleep 6 && touch \/x$/m);
    expect(text).toContain('  d: a command may have run there, all of it, part of it, or none. Read the host\'s state before anything else: `runbook apply rb --hosts d --dry-run` runs only the checks.');
    expect(lastFailedSet(file, 'rb')?.hosts).toEqual(['d']);
  });

  it('an outcome record names its command by id only; history shows the text from the start record', () => {
    record(killedRun());
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const fix = lines.filter((r) => r.commandId === `${runId}.3`);
    expect(fix.map((r) => [r.v, r.kind, r.command])).toEqual([[3, 'command-start', 'touch /x'], [3, 'command', undefined]]);
    expect(findRun(file, runId).commands.map((c) => `${c.host} ${c.phase}: ${c.command}`)).toEqual(['a check: test -e /x', 'd check: test -e /x', 'a fix: touch /x', 'a verify: test -e /x']);
  });

  it('a version 1 trail (outcomes only, no commandId) still verifies', () => {
    const bodies = [
      { kind: 'run-start', time, runId: 'old', operator: 'bob', runbook: 'rb', runbookFile: 'rb.yaml', runbookHash: 'h', mode: 'apply', hosts: ['a'], steps: ['s'] },
      { kind: 'command', time, runId: 'old', operator: 'bob', runbook: 'rb', runbookHash: 'h', host: 'a', step: 's', phase: 'check', command: 'true', outcome: 'exit', exitCode: 0, durationMs: 1, output },
      { kind: 'run-end', time, runId: 'old', operator: 'bob', runbook: 'rb', runbookHash: 'h', exitCode: 0, aborted: false, summary: { a: { ok: 1 } }, durationMs: 2, records: 3 },
    ];
    let prev = GENESIS_HASH;
    const lines = bodies.map((b, i) => {
      const unsealed = { v: 1, seq: i + 1, ...b, prev };
      const hash = recordHash(unsealed);
      prev = hash;
      return JSON.stringify({ ...unsealed, hash });
    });
    writeFileSync(file, `${lines.join('\n')}\n`);
    writeFileSync(`${file}.head`, JSON.stringify({ seq: 3, hash: prev, time }));
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, problems: [], records: 3 });
    // A new run appends version 3 records to the same chain.
    record(killedRun());
    expect(verifyAuditFile(file).ok).toBe(true);
  });
});

describe('RUNBOOK_TEST_KILL_AT', () => {
  it('is inert unless RUNBOOK_TEST_HOOKS=1, and says so on stderr when armed', () => {
    const said: string[] = [];
    expect(testKillPoint({ RUNBOOK_TEST_KILL_AT: 'fix-start:d' }, (l) => said.push(l))).toBeUndefined();
    expect(said).toEqual([]);
    expect(testKillPoint({ RUNBOOK_TEST_KILL_AT: 'bogus', RUNBOOK_TEST_HOOKS: '1' }, (l) => said.push(l))).toBeUndefined();
    expect(testKillPoint({ RUNBOOK_TEST_KILL_AT: 'lock:b', RUNBOOK_TEST_HOOKS: '1' }, (l) => said.push(l))).toBeTypeOf('function');
    expect(said).toEqual([
      'runbook: test hook: RUNBOOK_TEST_KILL_AT=bogus is not <phase>-start|end:<host>; ignored',
      'runbook: test hook: will SIGKILL itself at lock-start:b',
    ]);
  });
});
