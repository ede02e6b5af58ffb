import { describe, expect, it } from 'vitest';
import { createHmac, randomBytes } from 'node:crypto';
import {
  fingerprint, hostFieldMatches, hostKeyName, keyTypeOf, knownHostsLine, knownKeyTypes, parseKnownHosts, verifyHostKey,
} from '../../src/transport/known-hosts.js';

function blob(type: string, body: string): Buffer {
  const t = Buffer.from(type);
  const b = Buffer.from(body);
  const out = Buffer.alloc(8 + t.length + b.length);
  out.writeUInt32BE(t.length, 0);
  t.copy(out, 4);
  out.writeUInt32BE(b.length, 4 + t.length);
  b.copy(out, 8 + t.length);
  return out;
}
const K1 = blob('ssh-ed25519', 'key-one-32-bytes-of-public-key!!');
const K2 = blob('ssh-ed25519', 'key-two-32-bytes-of-public-key!!');
const R1 = blob('ssh-rsa', 'rsa-key');
const b64 = (b: Buffer): string => b.toString('base64');

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

describe('known_hosts parsing', () => {
  it('skips comments, blank and malformed lines, keeps markers and line numbers', () => {
    const e = parseKnownHosts(
      ['# comment', '', 'a.example ssh-ed25519 AAA', '@revoked * ssh-rsa BBB', '@cert-authority *.corp ssh-ed25519 CCC ca', '@bogus x ssh-rsa D', 'onlyhost'].join('\n'),
      'kh',
    );
    expect(e.map((x) => [x.line, x.marker, x.hosts, x.key])).toEqual([
      [3, undefined, 'a.example', 'AAA'],
      [4, 'revoked', '*', 'BBB'],
      [5, 'cert-authority', '*.corp', 'CCC'],
    ]);
  });
});

describe('host pattern matching', () => {
  it('matches plain names case-insensitively and comma lists', () => {
    expect(hostFieldMatches('web1,10.0.0.5', '10.0.0.5')).toBe(true);
    expect(hostFieldMatches('WEB1', 'web1')).toBe(true);
    expect(hostFieldMatches('web1', 'web10')).toBe(false);
  });
  it('uses [host]:port for non-22 ports and plain host for 22', () => {
    expect(hostKeyName('h', 22)).toBe('h');
    expect(hostKeyName('h', 2222)).toBe('[h]:2222');
    expect(hostFieldMatches('[h]:2222', hostKeyName('h', 2222))).toBe(true);
    expect(hostFieldMatches('h', hostKeyName('h', 2222))).toBe(false);
  });
  it('supports * and ? wildcards without treating dots as regex', () => {
    expect(hostFieldMatches('*.example.com', 'a.example.com')).toBe(true);
    expect(hostFieldMatches('web?', 'web1')).toBe(true);
    expect(hostFieldMatches('web?', 'web12')).toBe(false);
    expect(hostFieldMatches('10.0.0.5', '10a0b0c5')).toBe(false);
  });
  it('a matching negation vetoes the line', () => {
    expect(hostFieldMatches('*.example.com,!bad.example.com', 'good.example.com')).toBe(true);
    expect(hostFieldMatches('*.example.com,!bad.example.com', 'bad.example.com')).toBe(false);
    expect(hostFieldMatches('!bad', 'other')).toBe(false); // negation alone matches nothing
  });
  it('matches hashed entries (HMAC-SHA1 with the salt), including [host]:port', () => {
    expect(hostFieldMatches(hashed('10.1.2.3'), '10.1.2.3')).toBe(true);
    expect(hostFieldMatches(hashed('10.1.2.3'), '10.1.2.4')).toBe(false);
    expect(hostFieldMatches(hashed('[10.1.2.3]:2200'), hostKeyName('10.1.2.3', 2200))).toBe(true);
    expect(hostFieldMatches('|1|garbage', 'x')).toBe(false);
  });
});

describe('host key verdict', () => {
  const kh = (lines: string[]) => parseKnownHosts(lines.join('\n'), 'kh');
  it('known when any entry for the host has the key', () => {
    const v = verifyHostKey(kh([`other ssh-ed25519 ${b64(K2)}`, `h1,h2 ssh-ed25519 ${b64(K1)}`]), 'h2', K1);
    expect(v.status).toBe('known');
  });
  it('unknown when no entry names the host', () => {
    expect(verifyHostKey(kh([`other ssh-ed25519 ${b64(K1)}`]), 'h1', K1).status).toBe('unknown');
  });
  it('changed when the host is listed with a different key (any type)', () => {
    const v = verifyHostKey(kh([`h1 ssh-ed25519 ${b64(K2)}`]), 'h1', K1);
    expect(v.status).toBe('changed');
    expect(verifyHostKey(kh([`h1 ssh-rsa ${b64(R1)}`]), 'h1', K1).status).toBe('changed');
  });
  it('hashed entries verify too', () => {
    expect(verifyHostKey(kh([`${hashed('h1')} ssh-ed25519 ${b64(K1)}`]), 'h1', K1).status).toBe('known');
    expect(verifyHostKey(kh([`${hashed('h1')} ssh-ed25519 ${b64(K2)}`]), 'h1', K1).status).toBe('changed');
  });
  it('@revoked wins even over a matching entry, whatever host it names', () => {
    const v = verifyHostKey(kh([`h1 ssh-ed25519 ${b64(K1)}`, `@revoked * ssh-ed25519 ${b64(K1)}`]), 'h1', K1);
    expect(v.status).toBe('revoked');
  });
  it('@cert-authority is reported, never taken as trust for the plain key', () => {
    const v = verifyHostKey(kh([`@cert-authority *.corp ssh-ed25519 ${b64(K1)}`]), 'a.corp', K1);
    expect(v).toMatchObject({ status: 'unknown', certAuthorities: [{ marker: 'cert-authority' }] });
  });
  it('known key types come first for negotiation', () => {
    expect(knownKeyTypes(kh([`h1 ssh-rsa ${b64(R1)}`, `h2 ssh-ed25519 ${b64(K1)}`]), 'h1')).toEqual(['ssh-rsa']);
  });
});

describe('fingerprints and lines', () => {
  it('formats like ssh-keygen -l', () => {
    expect(fingerprint(K1)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(keyTypeOf(K1)).toBe('ssh-ed25519');
    expect(knownHostsLine(hostKeyName('10.0.0.1', 2222), K1)).toBe(`[10.0.0.1]:2222 ssh-ed25519 ${b64(K1)}`);
  });
});
