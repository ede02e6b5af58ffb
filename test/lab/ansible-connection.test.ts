/**
 * The honoured ansible_* connection variables (docs/formats.md) change how runbook connects, proven
 * against real sshd: each test runs the CLI on an Ansible INI inventory with the variable and
 * without it, and reads from the host itself (its addresses, the uid the check ran as) where the
 * command ran. The client has a clean home and no agent, so nothing but the inventory can help.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BECOME_PASSWORD, startSshdLab, type SshdLab } from '../fixtures/sshd-fixture.js';

const SUBNET = '198.18.254';
const IP = { p1: `${SUBNET}.11`, bast: `${SUBNET}.20`, in1: '198.18.251.11' };
const PORT = 2222;

let lab: SshdLab;
let home: string;
let work: string;

beforeAll(() => {
  lab = startSshdLab(
    [
      { name: 'p1', ip: IP.p1, port: PORT },
      { name: 'bast', ip: IP.bast, bastion: true },
      { name: 'in1', ip: IP.in1, inner: true },
    ],
    { prefix: 'rba', subnet: SUBNET },
  );
  home = join(lab.dir, 'client-home');
  work = join(lab.dir, 'work');
  mkdirSync(home);
  mkdirSync(join(work, 'keys'), { recursive: true });
  copyFileSync(lab.clientKey, join(work, 'keys', 'client_key'));
  // known_hosts is keyed by address; sshd on a port other than 22 is recorded as [addr]:port.
  writeFileSync(join(work, 'known_hosts'), [`[${IP.p1}]:${PORT} ${lab.knownHostsLine('p1').split(' ').slice(1).join(' ')}`, lab.knownHostsLine('bast'), lab.knownHostsLine('in1'), ''].join('\n'));
  writeFileSync(
    join(work, 'whoami.yaml'),
    [
      'name: whoami',
      'description: Where the check ran and as whom',
      'steps:',
      '  - name: identify',
      '    check: echo "uid=$(id -u) addrs=$(hostname -I)"',
      '    fix: "true"',
      '',
    ].join('\n'),
  );
}, 120_000);

afterAll(() => lab?.stop());

interface Seen {
  code: number;
  stderr: string;
  /** The check's output per host that connected. */
  output: Map<string, string>;
  /** host-connect errors per host that did not. */
  connectError: Map<string, string>;
}

/** `runbook apply whoami --dry-run --json` on an INI inventory with these host lines. */
function run(hostLines: string[], extraVars: string[] = []): Seen {
  const inv = join(work, 'hosts.ini');
  const kh = `-o UserKnownHostsFile=${join(work, 'known_hosts')}`;
  writeFileSync(inv, ['[all:vars]', 'ansible_user=root', `ansible_ssh_extra_args='${kh}'`, ...extraVars, '', '[nodes]', ...hostLines, ''].join('\n'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_STATE_HOME: join(home, 'state') };
  delete env.SSH_AUTH_SOCK;
  delete env.RUNBOOK_INVENTORY;
  const r = spawnSync('node', ['bin/runbook.js', 'apply', join(work, 'whoami.yaml'), '-i', inv, '--dry-run', '--json', '--connect-timeout', '3'], { encoding: 'utf8', env, timeout: 60_000 });
  const seen: Seen = { code: r.status ?? -1, stderr: r.stderr, output: new Map(), connectError: new Map() };
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const e = JSON.parse(line) as { type: string; host?: string; ok?: boolean; error?: string; phase?: string; output?: { tail: string } };
    if (e.type === 'command' && e.phase === 'check' && e.host) seen.output.set(e.host, e.output?.tail.trim() ?? '');
    if (e.type === 'host-connect' && e.ok === false && e.host) seen.connectError.set(e.host, e.error ?? '');
  }
  return seen;
}

const KEY = 'ansible_ssh_private_key_file=keys/client_key';

describe('ansible_port', () => {
  it('connects to the port it names', () => {
    const r = run([`p1 ansible_host=${IP.p1} ansible_port=${PORT} ${KEY}`]);
    expect(r.stderr).toBe('');
    expect(r.output.get('p1')).toBe(`uid=0 addrs=${IP.p1}`);
  });

  it('control: without it runbook tries 22, where nothing listens', () => {
    const r = run([`p1 ansible_host=${IP.p1} ${KEY}`]);
    expect(r.output.has('p1')).toBe(false);
    expect(r.connectError.get('p1')).toMatch(/refused/i);
  });
});

describe('ansible_ssh_private_key_file', () => {
  it('logs in with the key it names, relative to the inventory', () => {
    const r = run([`p1 ansible_host=${IP.p1} ansible_port=${PORT} ${KEY}`]);
    expect(r.output.get('p1')).toMatch(/^uid=0 /);
  });

  it('control: without it there is no key and no agent, so login fails', () => {
    const r = run([`p1 ansible_host=${IP.p1} ansible_port=${PORT}`]);
    expect(r.output.has('p1')).toBe(false);
    expect(r.connectError.get('p1')).toMatch(/auth|key/i);
  });
});

describe('ansible_ssh_common_args with -o ProxyJump', () => {
  it('reaches an inner host through the bastion named in it (an inventory host)', () => {
    const r = run([`in1 ansible_host=${IP.in1} ${KEY} ansible_ssh_common_args='-o ProxyJump=bast'`, `bast ansible_host=${IP.bast} ${KEY}`]);
    expect(r.stderr).toBe('');
    expect(r.output.get('in1')).toBe(`uid=0 addrs=${IP.in1}`);
    expect(r.output.get('bast')).toMatch(new RegExp(`addrs=.*${IP.bast.replace(/\./g, '\\.')}`));
  });

  it('control: without it the inner host is unreachable', () => {
    const r = run([`in1 ansible_host=${IP.in1} ${KEY}`]);
    expect(r.output.has('in1')).toBe(false);
    // The message depends on where this machine routes the inner subnet; it never reaches in1.
    expect(r.connectError.has('in1')).toBe(true);
  });
});

describe('ansible_become with ansible_become_password', () => {
  const login = `p1 ansible_host=${IP.p1} ansible_port=${PORT} ${KEY} ansible_user=rbtpw`;

  it('runs the check as root through sudo, logged in as a user whose sudo needs the password', () => {
    const r = run([`${login} ansible_become=true ansible_become_user=root ansible_become_password=${BECOME_PASSWORD}`]);
    expect(r.stderr).toBe('');
    expect(r.output.get('p1')).toBe(`uid=0 addrs=${IP.p1}`);
  });

  it('control: without it the check runs as the login user', () => {
    const r = run([login]);
    expect(r.output.get('p1')).toMatch(/^uid=[1-9][0-9]* /);
  });

  it('a become user other than root is refused on its line, before anything connects', () => {
    const r = run([`${login} ansible_become=true ansible_become_user=postgres`]);
    expect(r.output.size).toBe(0);
    expect(r.connectError.size).toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/hosts\.ini:\d+:\d+: .*ansible_become_user "postgres" is not supported/);
  });
});
