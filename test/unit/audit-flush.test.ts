import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditListener } from '../../src/report/audit-listener.js';
import { verifyAuditFile } from '../../src/report/audit-verify.js';
import { syntheticRun } from './audit-fixtures.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-audit-flush-'));
  file = join(dir, 'audit.jsonl');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const lines = (f = file): string[] => readFileSync(f, 'utf8').split('\n').filter(Boolean);
const head = (f = file): { seq: number } => JSON.parse(readFileSync(`${f}.head`, 'utf8')) as { seq: number };

describe('deferred fsync (deferSync + flush)', () => {
  it('writes each record at once and moves the head only when a flush has made it durable', async () => {
    const l = createAuditListener({ file, operator: 'alice', deferSync: true });
    const events = syntheticRun('run-1');
    for (const e of events.slice(0, 5)) l(e);
    // Written (a killed controller keeps them), not yet fsynced: the head is still the new trail's #0.
    expect(lines()).toHaveLength(4);
    expect(head().seq).toBe(0);
    await l.flush();
    expect(head().seq).toBe(4);
    for (const e of events.slice(5)) l(e);
    l.close();
    expect(head().seq).toBe(lines().length);
    expect(verifyAuditFile(file).problems).toEqual([]);
  });

  it('covers records written while an fsync is running with the next one, whoever waits', async () => {
    const l = createAuditListener({ file, operator: 'alice', deferSync: true });
    const events = syntheticRun('run-1');
    const waits: Promise<void>[] = [];
    for (const e of events) {
      l(e);
      waits.push(l.flush());
    }
    await Promise.all(waits);
    // The head moves at most every 200 ms while a run goes on, never past what is on disk, and
    // catches up on its own.
    expect(head().seq).toBeLessThanOrEqual(lines().length);
    await new Promise((r) => setTimeout(r, 250));
    expect(head().seq).toBe(lines().length);
    l.close();
    expect(verifyAuditFile(file).problems).toEqual([]);
  });

  it('after the log is rotated, flushes the new file and never gives it the old head', async () => {
    const l = createAuditListener({ file, operator: 'alice', deferSync: true });
    const events = syntheticRun('run-1');
    for (const e of events.slice(0, 8)) l(e);
    const pending = l.flush();
    renameSync(file, `${file}.1`);
    for (const e of events.slice(8)) l(e);
    await pending;
    await l.flush();
    l.close();
    expect(head().seq).toBe(lines().length);
    // The run's records are split across the two files (verify says so); none is a truncation.
    expect(verifyAuditFile(file).problems.map((p) => p.message)).toEqual([expect.stringMatching(/^run run-1 wrote \d+ records but \d+ are in the file$/)]);
  });
});
