/**
 * confirm: on a host reached through the local transport (the connection never breaks here; the
 * lab test test/lab/confirm.test.ts cuts it): a fix whose verify passes is confirmed and stays, one
 * whose verify fails or that times out is put back at once, and no watchdog is left behind.
 */
import { spawnSync } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const bin = resolve('bin/runbook.js');
const dir = mkdtempSync(join(tmpdir(), 'rb-confirm-'));
const etc = join(dir, 'etc');
/** The watchdogs' directories the controller names on the host (here: this machine's /tmp). */
const watchdogs = (): string[] => readdirSync('/tmp').filter((n) => n.startsWith('runbook-confirm.'));

describe('confirm', () => {
  it('confirms a fix whose verify passes; reverts one whose verify fails or that times out', () => {
    mkdirSync(etc, { recursive: true });
    const before = watchdogs();
    for (const f of ['a', 'b', 'c']) writeFileSync(join(etc, f), 'v = 0\n');
    const step = (name: string, fix: string, extra = '') =>
      `  - name: ${name}\n    check: grep -q 'v = 1' {{ dir }}/${name}\n    fix: ${fix}\n    files: ['{{ dir }}/${name}']\n    confirm: 10s\n    continue_on_failure: true\n${extra}`;
    writeFileSync(
      join(dir, 't.yaml'),
      `name: t\nvars:\n  dir: ${etc}\nsteps:\n${step('a', "sed -i 's/0/1/' {{ dir }}/a")}${step('b', "sed -i 's/0/2/' {{ dir }}/b")}${step('c', "sed -i 's/0/1/' {{ dir }}/c; sleep 30", '    timeout: 2s\n')}`,
    );
    writeFileSync(join(dir, 'inv.yaml'), 'hosts:\n  h: { connection: local }\n');
    const r = spawnSync('node', [bin, 'apply', join(dir, 't.yaml'), '-i', join(dir, 'inv.yaml'), '--yes'], {
      encoding: 'utf8',
      env: { ...process.env, RUNBOOK_AUDIT_FILE: join(dir, 'state', 'audit.jsonl'), CI: '1' },
    });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/h: a: fixed\n/);
    expect(r.stdout).toContain('h: b: failed (verify after fix: exit code 1; reverted on the host)');
    expect(r.stdout).toContain('h: c: failed (fix: timed out after 2000 ms; the command was stopped and may have done part of its work; reverted on the host)');
    expect(['a', 'b', 'c'].map((f) => readFileSync(join(etc, f), 'utf8'))).toEqual(['v = 1\n', 'v = 0\n', 'v = 0\n']);
    // Confirmed or reverted, each watchdog is gone: nothing fires later.
    expect(watchdogs().filter((n) => !before.includes(n))).toEqual([]);
  });

  it('an interrupted armed fix is put back at once, not left for the watchdog to do later', async () => {
    writeFileSync(join(etc, 'slow'), 'v = 0\n');
    writeFileSync(
      join(dir, 'slow.yaml'),
      `name: slow\nsteps:\n  - name: slow\n    check: grep -q 'v = 1' ${etc}/slow\n    fix: sed -i 's/0/1/' ${etc}/slow; sleep 30\n    files: [${etc}/slow]\n    confirm: 60s\n`,
    );
    const before = watchdogs();
    const child = spawn('node', [bin, 'apply', join(dir, 'slow.yaml'), '-i', join(dir, 'inv.yaml'), '--yes', '--drain-grace', '1'], {
      env: { ...process.env, RUNBOOK_AUDIT_FILE: join(dir, 'state', 'audit.jsonl'), CI: '1' },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    for (let i = 0; i < 100 && readFileSync(join(etc, 'slow'), 'utf8') !== 'v = 1\n'; i++) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(130);
    expect(out).toMatch(/h: slow: interrupted \(fix: interrupted[^)]*; reverted on the host\)/);
    expect(readFileSync(join(etc, 'slow'), 'utf8')).toBe('v = 0\n');
    expect(watchdogs().filter((n) => !before.includes(n))).toEqual([]);
  });
});
