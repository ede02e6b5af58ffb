/**
 * Drift between a saved plan and now: the check's print (its outcome, exit code, output digest
 * and, for `drift: { regex }`, the regex's matches) is taken when the plan is made and again before
 * each planned fix. The step's `drift:` says which part must be the same. Pure: no I/O, no events.
 */
import type { CheckPrint } from '../model/plan-file.js';
import type { Drift } from '../model/types.js';
import type { ExecResult } from '../transport/types.js';
import { createHash } from 'node:crypto';
import { combinedOutput, neutralize, outputDigest, type Redact } from './sanitize.js';

/** What a saved plan binds a fix by: its commands and the verify after them, whole and masked. */
export function commandsDigest(fix: readonly string[], verify: string): string {
  return createHash('sha256').update(JSON.stringify({ fix, verify })).digest('hex');
}

/** At most this many matches of at most this many characters: a host's output is bounded here too. */
const MAX_MATCHES = 50;
const MAX_MATCH_CHARS = 200;

/** A drift regex's matches in the masked output (^ and $ match at each line): each match's capture groups if it has any, else the match. */
export function driftMatches(stdout: string, stderr: string, regex: string, redact: Redact): string[] {
  const text = neutralize(redact(combinedOutput(stdout, stderr)));
  const out: string[] = [];
  for (const m of text.matchAll(new RegExp(regex, 'gm'))) {
    if (m[0] === '') continue;
    const parts = m.length > 1 ? m.slice(1).map((g) => g ?? '') : [m[0]];
    for (const p of parts) out.push(p.slice(0, MAX_MATCH_CHARS));
    if (out.length >= MAX_MATCHES) break;
  }
  return out.slice(0, MAX_MATCHES);
}

export function checkPrint(result: ExecResult, drift: Drift | undefined, redact: Redact): CheckPrint {
  return {
    outcome: result.outcome,
    exitCode: result.code,
    digest: outputDigest(result.stdout, result.stderr),
    ...(drift?.kind === 'regex' ? { matches: driftMatches(result.stdout, result.stderr, drift.value, redact) } : {}),
  };
}

function driftName(drift: Drift | undefined): string {
  return drift?.kind === 'regex' ? `drift: { regex: ${JSON.stringify(drift.value)} }` : `drift: ${drift?.kind ?? 'output'}`;
}

/** What differs between the planned check and this one, in one line, or undefined when they agree as `drift` says. */
export function driftBetween(planned: CheckPrint, now: CheckPrint, drift: Drift | undefined): string | undefined {
  const code = (p: CheckPrint) => (p.outcome === 'exit' ? `exit ${p.exitCode}` : p.outcome);
  if (code(planned) !== code(now)) return `the check ended with ${code(now)}, planned ${code(planned)}`;
  const kind = drift?.kind ?? 'output';
  if (kind === 'exit') return undefined;
  if (kind === 'regex') {
    const a = planned.matches ?? [];
    const b = now.matches ?? [];
    if (a.length === b.length && a.every((x, i) => x === b[i])) return undefined;
    return `the check's ${driftName(drift)} matches are ${JSON.stringify(b)}, planned ${JSON.stringify(a)}`;
  }
  return planned.digest === now.digest ? undefined : `the check's output changed; ${driftName(drift)}`;
}
