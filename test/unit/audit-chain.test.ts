import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditListener } from '../../src/report/audit-listener.js';
import { resolveAuditPath } from '../../src/report/audit-path.js';
import { GENESIS_HASH, parseRecordLine, type AuditRecord } from '../../src/report/audit-record.js';
import { parseAnchor, verifyAuditFile } from '../../src/report/audit-verify.js';
import type { RunEvent } from '../../src/engine/events.js';
import { SECRET, redactSecret, syntheticRun } from './audit-fixtures.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-audit-'));
  file = join(dir, 'state', 'audit.jsonl');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function record(runId: string, opts: { withEnd?: boolean } = {}): void {
  const listener = createAuditListener({ file, operator: 'alice', redact: redactSecret });
  for (const e of syntheticRun(runId, 'fix-forwarding', opts)) listener(e);
  listener.close();
}
const lines = (): string[] => readFileSync(file, 'utf8').split('\n').filter(Boolean);
const records = (): AuditRecord[] => lines().map((l) => (parseRecordLine(l) as { record: AuditRecord }).record);
const errors = () => verifyAuditFile(file).problems.filter((p) => p.severity === 'error');

describe('audit records', () => {
  it('writes one record per command plus run-start, approval, step results, failed connects and run-end', () => {
    record('run-1');
    const rs = records();
    const kinds = rs.map((r) => r.kind);
    expect(kinds.filter((k) => k === 'command')).toHaveLength(7);
    expect(kinds.filter((k) => k === 'step')).toHaveLength(6);
    expect(kinds.filter((k) => k === 'connect')).toHaveLength(1);
    expect(kinds[0]).toBe('run-start');
    expect(kinds.at(-1)).toBe('run-end');
    const fix = rs.find((r) => r.kind === 'command' && r.phase === 'fix');
    expect(fix).toMatchObject({ operator: 'alice', runbook: 'fix-forwarding', runbookHash: 'cd'.repeat(32), host: 'w2', approval: { decision: 'yes', by: 'alice' } });
    expect(rs.find((r) => r.kind === 'command' && r.outcome === 'lost')).toMatchObject({ exitCode: null, host: 'w1' });
    expect(rs.at(-1)).toMatchObject({ kind: 'run-end', records: rs.length });
    expect(rs[0]!.prev).toBe(GENESIS_HASH);
    rs.forEach((r, i) => expect(r.seq).toBe(i + 1));
  });

  it('creates the file with mode 0600', async () => {
    record('run-1');
    const { statSync } = await import('node:fs');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('never writes a secret given to the redactor', () => {
    // The fix's text (with the secret) is in its start record; its outcome record names it by id.
    const events = syntheticRun('run-1');
    const at = events.findIndex((e) => e.type === 'command' && e.phase === 'fix');
    const fix = events[at] as Extract<RunEvent, { type: 'command' }>;
    events.splice(at, 0, { type: 'command-start', time: fix.time, runId: fix.runId, host: fix.host, step: fix.step, phase: fix.phase, commandId: fix.commandId, command: fix.command, approval: fix.approval });
    const listener = createAuditListener({ file, operator: 'alice', redact: redactSecret });
    for (const e of events) listener(e);
    listener.close();
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(SECRET);
    expect(text).toContain('********');
  });

  it('continues the chain when a later run appends', () => {
    record('run-1');
    record('run-2');
    const rs = records();
    expect(new Set(rs.map((r) => r.runId))).toEqual(new Set(['run-1', 'run-2']));
    rs.forEach((r, i) => expect(r.seq).toBe(i + 1));
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, runs: 2, problems: [] });
  });
});

describe('audit verify', () => {
  it('passes a full run', () => {
    record('run-1');
    const v = verifyAuditFile(file);
    expect(v.problems).toEqual([]);
    expect(v).toMatchObject({ ok: true, records: lines().length, runs: 1 });
  });

  it('catches an edited record, naming its line', () => {
    record('run-1');
    const ls = lines();
    expect(ls[2]).toContain('"exitCode":0');
    ls[2] = ls[2]!.replace('"exitCode":0', '"exitCode":7');
    writeFileSync(file, `${ls.join('\n')}\n`);
    expect(errors()).toEqual([{ line: 3, severity: 'error', message: 'record #3 was edited: its content does not match its hash' }]);
  });

  it('catches an edit whose hash was recomputed, at the next record', async () => {
    record('run-1');
    const { recordHash } = await import('../../src/report/audit-record.js');
    const ls = lines();
    const r = JSON.parse(ls[3]!) as Record<string, unknown>;
    r.host = 'elsewhere';
    r.hash = recordHash(r);
    ls[3] = JSON.stringify(r);
    writeFileSync(file, `${ls.join('\n')}\n`);
    expect(errors()).toEqual([{ line: 5, severity: 'error', message: expect.stringMatching(/chain broken.*line 4/) }]);
  });

  it('catches a deleted record, naming the line after the gap', () => {
    record('run-1');
    const ls = lines();
    ls.splice(4, 1);
    writeFileSync(file, `${ls.join('\n')}\n`);
    const errs = errors();
    expect(errs[0]).toEqual({ line: 5, severity: 'error', message: 'record #5 missing before this line (deleted)' });
    // The run's own record count disagrees too.
    expect(errs.slice(1).map((e) => e.message)).toEqual([expect.stringMatching(/run run-1 wrote \d+ records but \d+ are in the file/)]);
  });

  it('catches reordered records', () => {
    record('run-1');
    const ls = lines();
    [ls[6], ls[7]] = [ls[7]!, ls[6]!];
    writeFileSync(file, `${ls.join('\n')}\n`);
    expect(errors().map((e) => [e.line, e.message])).toEqual([
      [7, 'record #8 out of order (after record #6)'],
      [8, 'record #7 out of order (after record #8)'],
    ]);
  });

  it('catches truncation of whole records at the end through the head file', () => {
    record('run-1');
    const ls = lines();
    writeFileSync(file, `${ls.slice(0, -3).join('\n')}\n`);
    const errs = errors();
    expect(errs).toEqual([
      { line: ls.length - 2, severity: 'error', message: `file truncated: it ends at record #${ls.length - 3} but record #${ls.length} was written (3 missing at the end)` },
    ]);
  });

  it('a trail whose head file was deleted fails: that is how a cut tail would hide (the run without its end is flagged too)', () => {
    record('run-1');
    rmSync(`${file}.head`);
    const ls = lines();
    writeFileSync(file, `${ls.slice(0, -1).join('\n')}\n`);
    const v = verifyAuditFile(file);
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => `${p.severity}: ${p.message}`)).toEqual([
      expect.stringMatching(/^warning: run run-1 has no run-end record: it ended abnormally/),
      expect.stringMatching(new RegExp(`^error: no head file ${file}.head next to a trail of ${ls.length - 1} records: it was deleted`)),
    ]);
  });

  it('with an anchor kept elsewhere, catches a truncation that also rewrote the head file', () => {
    record('run-1');
    const tip = verifyAuditFile(file).tip!;
    const ls = lines();
    writeFileSync(file, `${ls.slice(0, -2).join('\n')}\n`);
    const before = JSON.parse(ls[ls.length - 3]!) as { seq: number; hash: string };
    writeFileSync(`${file}.head`, JSON.stringify({ seq: before.seq, hash: before.hash, time: 'x' }));
    expect(verifyAuditFile(file).ok).toBe(true);
    expect(verifyAuditFile(file, { anchor: tip }).problems).toContainEqual({
      line: ls.length - 1, severity: 'error', message: `anchor record #${tip.seq} is not in the file (truncated or rewritten)`,
    });
    expect(parseAnchor(`${tip.seq}:${tip.hash}`)).toEqual(tip);
    expect(parseAnchor('12:nothex')).toBeUndefined();
  });

  it('reports a torn last line as a crash, not tampering, and the next append keeps the chain', () => {
    record('run-1', { withEnd: false });
    const ls = lines();
    const torn = `${ls[ls.length - 1]!.slice(0, 40)}`;
    appendFileSync(file, torn);
    const v = verifyAuditFile(file);
    expect(v.ok).toBe(true);
    expect(v.problems).toContainEqual({ line: ls.length + 1, severity: 'warning', message: expect.stringMatching(/last record incomplete \(crash during write\)/) });

    record('run-2');
    const after = verifyAuditFile(file);
    expect(after.ok).toBe(true);
    expect(after.problems.filter((p) => p.line === ls.length + 1)).toEqual([
      { line: ls.length + 1, severity: 'warning', message: `incomplete record (crash during write); the chain continues on line ${ls.length + 2}` },
    ]);
    const next = parseRecordLine(readFileSync(file, 'utf8').split('\n')[ls.length + 1]!);
    expect(next).toMatchObject({ ok: true, record: { seq: ls.length + 1, runId: 'run-2' } });
  });

  it('treats a garbled line in the middle as tampering', () => {
    record('run-1');
    const ls = lines();
    ls[3] = ls[3]!.slice(0, 30);
    writeFileSync(file, `${ls.join('\n')}\n`);
    const errs = errors();
    expect(errs.map((e) => e.line)).toEqual([4, 5, ls.length]);
    expect(errs[0]!.message).toMatch(/not a valid record/);
    expect(errs[1]!.message).toMatch(/record #4 missing/);
    expect(errs[2]!.message).toMatch(/run run-1 wrote/);
  });
});

describe('resolveAuditPath under XDG_STATE_HOME', () => {
  it('puts the trail under $XDG_STATE_HOME/runbook, and keeps finding a trail left at the old place, with a note on moving it', () => {
    const home = join(dir, 'home');
    const xdg = join(dir, 'xdg');
    const notes: string[] = [];
    const env = { XDG_STATE_HOME: xdg, HOME: home };
    expect(resolveAuditPath(undefined, env, (l) => notes.push(l))).toBe(join(xdg, 'runbook', 'audit.jsonl'));
    expect(notes).toEqual([]);
    const old = join(home, '.local', 'state', 'runbook', 'audit.jsonl');
    mkdirSync(join(home, '.local', 'state', 'runbook'), { recursive: true });
    writeFileSync(old, '');
    expect(resolveAuditPath(undefined, env, (l) => notes.push(l))).toBe(old);
    expect(notes).toEqual([
      `runbook: using the audit trail at ${old}; with XDG_STATE_HOME set its place is ${join(xdg, 'runbook', 'audit.jsonl')} (move it there with: mkdir -p ${join(xdg, 'runbook')} && mv ${old} ${old}.head ${join(xdg, 'runbook')}/)`,
    ]);
    expect(resolveAuditPath(undefined, { XDG_STATE_HOME: 'relative/not/allowed', HOME: home })).toBe(old);
  });
});

describe('resolveAuditPath', () => {
  it('prefers the flag, then RUNBOOK_AUDIT_FILE, then ~/.local/state', () => {
    expect(resolveAuditPath('/x/a.jsonl', { RUNBOOK_AUDIT_FILE: '/y/b.jsonl' })).toBe('/x/a.jsonl');
    expect(resolveAuditPath(undefined, { RUNBOOK_AUDIT_FILE: '/y/b.jsonl' })).toBe('/y/b.jsonl');
    expect(resolveAuditPath(undefined, {})).toMatch(/\/\.local\/state\/runbook\/audit\.jsonl$/);
  });

  it('expands ~/ in the flag and in RUNBOOK_AUDIT_FILE to $HOME', () => {
    expect(resolveAuditPath('~/a.jsonl', { HOME: '/home/op' })).toBe('/home/op/a.jsonl');
    expect(resolveAuditPath(undefined, { RUNBOOK_AUDIT_FILE: '~/t/b.jsonl', HOME: '/home/op' })).toBe('/home/op/t/b.jsonl');
  });
});
