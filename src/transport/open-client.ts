/**
 * Opens one authenticated ssh2 client (directly, or over a stream through a bastion), within a
 * hard deadline, and maps every failure to a ConnectError with an actionable message.
 */
import ssh2 from 'ssh2';
import type { AuthHandlerMiddleware, Client } from 'ssh2';
import type { Duplex } from 'node:stream';
import { ConnectError } from './types.js';
import type { KnownHostsStore, HostKeyCheck } from './host-key-policy.js';
import type { LoadedIdentity } from './identities.js';

export interface OpenParams {
  check: HostKeyCheck;
  user: string;
  /** A stream already connected to the host (ProxyJump); otherwise TCP to address:port. */
  sock?: Duplex;
  identities: LoadedIdentity[];
  agent?: string;
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  knownHosts: KnownHostsStore;
}

export function openClient(p: OpenParams): Promise<Client> {
  const { check } = p;
  const where = `${check.name} (${p.user}@${check.address}:${check.port})`;
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let hostKeyError: ConnectError | undefined;
    let settled = false;
    const fail = (e: ConnectError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      client.removeAllListeners('ready');
      client.destroy();
      reject(e);
    };
    const deadline = setTimeout(
      () => fail(new ConnectError(check.name, 'timeout', `${where}: no SSH session within ${p.connectTimeoutMs} ms`, 'check that the host is up and reachable, or raise the connect timeout')),
      p.connectTimeoutMs,
    );

    const keys = p.identities.filter((i): i is Extract<LoadedIdentity, { key: unknown }> => 'key' in i);
    const locked = p.identities.filter((i) => 'locked' in i).map((i) => i.file);
    const methods: Parameters<Parameters<AuthHandlerMiddleware>[2]>[0][] = [];
    if (p.agent) methods.push({ type: 'agent', username: p.user, agent: p.agent });
    for (const k of keys) methods.push({ type: 'publickey', username: p.user, key: k.key });

    client.on('ready', () => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(client);
    });
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (settled) return;
      if (hostKeyError) return fail(hostKeyError);
      if (err.level === 'client-authentication') {
        const why = keys.length === 0 && !p.agent ? 'no ssh-agent and no usable identity file' : `tried ${[p.agent ? 'ssh-agent' : '', ...keys.map((k) => k.file)].filter(Boolean).join(', ')}`;
        if (locked.length > 0) {
          return fail(new ConnectError(check.name, 'passphrase', `${where}: authentication failed; ${locked.join(', ')} is encrypted and no passphrase could be asked (no TTY)`, `add the key to ssh-agent (ssh-add ${locked[0]}) or run from a terminal`));
        }
        return fail(new ConnectError(check.name, 'auth', `${where}: authentication failed (${why})`, `make sure the key is in ${p.user}'s authorized_keys, or set identity_file / load it into ssh-agent`));
      }
      if (err.level === 'client-timeout') {
        return fail(new ConnectError(check.name, 'timeout', `${where}: ${err.message}`, 'check that sshd on the host is responsive'));
      }
      switch (err.code) {
        case 'ECONNREFUSED':
          return fail(new ConnectError(check.name, 'refused', `${where}: connection refused`, 'is sshd running on that port?'));
        case 'ECONNRESET':
        case 'EHOSTUNREACH':
        case 'ENETUNREACH':
        case 'ENOTFOUND':
        case 'EAI_AGAIN':
        case 'ETIMEDOUT':
          return fail(new ConnectError(check.name, 'unreachable', `${where}: unreachable (${err.code})`, 'check the address in the inventory and the network path'));
      }
      if (/before handshake/i.test(err.message)) {
        return fail(new ConnectError(check.name, 'unreachable', `${where}: the connection closed before the SSH handshake`, 'is sshd listening there, or is something else on that port?'));
      }
      fail(new ConnectError(check.name, 'other', `${where}: ${err.message}`));
    });
    client.on('close', () => fail(new ConnectError(check.name, 'other', `${where}: connection closed during the handshake`, 'check sshd logs on the host')));

    const onAuth: AuthHandlerMiddleware = (_left, _partial, next) => {
      const m = methods.shift();
      next(m ?? (false as never));
    };

    try {
      client.connect({
        ...(p.sock ? { sock: p.sock } : { host: check.address, port: check.port }),
        username: p.user,
        readyTimeout: p.connectTimeoutMs,
        keepaliveInterval: p.keepaliveIntervalMs,
        keepaliveCountMax: 3,
        algorithms: { serverHostKey: p.knownHosts.preferredAlgorithms(check) },
        hostVerifier: (key: Buffer) => {
          hostKeyError = p.knownHosts.check(check, key);
          return hostKeyError === undefined;
        },
        authHandler: onAuth,
      });
    } catch (e) {
      fail(new ConnectError(check.name, 'config', `${where}: ${(e as Error).message}`));
    }
  });
}
