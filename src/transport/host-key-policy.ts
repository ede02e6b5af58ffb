/**
 * Decides whether to trust the key a host presents, and words the refusal. Runs inside ssh2's
 * hostVerifier, i.e. before authentication and before any command, so a refused host never
 * sees a credential or a command.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  fingerprint, hostKeyName, keyTypeOf, knownHostsLine, knownKeyTypes, loadKnownHosts, verifyHostKey,
  type KnownHostsEntry,
} from './known-hosts.js';
import { ConnectError } from './types.js';

export interface HostKeyCheck {
  /** Inventory (or jump) name, for messages. */
  name: string;
  address: string;
  port: number;
  /** ssh config's HostKeyAlias: known_hosts lists the host under this name, without the port. */
  hostKeyAlias?: string;
  files: string[];
  acceptNew: boolean;
}

const ALL_HOST_KEY_ALGOS = [
  'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa',
] as const;
export type HostKeyAlgo = (typeof ALL_HOST_KEY_ALGOS)[number];

export class KnownHostsStore {
  private readonly byFile = new Map<string, KnownHostsEntry[]>();

  constructor(private readonly writeFile: string) {}

  /** The same array for the same files until a key is recorded: known-hosts.ts indexes it once. */
  private readonly combined = new Map<string, KnownHostsEntry[]>();

  entries(files: readonly string[]): KnownHostsEntry[] {
    const all = [...new Set([...files, this.writeFile])];
    const key = JSON.stringify(all);
    const cached = this.combined.get(key);
    if (cached) return cached;
    const out: KnownHostsEntry[] = [];
    for (const f of all) {
      let e = this.byFile.get(f);
      if (!e) {
        e = loadKnownHosts([f]);
        this.byFile.set(f, e);
      }
      out.push(...e);
    }
    this.combined.set(key, out);
    return out;
  }

  /** OpenSSH's accept-new: append, and remember it for the rest of the run. */
  record(name: string, keyBlob: Buffer): void {
    mkdirSync(dirname(this.writeFile), { recursive: true, mode: 0o700 });
    appendFileSync(this.writeFile, `${knownHostsLine(name, keyBlob)}\n`, { mode: 0o600 });
    const list = this.byFile.get(this.writeFile) ?? [];
    list.push({ file: this.writeFile, line: 0, marker: undefined, hosts: name, keyType: keyTypeOf(keyBlob), key: keyBlob.toString('base64') });
    this.byFile.set(this.writeFile, list);
    this.combined.clear();
  }

  /** Host key algorithms with the ones already trusted for this host first (as OpenSSH orders them). */
  preferredAlgorithms(check: HostKeyCheck): HostKeyAlgo[] {
    const known = knownKeyTypes(this.entries(check.files), lookupName(check));
    const algosFor = (t: string): HostKeyAlgo[] => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : ALL_HOST_KEY_ALGOS.filter((a) => a === t));
    const first = known.flatMap(algosFor);
    return [...first, ...ALL_HOST_KEY_ALGOS.filter((a) => !first.includes(a))];
  }

  /** Returns undefined when trusted; otherwise the error that refuses the host. */
  check(check: HostKeyCheck, keyBlob: Buffer): ConnectError | undefined {
    const name = lookupName(check);
    const verdict = verifyHostKey(this.entries(check.files), name, keyBlob);
    const fp = fingerprint(keyBlob);
    const type = keyTypeOf(keyBlob);
    const who = check.name === check.address && check.hostKeyAlias === undefined ? name : `${check.name} (${name})`;
    switch (verdict.status) {
      case 'known':
        return undefined;
      case 'revoked':
        return new ConnectError(check.name, 'revoked-host-key',
          `host key ${type} ${fp} of ${who} is REVOKED by ${verdict.entry.file}:${verdict.entry.line}; refusing to connect, nothing was run`,
          'find out why the key was revoked before trusting this host again');
      case 'changed': {
        const old = verdict.entries[0]!;
        return new ConnectError(check.name, 'changed-host-key',
          `WARNING: HOST KEY CHANGED for ${who}: it presented ${type} ${fp}, but ${old.file}:${old.line} lists a different key. Someone could be intercepting the connection (man-in-the-middle); refusing, nothing was run`,
          `if the change is legitimate (host reinstalled), remove the old entry with: ssh-keygen -R '${name}' -f ${old.file}`);
      }
      case 'unknown': {
        if (check.acceptNew) {
          this.record(name, keyBlob);
          return undefined;
        }
        const ca = verdict.certAuthorities[0];
        const caNote = ca ? `; ${ca.file}:${ca.line} has a @cert-authority entry for it, but host certificates are not supported, so the plain key must be trusted` : '';
        return new ConnectError(check.name, 'unknown-host-key',
          `host key of ${who} is not known: ${type} ${fp}${caNote}; refusing to connect, nothing was run`,
          `check the fingerprint out of band (on the host: ssh-keygen -lf /etc/ssh/ssh_host_${type.replace(/^ssh-|-sha2-nistp\d+$/g, '')}_key.pub), then trust it with: echo '${knownHostsLine(name, keyBlob)}' >> ${this.writeFile} (or re-run with --accept-new)`);
      }
    }
  }
}

/**
 * The one name OpenSSH looks the key up under: HostKeyAlias, else the address it connects to
 * (HostName already applied). The inventory name is only a label: a line for it does not vouch
 * for whatever address the inventory gives it. (CheckHostIP, off by default since OpenSSH 8.5,
 * is not supported.)
 */
function lookupName(check: HostKeyCheck): string {
  return check.hostKeyAlias ?? hostKeyName(check.address, check.port);
}
