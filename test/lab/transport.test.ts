/**
 * The SSH transport against real sshd in rbt-* network namespaces (test/fixtures/sshd-fixture.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BECOME_PASSWORD, KEY_PASSPHRASE, startAgent, startSshdLab, type SshdLab } from '../fixtures/sshd-fixture.js';
import { ConnectError, createTransport, type ConnectTarget, type CreateTransportOptions, type Transport } from '../../src/transport/index.js';

const IP = { t1: '198.18.250.11', t2: '198.18.250.12', kil: '198.18.250.13', bast: '198.18.250.20', in1: '198.18.251.11', in2: '198.18.251.12', hole: '198.18.250.99' };

let lab: SshdLab;
let home: string; // an empty "~" for the transport: no default keys, no ~/.ssh/known_hosts
let kh: string; // known_hosts with every node's real key
const transports: Transport[] = [];

beforeAll(() => {
  lab = startSshdLab([
    { name: 't1', ip: IP.t1 },
    { name: 't2', ip: IP.t2 },
    { name: 'kil', ip: IP.kil },
    { name: 'bast', ip: IP.bast, bastion: true },
    { name: 'in1', ip: IP.in1, inner: true },
    { name: 'in2', ip: IP.in2, inner: true },
    { name: 'hole', ip: IP.hole, blackhole: true },
  ]);
  home = join(lab.dir, 'client-home');
  mkdirSync(home);
  kh = lab.writeKnownHosts(join(lab.dir, 'known_hosts'), ['t1', 't2', 'kil', 'bast', 'in1', 'in2']);
});

afterAll(async () => {
  try {
    await Promise.all(transports.map((t) => t.closeAll()));
  } finally {
    lab?.stop();
  }
});

function transport(opts: CreateTransportOptions = {}): Transport {
  const t = createTransport({ agent: '', homeDir: home, connectTimeoutMs: 5000, ...opts });
  transports.push(t);
  return t;
}

function target(name: keyof typeof IP, extra: Partial<ConnectTarget> = {}): ConnectTarget {
  return { name, address: IP[name], port: 22, user: 'root', connection: 'ssh', identityFile: lab.clientKey, knownHostsFile: kh, ...extra };
}

async function connectError(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConnectError) return e;
    throw e;
  }
  throw new Error('expected the connection to be refused');
}

/** sshd sessions established from outside, seen inside a node's namespace. */
function establishedSsh(node: string): number {
  const out = lab.node(node).nsExec("ss -Htn state established '( sport = :22 )'");
  return out.split('\n').filter((l) => l.trim()).length;
}

describe('host keys', () => {
  const marker = (): string => join(lab.dir, 'home-root', 'ran-marker');
  const touch = async (t: Transport, tg: ConnectTarget): Promise<void> => {
    const c = await t.connect(tg);
    await c.exec(`touch ~/ran-marker`);
  };

  it('a known key is accepted and the command runs (control for the marker)', async () => {
    rmSync(marker(), { force: true });
    await touch(transport(), target('t1'));
    expect(existsSync(marker())).toBe(true);
  });

  it('an unknown key is refused with its fingerprint and the exact line to trust it; nothing runs', async () => {
    rmSync(marker(), { force: true });
    const empty = join(lab.dir, 'kh-empty');
    writeFileSync(empty, '');
    const e = await connectError(touch(transport(), target('t1', { knownHostsFile: empty })));
    expect(e.kind).toBe('unknown-host-key');
    const fp = execFileSync('ssh-keygen', ['-lf', join(lab.dir, 't1', 'ssh_host_ed25519_key.pub')], { encoding: 'utf8' }).split(' ')[1];
    expect(e.message).toContain(fp);
    expect(e.hint).toContain(`echo '${lab.knownHostsLine('t1')}' >> `);
    expect(existsSync(marker())).toBe(false);
  });

  it('a hashed entry is accepted', async () => {
    const hashed = join(lab.dir, 'kh-hashed');
    lab.writeKnownHosts(hashed, ['t1']);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', hashed], { stdio: 'ignore' });
    expect(readFileSync(hashed, 'utf8')).toMatch(/^\|1\|/);
    const c = await transport().connect(target('t1', { knownHostsFile: hashed }));
    expect((await c.exec('echo ok')).stdout).toBe('ok\n');
  });

  it('a changed key is refused loudly, also with accept-new, and nothing runs', async () => {
    rmSync(marker(), { force: true });
    const changed = join(lab.dir, 'kh-changed');
    // t1's address listed with t2's key: exactly what a man-in-the-middle looks like.
    writeFileSync(changed, `${IP.t1} ${lab.node('t2').hostKeyPub}\n`);
    for (const acceptNew of [false, true]) {
      const e = await connectError(touch(transport({ acceptNew, knownHostsWriteFile: join(lab.dir, 'kh-written') }), target('t1', { knownHostsFile: changed })));
      expect(e.kind).toBe('changed-host-key');
      expect(e.message).toMatch(/HOST KEY CHANGED.*man-in-the-middle/);
      expect(e.hint).toContain(`ssh-keygen -R '${IP.t1}' -f ${changed}`);
    }
    expect(existsSync(marker())).toBe(false);
  });

  it('a revoked key is refused even when also listed as known', async () => {
    const revoked = join(lab.dir, 'kh-revoked');
    writeFileSync(revoked, `${lab.knownHostsLine('t1')}\n@revoked * ${lab.node('t1').hostKeyPub}\n`);
    expect((await connectError(transport().connect(target('t1', { knownHostsFile: revoked })))).kind).toBe('revoked-host-key');
  });

  it('accept-new records an unknown key, which then verifies without accept-new', async () => {
    const empty = join(lab.dir, 'kh-empty2');
    writeFileSync(empty, '');
    const written = join(lab.dir, 'kh-accepted');
    const c = await transport({ acceptNew: true, knownHostsWriteFile: written }).connect(target('t2', { knownHostsFile: empty }));
    expect((await c.exec('echo ok')).stdout).toBe('ok\n');
    expect(readFileSync(written, 'utf8')).toBe(`${lab.knownHostsLine('t2')}\n`);
    const again = await transport({ knownHostsWriteFile: written }).connect(target('t2', { knownHostsFile: empty }));
    expect((await again.exec('echo ok')).stdout).toBe('ok\n');
  });
});

describe('authentication', () => {
  it('uses ssh-agent when no identity file is given', async () => {
    const agent = startAgent(lab.dir, lab.agentKey);
    try {
      const tg = target('t1');
      delete tg.identityFile;
      const c = await transport({ agent: agent.sock }).connect(tg);
      expect((await c.exec('echo via-agent')).stdout).toBe('via-agent\n');
    } finally {
      agent.stop();
    }
  });

  it('fails clearly with no agent and no key', async () => {
    const tg = target('t1');
    delete tg.identityFile;
    const e = await connectError(transport().connect(tg));
    expect(e.kind).toBe('auth');
  });

  it('asks an encrypted key passphrase once, for all hosts using it', async () => {
    const asked: string[] = [];
    const t = transport({ askPassphrase: async (f) => (asked.push(f), KEY_PASSPHRASE) });
    const [a, b] = await Promise.all([t.connect(target('t1', { identityFile: lab.encryptedKey })), t.connect(target('t2', { identityFile: lab.encryptedKey }))]);
    expect((await a.exec('echo a')).stdout).toBe('a\n');
    expect((await b.exec('echo b')).stdout).toBe('b\n');
    expect(asked).toEqual([lab.encryptedKey]);
  });

  it('an encrypted key without a way to ask gives a passphrase error', async () => {
    const e = await connectError(transport().connect(target('t1', { identityFile: lab.encryptedKey })));
    expect(e.kind).toBe('passphrase');
    expect(e.message).toContain(lab.encryptedKey);
  });
});

describe('ProxyJump', () => {
  it('reaches inner hosts only through the bastion, sharing one bastion connection', async () => {
    const direct = await connectError(transport({ connectTimeoutMs: 1500 }).connect(target('in1')));
    expect(['unreachable', 'timeout', 'refused']).toContain(direct.kind);

    const bastion = target('bast');
    const t = transport({ resolveHost: (n) => (n === 'bast' ? bastion : undefined) });
    const [c1, c2] = await Promise.all([t.connect(target('in1', { proxyJump: 'bast' })), t.connect(target('in2', { proxyJump: 'bast' }))]);
    const [r1, r2] = await Promise.all([c1.exec('ip -4 -o addr show dev eth0'), c2.exec('ip -4 -o addr show dev eth0')]);
    // The bastion's only client connection is ours (the direct attempt above never reached it).
    expect(r1.stdout).toContain(IP.in1);
    expect(r2.stdout).toContain(IP.in2);
    expect(establishedSsh('bast')).toBe(1);

    // The bastion is also a host of the run: closing its own connection must not cut the tunnels.
    const own = await t.connect(bastion);
    expect((await own.exec('echo bastion')).stdout).toBe('bastion\n');
    await own.close();
    expect((await c1.exec('echo still')).stdout).toBe('still\n');
    await c1.close();
    expect((await c2.exec('echo still')).stdout).toBe('still\n');
  });

  it("verifies the bastion's own host key", async () => {
    const onlyInner = lab.writeKnownHosts(join(lab.dir, 'kh-inner-only'), ['in1']);
    const bastion = target('bast', { knownHostsFile: onlyInner });
    const t = transport({ resolveHost: (n) => (n === 'bast' ? bastion : undefined) });
    const e = await connectError(t.connect(target('in1', { proxyJump: 'bast', knownHostsFile: onlyInner })));
    expect(e.kind).toBe('unknown-host-key');
    expect(e.message).toContain('via bastion bast');
  });
});

describe('ssh config', () => {
  // Plain Host blocks are parsed in-process; Match needs OpenSSH's own evaluation (`ssh -G`).
  for (const flavour of ['host-blocks', 'match'] as const) {
    it(`honours HostName, User, IdentityFile, UserKnownHostsFile and ProxyJump from ~/.ssh/config (${flavour})`, async () => {
      const cfgHome = join(lab.dir, `cfg-home-${flavour}`);
      mkdirSync(join(cfgHome, '.ssh'), { recursive: true });
      writeFileSync(join(cfgHome, '.ssh', 'config'), [
        flavour === 'match' ? 'Match host alias-t1' : 'Host alias-t1',
        `  HostName ${IP.t1}`,
        '  User rbtnp',
        'Host alias-in1',
        `  HostName ${IP.in1}`,
        `  ProxyJump root@${IP.bast}`,
        'Host *',
        `  IdentityFile ${lab.clientKey}`,
        `  UserKnownHostsFile ${kh}`,
        '',
      ].join('\n'));
      const t = transport({ homeDir: cfgHome });
      const bare = (name: string): ConnectTarget => ({ name, address: name, port: 0, user: '', connection: 'ssh' });
      const [a, b] = await Promise.all([t.connect(bare('alias-t1')), t.connect(bare('alias-in1'))]);
      expect((await a.exec('id -un')).stdout).toBe('rbtnp\n');
      expect((await b.exec('ip -4 -o addr show dev eth0')).stdout).toContain(IP.in1);
    });
  }

  it('inventory settings win over ssh config', async () => {
    const t = transport({ homeDir: join(lab.dir, 'cfg-home-match') });
    const c = await t.connect({ name: 'alias-t1', address: IP.t2, port: 22, user: 'root', connection: 'ssh' });
    expect((await c.exec('id -un; ip -4 -o addr show dev eth0')).stdout).toMatch(new RegExp(`^root\\n.*${IP.t2.replace(/\./g, '\\.')}`, 's'));
  });
});

describe('become', () => {
  it('sudo -n as a NOPASSWD user', async () => {
    const c = await transport().connect(target('t1', { user: 'rbtnp' }));
    expect((await c.exec('id -un')).stdout).toBe('rbtnp\n');
    expect((await c.exec('id -un', { become: true })).stdout).toBe('root\n');
  });

  it('sudo with a password fed on stdin: never in argv or output; the caller stdin still arrives', async () => {
    const c = await transport({ becomePassword: BECOME_PASSWORD }).connect(target('t1', { user: 'rbtpw' }));
    const r = await c.exec('id -un; ps -eo args; cat', { become: true, stdin: 'payload\n' });
    expect(r).toMatchObject({ outcome: 'exit', code: 0 });
    expect(r.stdout.startsWith('root\n')).toBe(true);
    expect(r.stdout.endsWith('payload\n')).toBe(true);
    expect(r.stdout + r.stderr).not.toContain(BECOME_PASSWORD);
    expect(r.stderr).not.toContain('runbook-');
  });

  it('without the password, sudo -n fails fast instead of hanging', async () => {
    const c = await transport().connect(target('t2', { user: 'rbtpw' }));
    const r = await c.exec('id', { become: true, timeoutMs: 10_000 });
    expect(r).toMatchObject({ outcome: 'exit', code: 1 });
    expect(r.stderr).toMatch(/password is required/);
  });

  // docs/security.md, finding 5: a documented limit, shown here. sshd runs every command through the
  // login user's shell, which reads that user's rc files, so whoever controls them sees the password.
  it("limit: a sudo() in the login user's ~/.bashrc captures the password once per become command", async () => {
    const bashrc = [
      // Answer runbook's own prompt (-p is its 3rd word), keep the password, then run the real sudo.
      'sudo() { [ "$1" = -S ] && printf %s "$3" >&2; IFS= read -r pw; printf "%s\\n" "$pw" >> ~/captured;',
      '  printf "%s\\n" "$pw" | command sudo -S -p "" "${@:4}"; }',
      '',
    ].join('\n');
    const home = join(lab.dir, 'home-rbtbash');
    writeFileSync(join(home, '.bashrc'), bashrc);
    rmSync(join(home, 'captured'), { force: true });
    try {
      const c = await transport({ becomePassword: BECOME_PASSWORD }).connect(target('t1', { user: 'rbtbash' }));
      expect((await c.exec('id -un', { become: true })).stdout).toBe('root\n');
      expect((await c.exec('id -un', { become: true })).stdout).toBe('root\n');
      expect((await c.exec('id -un')).stdout).toBe('rbtbash\n');
      // The run looked normal, and the function kept the password twice: once per become command.
      expect(readFileSync(join(home, 'captured'), 'utf8')).toBe(`${BECOME_PASSWORD}\n${BECOME_PASSWORD}\n`);
    } finally {
      rmSync(join(home, '.bashrc'));
    }
  });

  it('a wrong password fails without hanging or echoing it', async () => {
    const c = await transport({ becomePassword: 'wrong-pass' }).connect(target('t2', { user: 'rbtpw' }));
    const r = await c.exec('id', { become: true, timeoutMs: 20_000 });
    expect(r.outcome).toBe('exit');
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).not.toContain('wrong-pass');
  });
});

describe('deadlines', () => {
  it('a blackholed host times out on its own deadline; the others finish on time', async () => {
    const t = transport({ connectTimeoutMs: 1500 });
    const t0 = Date.now();
    const run = async (n: keyof typeof IP): Promise<{ n: string; ms: number; ok: boolean; kind?: string }> => {
      try {
        const c = await t.connect(target(n));
        await c.exec('true');
        return { n, ms: Date.now() - t0, ok: true };
      } catch (e) {
        return { n, ms: Date.now() - t0, ok: false, kind: (e as ConnectError).kind };
      }
    };
    const res = await Promise.all([run('hole'), run('t1'), run('t2')]);
    const hole = res[0]!;
    expect(hole).toMatchObject({ ok: false, kind: 'timeout' });
    expect(hole.ms).toBeGreaterThanOrEqual(1400);
    expect(hole.ms).toBeLessThan(3500);
    for (const r of res.slice(1)) {
      expect(r.ok).toBe(true);
      expect(r.ms).toBeLessThan(1400);
    }
  });

  it('a command timeout closes the channel; the connection stays usable', async () => {
    const c = await transport().connect(target('t1'));
    const t0 = Date.now();
    const r = await c.exec('sleep 30', { timeoutMs: 500 });
    expect(r.outcome).toBe('timeout');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((await c.exec('echo still-here')).stdout).toBe('still-here\n');
  });

  it('an abort gives interrupted', async () => {
    const c = await transport().connect(target('t1'));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    expect((await c.exec('sleep 30', { signal: ac.signal })).outcome).toBe('interrupted');
  });

  it('keepalive detects a peer that went silent: outcome lost, not a hang', async () => {
    const c = await transport({ keepaliveIntervalMs: 300 }).connect(target('kil'));
    const running = c.exec('sleep 60');
    await new Promise((r) => setTimeout(r, 300));
    lab.node('kil').nsExec(`ip route add blackhole ${'198.18.250.1'}/32`);
    try {
      const t0 = Date.now();
      const r = await running;
      expect(r.outcome).toBe('lost');
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      lab.node('kil').nsExec(`ip route del blackhole ${'198.18.250.1'}/32`);
    }
  });

  it('sshd killed mid-command gives an unknown outcome, and later commands are not run', async () => {
    const c = await transport().connect(target('kil'));
    const running = c.exec('sleep 30; echo done');
    await new Promise((r) => setTimeout(r, 500));
    lab.node('kil').killSshd();
    const r = await running;
    expect(r.outcome).toBe('lost');
    expect(r.code).toBeNull();
    expect(r.reason).toMatch(/unknown/);
    const after = await c.exec('echo again');
    expect(after.outcome).toBe('lost');
  });
});

describe('sessions on one connection', () => {
  it('runs 8 commands in parallel on one connection', async () => {
    const before = establishedSsh('t2');
    const c = await transport().connect(target('t2'));
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => c.exec(`sleep 1; echo ${i}`)));
    expect(rs.map((r) => r.stdout)).toEqual(Array.from({ length: 8 }, (_, i) => `${i}\n`));
    expect(Date.now() - t0).toBeLessThan(1900);
    expect(establishedSsh('t2')).toBe(before + 1);
  });

  it('queues 12 requests beyond MaxSessions instead of failing them', async () => {
    const c = await transport().connect(target('t2'));
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: 12 }, () => c.exec('sleep 1; echo ok')));
    expect(rs.every((r) => r.outcome === 'exit' && r.code === 0)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000); // two waves: 10, then 2
  });

  it('retries channels the server refuses when our limit is above its MaxSessions', async () => {
    const c = await transport({ maxSessions: 14 }).connect(target('t2'));
    const rs = await Promise.all(Array.from({ length: 14 }, () => c.exec('sleep 1; echo ok')));
    expect(rs.filter((r) => r.outcome === 'exit' && r.code === 0)).toHaveLength(14);
  });
});
