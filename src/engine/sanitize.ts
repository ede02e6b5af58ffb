/**
 * Host output is untrusted: a compromised node could print escape sequences that repaint the
 * operator's terminal or forge a prompt. Everything a host sends is neutralised here before it
 * reaches any event, and secrets are masked first so a secret echoed by a command never leaks.
 */
import { createHash } from 'node:crypto';
import type { OutputTail } from './events.js';
import { neutralize } from '../model/printable.js';

// Defined in the model (inventory loading shows what kubectl printed the same way); used here and by the engine's importers.
export { LINE_MAX, neutralize, oneLine } from '../model/printable.js';

export type Redact = (text: string) => string;

/** Last `lines` lines of text, ignoring one trailing newline. */
export function lastLines(text: string, lines: number): string {
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (body === '') return '';
  const all = body.split('\n');
  return all.slice(Math.max(0, all.length - lines)).join('\n');
}

/** stdout then stderr; their interleaving is not preserved by exec channels. */
export function combinedOutput(stdout: string, stderr: string): string {
  if (stdout === '' || stderr === '') return stdout + stderr;
  return stdout.endsWith('\n') ? stdout + stderr : `${stdout}\n${stderr}`;
}

export const TAIL_LINES = 10;

/** sha256 of what a command printed (stdout then stderr), as captured: in its audit record, and a saved plan's drift check. */
export function outputDigest(stdout: string, stderr: string): string {
  return createHash('sha256').update(combinedOutput(stdout, stderr)).digest('hex');
}

/** Display-safe output: redacted, neutralised, with the digest of what was captured. */
export function outputTail(stdout: string, stderr: string, truncated: boolean, redact: Redact, lines = TAIL_LINES): OutputTail {
  const all = combinedOutput(stdout, stderr);
  return {
    tail: neutralize(redact(lastLines(all, lines))),
    digest: outputDigest(stdout, stderr),
    truncated,
  };
}

/** The whole captured output, made safe to display (for "show full output"). */
export function safeFullOutput(stdout: string, stderr: string, redact: Redact): string {
  return neutralize(redact(combinedOutput(stdout, stderr)));
}
