/**
 * Secret vars: resolving `{ secret: true, value | env | file }`, and masking secret values in
 * anything shown to a person or written to disk.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import type { Problem, SourcePos } from './errors.js';
import { shellQuote } from './shell-quote.js';
import { isSecretDefShape } from './var-schema.js';

export const MASK = '********';

/**
 * A secret whose source is missing (env var unset, file unreadable). Loading still succeeds so
 * that `list`/`validate` work without secrets; rendering a command that uses it fails.
 */
export class UnavailableSecret {
  constructor(
    readonly reason: string,
    readonly pos?: SourcePos,
  ) {}
  toString(): string {
    return MASK;
  }
  toJSON(): string {
    return MASK;
  }
}

/** `~` and `~/…` as the shell expands them (other users' `~name/` is left alone). */
export function expandHome(p: string, home = homedir()): string {
  return p === '~' ? home : p.startsWith('~/') ? resolve(home, p.slice(2)) : p;
}

export function resolvePath(p: string, baseDir: string): string {
  const e = expandHome(p);
  return isAbsolute(e) ? e : resolve(baseDir, e);
}

/**
 * A known_hosts file the inventory names must exist. OpenSSH skips missing ones silently, which is
 * right for its own defaults but, for a file someone wrote down, turns a typo into "host key not
 * known" on every host: so the inventory refuses it up front, once, where it is named.
 */
export function missingKnownHosts(file: string, from: string, pos?: SourcePos): Problem | undefined {
  if (existsSync(file)) return undefined;
  return { pos, message: `known_hosts file ${file} (from ${from}) does not exist`, hint: 'fix the path (a relative one is read from the inventory\'s directory), create the file, or remove the setting' };
}

/** The secret's value, or an UnavailableSecret saying why it has none. `def` is already schema-checked. */
export function resolveSecret(def: Record<string, unknown>, baseDir: string, pos?: SourcePos, env = process.env): string | UnavailableSecret {
  if (def.value !== undefined) return String(def.value);
  if (typeof def.env === 'string') {
    const v = env[def.env];
    return v !== undefined ? v : new UnavailableSecret(`environment variable ${def.env} is not set`, pos);
  }
  const file = resolvePath(String(def.file), baseDir);
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch {
    return new UnavailableSecret(`cannot read secret file ${file}`, pos);
  }
}

/** Splits a var map into plain values and resolved secrets. */
export function resolveVarMap(
  vars: Record<string, unknown> | undefined,
  baseDir: string,
  posOf: (name: string) => SourcePos | undefined,
): { values: Record<string, unknown>; secrets: Set<string> } {
  const values: Record<string, unknown> = {};
  const secrets = new Set<string>();
  for (const [name, v] of Object.entries(vars ?? {})) {
    if (isSecretDefShape(v)) {
      values[name] = resolveSecret(v, baseDir, posOf(name));
      secrets.add(name);
    } else if (v instanceof UnavailableSecret) {
      values[name] = new UnavailableSecret(v.reason, v.pos ?? posOf(name));
      secrets.add(name);
    } else values[name] = v;
  }
  return { values, secrets };
}

export type Redactor = (text: string) => string;

/**
 * How a secret reads once escaped for a context: inside a JSON string (`{{ x | json }}`, a host
 * printing JSON), and inside shell single quotes (a quoted word, or the JSON text quoted in turn).
 * The quoted form is taken from shellQuote itself, so the two cannot disagree.
 */
function escapedForms(s: string): string[] {
  const insideQuotes = (t: string): string => {
    const q = shellQuote(t);
    return q.startsWith("'") ? q.slice(1, -1) : q;
  };
  const json = JSON.stringify(s).slice(1, -1);
  return [s, json, insideQuotes(s), insideQuotes(json)];
}

/**
 * Masks every occurrence of each secret, of its escaped forms, and of its shell-quoted form (as
 * it appears in rendered commands) with ********. Values shorter than 3 characters are not masked:
 * masking "1" or "a" everywhere would destroy all output while hiding nothing.
 */
export function createRedactor(secretValues: Iterable<unknown>): Redactor {
  const needles = new Set<string>();
  for (const v of secretValues) {
    if (v === undefined || v === null || v instanceof UnavailableSecret) continue;
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    if (s.length < 3) continue;
    needles.add(shellQuote(s));
    for (const form of escapedForms(s)) {
      needles.add(form);
      for (const line of form.split('\n')) if (line.length >= 3) needles.add(line);
    }
  }
  if (needles.size === 0) return (text) => text;
  // Longest first, so a quoted form is replaced whole rather than leaving its quotes behind.
  const sorted = [...needles].sort((a, b) => b.length - a.length);
  const re = new RegExp(sorted.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  return (text) => text.replace(re, MASK);
}
