/**
 * The audit trail in a place someone else can reach: a symlink at the audit path (or at one of its
 * side files) must never be followed, and a directory where other users can plant such a link is
 * refused up front, with a one-line error that says what to do.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/model/errors.js';
import type { AuditBody } from '../../src/report/audit-record.js';
import { AuditWriter } from '../../src/report/audit-writer.js';

let dir: string;
let file: string;
let victim: string;
const VICTIM_TEXT = 'precious, not an audit trail\n';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-audit-hostile-'));
  file = join(dir, 'audit.jsonl');
  victim = join(dir, 'victim.txt');
  writeFileSync(victim, VICTIM_TEXT);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const body = (n: number): AuditBody => ({
  kind: 'connect', time: new Date(Date.UTC(2025, 0, 1, 12, 0, n)).toISOString(), runId: 'run-1', operator: 'alice', runbook: 'rb', host: 'w1', ok: true, durationMs: 1,
});

/** The writer's error, so a test can compare its exact text (and see that it is a UserError). */
function refusal(make: () => unknown): string {
  try {
    make();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as UserError).format();
  }
  throw new Error('expected a refusal');
}

const symlinkRefusal = (f: string): string =>
  `audit file ${f} is a symbolic link, which could send the records into another file (remove the link, or name the file itself with --audit-file or RUNBOOK_AUDIT_FILE)`;

describe('audit file in a hostile place', () => {
  it('refuses a symlink at the audit path and leaves its target alone', () => {
    symlinkSync(victim, file);
    expect(refusal(() => new AuditWriter(file))).toBe(symlinkRefusal(file));
    expect(readFileSync(victim, 'utf8')).toBe(VICTIM_TEXT);
  });

  it('refuses a dangling symlink without creating the file it names', () => {
    const target = join(dir, 'not-yet');
    symlinkSync(target, file);
    expect(refusal(() => new AuditWriter(file))).toBe(symlinkRefusal(file));
    expect(() => lstatSync(target)).toThrow(/ENOENT/);
  });

  it('refuses a trail swapped for a link during a run at the next append', () => {
    const w = new AuditWriter(file);
    w.append(body(1));
    renameSync(file, join(dir, 'moved.jsonl'));
    symlinkSync(victim, file);
    expect(refusal(() => w.append(body(2)))).toBe(symlinkRefusal(file));
    // It sticks: later appends and close() repeat it rather than touch a closed descriptor.
    expect(refusal(() => w.append(body(3)))).toBe(symlinkRefusal(file));
    expect(refusal(() => w.close())).toBe(symlinkRefusal(file));
    expect(readFileSync(victim, 'utf8')).toBe(VICTIM_TEXT);
  });

  it('never writes the head through a link planted at its temporary name', () => {
    // White box: the head is written to `<file>.head.tmp-<pid>`, then renamed over `<file>.head`.
    symlinkSync(victim, `${file}.head.tmp-${process.pid}`);
    const w = new AuditWriter(file);
    w.append(body(1));
    w.close();
    expect(readFileSync(victim, 'utf8')).toBe(VICTIM_TEXT);
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('refuses a directory that other users can write, even a sticky one', () => {
    const open = join(dir, 'open');
    mkdirSync(open);
    const f = join(open, 'audit.jsonl');
    const expected = `audit file ${f}: its directory ${open} is writable by other users, who could swap the trail for a link to another file (choose another with --audit-file or RUNBOOK_AUDIT_FILE, or chmod o-w ${open})`;
    for (const mode of [0o777, 0o1777, 0o703]) {
      chmodSync(open, mode);
      expect(refusal(() => new AuditWriter(f))).toBe(expected);
    }
    expect(() => lstatSync(f)).toThrow(/ENOENT/);
  });

  it.runIf(process.getuid?.() === 0)('refuses a directory that belongs to another user (as root: needs chown)', () => {
    const theirs = join(dir, 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, 65534, 65534);
    const f = join(theirs, 'audit.jsonl');
    expect(refusal(() => new AuditWriter(f))).toBe(
      `audit file ${f}: its directory ${theirs} belongs to another user (uid 65534), who could swap the trail for a link to another file (choose another with --audit-file or RUNBOOK_AUDIT_FILE, in a directory that you or root own)`,
    );
    expect(() => lstatSync(f)).toThrow(/ENOENT/);
  });

  it('writes as before in a private directory, a new one it creates, and a group-writable one of its own', () => {
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o2770);
    for (const f of [file, join(dir, 'new', 'state', 'audit.jsonl'), join(shared, 'audit.jsonl')]) {
      const w = new AuditWriter(f);
      w.append(body(1));
      w.append(body(2), { durable: false });
      w.close();
      expect(readFileSync(f, 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
      expect(JSON.parse(readFileSync(`${f}.head`, 'utf8'))).toMatchObject({ seq: 2 });
      expect(lstatSync(f).mode & 0o777).toBe(0o600);
    }
    expect(lstatSync(join(dir, 'new')).mode & 0o777).toBe(0o700);
  });
});
