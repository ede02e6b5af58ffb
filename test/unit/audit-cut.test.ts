/**
 * A trail that was cut or rewritten stays that way: the writer refuses to chain on from a cut
 * (which would move the head there and make verify clean again), a new trail has its head from
 * the start, and verify names what an anchor and the head cannot vouch for.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditListener } from '../../src/report/audit-listener.js';
import { GENESIS_HASH, sealRecord, type AuditBody } from '../../src/report/audit-record.js';
import { verifyAuditFile } from '../../src/report/audit-verify.js';
import { formatVerify } from '../../src/report/history-format.js';
import { syntheticRun } from './audit-fixtures.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-audit-cut-'));
  file = join(dir, 'audit.jsonl');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function record(runId: string, opts: { withEnd?: boolean } = {}): void {
  const listener = createAuditListener({ file, operator: 'alice' });
  for (const e of syntheticRun(runId, 'fix-forwarding', opts)) listener(e);
  listener.close();
}
const lines = (): string[] => readFileSync(file, 'utf8').split('\n').filter(Boolean);
const cutTo = (n: number): void => writeFileSync(file, n === 0 ? '' : `${lines().slice(0, n).join('\n')}\n`);
const head = (): { seq: number; hash: string } => JSON.parse(readFileSync(`${file}.head`, 'utf8')) as { seq: number; hash: string };
const refusalOf = (fn: () => void): string => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return 'no refusal';
};
const hint = (): string => `(run \`runbook audit verify ${file}\`, keep the damaged trail as evidence, and start a new one with --audit-file)`;
const errors = (): string[] => verifyAuditFile(file).problems.filter((p) => p.severity === 'error').map((p) => p.message);

describe('a cut trail does not heal itself', () => {
  it('a trail removed while a run writes to it stops that run instead of starting a fresh one', () => {
    const listener = createAuditListener({ file, operator: 'alice' });
    const events = syntheticRun('run-1', 'fix-forwarding');
    listener(events[0]!);
    listener.close();
    const w = createAuditListener({ file, operator: 'alice' });
    w(events[0]!);
    const n = head().seq;
    rmSync(file);
    // The next record the run writes (a connection that worked writes none).
    expect(refusalOf(() => events.slice(1).forEach((e) => w(e)))).toBe(`audit file ${file} ends at record #0 but its head file says record #${n} was written: the trail was cut ${hint()}`);
    expect(refusalOf(() => w(events.at(-1)!))).toContain('the trail was cut');
  });

  it('cut, then append, then verify fails: the append is refused and the cut stays visible', () => {
    record('run-1');
    const n = lines().length;
    cutTo(n - 3);
    expect(() => record('run-2')).toThrow(/the trail was cut/);
    // Nothing was appended and the head still says how far the trail went.
    expect(lines()).toHaveLength(n - 3);
    expect(head().seq).toBe(n);
    expect(errors()).toEqual([`file truncated: it ends at record #${n - 3} but record #${n} was written (3 missing at the end)`]);
  });

  it('append after a cut is refused, whichever way the trail was cut, naming the file and what to do', () => {
    record('run-1');
    const n = lines().length;
    const full = readFileSync(file, 'utf8');
    const fullHead = readFileSync(`${file}.head`, 'utf8');
    const open = (): void => void createAuditListener({ file, operator: 'alice' });
    const reset = (): void => {
      writeFileSync(file, full);
      writeFileSync(`${file}.head`, fullHead);
    };

    cutTo(n - 2);
    expect(refusalOf(open)).toBe(`audit file ${file} ends at record #${n - 2} but its head file says record #${n} was written: the trail was cut ${hint()}`);

    reset();
    cutTo(n - 2);
    rmSync(`${file}.head`);
    expect(refusalOf(open)).toBe(`audit file ${file} has no head file ${file}.head: it was deleted, which is how a cut at the end of the trail hides ${hint()}`);

    // Cut to nothing with the head gone: not a new trail (that gets its head first).
    reset();
    cutTo(0);
    rmSync(`${file}.head`);
    expect(refusalOf(open)).toBe(`audit file ${file} has no head file ${file}.head: it was deleted, which is how a cut at the end of the trail hides ${hint()}`);

    // The trail gone (or emptied) but its head left: the head says records were written.
    reset();
    rmSync(file);
    expect(refusalOf(open)).toBe(`audit file ${file} ends at record #0 but its head file says record #${n} was written: the trail was cut ${hint()}`);

    // Cut, then a forged tail of the same length: the record at the head's seq is not the one it names.
    reset();
    const ls = lines();
    const prev = JSON.parse(ls[n - 2]!) as { hash: string };
    const { line } = sealRecord({ ...(JSON.parse(ls[n - 1]!) as AuditBody), durationMs: 1 } as AuditBody, n, prev.hash);
    writeFileSync(file, `${[...ls.slice(0, -1), line].join('\n')}\n`);
    expect(refusalOf(open)).toBe(`audit file ${file} does not hold its head file's record #${n}: the trail was rewritten ${hint()}`);
  });

  it('a trail cut to 0 bytes with its head deleted fails verify', () => {
    record('run-1');
    cutTo(0);
    rmSync(`${file}.head`);
    expect(errors()).toEqual([
      `no head file ${file}.head next to a trail of 0 records: it was deleted, so a truncation of the end cannot be ruled out (restore it, or check against an anchor kept elsewhere)`,
    ]);
  });

  it('a trail whose head lags (a killed run) is appended to, and a torn last line too', () => {
    const l = createAuditListener({ file, operator: 'alice', deferSync: true });
    for (const e of syntheticRun('killed', 'fix-forwarding', { withEnd: false })) l(e);
    // Killed before any fsync: no close(), the head is still the new trail's #0.
    appendFileSync(file, '{"v":2,"seq":');
    record('run-2');
    expect(verifyAuditFile(file).ok).toBe(true);
  });
});

describe('the head of a new trail', () => {
  it('exists, durable, before the first record: a controller killed before its first fsync leaves a trail that verifies', () => {
    const l = createAuditListener({ file, operator: 'alice', deferSync: true });
    expect(head()).toEqual({ seq: 0, hash: GENESIS_HASH, time: expect.any(String) });
    for (const e of syntheticRun('run-1', 'fix-forwarding', { withEnd: false }).slice(0, 4)) l(e);
    // No flush, no close: this is what SIGKILL or a power loss right now would leave.
    expect(verifyAuditFile(file).problems.map((p) => p.message)).toEqual([expect.stringMatching(/^run run-1 has no run-end record: it ended abnormally/)]);
    l.close();
  });
});

/** A run appended by hand, chained correctly, as someone who can write the trail could. */
function forgeRun(runId: string, operator: string): void {
  const ls = lines();
  const last = JSON.parse(ls.at(-1)!) as { seq: number; hash: string };
  const time = '2025-01-02T03:04:05.000Z';
  const bodies: AuditBody[] = [
    { kind: 'run-start', time, runId, operator, runbook: 'fix-forwarding', runbookFile: 'runbooks/fix-forwarding.yaml', runbookHash: 'cd'.repeat(32), mode: 'apply', hosts: ['w1'], steps: ['ip_forward'] },
    { kind: 'run-end', time, runId, operator, runbook: 'fix-forwarding', runbookHash: 'cd'.repeat(32), exitCode: 0, aborted: false, summary: { w1: { fixed: 1 } }, durationMs: 1, records: 2 },
  ];
  let { seq, hash } = last;
  for (const body of bodies) {
    const sealed = sealRecord(body, ++seq, hash);
    hash = sealed.record.hash;
    appendFileSync(file, `${sealed.line}\n`);
  }
}

describe('records appended after the head or the anchor', () => {
  it('warns when the head lags behind a run that ended: runbook would have moved it', () => {
    record('run-1');
    const n = lines().length;
    forgeRun('forged', 'alice');
    const v = verifyAuditFile(file);
    expect(v.ok).toBe(true);
    expect(v.problems).toEqual([
      {
        line: n + 2,
        severity: 'warning',
        message: `records #${n + 1}-#${n + 2} come after the head file's record #${n} and include the end of run forged: runbook moves the head past every run it ends, so they were appended by something else, or the machine lost power as the run closed (compare them with the hosts' logs of RUNBOOK_COMMAND_ID)`,
      },
    ]);
  });

  it('never warns so on runbook\'s own trail, even when writers interleave and flush out of order', async () => {
    const a = createAuditListener({ file, operator: 'alice', deferSync: true });
    const runA = syntheticRun('run-a');
    a(runA[0]!);
    // Another run starts and ends while run-a's first record waits for its fsync.
    const b = createAuditListener({ file, operator: 'bob', deferSync: true });
    for (const e of syntheticRun('run-b')) b(e);
    b.close();
    // run-a's fsync finishes last: it must not put the head back behind run-b's end.
    await a.flush();
    expect(head().seq).toBe(lines().length);
    expect(verifyAuditFile(file).problems.map((p) => p.message)).toEqual([expect.stringMatching(/^run run-a has no run-end record/)]);
    for (const e of runA.slice(1)) a(e);
    a.close();
    expect(verifyAuditFile(file).problems).toEqual([]);
  });

  it('verify --anchor lists the runs recorded after the anchor, which it cannot vouch for', () => {
    record('run-1');
    const anchor = verifyAuditFile(file).tip!;
    const n = lines().length;
    record('run-2');
    forgeRun('forged', 'alice');
    const v = verifyAuditFile(file, { anchor });
    expect(v.ok).toBe(true);
    const runTwoStart = (JSON.parse(lines()[n]!) as { time: string }).time;
    expect(formatVerify(v).split('\n')).toEqual([
      `${file}:${n + 1}: warning: not covered by the anchor: run run-2 by alice at ${runTwoStart}, run forged by alice at 2025-01-02T03:04:05.000Z; check them against the hosts' logs (RUNBOOK_COMMAND_ID)`,
      expect.stringMatching(new RegExp(`^${file}:${lines().length}: warning: records #\\d+-#${lines().length} come after the head file's record`)),
      `${file}: chain intact: ${lines().length} records, 3 runs; anchor ${lines().length}:${(JSON.parse(lines().at(-1)!) as { hash: string }).hash}`,
    ]);
    // Nothing after the anchor: nothing to list.
    expect(verifyAuditFile(file, { anchor: verifyAuditFile(file).tip! }).problems.filter((p) => p.message.startsWith('not covered'))).toEqual([]);
  });
});
