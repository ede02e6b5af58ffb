/**
 * Lab profile non-root: every node is reached as `ops`, an unprivileged user with
 * passwordless sudo as a cloud image's default user has; root login is refused; ops's PATH is the
 * one sshd gives a non-root login (no /usr/sbin, no /sbin). Everything is shown from outside: real
 * ssh with the lab's key, the real CLI, and the node's own state read as root through the lab
 * (nsenter, no SSH).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { labBreak, labDown, labExec, labHeal, labProbe, labUp, type LabInfo } from '../../src/lab/index.js';
import { labSshArgs } from '../../src/lab/ssh.js';

const LAB = 'tnr';
const BIN = resolve('bin/runbook.js');
const RUNBOOKS = resolve('runbooks');
/** What OpenSSH on Debian gives a non-root login (--with-default-path); root gets the sbin dirs too. */
const USER_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/games';

let info: LabInfo;
let scratch: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'rb-tnr-'));
  info = await labUp({ name: LAB, profiles: ['non-root'] });
});
afterAll(async () => {
  await labDown(LAB);
  rmSync(scratch, { recursive: true, force: true });
});
afterEach(async () => {
  await labHeal(LAB);
});

/** Real ssh, as `runbook lab ssh` runs it (the lab's key, strict host keys), as `user`. */
function ssh(node: string, user: string, command: string): { code: number | null; stdout: string; stderr: string } {
  const args = labSshArgs(LAB, node);
  const dest = args.pop()!.replace(/^[^@]+@/, `${user}@`);
  const r = spawnSync('ssh', ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', ...args, dest, command], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
}

async function asRoot(node: string, cmd: string): Promise<string> {
  const r = await labExec(LAB, node, cmd, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${node}: ${cmd}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

interface Applied {
  code: number | null;
  events: { type: string; host?: string; step?: string; status?: string; reason?: string; checkOutput?: string }[];
  out: string;
}

function runArgs(runbook: string, hosts: string, args: string[], inventory = info.inventory, runbooks = RUNBOOKS): string[] {
  return [BIN, 'apply', runbook, '--hosts', hosts, '-i', inventory, '--runbooks', runbooks, '--json', ...args];
}
const ENV = (): NodeJS.ProcessEnv => ({ ...process.env, RUNBOOK_AUDIT_FILE: join(scratch, 'audit.jsonl'), CI: '1' });

function parseRun(code: number | null, stdout: string, stderr: string): Applied {
  const events = stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Applied['events'][number]);
  const steps = events.filter((e) => e.type === 'step-result').map((e) => `${e.host}: ${e.step}: ${e.status}${e.reason ? ` (${e.reason})` : ''}`);
  return { code, events, out: `exit ${code}\n${steps.join('\n')}\n${stderr}` };
}

/** `runbook apply` through the real CLI; retried while the previous run's lock lingers (until sshd has closed its connection). */
function apply(runbook: string, hosts: string, args: string[], inventory?: string, runbooks?: string): Applied {
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync('node', runArgs(runbook, hosts, args, inventory, runbooks), { encoding: 'utf8', env: ENV(), input: '', timeout: 170_000 });
    if (r.status !== 4 || attempt === 5) return parseRun(r.status, r.stdout, r.stderr);
    spawnSync('sleep', ['1']);
  }
}

const stepResults = (a: Applied, host: string): Applied['events'] => a.events.filter((e) => e.type === 'step-result' && e.host === host);

/** Exit 0 and nothing found: every step ok (a `once` step is not-applicable on the hosts it did not run on). */
function expectAllOk(a: Applied): void {
  expect(a.code, a.out).toBe(0);
  const steps = a.events.filter((e) => e.type === 'step-result');
  expect(steps.filter((e) => e.status === 'ok').length, a.out).toBeGreaterThan(0);
  expect(steps.filter((e) => e.status !== 'ok' && e.status !== 'not-applicable').map((e) => `${e.host}: ${e.step}: ${e.status}`), a.out).toEqual([]);
}

async function probeOk(timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await labProbe(LAB);
    if (r.ok) return true;
    if (Date.now() > deadline) return false;
    await new Promise((res) => setTimeout(res, 500));
  }
}

/** A scratch runbook dir holding `name`.yaml. */
function scratchRunbook(name: string, yaml: string): string {
  const dir = join(scratch, `rb-${name}`);
  spawnSync('mkdir', ['-p', dir]);
  writeFileSync(join(dir, `${name}.yaml`), yaml);
  return dir;
}

describe('lab profile non-root', () => {
  it('writes an inventory that logs in as ops and becomes root through sudo', () => {
    const inv = parse(readFileSync(info.inventory, 'utf8')) as { defaults: Record<string, unknown> };
    expect(inv.defaults).toMatchObject({ user: 'ops', become: true });
    expect(inv.defaults).not.toHaveProperty('become_password');
    expect(info.profiles).toEqual(['non-root']);
  });

  it('refuses root over ssh, with a key root has: PermitRootLogin no, as sshd logs it', async () => {
    const r = ssh('d', 'root', 'id -u');
    expect(r.code, r.stderr).toBe(255);
    expect(r.stderr).toMatch(/Permission denied/);
    // The key is in /root/.ssh/authorized_keys: it is the sshd config that refuses, not a missing key.
    expect(await asRoot('d', 'cat /root/.ssh/authorized_keys')).toBe(readFileSync(`${join(info.stateDir, 'id_ed25519')}.pub`, 'utf8').trim());
    expect(await asRoot('d', 'grep -c "ROOT LOGIN REFUSED FROM" /run/lab/log/ssh.log')).not.toBe('0');
  });

  it('logs ops in (as `runbook lab ssh` does), with a home holding only its key and a PATH without sbin', async () => {
    const lab = spawnSync('node', [BIN, 'lab', 'ssh', '--name', LAB, 'd', 'id -un; id -u'], { encoding: 'utf8', input: '', timeout: 30_000 });
    expect(lab.status, lab.stderr).toBe(0);
    expect(lab.stdout.trim().split('\n')).toEqual(['ops', '1000']);

    const r = ssh('d', 'ops', 'echo "$HOME"; echo "$PATH"; cd && find . -mindepth 1 | sort');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['/home/ops', USER_PATH, './.ssh', './.ssh/authorized_keys']);
    // The node's own accounts: ops is uid 1000 there whatever the host has; the sudoers rule is cloud-init's.
    expect(await asRoot('d', 'getent passwd ops; stat -c "%U %a" /home/ops/.ssh/authorized_keys /etc/sudoers.d/90-cloud-init-users')).toBe(
      ['ops:x:1000:1000::/home/ops:/bin/bash', 'ops 600', 'root 440'].join('\n'),
    );
  });

  it('puts sysctl and iptables only on root\'s PATH: ops finds them through sudo, not without it', () => {
    const r = ssh('d', 'ops', 'for t in sysctl iptables-save; do command -v $t || echo "no $t"; done; echo ==; sudo -n sh -c "id -u; command -v sysctl; command -v iptables-save"');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['no sysctl', 'no iptables-save', '==', '0', '/usr/sbin/sysctl', '/usr/sbin/iptables-save']);
  });

  it("a step that works only on root's PATH fails without become (needs sysctl on d) and passes with it", () => {
    const dir = scratchRunbook('tnr-path', ['steps:', '  - name: ip_forward is on', '    needs: [sysctl]', '    check: test "$(sysctl -n net.ipv4.ip_forward)" = 1', ''].join('\n'));
    const noBecome = join(scratch, 'inventory-no-become.yaml');
    writeFileSync(noBecome, readFileSync(info.inventory, 'utf8').replace(/^ {2}become: true$/m, '  become: false').replace(/^(\s+)(identity_file|known_hosts): (\S+)$/gm, (_m, sp: string, k: string, v: string) => `${sp}${k}: ${join(info.stateDir, v)}`));
    const without = apply('tnr-path', 'd', ['--dry-run'], noBecome, dir);
    expect(without.code, without.out).toBe(1);
    expect(stepResults(without, 'd').map((e) => e.reason ?? ''), without.out).toEqual([expect.stringMatching(/needs sysctl on d/)]);
    expectAllOk(apply('tnr-path', 'd', ['--dry-run'], undefined, dir));
  });

  it('fix-forwarding repairs ip-forward-off on d through become: the probe passes again', async () => {
    await labBreak(LAB, 'ip-forward-off', 'd');
    expect((await labProbe(LAB)).ok).toBe(false);
    const fixed = apply('fix-forwarding', 'd', ['--yes']);
    expect(fixed.code, fixed.out).toBe(0);
    expect(stepResults(fixed, 'd').some((e) => e.status === 'fixed'), fixed.out).toBe(true);
    expect(await asRoot('d', 'sysctl -n net.ipv4.ip_forward')).toBe('1');
    expect(await probeOk()).toBe(true);
    expectAllOk(apply('fix-forwarding', 'd', ['--yes']));

    // The audit trail records the fixes that ran (as root: ops cannot write ip_forward), and its chain verifies.
    const records = readFileSync(join(scratch, 'audit.jsonl'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    const fixes = records.filter((r) => r.kind === 'command' && r.host === 'd' && r.runbook === 'fix-forwarding' && r.phase === 'fix');
    expect(fixes.length).toBeGreaterThan(0);
    expect(fixes.map((r) => [r.outcome, r.exitCode])).toEqual(fixes.map(() => ['exit', 0]));
    const verify = spawnSync('node', [BIN, 'audit', 'verify', join(scratch, 'audit.jsonl')], { encoding: 'utf8' });
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
  });

  it('takes the host lock as root through sudo, and a second non-root run is refused while it is held', async () => {
    const dir = scratchRunbook('tnr-slow', ['steps:', '  - name: hold the host', '    check: sleep 6', ''].join('\n'));
    // The lock file outlives its lock (flock, not existence, is the lock), so an earlier test's run
    // still names itself there: remove it, or the wait below ends before this run holds the lock.
    await asRoot('d', 'rm -f /run/runbook.lock');
    const first = spawn('node', runArgs('tnr-slow', 'd', ['--yes'], info.inventory, dir), { env: ENV(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out1 = '';
    first.stdout.on('data', (c: Buffer) => (out1 += c.toString()));
    const done = new Promise<number | null>((res) => first.on('exit', (code) => res(code)));
    // Held: the lock file names the run, and ops could not have written it in root's /run.
    const deadline = Date.now() + 20_000;
    let holder = '';
    while (Date.now() < deadline) {
      holder = (await labExec(LAB, 'd', 'cat /run/runbook.lock 2>/dev/null')).stdout;
      if (/\(pid \d+ on .*run /.test(holder)) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    expect(holder).toMatch(/\(pid \d+ on .*run /);
    expect(await asRoot('d', 'stat -c "%U %a" /run /run/runbook.lock')).toBe('root 755\nroot 644');
    const second = parseRun(...((): [number | null, string, string] => {
      const r = spawnSync('node', runArgs('tnr-slow', 'd', ['--yes'], info.inventory, dir), { encoding: 'utf8', env: ENV(), input: '', timeout: 60_000 });
      return [r.status, r.stdout, r.stderr];
    })());
    expect(second.code, second.out).toBe(4);
    expect(stepResults(second, 'd')[0]?.reason ?? '', second.out).toMatch(/locked by /);
    expect(await done, out1).toBe(0);
  });

  it('diagnose-pod-network on the healthy non-root fleet is all ok', async () => {
    expect(await probeOk()).toBe(true);
    expectAllOk(apply('diagnose-pod-network', 'workers', ['--yes']));
  });

  it("keeps the lab's own root access (nsenter, no SSH)", async () => {
    expect(await asRoot('d', 'id -u; systemctl is-active ssh')).toBe('0\nactive');
  });
});
