/**
 * The transport against hostile input: output that forges the start marker, ssh config that names
 * no known_hosts file, and known_hosts lines that must not apply to a host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import { planCommand } from '../../src/transport/become.js';
import { KnownHostsStore, type HostKeyCheck } from '../../src/transport/host-key-policy.js';
import { parseSshG } from '../../src/transport/ssh-config.js';
import { createSshTransport } from '../../src/transport/ssh-transport.js';
import { ConnectError } from '../../src/transport/types.js';

const noop = (): undefined => undefined;

const TOTAL = 20 * 1024 * 1024;

/** Feeds `chunk` until TOTAL bytes went in; after every chunk, the watcher may hold back under 100 bytes. */
function feedBounded(watcher: ReturnType<typeof planCommand>['watcher'], chunk: Buffer): { fed: number; released: number } {
  let fed = 0;
  let released = 0;
  while (fed < TOTAL) {
    released += watcher.filter(chunk, noop, noop, noop).length;
    fed += chunk.length;
    expect(fed - released).toBeLessThan(100);
  }
  return { fed, released };
}

describe('start marker: forged output', () => {
  const CHUNK = 64 * 1024;
  /** The watcher hands back every byte it does not strip, so fed - released is what it holds. */
  it('holds back at most a marker of an unclosed forged prefix, followed by junk or by endless digits', () => {
    for (const junk of ['x', '1']) {
      const plan = planCommand('id', false, undefined);
      const started = /'(\[runbook-started-[0-9a-f]+:)'/.exec(plan.command)![1]!;
      const chunk = Buffer.from(started + junk.repeat(CHUNK - started.length), 'latin1');
      const { fed, released } = feedBounded(plan.watcher, chunk);
      expect(plan.watcher.pid).toBeUndefined();
      expect(released + plan.watcher.flush().length).toBe(fed);
    }
  });

  it('bounds a stream of repeated forged prefixes, with and without a sudo prompt to watch for', () => {
    for (const become of [false, true]) {
      const plan = planCommand('id', become, become ? 'pw' : undefined);
      const started = /'(\[runbook-started-[0-9a-f]+:)'/.exec(plan.command)![1]!;
      const chunk = Buffer.from(started.repeat(Math.ceil(CHUNK / started.length)), 'latin1');
      const { fed, released } = feedBounded(plan.watcher, chunk);
      expect(released + plan.watcher.flush().length).toBe(fed);
    }
  });

  it('still finds the real marker after forged output, and leaves the rest of stderr byte for byte', () => {
    const plan = planCommand('id', false, undefined);
    const started = /'(\[runbook-started-[0-9a-f]+:)'/.exec(plan.command)![1]!;
    const forged = `${started}${'z'.repeat(5000)}\n${started}12x]${started}${'9'.repeat(40)}]\n`;
    const honest = `${started}4242]`;
    const stream = Buffer.from(`${forged}${honest}after\n`, 'latin1');
    const out: Buffer[] = [];
    let starts = 0;
    // Odd-sized chunks so the markers are split at every possible place.
    for (let i = 0; i < stream.length; i += 7) out.push(plan.watcher.filter(stream.subarray(i, i + 7), noop, () => starts++, noop));
    out.push(plan.watcher.flush());
    expect(plan.watcher.pid).toBe(4242);
    expect(starts).toBe(1);
    expect(Buffer.concat(out).toString('latin1')).toBe(`${forged}after\n`);
  });
});

describe('UserKnownHostsFile none', () => {
  it('names no file (OpenSSH: "none" ignores the user known hosts files), in any case', () => {
    expect(parseSshG('userknownhostsfile none\n', '/home/u').userKnownHostsFiles).toEqual([]);
    expect(parseSshG('userknownhostsfile NONE\n', '/home/u').userKnownHostsFiles).toEqual([]);
  });
});

/** A throwaway SSH server on 127.0.0.1 that presents its own host key; nobody can log in. */
async function sshServer(dir: string): Promise<{ port: number; hostKeyB64: string; close(): Promise<void> }> {
  // ssh-keygen, not ssh2's generateKeyPairSync: that one now and then writes a malformed public key.
  const file = join(dir, 'host_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
  const server = new ssh2.Server({ hostKeys: [readFileSync(file)] }, (client) => {
    client.on('authentication', (ctx) => ctx.reject());
    client.on('error', noop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    hostKeyB64: readFileSync(`${file}.pub`, 'utf8').split(/\s+/)[1]!,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** How a connection to `name` ends with this ~/.ssh/config: trusted hosts get as far as 'auth'. */
async function connectKind(home: string, config: string[], name = 'h'): Promise<string> {
  mkdirSync(join(home, '.ssh'), { recursive: true });
  writeFileSync(join(home, '.ssh', 'config'), `${config.join('\n')}\n`);
  const t = createSshTransport({ homeDir: home, agent: '', connectTimeoutMs: 5000 });
  try {
    await t.connect({ name, address: name, port: 0, user: 'nobody', connection: 'ssh' });
    return 'connected';
  } catch (e) {
    if (e instanceof ConnectError) return e.kind;
    throw e;
  } finally {
    await t.closeAll();
  }
}

describe('known_hosts files and names through ssh config, against a live server', () => {
  let srv: Awaited<ReturnType<typeof sshServer>>;
  let dir: string;
  const cwd = process.cwd();
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rb-hostile-'));
    srv = await sshServer(dir);
  });
  afterAll(async () => {
    process.chdir(cwd);
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // Plain Host blocks are read in-process; Match goes through `ssh -G`.
  for (const head of ['Host h', 'Match host h']) {
    it(`"UserKnownHostsFile none" does not read a file named none in the working directory (${head})`, async () => {
      const work = mkdtempSync(join(dir, 'cwd-'));
      writeFileSync(join(work, 'none'), `[127.0.0.1]:${srv.port} ssh-ed25519 ${srv.hostKeyB64}\n`);
      const base = [head, '  HostName 127.0.0.1', `  Port ${srv.port}`];
      process.chdir(work);
      try {
        // The control: the same file, named by its path, is read (the key is trusted; login then fails).
        expect(await connectKind(mkdtempSync(join(dir, 'home-')), [...base, `  UserKnownHostsFile ${join(work, 'none')}`])).toBe('auth');
        expect(await connectKind(mkdtempSync(join(dir, 'home-')), [...base, '  UserKnownHostsFile none'])).toBe('unknown-host-key');
      } finally {
        process.chdir(cwd);
      }
    });

    it(`looks the key up under HostKeyAlias when ssh config sets one (${head})`, async () => {
      const kh = join(mkdtempSync(join(dir, 'kh-')), 'known_hosts');
      const base = [head, '  HostName 127.0.0.1', `  Port ${srv.port}`, '  HostKeyAlias db-primary', `  UserKnownHostsFile ${kh}`];
      writeFileSync(kh, `db-primary ssh-ed25519 ${srv.hostKeyB64}\n`);
      expect(await connectKind(mkdtempSync(join(dir, 'home-')), base)).toBe('auth');
      // With an alias, OpenSSH does not look at the address at all.
      writeFileSync(kh, `[127.0.0.1]:${srv.port} ssh-ed25519 ${srv.hostKeyB64}\n`);
      expect(await connectKind(mkdtempSync(join(dir, 'home-')), base)).toBe('unknown-host-key');
    });
  }
});

describe('known_hosts lines that name the host the way OpenSSH looks it up', () => {
  const KEY = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 4]), Buffer.from('key1')]);
  const B64 = KEY.toString('base64');
  const dir = mkdtempSync(join(tmpdir(), 'rb-kh-names-'));
  const verdict = (lines: string[], check: Omit<HostKeyCheck, 'files' | 'acceptNew'>): string => {
    const file = join(dir, `kh-${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    return new KnownHostsStore(join(dir, 'written')).check({ ...check, files: [file], acceptNew: false }, KEY)?.kind ?? 'trusted';
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('does not trust a key listed only under the inventory name (OpenSSH looks up the address it connects to)', () => {
    expect(verdict([`web1 ssh-ed25519 ${B64}`], { name: 'web1', address: '10.0.0.5', port: 22 })).toBe('unknown-host-key');
    expect(verdict([`[web1]:2222 ssh-ed25519 ${B64}`], { name: 'web1', address: '10.0.0.5', port: 2222 })).toBe('unknown-host-key');
  });

  it('a negated address excludes the line, whatever else it lists', () => {
    expect(verdict([`!198.19.178.2,bastion ssh-ed25519 ${B64}`], { name: 'bastion', address: '198.19.178.2', port: 22 })).toBe('unknown-host-key');
    expect(verdict([`10.*,!10.0.0.9 ssh-ed25519 ${B64}`], { name: 'db', address: '10.0.0.9', port: 22 })).toBe('unknown-host-key');
  });

  it('trusts the lines the lab and accept-new write: the address, [address]:port for other ports', () => {
    expect(verdict([`198.19.178.2 ssh-ed25519 ${B64}`], { name: 'bastion', address: '198.19.178.2', port: 22 })).toBe('trusted');
    expect(verdict([`[198.19.178.2]:2222 ssh-ed25519 ${B64}`], { name: 'bastion', address: '198.19.178.2', port: 2222 })).toBe('trusted');
    expect(verdict([`198.19.178.2 ssh-ed25519 ${B64}`], { name: 'bastion', address: '198.19.178.2', port: 2222 })).toBe('unknown-host-key');
  });

  it('with HostKeyAlias, looks up the alias alone (no port), and accept-new records it', () => {
    const check = { name: 'db', address: '10.0.0.9', port: 2222, hostKeyAlias: 'db-primary' };
    expect(verdict([`db-primary ssh-ed25519 ${B64}`], check)).toBe('trusted');
    expect(verdict([`[10.0.0.9]:2222 ssh-ed25519 ${B64}`], check)).toBe('unknown-host-key');
    const written = join(dir, 'accept-new');
    expect(new KnownHostsStore(written).check({ ...check, files: [], acceptNew: true }, KEY)).toBeUndefined();
    expect(readFileSync(written, 'utf8')).toBe(`db-primary ssh-ed25519 ${B64}\n`);
  });

  it('the refusal names the alias in the line to add and the entry to remove', () => {
    const file = join(dir, 'kh-changed');
    writeFileSync(file, `db-primary ssh-ed25519 ${Buffer.from('other').toString('base64')}\n`);
    const store = new KnownHostsStore(join(dir, 'written'));
    const changed = store.check({ name: 'db', address: '10.0.0.9', port: 22, hostKeyAlias: 'db-primary', files: [file], acceptNew: false }, KEY);
    expect(changed?.kind).toBe('changed-host-key');
    expect(changed?.hint).toContain("ssh-keygen -R 'db-primary'");
    const unknown = store.check({ name: 'db', address: '10.0.0.9', port: 22, hostKeyAlias: 'db-primary', files: [], acceptNew: false }, KEY);
    expect(unknown?.hint).toContain(`echo 'db-primary ssh-ed25519 ${B64}'`);
  });
});
