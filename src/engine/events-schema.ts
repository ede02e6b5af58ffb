/**
 * The --json event format as a zod schema: the documented contract (docs/events.md) and what
 * tests validate the stream against. Keep in step with events.ts (a type test checks they agree).
 */
import { z } from 'zod';

const stepStatus = z.enum([
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
  'not-applicable',
  'not-run',
]);
const phase = z.enum(['check', 'fix', 'verify', 'when', 'lock']);
const decision = z.enum(['yes', 'no', 'all-hosts', 'all', 'quit', 'auto']);
const base = { time: z.iso.datetime(), runId: z.string().min(1) };

export const runEventSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('run-start'),
    ...base,
    runbook: z.string(),
    runbookFile: z.string(),
    runbookHash: z.string(),
    operator: z.string(),
    mode: z.enum(['dry-run', 'apply']),
    hosts: z.array(z.string()),
    steps: z.array(z.string()),
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
  z.strictObject({
    type: z.literal('command'),
    ...base,
    host: z.string(),
    step: z.string(),
    phase,
    command: z.string(),
    outcome: z.enum(['exit', 'signal', 'timeout', 'lost', 'interrupted']),
    exitCode: z.int().nullable(),
    durationMs: z.number().nonnegative(),
    output: z.strictObject({ tail: z.string(), digest: z.string().regex(/^[0-9a-f]{64}$/), truncated: z.boolean() }),
    approval: z.strictObject({ decision, by: z.string() }).optional(),
  }),
  z.strictObject({ type: z.literal('approval'), ...base, host: z.string(), step: z.string(), decision, by: z.string() }),
  z.strictObject({
    type: z.literal('step-result'),
    ...base,
    host: z.string(),
    step: z.string(),
    stepIndex: z.int().nonnegative(),
    status: stepStatus,
    reason: z.string().optional(),
    checkOutput: z.string().optional(),
    fixCommands: z.array(z.string()).optional(),
    durationMs: z.number().nonnegative(),
  }),
  z.strictObject({
    type: z.literal('run-end'),
    ...base,
    exitCode: z.int(),
    aborted: z.boolean(),
    stopReason: z.string().optional(),
    summary: z.record(z.string(), z.partialRecord(stepStatus, z.int().nonnegative())),
    durationMs: z.number().nonnegative(),
  }),
]);

export type RunEventFromSchema = z.infer<typeof runEventSchema>;
