/** Turns a command's raw result into a verdict. Pure: no I/O, no events. */
import type { Expectation } from '../model/types.js';
import type { ExecResult } from '../transport/types.js';

export type Verdict =
  | { kind: 'pass' }
  /** The command ran and said "no": non-zero exit or stdout not as expected. */
  | { kind: 'fail'; reason: string }
  /** Our deadline fired or the process died of a signal: it did not complete. */
  | { kind: 'error'; reason: string }
  /** The channel or connection went away without an exit status: the host's state is unknown. */
  | { kind: 'unknown'; reason: string }
  | { kind: 'interrupted'; reason: string };

function stripTrailingNewline(s: string): string {
  return s.replace(/\r?\n$/, '');
}

export function matchesExpectation(stdout: string, expect: Expectation): boolean {
  const out = stripTrailingNewline(stdout);
  if (expect.kind === 'equals') return out === expect.value;
  return new RegExp(expect.value).test(out);
}

export function judge(result: ExecResult, expect?: Expectation): Verdict {
  switch (result.outcome) {
    case 'exit':
      if (result.code !== 0) return { kind: 'fail', reason: `exit code ${result.code}` };
      if (expect && !matchesExpectation(result.stdout, expect)) {
        const how = expect.kind === 'equals' ? JSON.stringify(expect.value) : `/${expect.value}/`;
        return { kind: 'fail', reason: `output did not match ${how}` };
      }
      return { kind: 'pass' };
    case 'signal':
      return { kind: 'error', reason: `killed by signal ${result.signal ?? '?'}` };
    case 'timeout':
      return { kind: 'error', reason: result.reason ?? 'timed out' };
    case 'lost':
      return { kind: 'unknown', reason: result.reason ?? 'connection lost before the command finished' };
    case 'interrupted':
      return { kind: 'interrupted', reason: result.reason ?? 'interrupted by the operator' };
  }
}
