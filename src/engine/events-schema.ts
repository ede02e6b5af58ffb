/**
 * The --json event format as a zod schema: the documented contract (docs/events.md), what tests
 * validate the stream against, and (z.infer, in events.ts) the engine's own event types.
 */
import { z } from 'zod';

export const stepStatus = z.enum([
  'ok',
  'fixed',
  'would-fix',
  'failed',
  'skipped',
  'blocked',
  'unreachable',
  'unknown',
  'interrupted',
  'depends-on-pending-fix',
  // Fleet control: not this host's step (`on:`, a `once` step that ran elsewhere), a false `when:`, a handler nobody notified.
  'not-applicable',
  'not-run',
]);
// lock/unlock: the host lock (host-lock.ts); kill: what a timeout or abort sends to stop a command;
// capture: a read-only capture of what a fix may change (its files and snapshots, capture.ts);
// confirm: arming, confirming or firing a `confirm:` step's watchdog (confirm.ts).
export const phase = z.enum(['check', 'fix', 'verify', 'lock', 'unlock', 'kill', 'capture', 'confirm', 'drain', 'uncordon']);
// Unique across runs: the run's id, then the command's number within the run.
const commandId = z.string().regex(/^\S+\.\d+$/);
export const decision = z.enum(['yes', 'no', 'all-hosts', 'all', 'quit', 'auto']);
const base = { time: z.iso.datetime(), runId: z.string().min(1) };
export const outputTail = z.strictObject({
  // Last lines of stdout+stderr, ANSI-neutralised, secrets masked.
  tail: z.string(),
  // sha256 of the full captured output.
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  truncated: z.boolean(),
  // A check whose step says `drift: { regex }`: the regex's matches in the masked output (a saved plan keeps them).
  matches: z.array(z.string()).optional(),
});

/** What a command's start and its outcome both say of it. */
const commandHead = {
  host: z.string(),
  step: z.string(),
  phase,
  commandId,
  // Rendered, secrets masked.
  command: z.string(),
  // On fix commands: the approval they run under.
  approval: z.strictObject({ decision, by: z.string() }).optional(),
  // A `local: true` step's command: it ran on the controller, for `host`, not on `host`.
  local: z.literal(true).optional(),
};

/** A file's state as captured, besides its content (capture.ts). */
export const fileState = z.strictObject({ exists: z.boolean(), mode: z.string().optional(), owner: z.string().optional(), link: z.string().optional() });

export const runEventSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('run-start'),
    ...base,
    runbook: z.string(),
    runbookFile: z.string(),
    runbookHash: z.string(),
    operator: z.string(),
    mode: z.enum(['dry-run', 'apply']),
    // apply --plan: the saved plan this run applies, and the principals whose signatures it was checked for.
    plan: z.strictObject({ id: z.string(), hash: z.string(), file: z.string(), approvers: z.array(z.string()) }).optional(),
    // runbook undo: the run whose fixes this run undoes.
    undoes: z.string().optional(),
    // runbook resume: the run this one continues.
    resumes: z.string().optional(),
    // The operator's vars (environment, --var-file, --var), a secret's value masked: what resume repeats.
    vars: z.record(z.string(), z.string()).optional(),
    hosts: z.array(z.string()),
    // The hosts in `hosts` only because a once step runs there: not targets.
    onceHosts: z.array(z.string()).optional(),
    steps: z.array(z.string()),
    // --no-drain: the disruptive steps whose nodes this run does not drain.
    noDrain: z.array(z.string()).optional(),
  }),
  z.strictObject({
    type: z.literal('host-connect'),
    ...base,
    host: z.string(),
    ok: z.boolean(),
    error: z.string().optional(),
    durationMs: z.number().nonnegative(),
  }),
  z.strictObject({ type: z.literal('step-start'), ...base, host: z.string(), step: z.string(), stepIndex: z.int().nonnegative() }),
  // Emitted before the command is sent: the audit trail makes it durable first (write-ahead).
  z.strictObject({ type: z.literal('command-start'), ...base, ...commandHead }),
  z.strictObject({
    type: z.literal('command'),
    ...base,
    ...commandHead,
    outcome: z.enum(['exit', 'signal', 'timeout', 'lost', 'interrupted']),
    exitCode: z.int().nullable(),
    durationMs: z.number().nonnegative(),
    output: outputTail,
  }),
  z.strictObject({ type: z.literal('approval'), ...base, host: z.string(), step: z.string(), decision, by: z.string() }),
  z.strictObject({
    type: z.literal('step-result'),
    ...base,
    host: z.string(),
    step: z.string(),
    stepIndex: z.int().nonnegative(),
    status: stepStatus,
    // One line: why it failed / was blocked / would fix.
    reason: z.string().optional(),
    // The check output that triggered a fix (tail).
    checkOutput: z.string().optional(),
    // Rendered fix commands (masked): what ran, or what a dry run would run.
    fixCommands: z.array(z.string()).optional(),
    // With fixCommands: the verify that follows the fix (masked, bulky values summarised), and the
    // sha256 of the fix and verify commands whole and masked (a saved plan binds the fix by it).
    verifyCommand: z.string().optional(),
    commandsDigest: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    // What the fix changed (its files and snapshots, before → after), or in a dry run what its
    // preview says it would: sha256 digests and a masked unified diff.
    changes: z
      .array(
        z.strictObject({
          target: z.string(),
          kind: z.enum(['file', 'snapshot', 'preview']),
          before: z.string().optional(),
          after: z.string().optional(),
          // A file's state before the fix besides its content (undo restores it): whether it
          // existed, its mode, owner and symlink target.
          beforeFile: fileState.optional(),
          diff: z.string(),
        }),
      )
      .optional(),
    // A check-only step's check ran and found what it looks for: the recap's next commands
    // (fixed_by) come from these only, never from a refusal, a missing tool or a held lock.
    finding: z.literal(true).optional(),
    // A `local: true` step: its commands run on the controller, for `host`.
    local: z.literal(true).optional(),
    durationMs: z.number().nonnegative(),
  }),
  z.strictObject({
    type: z.literal('run-end'),
    ...base,
    exitCode: z.int(),
    aborted: z.boolean(),
    // Why the run stopped early (max_failures, quit, SIGINT), if it did.
    stopReason: z.string().optional(),
    summary: z.record(z.string(), z.partialRecord(stepStatus, z.int().nonnegative())),
    durationMs: z.number().nonnegative(),
  }),
]);

