/**
 * Fuzzing the loaders: ≥1,000 reproducible mutations of every shipped runbook and inventory
 * (test/fuzz/generate.ts), each loaded through the compiled loaders in a worker thread under a
 * per-case watchdog. Every case must end valid or with one-line problems at file:line:col;
 * anything else (a non-UserError throw, a hang) is counted and fails the test with the case id.
 * Reproduce one case: generateCase(shippedBases('.'), FUZZ_SEED, id).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { FUZZ_CASES, FUZZ_SEED, generateCases } from './generate.js';
import { materialize, type Job } from './materialize.js';

const root = resolve('.');
// Generous: the machine running the suite may be heavily loaded; a hang is a case that never answers.
const CASE_TIMEOUT_MS = 60_000;
const WORKERS = 2;

interface Done {
  type: 'done';
  id: number;
  status: 'valid' | 'errors' | 'crash';
  problems?: { line: string; pos: { file: string; line: number; col: number } | null }[];
  error?: string;
  ms?: number;
}

const dir = mkdtempSync(join(tmpdir(), 'rbf-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs jobs in a worker; a case silent for CASE_TIMEOUT_MS is a hang: the worker is terminated and the rest go on. */
function runJobs(jobs: Job[]): Promise<{ done: Done[]; hangs: number[] }> {
  return new Promise((resolvePromise) => {
    const done: Done[] = [];
    const hangs: number[] = [];
    let rest = jobs;
    const start = (): void => {
      if (rest.length === 0) return resolvePromise({ done, hangs });
      const batch = rest;
      const worker = new Worker(new URL('./loader-worker.mjs', import.meta.url), {
        workerData: { cases: batch, inventory: join(root, 'inventory/default.yaml') },
        // The CLI's main thread has about 1 MB of stack; the same here, so deep nesting fails the same way.
        resourceLimits: { maxOldGenerationSizeMb: 1024, stackSizeMb: 1 },
      });
      let current: number | undefined;
      let timer: NodeJS.Timeout | undefined;
      let finished = false;
      const next = (): void => {
        if (finished) return;
        finished = true;
        if (timer) clearTimeout(timer);
        const idx = current === undefined ? batch.length : batch.findIndex((j) => j.id === current);
        rest = batch.slice(idx + 1);
        start();
      };
      worker.on('message', (msg: { type: 'start'; id: number } | Done) => {
        if (msg.type === 'start') {
          current = msg.id;
          if (timer) clearTimeout(timer);
          timer = setTimeout(() => {
            hangs.push(msg.id);
            void worker.terminate();
          }, CASE_TIMEOUT_MS);
        } else {
          done.push(msg);
          if (timer) clearTimeout(timer);
          current = undefined;
          rest = batch.slice(batch.findIndex((j) => j.id === msg.id) + 1);
        }
      });
      // A worker that dies (out of memory, stack) mid-case: that case crashed.
      worker.on('error', (err) => {
        if (current !== undefined) done.push({ type: 'done', id: current, status: 'crash', error: `worker died: ${err.message}` });
        next();
      });
      worker.on('exit', () => next());
    };
    start();
  });
}

const LOCATED = /^[^\n]+:\d+:\d+: [^\n]+$/;

describe(`fuzzing the loaders (${FUZZ_CASES} cases, seed ${FUZZ_SEED.toString(16)})`, () => {
  it('every case ends valid or in one-line file:line:col problems; no crash, no hang', async () => {
    const cases = generateCases(root);
    const jobs = cases.map((c) => materialize(c, dir, root));
    const shards = Array.from({ length: WORKERS }, (_, w) => jobs.filter((_, i) => i % WORKERS === w));
    const results = await Promise.all(shards.map(runJobs));
    const done = results.flatMap((r) => r.done);
    const hangs = results.flatMap((r) => r.hangs);
    const crashes = done.filter((d) => d.status === 'crash');
    const badLines: string[] = [];
    for (const d of done) {
      for (const p of d.problems ?? []) {
        const c = cases[d.id]!;
        if (!p.pos || !LOCATED.test(p.line) || p.pos.line < 1 || p.pos.col < 1) badLines.push(`case ${d.id} (${c.base.path}: ${c.ops.join('+')}): ${p.line.slice(0, 300)}`);
      }
    }
    const describeCase = (id: number): string => `case ${id} (${cases[id]!.base.path}: ${cases[id]!.ops.join('+')})`;
    const counts = { cases: cases.length, valid: done.filter((d) => d.status === 'valid').length, errors: done.filter((d) => d.status === 'errors').length, crashes: crashes.length, hangs: hangs.length };
    const slowest = [...done].sort((a, b) => (b.ms ?? 0) - (a.ms ?? 0)).slice(0, 5).map((d) => `${describeCase(d.id)} ${d.ms} ms`);
    console.log(`fuzz loaders: ${JSON.stringify(counts)}; slowest: ${slowest.join('; ')}`);
    expect(crashes.map((c) => `${describeCase(c.id)}: ${c.error?.split('\n').slice(0, 4).join(' | ')}`)).toEqual([]);
    expect(hangs.map(describeCase)).toEqual([]);
    expect(badLines).toEqual([]);
    expect(done.length).toBe(cases.length);
    // The mutations must actually break things, or the suite proves nothing.
    expect(counts.errors).toBeGreaterThan(cases.length / 2);
  }, 600_000);

  it('is reproducible: the same seed gives the same bytes', () => {
    const a = generateCases(root, FUZZ_SEED, 50);
    const b = generateCases(root, FUZZ_SEED, 50);
    expect(a.map((c) => c.bytes.toString('base64'))).toEqual(b.map((c) => c.bytes.toString('base64')));
    expect(generateCases(root, FUZZ_SEED + 1, 50).map((c) => c.bytes.toString('base64'))).not.toEqual(a.map((c) => c.bytes.toString('base64')));
  });
});
