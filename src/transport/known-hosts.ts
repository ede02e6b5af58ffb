/**
 * OpenSSH known_hosts: parsing, host matching and the verdict for one presented host key.
 * Pure logic (no I/O beyond reading the files handed in), so it is unit-tested line by line.
 *
 * Format (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"):
 *   [@marker] hostpatterns keytype base64key [comment]
 * hostpatterns: comma list; `*` / `?` wildcards; `!pattern` negates; `[host]:port` for non-22 ports;
 * or one hashed name `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { globToRegExp } from '../model/glob.js';

export type KnownHostsMarker = 'revoked' | 'cert-authority' | undefined;

export interface KnownHostsEntry {
  file: string;
  line: number;
  marker: KnownHostsMarker;
  /** The raw host field (comma list or one hashed name). */
  hosts: string;
  keyType: string;
  /** base64 of the SSH wire-format public key blob. */
  key: string;
}

export function parseKnownHosts(text: string, file: string): KnownHostsEntry[] {
  const out: KnownHostsEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? '').trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const fields = raw.split(/\s+/);
    let marker: KnownHostsMarker;
    if (fields[0]?.startsWith('@')) {
      const m = fields.shift();
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else continue; // unknown marker: OpenSSH ignores the line too
    }
    const [hosts, keyType, key] = fields;
    if (!hosts || !keyType || !key) continue;
    out.push({ file, line: i + 1, marker, hosts, keyType, key });
  }
  return out;
}

/** Reads every file that exists; a missing file is simply empty (as for OpenSSH). */
export function loadKnownHosts(files: readonly string[]): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    entries.push(...parseKnownHosts(text, file));
  }
  return entries;
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
export function hostKeyName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Each wildcard pattern compiles once: the lines indexOf() cannot index are matched against every host. */
const globs = new Map<string, RegExp>();
function globMatches(pattern: string, name: string): boolean {
  if (!pattern.includes('*') && !pattern.includes('?')) return pattern.toLowerCase() === name.toLowerCase();
  let re = globs.get(pattern);
  if (!re) globs.set(pattern, (re = globToRegExp(pattern, { ignoreCase: true })));
  return re.test(name);
}

function hashedMatches(field: string, name: string): boolean {
  const parts = field.split('|'); // ['', '1', salt, hash]
  if (parts.length !== 4 || parts[1] !== '1' || !parts[2] || !parts[3]) return false;
  const salt = Buffer.from(parts[2], 'base64');
  const want = createHmac('sha1', salt).update(name).digest('base64');
  return want === parts[3];
}

/**
 * Whether the entry's host field matches `name` (already in `[host]:port` form when needed).
 * A matching negated pattern vetoes the whole line, as in OpenSSH's match_hostname().
 */
export function hostFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|')) return hashedMatches(hosts, name);
  let positive = false;
  for (const pat of hosts.split(',')) {
    if (pat === '') continue;
    if (pat.startsWith('!')) {
      if (globMatches(pat.slice(1), name)) return false;
    } else if (globMatches(pat, name)) {
      positive = true;
    }
  }
  return positive;
}

/** OpenSSH-style fingerprint of a wire-format key blob: `SHA256:<base64, unpadded>`. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type string at the head of a wire-format blob (uint32 length + bytes). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const len = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + len).toString('latin1');
}

export type HostKeyVerdict =
  | { status: 'known'; entry: KnownHostsEntry }
  | { status: 'revoked'; entry: KnownHostsEntry }
  /** The host is listed, but with other key(s): possible man-in-the-middle. */
  | { status: 'changed'; entries: KnownHostsEntry[] }
  /** Not listed. `certAuthorities` are @cert-authority lines that match (host certificates are not supported). */
  | { status: 'unknown'; certAuthorities: KnownHostsEntry[] };

/**
 * The verdict for `keyBlob` presented by the host known_hosts lists as `name`: one name, as
 * OpenSSH looks up (HostKeyAlias, or `hostKeyName()` of the address it connects to). Trying more
 * names would let a line that excludes the address (`!addr,name`) apply through another name.
 * Revocation wins over everything.
 */
export function verifyHostKey(entries: readonly KnownHostsEntry[], name: string, keyBlob: Buffer): HostKeyVerdict {
  const b64 = keyBlob.toString('base64');
  const index = indexOf(entries);
  const revoked = index.revoked.get(b64);
  if (revoked) return { status: 'revoked', entry: revoked };

  const forHost = index.forName(name);
  const plain = forHost.filter((e) => e.marker === undefined);
  const match = plain.find((e) => e.key === b64);
  if (match) return { status: 'known', entry: match };
  if (plain.length > 0) return { status: 'changed', entries: plain };
  return { status: 'unknown', certAuthorities: forHost.filter((e) => e.marker === 'cert-authority') };
}

/** Key types already trusted for the host, so the client can prefer them in negotiation as OpenSSH does. */
export function knownKeyTypes(entries: readonly KnownHostsEntry[], name: string): string[] {
  return [...new Set(indexOf(entries).forName(name).filter((e) => e.marker === undefined).map((e) => e.keyType))];
}

/**
 * A fleet's known_hosts has a line per host, and every host is looked up in it (twice: the
 * algorithms to offer, then the key): scanning every line for every host is hosts × lines
 * matches, seconds at 1,000 hosts. Lines whose host field is only plain names are found by name;
 * only wildcard, negated and hashed lines are scanned. Results keep the files' line order.
 */
interface KnownHostsIndex {
  revoked: Map<string, KnownHostsEntry>;
  forName(name: string): KnownHostsEntry[];
}

const indexes = new WeakMap<readonly KnownHostsEntry[], KnownHostsIndex>();

function indexOf(entries: readonly KnownHostsEntry[]): KnownHostsIndex {
  let index = indexes.get(entries);
  if (index) return index;
  const revoked = new Map<string, KnownHostsEntry>();
  const byName = new Map<string, number[]>();
  const scanned: number[] = [];
  entries.forEach((e, i) => {
    if (e.marker === 'revoked') {
      if (!revoked.has(e.key)) revoked.set(e.key, e);
      return;
    }
    const names = e.hosts.split(',').filter((p) => p !== '');
    if (e.hosts.startsWith('|') || names.some((p) => /[*?!]/.test(p))) {
      scanned.push(i);
      return;
    }
    for (const n of new Set(names.map((p) => p.toLowerCase()))) byName.set(n, [...(byName.get(n) ?? []), i]);
  });
  index = {
    revoked,
    forName: (name) => {
      const hits = [...(byName.get(name.toLowerCase()) ?? []), ...scanned.filter((i) => hostFieldMatches((entries[i] as KnownHostsEntry).hosts, name))];
      return hits.sort((a, b) => a - b).map((i) => entries[i] as KnownHostsEntry);
    },
  };
  indexes.set(entries, index);
  return index;
}

/** The line to append to known_hosts for this key under `name` (plain, not hashed, so the operator can read it). */
export function knownHostsLine(name: string, keyBlob: Buffer): string {
  return `${name} ${keyTypeOf(keyBlob)} ${keyBlob.toString('base64')}`;
}
