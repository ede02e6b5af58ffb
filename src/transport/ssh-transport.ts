/**
 * The `connection: ssh` transport: one ssh2 connection per host for the whole run, bastion
 * connections shared by every host behind them.
 */
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'ssh2';
import type { Duplex } from 'node:stream';
import { ConnectError, DEFAULT_CONNECT_TIMEOUT_MS, type Connection, type ConnectTarget, type CreateTransportOptions, type Transport, type TransportOptions } from './types.js';
import { KnownHostsStore, type HostKeyCheck } from './host-key-policy.js';
import { IdentityStore, type LoadedIdentity } from './identities.js';
import { expandHome } from '../model/secrets.js';
import { createSshConfigResolver, type SshConfigResolver } from './ssh-config.js';
import { parseProxyJump } from './proxy-jump.js';
import { openClient } from './open-client.js';
import { SshConnection } from './ssh-connection.js';
import { becomeOf } from './become.js';

export const DEFAULT_TRANSPORT_OPTIONS: TransportOptions = {
  connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
  acceptNew: false,
  keepaliveIntervalMs: 15_000,
  maxSessions: 10,
};

const MAX_JUMP_DEPTH = 8;

interface ResolvedHop {
  key: string;
  check: HostKeyCheck;
  user: string;
  identityFiles: string[];
  jump?: string;
  connectTimeoutMs: number;
  target: ConnectTarget;
}

export function createSshTransport(opts: CreateTransportOptions): Transport {
  return new SshTransport(opts);
}

class SshTransport implements Transport {
  private readonly o: TransportOptions;
  private readonly home: string;
  private readonly agent: string | undefined;
  private readonly knownHosts: KnownHostsStore;
  private readonly identities: IdentityStore;
  private readonly sshConfig: SshConfigResolver;
  private readonly clients = new Map<string, Promise<Client>>();
  private readonly connections = new Map<string, Promise<Connection>>();
  /** Client keys that other hosts tunnel through. */
  private readonly bastions = new Set<string>();
  private readonly localUser = userInfo().username;

  constructor(private readonly opts: CreateTransportOptions) {
    this.o = { ...DEFAULT_TRANSPORT_OPTIONS, ...stripUndefined(opts) };
    this.home = opts.homeDir ?? homedir();
    const agent = opts.agent ?? process.env.SSH_AUTH_SOCK;
    this.agent = agent ? agent : undefined;
    this.knownHosts = new KnownHostsStore(this.o.knownHostsWriteFile ?? join(this.home, '.ssh', 'known_hosts'));
    this.identities = new IdentityStore(opts.askPassphrase);
    this.sshConfig = opts.sshConfig ?? createSshConfigResolver(this.home);
  }

  async connect(target: ConnectTarget): Promise<Connection> {
    const become = becomeOf(target, this.opts.becomePassword);
    const hop = await this.resolve(target, target.proxyJump);
    let conn = this.connections.get(hop.key);
    if (!conn) {
      conn = this.client(hop, 0).then(
        (client) => new SshConnection(target.name, client, this.o.maxSessions, become, () => this.forget(hop.key), async () => {
          this.connections.delete(hop.key);
          if (this.bastions.has(hop.key)) return; // closeAll() ends it
          this.clients.delete(hop.key);
          await endClient(client);
        }),
      );
      this.connections.set(hop.key, conn);
      conn.catch(() => this.connections.delete(hop.key));
    }
    return conn;
  }

  async prepare(targets: ConnectTarget[]): Promise<void> {
    const files = new Set<string>();
    for (const t of targets) {
      const hop = await this.resolve(t, t.proxyJump).catch(() => undefined);
      for (const f of hop?.identityFiles ?? []) files.add(f);
    }
    // One file at a time: each may ask for its passphrase.
    for (const f of files) await this.identities.load(f);
  }

  async closeAll(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    this.connections.clear();
    await Promise.all(all.map((p) => p.then((c) => endClient(c), () => undefined)));
  }

  private forget(key: string): void {
    this.clients.delete(key);
    this.connections.delete(key);
  }

  /** Inventory settings win; ssh config fills what the inventory left unset. */
  private async resolve(target: ConnectTarget, jumpOverride: string | undefined): Promise<ResolvedHop> {
    let cfg;
    try {
      cfg = await this.sshConfig.resolve(target.name);
    } catch (e) {
      throw new ConnectError(target.name, 'config', `cannot read ssh config for ${target.name}: ${(e as Error).message}`, 'run `ssh -G <host>` to see the problem');
    }
    const address = target.address && target.address !== target.name ? target.address : (cfg.hostname ?? target.address ?? target.name);
    const port = target.port || cfg.port || 22;
    const user = target.user || cfg.user || this.localUser;
    const jump = jumpOverride ?? cfg.proxyJump;
    const sshDir = join(this.home, '.ssh');
    const files = [
      join(sshDir, 'known_hosts'), join(sshDir, 'known_hosts2'), '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2',
      ...(target.knownHostsFile ? [expandHome(target.knownHostsFile, this.home)] : []),
      ...cfg.userKnownHostsFiles,
    ];
    const strict = cfg.strictHostKeyChecking;
    const identityFiles = [
      ...(target.identityFile ? [expandHome(target.identityFile, this.home)] : []),
      ...(cfg.identityFiles.length ? cfg.identityFiles : ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(sshDir, f))),
    ];
    return {
      // The alias is part of the key: a connection verified under one alias does not vouch for another.
      key: `${user}@${address}:${port}${cfg.hostKeyAlias ? ` as ${cfg.hostKeyAlias}` : ''}${jump ? ` via ${jump}` : ''}`,
      check: {
        name: target.name, address, port, ...(cfg.hostKeyAlias ? { hostKeyAlias: cfg.hostKeyAlias } : {}), files: [...new Set(files)],
        // StrictHostKeyChecking=no is treated as accept-new: a changed key is never accepted.
        acceptNew: this.o.acceptNew || strict === 'accept-new' || strict === 'no' || strict === 'off',
      },
      user,
      identityFiles: [...new Set(identityFiles)],
      ...(jump ? { jump } : {}),
      connectTimeoutMs: this.opts.connectTimeoutMs ?? cfg.connectTimeoutMs ?? this.o.connectTimeoutMs,
      target,
    };
  }

  private client(hop: ResolvedHop, depth: number): Promise<Client> {
    let p = this.clients.get(hop.key);
    if (!p) {
      p = this.openHop(hop, depth);
      this.clients.set(hop.key, p);
      p.then(
        (c) => c.on('close', () => this.forget(hop.key)),
        () => this.clients.delete(hop.key),
      );
    }
    return p;
  }

  private async openHop(hop: ResolvedHop, depth: number): Promise<Client> {
    // Keys are unlocked before the deadline starts: a passphrase prompt is not network time.
    const identities = (await Promise.all(hop.identityFiles.map((f) => this.identities.load(f)))).filter(
      (i): i is LoadedIdentity => i !== undefined,
    );
    const broken = identities.find((i) => 'error' in i);
    if (broken && 'error' in broken) {
      const explicit = hop.target.identityFile !== undefined && expandHome(hop.target.identityFile, this.home) === broken.file;
      if (explicit || /passphrase/.test(broken.error)) {
        throw new ConnectError(hop.check.name, /passphrase/.test(broken.error) ? 'passphrase' : 'config', broken.error, 'fix identity_file in the inventory or ssh config');
      }
    }
    let sock: Duplex | undefined;
    if (hop.jump) sock = await this.tunnel(hop, depth);
    return openClient({
      check: hop.check,
      user: hop.user,
      ...(sock ? { sock } : {}),
      identities: identities.filter((i) => !('error' in i)),
      ...(this.agent ? { agent: this.agent } : {}),
      connectTimeoutMs: hop.connectTimeoutMs,
      keepaliveIntervalMs: this.o.keepaliveIntervalMs,
      knownHosts: this.knownHosts,
    });
  }

  /** A direct-tcpip stream to `hop` through the last bastion of its ProxyJump chain. */
  private async tunnel(hop: ResolvedHop, depth: number): Promise<Duplex> {
    if (depth >= MAX_JUMP_DEPTH) {
      throw new ConnectError(hop.check.name, 'config', `ProxyJump chain for ${hop.check.name} is longer than ${MAX_JUMP_DEPTH} hops (a loop?)`, 'check proxy_jump in the inventory and ProxyJump in ssh config');
    }
    let hops;
    try {
      hops = parseProxyJump(hop.jump ?? '');
    } catch (e) {
      throw new ConnectError(hop.check.name, 'config', (e as Error).message, 'ProxyJump syntax is [user@]host[:port][,...]');
    }
    const last = hops[hops.length - 1];
    if (!last) throw new ConnectError(hop.check.name, 'config', 'empty ProxyJump');
    const prefix = hops.slice(0, -1).map((h) => `${h.user ? `${h.user}@` : ''}${h.host}${h.port ? `:${h.port}` : ''}`).join(',');
    const known = this.opts.resolveHost?.(last.host);
    const bastionTarget: ConnectTarget = {
      ...(known ?? { name: last.host, address: last.host, port: 0, user: '', connection: 'ssh', ...(hop.target.knownHostsFile ? { knownHostsFile: hop.target.knownHostsFile } : {}) }),
      ...(last.user ? { user: last.user } : {}),
      ...(last.port ? { port: last.port } : {}),
    };
    // The first hop uses its own ProxyJump (if any); later hops go through the earlier ones.
    const bastionHop = await this.resolve(bastionTarget, prefix || (known ? known.proxyJump : undefined));
    let bastion: Client;
    this.bastions.add(bastionHop.key);
    try {
      bastion = await this.client(bastionHop, depth + 1);
    } catch (e) {
      if (e instanceof ConnectError) {
        throw new ConnectError(hop.check.name, e.kind, `via bastion ${bastionHop.check.name}: ${e.message}`, e.hint);
      }
      throw e;
    }
    return new Promise<Duplex>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new ConnectError(hop.check.name, 'timeout', `bastion ${bastionHop.check.name} could not reach ${hop.check.address}:${hop.check.port} within ${hop.connectTimeoutMs} ms`, 'check that the host is up and reachable from the bastion')),
        hop.connectTimeoutMs,
      );
      try {
        bastion.forwardOut('127.0.0.1', 0, hop.check.address, hop.check.port, (err, stream) => {
          clearTimeout(timer);
          if (err) {
            reject(new ConnectError(hop.check.name, 'unreachable', `bastion ${bastionHop.check.name} cannot open a connection to ${hop.check.address}:${hop.check.port}: ${err.message}`, 'check the address and that the bastion may forward to it (AllowTcpForwarding)'));
          } else {
            resolve(stream);
          }
        });
      } catch (e) {
        clearTimeout(timer);
        reject(new ConnectError(hop.check.name, 'unreachable', `bastion ${bastionHop.check.name} connection is gone: ${(e as Error).message}`));
      }
    });
  }
}

function endClient(c: Client): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      c.destroy();
      resolve();
    }, 2000);
    t.unref();
    c.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    c.end();
  });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
