/**
 * What each step status means, defined once. Exit codes, `@failed`, `max_failures`, the canary's
 * "all green", blocking a host's later steps and every report read these; the table is total, so
 * a new status cannot be added without saying what it means.
 */
import type { StepStatus } from './events.js';

/**
 * green: the step is done and the host is as it should be (ok, fixed, or not this host's step);
 * pending: a fix is still to be made (dry run, declined, or waiting on one);
 * failed: the host needs someone to look again (failed, unreachable, or its state is unknown);
 * not-done: the step never ran because of something else (blocked by an earlier step, or the run stopped).
 */
export type StatusClass = 'green' | 'pending' | 'failed' | 'not-done';

const CLASS: Readonly<Record<StepStatus, StatusClass>> = {
  ok: 'green',
  fixed: 'green',
  'not-applicable': 'green',
  'would-fix': 'pending',
  skipped: 'pending',
  'depends-on-pending-fix': 'pending',
  failed: 'failed',
  unreachable: 'failed',
  unknown: 'failed',
  interrupted: 'failed',
  blocked: 'not-done',
  'not-run': 'not-done',
};

export const statusClass = (s: StepStatus): StatusClass => CLASS[s];
export const isGreen = (s: StepStatus): boolean => CLASS[s] === 'green';
export const isFailed = (s: StepStatus): boolean => CLASS[s] === 'failed';
export const isPending = (s: StepStatus): boolean => CLASS[s] === 'pending';

/** The command may have changed the host, and nobody knows how far it got: nothing else runs on that host. */
export const leavesHostUnknown = (s: StepStatus): boolean => s === 'unknown' || s === 'interrupted';

/** Every status of a class, in the schema's order (for reports that list them). */
export const statusesOf = (c: StatusClass): StepStatus[] => (Object.keys(CLASS) as StepStatus[]).filter((s) => CLASS[s] === c);

/** What a whole run came to; the CLI's exit code is a function of it (model/exit-codes.ts). */
export type RunVerdict = 'ok' | 'pending' | 'failed' | 'locked' | 'aborted';
