/**
 * `runbook resume RUN` through the real CLI, on one host reached through the local transport: what
 * it refuses (each one line, before anything connects), what it carries over from the run (vars,
 * a secret given again), what it skips, and how history shows the chain. The lab test
 * (test/lab/resume.test.ts) resumes a 4-host apply after a controller SIGKILL on real nodes.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseRecordLine, type AuditRecord } from '../../src/report/audit-record.js';

const bin = resolve('bin/runbook.js');
const dir = mkdtempSync(join(tmpdir(), 'rb-resume-'));
const state = join(dir, 'state');
const inv = join(dir, 'inv.yaml');
const rbFile = join(dir, 'marks.yaml');
const audit = join(dir, 'audit.jsonl');
// Each fix appends to its marker, so a fix run twice shows as two lines.
const RUNBOOK = `name: marks
vars:
  dir: ${state}
  token: { secret: true, env: RB_RESUME_TOKEN }
steps:
  - name: first
    check: test -f {{ dir }}/first
    fix: echo ran >> {{ dir }}/first
  - name: second
    check: test -f {{ dir }}/second && test -f {{ dir }}/allow
    fix: echo ran >> {{ dir }}/second
  - name: slow
    check: test -f {{ dir }}/slow
    fix: echo ran >> {{ dir }}/slow; sleep 2
`;

function run(args: string[], env: Record<string, string> = {}) {
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync('node', [bin, ...args], { encoding: 'utf8', cwd: dir, input: '', env: { ...process.env, RUNBOOK_AUDIT_FILE: audit, CI: '1', ...env } });
    // A killed run's host lock is released by its lock shell within about a second.
    if (r.status === 4 && attempt < 10) {
      spawnSync('sleep', ['0.5']);
      continue;
    }
    return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr.trim() };
  }
}

const records = (): AuditRecord[] => readFileSync(audit, 'utf8').split('\n').flatMap((l) => {
  const p = parseRecordLine(l);
  return p.ok ? [p.record] : [];
});
const runIds = (): string[] => [...new Set(records().filter((r) => r.kind === 'run-start').map((r) => r.runId))];
const marker = (name: string): string => readFileSync(join(state, name), 'utf8');
const resume = (ref: string, extra: string[] = [], env: Record<string, string> = {}) => run(['resume', ref, '-i', inv, '--yes', ...extra], env);

beforeAll(() => {
  mkdirSync(state, { recursive: true });
  writeFileSync(inv, 'hosts:\n  a: { connection: local }\n  b: { connection: local }\n');
  writeFileSync(rbFile, RUNBOOK);
  // "slow" passes from the start: the first tests leave it alone.
  writeFileSync(join(state, 'slow'), '');
});

describe('runbook resume', () => {
  it('refuses, before anything connects, what it cannot resume', () => {
    expect(resume('last').stderr).toBe(`no apply run in ${audit} (run \`runbook history\` to list runs)`);
    const dry = run(['apply', rbFile, '-i', inv, '--hosts', 'a', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(3);
    const [id] = runIds();
    const r = resume(id!);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`run ${id} is a dry run of marks: it changed nothing, so there is nothing to resume (run \`runbook apply marks\` again)`);
    expect(resume('last').stderr).toBe(`no apply run in ${audit} (run \`runbook history\` to list runs)`);
  });

  it('continues a run that failed: its vars again (a secret given again, never from the trail), only what it left', () => {
    const first = run(['apply', rbFile, '-i', inv, '--hosts', 'a', '--yes', '--var', 'token=hunter22', '--var', 'mode=x']);
    expect(first.code, first.stderr).toBe(1);
    const id = runIds().at(-1)!;
    const start = records().find((r) => r.runId === id && r.kind === 'run-start');
    expect(start).toMatchObject({ vars: { token: '********', mode: 'x' }, hosts: ['a'] });
    expect(readFileSync(audit, 'utf8')).not.toContain('hunter22');
    const before = records().length;

    const secret = `run ${id} was given the secret var token, which resume does not read from the trail (give it again: RUNBOOK_VAR_token=… in the environment, or --var-file FILE)`;
    expect(resume('last', ['--var', 'mode=x'])).toMatchObject({ code: 2, stderr: secret });
    expect(resume('last', ['--var', 'mode=y'], { RUNBOOK_VAR_token: 'hunter22' }).stderr).toBe(`var mode differs from run ${id}'s (resume repeats the run's vars: leave it out, or start a fresh apply)`);
    expect(resume('last', ['--var', 'mode=x', '--var', 'extra=1'], { RUNBOOK_VAR_token: 'hunter22' }).stderr).toBe(
      `var extra is set here but was not in run ${id} (resume repeats the run's vars: unset it (RUNBOOK_VAR_*, --var-file, --var), or start a fresh apply)`,
    );
    expect(run(['resume', id, '-i', inv]).stderr).toBe('resume needs a terminal to ask before each fix, and there is none (use --yes to approve every fix)');
    expect(resume(id.slice(0, -2), ['--hosts', 'b'], { RUNBOOK_VAR_token: 'hunter22' }).stderr).toBe(`--hosts b selects none of run ${id}'s hosts (a) (leave --hosts out to resume them all)`);
    writeFileSync(rbFile, RUNBOOK.replace('echo ran >> {{ dir }}/second', 'echo ran twice >> {{ dir }}/second'));
    try {
      expect(resume('last', [], { RUNBOOK_VAR_token: 'hunter22' }).stderr).toMatch(
        new RegExp(`^runbook marks \\(${rbFile}\\) changed since run ${id}: sha256 [0-9a-f]{12} now, [0-9a-f]{12} then \\(restore the runbook the run used, or start a fresh apply instead\\)$`),
      );
    } finally {
      writeFileSync(rbFile, RUNBOOK);
    }
    // Every refusal came before the run started: the trail has no new record.
    expect(records().length).toBe(before);

    writeFileSync(join(state, 'allow'), '');
    const r = resume('last', [], { RUNBOOK_VAR_token: 'hunter22' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`runbook marks: resume of run ${id} on 1 host from inv.yaml`);
    expect(r.stdout).toContain(`a: first: not-applicable (done in run ${id}: fixed)`);
    expect(r.stdout).toContain('a: second: ok');
    expect(marker('first')).toBe('ran\n');
    const resumed = runIds().at(-1)!;
    const mine = records().filter((x) => x.runId === resumed);
    expect(mine[0]).toMatchObject({ kind: 'run-start', resumes: id, vars: { token: '********', mode: 'x' } });
    // The host lock's records name the host's first step; nothing else of "first" was sent.
    expect(mine.filter((x) => x.kind === 'command-start' && x.step === 'first' && x.phase !== 'lock' && x.phase !== 'unlock')).toEqual([]);

    const list = run(['history']).stdout;
    expect(list).toMatch(new RegExp(`${resumed} .* resume ${id} `));
    expect(run(['history', id]).stdout).toContain(`resumed by run ${resumed}`);
    expect(run(['history', resumed]).stdout).toContain(`resumes run ${id}`);
    expect(resume('last').stderr).toBe(`run ${resumed} ended with nothing left to do (exit 0) (\`runbook history ${resumed}\` shows what it did)`);
  });

  it('after a controller SIGKILL mid-fix: a step it finished is not run again, the one it was running is checked first', () => {
    rmSync(join(state, 'slow'));
    const killed = run(['apply', rbFile, '-i', inv, '--hosts', 'a', '--yes', '--var', 'token=x1x'], { RUNBOOK_TEST_HOOKS: '1', RUNBOOK_TEST_KILL_AT: 'fix-start:a' });
    expect(killed.signal).toBe('SIGKILL');
    const id = runIds().at(-1)!;
    expect(run(['history', id]).stdout).toContain('ended abnormally');
    // The fix wrote its marker before it was cut off: it landed.
    expect(marker('slow')).toBe('ran\n');
    const r = resume(id, [], { RUNBOOK_VAR_token: 'x1x' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`a: first: not-applicable (done in run ${id}: ok)`);
    expect(r.stdout).toContain('a: slow: ok');
    expect(marker('slow')).toBe('ran\n');
    const resumed = runIds().at(-1)!;
    const steps = records().filter((x) => x.runId === resumed && x.kind === 'command-start').map((x) => (x.kind === 'command-start' ? `${x.step}/${x.phase}` : ''));
    expect(steps.filter((s) => !s.endsWith('/lock') && !s.endsWith('/unlock'))).toEqual(['slow/check']);
  });
});
