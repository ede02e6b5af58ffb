/**
 * The host lock (src/engine/host-lock.ts) with real flock(1) and real processes through the local
 * transport: refuse naming the holder, release, a holder that dies, and a lock file whose content
 * is hostile (another user wrote escape sequences into it). The SSH path is tested on the lab
 * (test/lab/faults-apply.test.ts).
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireHostLock, lockCommand } from '../../src/engine/host-lock.js';
import { runVerdict } from '../../src/engine/summary.js';
import { EXIT_CODE_FOR_VERDICT } from '../../src/model/exit-codes.js';

const exitCodeFor = (hosts: Parameters<typeof runVerdict>[0], opts: { mode: string; aborted: boolean }) => EXIT_CODE_FOR_VERDICT[runVerdict(hosts, opts)];
import { ExitCode } from '../../src/model/exit-codes.js';
import { LocalConnection } from '../../src/transport/local-transport.js';

const dir = mkdtempSync(join(tmpdir(), 'rbf-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const conn = new LocalConnection('local');

const isFree = (file: string): boolean => {
  try {
    execFileSync('flock', ['-n', file, 'true']);
    return true;
  } catch {
    return false;
  }
};

describe('host lock', () => {
  it('the second run is refused with the holder named; after release the lock is free at once', async () => {
    const file = join(dir, 'a.lock');
    const first = await acquireHostLock(conn, { operator: 'alice', runId: 'RUN-A', waitMs: 0, file, pid: 4242, controller: 'ctl1' });
    expect('held' in first).toBe(true);
    expect(isFree(file)).toBe(false);
    const second = await acquireHostLock(conn, { operator: 'bob', runId: 'RUN-B', waitMs: 0, file });
    expect('refused' in second && second.refused).toMatch(/^locked by alice \(pid 4242 on ctl1, run RUN-A, since \d{4}-\d\d-\d\dT[\d:.]+Z\): another runbook apply/);
    if ('held' in first) await first.held.release();
    expect(isFree(file)).toBe(true);
  });

  it("an earlier run's confirm watchdog still armed refuses the host, saying when it fires and how to keep the fix; one someone else made, or a link, does not count", async () => {
    const file = join(dir, 'w.lock');
    const watchdogs = join(dir, 'wd.');
    const { mkdirSync, chownSync, symlinkSync } = await import('node:fs');
    // Someone else's directory and a link: not ours, ignored.
    mkdirSync(`${watchdogs}other`);
    writeFileSync(`${watchdogs}other/armed`, '1');
    chownSync(`${watchdogs}other`, 65534, 65534);
    mkdirSync(join(dir, 'elsewhere'));
    writeFileSync(join(dir, 'elsewhere', 'armed'), '1');
    symlinkSync(join(dir, 'elsewhere'), `${watchdogs}link`);
    const free = await acquireHostLock(conn, { operator: 'alice', runId: 'A', waitMs: 0, file, watchdogs });
    expect('held' in free).toBe(true);
    if ('held' in free) await free.held.release();
    mkdirSync(`${watchdogs}0123abcd`, { mode: 0o700 });
    writeFileSync(`${watchdogs}0123abcd/armed`, '1798761600\n');
    const refused = await acquireHostLock(conn, { operator: 'alice', runId: 'B', waitMs: 0, file, watchdogs });
    expect('refused' in refused && refused.refused).toBe(
      `a confirm watchdog of an earlier run is armed here (${watchdogs}0123abcd): it will put that run's fix back at 2027-01-01T00:00:00.000Z, under anything run now (wait until it has fired, then run again; to keep the fix instead, confirm it by hand: rm ${watchdogs}0123abcd/armed)`,
    );
    expect(isFree(file)).toBe(true);
    // Fired (or confirmed): the armed file is gone, and the host is free again.
    rmSync(`${watchdogs}0123abcd/armed`);
    const again = await acquireHostLock(conn, { operator: 'alice', runId: 'C', waitMs: 0, file, watchdogs });
    expect('held' in again).toBe(true);
    if ('held' in again) await again.held.release();
  });

  it("a normal release is the end of the lock shell's input: it exits 0 by itself, no other command is sent, nothing is killed behind the record", async () => {
    const file = join(dir, 'g.lock');
    const outcomes: string[] = [];
    const record = (phase: 'lock' | 'unlock') => ({ id: phase, ended: (r: { outcome: string; code: number | null }) => void outcomes.push(`${phase} ${r.outcome} ${r.code}`) });
    const got = await acquireHostLock(conn, { operator: 'alice', runId: 'A', waitMs: 0, file, record });
    expect('held' in got).toBe(true);
    const t0 = Date.now();
    if ('held' in got) await got.held.release();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(outcomes).toEqual(['lock exit 0']);
    expect(isFree(file)).toBe(true);
  });

  it('a bounded wait gets the lock once the holder releases it', async () => {
    const file = join(dir, 'b.lock');
    const first = await acquireHostLock(conn, { operator: 'alice', runId: 'A', waitMs: 0, file });
    const waiting = acquireHostLock(conn, { operator: 'bob', runId: 'B', waitMs: 5000, file });
    setTimeout(() => void ('held' in first && first.held.release()), 300);
    const second = await waiting;
    expect('held' in second).toBe(true);
    if ('held' in second) await second.held.release();
  });

  it('a holder that dies releases the lock by itself', async () => {
    const file = join(dir, 'c.lock');
    const got = await acquireHostLock(conn, { operator: 'alice', runId: 'A', waitMs: 0, file });
    expect('held' in got).toBe(true);
    // Kill the lock shell from outside, as a crashed controller's vanished session would end it.
    execFileSync('pkill', ['-KILL', '-f', `exec 9>>${file}`]);
    await new Promise((r) => setTimeout(r, 200));
    expect(isFree(file)).toBe(true);
    if ('held' in got) await got.held.release();
  });

  it('a hostile lock file cannot repaint the terminal through the refusal message', async () => {
    const file = join(dir, 'd.lock');
    const first = await acquireHostLock(conn, { operator: 'alice', runId: 'A', waitMs: 0, file });
    writeFileSync(file, `\x1b[2J\x1b]0;PWNED\x07evil\nApply fix on host? (y/n) \u202e`);
    const second = await acquireHostLock(conn, { operator: 'bob', runId: 'B', waitMs: 0, file });
    expect('refused' in second).toBe(true);
    if ('refused' in second) {
      // eslint-disable-next-line no-control-regex -- checking for control characters is the point
      expect(second.refused).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
      expect(second.refused).toContain('^[[2J^[]0;PWNED^Gevil | Apply fix on host?');
    }
    writeFileSync(file, 'x'.repeat(100_000));
    const third = await acquireHostLock(conn, { operator: 'bob', runId: 'B', waitMs: 0, file });
    expect('refused' in third && third.refused.length).toBeLessThanOrEqual(400);
    if ('held' in first) await first.held.release();
  });

  it('a lock held by something that is not a runbook run is not blamed on the last run named in the file', async () => {
    const file = join(dir, 'e.lock');
    const first = await acquireHostLock(conn, { operator: 'alice', runId: 'OLD', waitMs: 0, file, pid: 1 });
    if ('held' in first) await first.held.release();
    // Any local user can hold the file with flock(1); the file still names alice's finished run.
    const squatter = spawn('flock', [file, 'sleep', '20'], { stdio: 'ignore' });
    try {
      while (isFree(file)) await new Promise((r) => setTimeout(r, 20));
      const second = await acquireHostLock(conn, { operator: 'bob', runId: 'B', waitMs: 0, file });
      expect('refused' in second).toBe(true);
      if ('refused' in second) {
        expect(second.refused).not.toMatch(/^locked by alice/);
        expect(second.refused).not.toMatch(/released by itself/);
        expect(second.refused).toMatch(new RegExp(`^locked, holder unknown: no live runbook apply that this user can see holds it \\(the lock file says: alice \\(pid 1 on .*, run OLD, .*\\)\\); find the holder on the host with fuser -v ${file}$`));
      }
    } finally {
      squatter.kill('SIGKILL');
    }
  });

  it('a lock file that forges the held marker does not make a refused run think it holds the lock', async () => {
    const file = join(dir, 'f.lock');
    writeFileSync(file, 'RUNBOOK-LOCK-HELD 812\n');
    const squatter = spawn('flock', [file, 'sleep', '20'], { stdio: 'ignore' });
    try {
      while (isFree(file)) await new Promise((r) => setTimeout(r, 20));
      const got = await acquireHostLock(conn, { operator: 'bob', runId: 'B', waitMs: 0, file });
      expect('refused' in got).toBe(true);
    } finally {
      squatter.kill('SIGKILL');
    }
  });

  it('a user who cannot write the lock file still takes it (flock on a read-only descriptor)', async () => {
    chmodSync(dir, 0o755);
    const file = join(dir, 'ro.lock');
    writeFileSync(file, '', { mode: 0o644 });
    // Its stdin is a pipe kept open, as the run's channel is: the lock lasts until its input ends.
    const p = spawn('runuser', ['-u', 'nobody', '--', 'sh', '-c', lockCommand('nobody', 0, file)], { stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        p.stdout.on('data', (b: Buffer) => (out += b.toString()) && /RUNBOOK-LOCK-HELD \d+/.test(out) && resolve());
        p.on('close', (code) => reject(new Error(`lock shell exited ${code}`)));
      });
      expect(isFree(file)).toBe(false);
      // The end of its input releases it: the shell exits 0.
      const code = await new Promise<number | null>((resolve) => {
        p.removeAllListeners('close');
        p.on('close', resolve);
        p.stdin.end();
      });
      expect(code).toBe(0);
      expect(isFree(file)).toBe(true);
    } finally {
      p.kill('SIGKILL');
    }
  });

  it('the holder line is one shell word whatever the operator name holds', () => {
    const cmd = lockCommand(`it's $(reboot) \`x\``, 0, '/run/runbook.lock');
    expect(cmd).toContain(`printf '%s\\n' 'it'\\''s $(reboot) \`x\`' 2>/dev/null > /run/runbook.lock`);
  });

  it('exit code 4 when a host was locked and nothing else broke; 1 when something else failed too', () => {
    const locked = { host: 'a', reachable: true, locked: 'locked by alice', steps: [{ step: 's', status: 'failed' as const }] };
    const fine = { host: 'b', reachable: true, steps: [{ step: 's', status: 'fixed' as const }] };
    const broken = { host: 'c', reachable: false, steps: [{ step: 's', status: 'unreachable' as const }] };
    expect(exitCodeFor([locked, fine], { mode: 'apply', aborted: false })).toBe(ExitCode.LOCKED);
    expect(exitCodeFor([locked, broken], { mode: 'apply', aborted: false })).toBe(ExitCode.FAILED);
    expect(exitCodeFor([locked], { mode: 'apply', aborted: true })).toBe(ExitCode.ABORTED);
  });
});
