/**
 * A sample of the fuzz cases through the built CLI, as a user would hit them:
 * `node bin/runbook.js validate FILE`. Each must exit 0 or 2 (documented), print only located
 * one-line problems and the count on stderr, never a stack trace or "internal error", and finish
 * within a per-case timeout.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/model/exit-codes.js';
import { FUZZ_SEED, generateCases } from './generate.js';
import { materialize } from './materialize.js';

const root = resolve('.');
const bin = join(root, 'bin/runbook.js');
/** Every STRIDE-th case: spreads the sample over every base file and mutator. */
const STRIDE = 7;
const CASE_TIMEOUT_MS = 60_000;
const PARALLEL = 3;

const dir = mkdtempSync(join(tmpdir(), 'rbf-fuzzcli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface CliRun {
  id: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function validate(id: number, file: string): Promise<CliRun> {
  return new Promise((done) => {
    const env = { ...process.env };
    delete env.RUNBOOK_INVENTORY;
    const p = spawn('node', [bin, 'validate', file], { cwd: dir, env });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, CASE_TIMEOUT_MS);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ id, code, signal, stdout, stderr, timedOut });
    });
  });
}

const LOCATED = /^[^\n]+:\d+:\d+: .+$/;
const COUNT = /^\d+ problems? in \d+ files?$/;

describe('fuzzing the CLI: runbook validate on a sample of the fuzz cases', () => {
  it('exits 0 or 2 with located one-line problems; no stack trace, no internal error, no hang', async () => {
    const cases = generateCases(root, FUZZ_SEED).filter((c) => c.id % STRIDE === 0);
    const jobs = cases.map((c) => materialize(c, dir, root));
    const runs: CliRun[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < jobs.length) {
          const job = jobs[next++]!;
          runs.push(await validate(job.id, job.file));
        }
      }),
    );
    const what = (r: CliRun): string => {
      const c = cases.find((x) => x.id === r.id)!;
      return `case ${r.id} (${c.base.path}: ${c.ops.join('+')})`;
    };
    const hangs = runs.filter((r) => r.timedOut);
    const crashes = runs.filter((r) => !r.timedOut && (![ExitCode.OK, ExitCode.USAGE].includes(r.code as 0 | 2) || /internal error|^\s+at /m.test(r.stderr)));
    const badLines = runs.flatMap((r) =>
      r.stderr
        .split('\n')
        .filter((l) => l !== '' && !LOCATED.test(l) && !COUNT.test(l))
        .map((l) => `${what(r)}: ${l.slice(0, 200)}`),
    );
    const unexplained = runs.filter((r) => r.code === ExitCode.USAGE && !r.stderr.split('\n').some((l) => LOCATED.test(l)));
    console.log(`fuzz cli: ${JSON.stringify({ cases: runs.length, valid: runs.filter((r) => r.code === 0).length, errors: runs.filter((r) => r.code === 2).length, crashes: crashes.length, hangs: hangs.length })}`);
    expect(hangs.map(what)).toEqual([]);
    expect(crashes.map((r) => `${what(r)}: exit ${r.code} ${r.signal ?? ''} ${r.stderr.slice(0, 300)}`)).toEqual([]);
    expect(badLines).toEqual([]);
    expect(unexplained.map(what)).toEqual([]);
    expect(runs.length).toBeGreaterThanOrEqual(150);
  }, 900_000);
});
