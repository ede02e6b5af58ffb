/**
 * runbook undo through the real CLI on a host reached through the local transport: what it puts
 * back (a file's bytes, mode and link; a value through the step's undo with $BEFORE_1), the order,
 * and every refusal, each before anything changes. The lab test (test/lab/undo.test.ts) undoes
 * fix-forwarding on a real node and judges it by pod traffic.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';

const bin = resolve('bin/runbook.js');
const dir = mkdtempSync(join(tmpdir(), 'rb-undo-'));
const etc = join(dir, 'etc');
const inv = join(dir, 'inv.yaml');
const rbFile = join(dir, 't.yaml');
let audit = '';
const RUNBOOK = `name: t
vars:
  dir: ${etc}
steps:
  - name: file is set
    check: grep -q 'forward = 1' {{ dir }}/link
    fix: sed -i --follow-symlinks 's/forward = 0/forward = 1/' {{ dir }}/link
    files: ['{{ dir }}/link']
  - name: state is one
    check: test "$(cat {{ dir }}/state)" = 1
    fix: echo 1 > {{ dir }}/state
    snapshot: cat {{ dir }}/state
    undo: printf '%s' "$BEFORE_1" > {{ dir }}/state
  - name: restarted
    check: test -e {{ dir }}/restarted
    fix: touch {{ dir }}/restarted
    no_undo: a restart has no inverse
`;
const ORIGINAL = 'a = 1\nforward = 0\n';

function run(args: string[]) {
  const r = spawnSync('node', [bin, ...args, ...(args[0] === 'history' ? [] : ['-i', inv])], { encoding: 'utf8', cwd: dir, input: '', env: { ...process.env, RUNBOOK_AUDIT_FILE: audit, CI: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}

function applied(): string {
  const r = run(['apply', rbFile, '--yes', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.split('\n')[0]!).runId as string;
}

/** Step results of a --json run, as "step: status (reason)". */
function results(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === 'step-result')
    .map((e) => `${e.step}: ${e.status}${e.reason ? ` (${e.reason})` : ''}`);
}

const file = () => ({ content: readFileSync(join(etc, 'conf'), 'utf8'), mode: lstatSync(join(etc, 'conf')).mode & 0o777, link: readlinkSync(join(etc, 'link')) });

beforeEach(() => {
  rmSync(etc, { recursive: true, force: true });
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, 'conf'), ORIGINAL);
  chmodSync(join(etc, 'conf'), 0o640);
  symlinkSync('conf', join(etc, 'link'));
  writeFileSync(join(etc, 'state'), '0\n');
  writeFileSync(inv, 'hosts:\n  a: { connection: local }\n');
  writeFileSync(rbFile, RUNBOOK);
  audit = join(mkdtempSync(join(dir, 'state-')), 'audit.jsonl');
});

describe('runbook undo', () => {
  it('refuses the fix of a local step by name: it ran here, for the host, and nothing of it was captured', () => {
    writeFileSync(rbFile, `name: t\nsteps:\n  - name: cordoned\n    local: true\n    check: test -e ${etc}/cordoned-{{ host.name }}\n    fix: touch ${etc}/cordoned-{{ host.name }}\n`);
    applied();
    const undo = run(['undo', 'last', '--yes', '--json']);
    expect(undo.code, undo.stderr).toBe(1);
    expect(results(undo.stdout)).toEqual(['undo: cordoned: failed (refused: exit code 3: cannot undo: a local step ran on the controller, and undo puts back only what fixes changed on the host)']);
  });

  it('puts back the file (bytes, mode, through its link) and the value, latest first; says which fix has no undo', () => {
    const runId = applied();
    expect(file().content).toBe('a = 1\nforward = 1\n');

    // Exit 1: the restart's undo is refused (no undo); the others would run.
    const dry = run(['undo', 'last', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(1);
    expect(dry.stdout).toContain(`runbook t: dry run of the undo of run ${runId} on 1 host`);
    expect(dry.stdout).toMatch(/\$ restore \S+\/etc\/link as before the fix \(18 bytes, sha256 [0-9a-f]{12}, mode 640, owner \S+:\S+\)/);
    expect(dry.stdout).toContain('-forward = 1\n    +forward = 0');
    expect(file().content).toBe('a = 1\nforward = 1\n');

    const undo = run(['undo', runId.slice(0, 18), '--yes', '--json']);
    expect(undo.code, undo.stderr).toBe(1);
    expect(results(undo.stdout)).toEqual([
      'undo: restarted: failed (refused: exit code 3: no undo: a restart has no inverse)',
      'undo: state is one: fixed',
      'undo: file is set: fixed',
    ]);
    expect(file()).toEqual({ content: ORIGINAL, mode: 0o640, link: 'conf' });
    expect(readFileSync(join(etc, 'state'), 'utf8')).toBe('0\n');
    expect(JSON.parse(undo.stdout.split('\n')[0]!)).toMatchObject({ type: 'run-start', undoes: runId });
    // The undo is a run of its own; `last` is never an undo, so undoing again finds nothing to do.
    expect(run(['history']).stdout).toContain(`undo ${runId}`);
    expect(run(['history', runId]).stdout).toContain(`undone by run ${JSON.parse(undo.stdout.split('\n')[0]!).runId}`);
    const again = run(['undo', 'last', '--yes', '--json']);
    expect(results(again.stdout).slice(1)).toEqual(['undo: state is one: ok', 'undo: file is set: ok']);
    // Undoing the undo (by its id) puts the fixes back: a redo.
    const undoId = JSON.parse(undo.stdout.split('\n')[0]!).runId as string;
    const redo = run(['undo', undoId, '--yes', '--json']);
    expect(results(redo.stdout)).toEqual(['undo: file is set: fixed', 'undo: state is one: fixed']);
    expect(file()).toEqual({ content: 'a = 1\nforward = 1\n', mode: 0o640, link: 'conf' });
    expect(readFileSync(join(etc, 'state'), 'utf8')).toBe('1\n');
  });

  it("renders the run's commands with the run's own vars, and refuses a var that differs", () => {
    const other = join(dir, 'etc-other');
    rmSync(other, { recursive: true, force: true });
    mkdirSync(other);
    writeFileSync(join(other, 'conf'), ORIGINAL);
    symlinkSync('conf', join(other, 'link'));
    writeFileSync(join(other, 'state'), '0\n');
    const r = run(['apply', rbFile, '--yes', '--json', '--var', `dir=${other}`]);
    expect(r.code, r.stderr).toBe(0);
    const runId = JSON.parse(r.stdout.split('\n')[0]!).runId as string;
    expect(run(['undo', 'last', '--dry-run', '--var', 'dir=/elsewhere']).stderr).toBe(`var dir differs from run ${runId}'s (undo repeats the run's vars: leave it out)`);
    const undo = run(['undo', 'last', '--yes', '--json']);
    expect(results(undo.stdout).slice(1)).toEqual(['undo: state is one: fixed', 'undo: file is set: fixed']);
    expect(readFileSync(join(other, 'conf'), 'utf8')).toBe(ORIGINAL);
  });

  it('refuses a host whose file changed since the fix, changing nothing there', () => {
    applied();
    writeFileSync(join(etc, 'conf'), 'a = 2\nforward = 1\n');
    const undo = run(['undo', 'last', '--yes', '--json']);
    expect(results(undo.stdout)[2]).toMatch(
      /^undo: file is set: failed \(refused: exit code 3: \S+\/etc\/link: changed since the fix \(sha256 now [0-9a-f]{12}\), so it is not undone; nothing was changed\)$/,
    );
    expect(file().content).toBe('a = 2\nforward = 1\n');
  });

  it('refuses an edited trail before anything is sent', () => {
    const runId = applied();
    const text = readFileSync(audit, 'utf8');
    writeFileSync(audit, text.replace(/"after":"[0-9a-f]{64}"/, '"after":"x;touch${IFS}/tmp/pwned;#"'));
    const r = run(['undo', runId, '--dry-run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^${audit}: the audit trail is damaged \\(line \\d+: record #\\d+ was edited: its content does not match its hash\\): undo acts on what it recorded, so nothing was sent \\(\`runbook audit verify\` shows every problem\\)$`));
  });

  it('refuses content edited in the capture store, or missing from it', () => {
    applied();
    const captures = join(audit, '..', 'captures');
    writeFileSync(join(captures, createHash('sha256').update(ORIGINAL).digest('hex')), 'edited in the store\n');
    let undo = run(['undo', 'last', '--yes', '--json']);
    expect(results(undo.stdout)[2]).toMatch(/^undo: file is set: failed \(refused: exit code 3: \S+\/etc\/link: its content before the fix \(sha256 [0-9a-f]{12}\) is not in the capture store; nothing was changed\)$/);
    rmSync(captures, { recursive: true });
    undo = run(['undo', 'last', '--yes', '--json']);
    expect(results(undo.stdout)[1]).toMatch(/^undo: state is one: failed \(refused: exit code 3: cat \S+\/etc\/state: its output before the fix \(sha256 [0-9a-f]{12}\) is not in the capture store; nothing was changed\)$/);
    expect(file().content).toBe('a = 1\nforward = 1\n');
  });

  it('refuses before connecting: a dry run, a run that fixed nothing, a changed runbook, hosts it did not fix', () => {
    expect(run(['undo', 'last']).stderr).toBe(`no apply run (other than an undo) in ${audit} (run \`runbook history\` to list runs)`);
    const dry = run(['apply', rbFile, '--dry-run', '--json']);
    const dryId = JSON.parse(dry.stdout.split('\n')[0]!).runId as string;
    expect(run(['undo', dryId])).toMatchObject({ code: 2, stderr: `run ${dryId} was a dry run: it changed nothing, so there is nothing to undo (see \`runbook history\` for the applies)` });
    const runId = applied();
    const nothing = run(['apply', rbFile, '--yes', '--json']);
    const nothingId = JSON.parse(nothing.stdout.split('\n')[0]!).runId as string;
    expect(run(['undo', nothingId]).stderr).toBe(`run ${nothingId} fixed nothing: there is nothing to undo (\`runbook history ${nothingId}\` shows what it did)`);
    expect(run(['undo', runId, '--hosts', 'zzz', '--dry-run']).stderr).toBe(`host pattern "zzz" matches no host or group in ${inv} (run \`runbook inventory\` to see the hosts and groups)`);
    writeFileSync(inv, 'hosts:\n  a: { connection: local }\n  b: { connection: local }\n');
    expect(run(['undo', runId, '--hosts', 'b', '--dry-run']).stderr).toBe(`run ${runId} fixed nothing on the hosts "b" selects (it fixed a) (pass --hosts with one of those, or leave it out)`);
    writeFileSync(rbFile, `${RUNBOOK}# edited\n`);
    expect(run(['undo', runId, '--dry-run']).stderr).toMatch(
      new RegExp(`^runbook t \\(${rbFile}\\) changed since run ${runId} \\(sha256 [0-9a-f]{12} now, [0-9a-f]{12} then\\): undo needs the runbook the run used \\(restore the version the run used from version control, then undo again\\)$`),
    );
  });
});
