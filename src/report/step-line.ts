/**
 * One step result as the operator reads it, the same in the live view and in plain lines: an
 * optional glyph, the step, its status and why. Glyphs are for terminals; plain output stays ASCII
 * (logs, CI, pipes) unless the operator asks for them.
 */
import type { StepStatus } from '../engine/events.js';
import { isFailed, isGreen } from '../engine/status.js';

const GLYPH: Readonly<Record<StepStatus, string>> = {
  ok: '✔',
  fixed: '✚',
  'would-fix': '~',
  failed: '✖',
  skipped: '↓',
  blocked: '⊘',
  unreachable: '✖',
  unknown: '?',
  interrupted: '✖',
  'depends-on-pending-fix': '…',
  'not-applicable': '·',
  'not-run': '-',
};

/** The reason without a leading "<status>: " that would repeat the status beside it. */
export function reasonText(status: StepStatus, reason: string | undefined): string {
  if (!reason) return '';
  return reason.startsWith(`${status}: `) ? reason.slice(status.length + 2) : reason;
}

/**
 * `step: status (why)`. `repeat` is true for an unreachable host's later steps: their reason is the
 * connection error already shown, so it is not printed again.
 */
export function stepLine(step: string, status: StepStatus, reason: string | undefined, opts: { glyphs: boolean; repeat?: boolean }): string {
  const why = opts.repeat ? '' : reasonText(status, reason);
  return `${opts.glyphs ? `${GLYPH[status]} ` : ''}${step}: ${status}${why ? ` (${why})` : ''}`;
}

/** How a host's run ended, for its headline: all green, something failed, or neither (pending, not done). */
export function hostVerdict(results: StepStatus[]): 'green' | 'failed' | 'incomplete' {
  if (results.some(isFailed)) return 'failed';
  // A host where nothing ran (never reached its turn) is no success.
  return results.length > 0 && results.every(isGreen) ? 'green' : 'incomplete';
}

/** "1 fixed, 2 ok", in the order the statuses first came. */
export function statusCounts(results: StepStatus[]): string {
  const by = new Map<StepStatus, number>();
  for (const s of results) by.set(s, (by.get(s) ?? 0) + 1);
  return [...by].map(([s, n]) => `${n} ${s}`).join(', ');
}
