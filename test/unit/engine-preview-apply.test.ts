/**
 * What an apply reads around a fix, on this machine's own shell. The "before" is read after the
 * check, and after any answer, so an edit made while a prompt was open is in the diff and in what
 * undo puts back; a healthy step reads nothing. Under --yes no preview runs (nobody would read
 * it); with a person deciding, the preview reads the file and runs in one command before the
 * question. The "after" is read in the verify's shell.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bindings, host, pos, runbook, step } from './engine-fixtures.js';
import type { Connection, ExecResult } from '../../src/transport/types.js';
import { EventBus, RunControl, autoApprove, buildPlan, createInteractiveGate, parallelStrategy, runPlan, type ApprovalGate, type CommandRenderer, type RunEvent } from '../../src/engine/index.js';
import { shellQuote } from '../../src/model/shell-quote.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-preview-apply-'));
const render: CommandRenderer = (_h, _s, t) => ({ command: t.text, display: t.text });

function shellConnection(name: string): Connection {
  return {
    host: name,
    async exec(command: string): Promise<ExecResult> {
      const r = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
      return { outcome: 'exit', code: r.status, signal: null, stdout: r.stdout, stderr: r.stderr, stdoutTruncated: false, stderrTruncated: false, durationMs: 1 };
    },
    async close() {},
  };
}

async function applyConf(f: string, gate: (control: RunControl) => ApprovalGate, opts: { preview?: boolean; stored?: Buffer[]; connection?: (name: string) => Connection } = {}) {
  const q = shellQuote(f);
  const files = [{ path: { text: f, pos }, sensitive: false }];
  const rb = runbook([step('conf', `grep -qx 'a = 2' ${q}`, [`sed -i 's/1/2/' ${q}`], { files, ...(opts.preview === false ? {} : { preview: { text: `sed 's/1/2/' ${q}`, pos } }) })]);
  const events: RunEvent[] = [];
  const bus = new EventBus();
  bus.on((e) => events.push(e));
  const control = new RunControl();
  const plan = buildPlan(rb, [host('a')], bindings(render), { mode: 'apply' });
  const captureStore = (b: Buffer) => (opts.stored?.push(b), 'digest');
  await runPlan(plan, { operator: 'tester', bindings: bindings(render), gate: gate(control), bus, control, strategy: parallelStrategy(1), connect: async (h) => (opts.connection ?? shellConnection)(h.name), captureStore });
  const started = events.flatMap((e) => (e.type === 'command-start' ? [e] : []));
  const captures = started.filter((e) => e.phase === 'capture').length;
  // A command that read the file first says so on a line of its own, after its own text.
  const readFirst = started.filter((e) => e.command.includes("\n# read first, in the same shell (runbook's capture): ")).map((e) => e.phase);
  const result = events.find((e) => e.type === 'step-result');
  return { captures, readFirst, commands: started.length, result: result?.type === 'step-result' ? result : undefined };
}

describe('an apply with a preview', () => {
  it('without a prompt: nobody reads a preview, so none runs; the "before" is read after the check, the "after" in the verify\'s shell', async () => {
    const f = join(dir, 'auto.conf');
    writeFileSync(f, 'a = 1\n');
    const r = await applyConf(f, () => autoApprove('tester'));
    expect(r.result?.status).toBe('fixed');
    expect(r).toMatchObject({ captures: 1, readFirst: ['verify'], commands: 4 });
    expect(r.result?.changes?.map((c) => c.diff.split('\n').slice(2))).toEqual([['@@ -1,1 +1,1 @@', '-a = 1', '+a = 2']]);
  });

  it('after a person approved: the file is read again, and an edit made while the prompt was open is in the diff', async () => {
    const f = join(dir, 'asked.conf');
    writeFileSync(f, 'a = 1\n');
    const r = await applyConf(f, (control) =>
      createInteractiveGate(
        async () => {
          writeFileSync(f, 'a = 1\nb = 1\n');
          return 'yes';
        },
        'tester',
        control,
      ),
    );
    expect(r.result?.status).toBe('fixed');
    // The preview (with its read), then the file read again after the answer; the verify reads the "after".
    expect(r).toMatchObject({ captures: 2, readFirst: ['capture', 'verify'] });
    expect(readFileSync(f, 'utf8')).toBe('a = 2\nb = 2\n');
    expect(r.result?.changes?.map((c) => c.diff.split('\n').slice(2))).toEqual([['@@ -1,2 +1,2 @@', '-a = 1', '-b = 1', '+a = 2', '+b = 2']]);
  });
});

describe('an apply without a preview', () => {
  it('without a prompt: the "before" is a capture of its own after the check, the "after" is read in the verify\'s shell', async () => {
    const f = join(dir, 'early.conf');
    writeFileSync(f, 'a = 1\n');
    const stored: Buffer[] = [];
    const r = await applyConf(f, () => autoApprove('tester'), { preview: false, stored });
    expect(r.result?.status).toBe('fixed');
    expect(r).toMatchObject({ captures: 1, readFirst: ['verify'], commands: 4 });
    expect(r.result?.changes?.map((c) => c.diff.split('\n').slice(2))).toEqual([['@@ -1,1 +1,1 @@', '-a = 1', '+a = 2']]);
    expect(stored.map((b) => b.toString())).toEqual(['a = 1\n', 'a = 2\n']);
  });

  it('a healthy host: one command, the check; nothing read, nothing kept', async () => {
    const f = join(dir, 'healthy.conf');
    writeFileSync(f, 'a = 2\n');
    const stored: Buffer[] = [];
    const r = await applyConf(f, () => autoApprove('tester'), { preview: false, stored });
    expect(r.result?.status).toBe('ok');
    expect(r).toMatchObject({ captures: 0, readFirst: [], commands: 1 });
    expect(stored).toEqual([]);
    expect(r.result?.changes).toBeUndefined();
  });

  it('after a person approved: the file is read after the answer, so an edit made while the prompt was open is in the diff', async () => {
    const f = join(dir, 'early-asked.conf');
    writeFileSync(f, 'a = 1\n');
    const r = await applyConf(f, (control) => createInteractiveGate(async () => (writeFileSync(f, 'a = 1\nb = 1\n'), 'yes'), 'tester', control), { preview: false });
    expect(r.result?.status).toBe('fixed');
    expect(r).toMatchObject({ captures: 1, readFirst: ['verify'] });
    expect(r.result?.changes?.map((c) => c.diff.split('\n').slice(2))).toEqual([['@@ -1,2 +1,2 @@', '-a = 1', '-b = 1', '+a = 2', '+b = 2']]);
  });

  // A command with captures in its shell (the verify's "after"), as the transport returns it.
  const withCaptures = (change: (r: ExecResult) => ExecResult) => (name: string): Connection => {
    const c = shellConnection(name);
    return { ...c, exec: async (command, o) => ((r) => (command.includes('runbook-capture') ? change(r) : r))(await c.exec(command, o)) };
  };

  it('an "after" cut with the verify\'s output (one bound for both) is read again on its own', async () => {
    const f = join(dir, 'cut-after.conf');
    writeFileSync(f, 'a = 1\n');
    const r = await applyConf(f, () => autoApprove('tester'), { preview: false, connection: withCaptures((x) => ({ ...x, stdout: x.stdout.slice(-4), stdoutTruncated: true })) });
    expect(r.result?.status).toBe('fixed');
    expect(r).toMatchObject({ captures: 2, readFirst: ['verify'] });
    expect(r.result?.changes?.map((c) => c.diff.split('\n').slice(2))).toEqual([['@@ -1,1 +1,1 @@', '-a = 1', '+a = 2']]);
  });

  it("a shell that ended before the verify (no marker, yet an exit status) is never the verify's verdict", async () => {
    const f = join(dir, 'no-verify.conf');
    writeFileSync(f, 'a = 1\n');
    const r = await applyConf(f, () => autoApprove('tester'), { preview: false, connection: withCaptures((x) => ({ ...x, code: 0, stdout: '' })) });
    expect(r.result?.status).toBe('failed');
    expect(r.result?.reason).toBe('verify after fix: did not run: the shell ended during the captures before it');
  });
});
