/**
 * Host output is untrusted: a compromised node could print escape sequences that repaint the
 * operator's terminal or forge a prompt. Everything a host sends is neutralised here before it
 * reaches any event, and secrets are masked first so a secret echoed by a command never leaks.
 */
import { createHash } from 'node:crypto';
import type { OutputTail } from './events.js';

export type Redact = (text: string) => string;

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Makes control characters visible (caret notation / \u escapes); keeps \n and \t. */
export function neutralize(text: string): string {
  return text.replace(CONTROL, (ch) => {
    const code = ch.charCodeAt(0);
    if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
    if (code === 0x7f) return '^?';
    return `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

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

/** A single display line (reasons, names): no newlines, no control characters. */
/**
 * How long one line of text may be. A reason or an error is often what the operator must act on
 * (a refusal with the line to add to known_hosts, a runbook's own refusal that the host printed),
 * so it is shown whole; this bound only stops a flood.
 */
export const LINE_MAX = 4000;

/** Flattens text to one neutralised line, cut (marked …) only past `max`. */
export function oneLine(text: string, max = LINE_MAX): string {
  const flat = neutralize(text.replace(/\s*\n\s*/g, ' | ').trim());
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
