/**
 * The shipped runbooks' reads change nothing, here as far as text can tell: no check, verify,
 * snapshot or preview (nor a var, which any of them may include) runs an iptables read that
 * creates what it reads. In the legacy backend, `iptables-legacy-save -t TABLE` and
 * `iptables-legacy -S`/`-L`/`-C` create the table in a namespace that has none (and load its
 * module); a plain `*-save` does not. Where `iptables` is legacy, `iptables -S` is the same call.
 * The matrix proves "nothing changed" on the lab's nodes, whose iptables is nft: this covers the
 * nodes whose iptables is legacy.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/** Reads that create the table they read in the legacy backend (shell comments aside). */
const CREATING = [
  // A table named: `-save -t filter`, `-t nat -S` (a write names one too, but these are reads).
  /-t\s+(filter|nat|mangle|raw|security)\b/,
  // Not after a backquote: a message naming the command (\`iptables -S\` does not show them) is text.
  /(?<!`)\biptables(-legacy)?\s+(-\w+\s+)*-[SLC]\b/,
];

/** The lines of a script that are not comments. */
const code = (script: string): string[] => script.split('\n').filter((l) => !/^\s*#/.test(l));

/** Every read-only text of a runbook: its vars, and each step's check, verify, snapshot and preview. */
function reads(file: string): { where: string; text: string }[] {
  const rb = parse(readFileSync(join('runbooks', file), 'utf8')) as { vars?: Record<string, unknown>; steps?: Record<string, unknown>[] };
  const out: { where: string; text: string }[] = [];
  for (const [k, v] of Object.entries(rb.vars ?? {})) if (typeof v === 'string') out.push({ where: `vars.${k}`, text: v });
  for (const [i, s] of (rb.steps ?? []).entries())
    for (const field of ['check', 'verify', 'snapshot', 'preview'])
      for (const text of [s[field]].flat()) if (typeof text === 'string') out.push({ where: `steps[${i}].${field}`, text });
  return out;
}

/** `file where: line` for each read that creates its table. */
function creatingReads(file: string): string[] {
  return reads(file).flatMap(({ where, text }) => code(text).filter((l) => CREATING.some((re) => re.test(l))).map((l) => `${file} ${where}: ${l.trim()}`));
}

describe('shipped runbooks: reads that create what they read', () => {
  it('the patterns catch the reads that create a legacy table, and not the ones that do not', () => {
    const hit = (l: string): boolean => CREATING.some((re) => re.test(l));
    expect(['"$s" -t filter 2>/dev/null | grep -v x', 'iptables-legacy-save -t filter', 'r=$(iptables -S INPUT | grep x)', 'iptables-legacy -t nat -L', 'iptables -w -C FORWARD -j X'].filter((l) => !hit(l))).toEqual([]);
    expect(['iptables-legacy-save 2>/dev/null | awk "$f"', 'iptables -P FORWARD ACCEPT', 'iptables-save | awk x', 'iptables -D INPUT -p vrrp -j DROP'].filter(hit)).toEqual([]);
  });

  it.each(readdirSync('runbooks').filter((f) => f.endsWith('.yaml')))('%s', (file) => {
    expect(creatingReads(file)).toEqual([]);
  });
});
