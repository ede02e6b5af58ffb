/**
 * A saved plan (`runbook plan -o plan.json`): what a dry run found and would run, per host and
 * step, bound to what it was planned against, for `apply --plan` to run later exactly as reviewed.
 * docs/change-control.md is the operator's view; this is the format. Only masked forms are kept:
 * `apply --plan` renders the commands again (secrets included) and compares their masked forms,
 * so no secret ever sits in the file. The file's `hash` covers its body: an edit is refused.
 */
import { createHash } from 'node:crypto';
import { accessSync, closeSync, constants, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { UserError, type Problem } from './errors.js';
import { MAX_FILE_BYTES, parseYaml, readSourceFile } from './yaml-source.js';
import { zodProblems } from './zod-problems.js';

export const PLAN_FILE_VERSION = 1;
export { DEFAULT_PLAN_TTL_MS } from './plan-ttl.js';
import { MAX_PLAN_TTL_MS } from './plan-ttl.js';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
// Names, paths and times are printed on one line each by show --plan and sign: no control characters.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const Line = z.string().regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, 'a control character: not written by runbook plan');
const Drift = z.union([z.strictObject({ kind: z.enum(['exit', 'output']) }), z.strictObject({ kind: z.literal('regex'), value: z.string() })]);

/** What drift is judged on: the check as it ran when planned (the same fields `apply --plan` computes again). */
export const CheckPrintSchema = z.strictObject({
  outcome: z.enum(['exit', 'signal', 'timeout', 'lost', 'interrupted']),
  exitCode: z.int().nullable(),
  // sha256 of the whole captured output (as in the check's audit record).
  digest: sha256,
  // The step's drift regex: its matches in the masked output.
  matches: z.array(z.string()).optional(),
});
export type CheckPrint = z.infer<typeof CheckPrintSchema>;

const PlannedStepFile = z.strictObject({
  index: z.int().nonnegative(),
  name: Line,
  // The dry run's result for this step on this host (a step status: show --plan reads it as one).
  status: z.string(),
  reason: z.string().optional(),
  // The check output's last lines, masked: what the reviewer reads.
  checkOutput: z.string().optional(),
  // The commands, masked, as rendered when planned (a deferred step's registered values as {{ }} references).
  check: z.string(),
  fix: z.array(z.string()),
  verify: z.string(),
  // Its commands read values registered during the run: as planned they hold {{ }} references.
  deferred: z.literal(true).optional(),
  // The fix and verify commands as the dry run rendered them (registered values filled in, bulky
  // ones summarised), and the sha256 of them whole: apply --plan runs a fix only if it is the same.
  fixCommands: z.array(z.string()).optional(),
  verifyCommand: z.string().optional(),
  commandsDigest: sha256.optional(),
  drift: Drift,
  // The check as it ran: absent when it did not run (blocked, not for this host, unreachable).
  print: CheckPrintSchema.optional(),
});
export type PlannedStepFile = z.infer<typeof PlannedStepFile>;

const PlannedHost = z.strictObject({
  name: Line,
  address: Line,
  port: z.int(),
  user: Line,
  // sha256 of what this host was planned against: its connection, every command masked, the vars `when:` reads.
  identity: sha256,
  steps: z.array(PlannedStepFile),
  handlers: z.array(PlannedStepFile).optional(),
});

export const PlanBodySchema = z.strictObject({
  planVersion: z.literal(1),
  runbook: z.strictObject({ name: Line, file: Line, hash: sha256 }),
  planned: z.strictObject({
    by: Line,
    at: z.iso.datetime(),
    expires: z.iso.datetime(),
    // The dry run in the audit trail that made this plan.
    runId: Line,
  }),
  inventory: Line,
  become: z.boolean().optional(),
  hosts: z.array(PlannedHost).min(1, 'a plan is for at least one host'),
});
export type PlanBody = z.infer<typeof PlanBodySchema>;

export const PlanFileSchema = z
  .strictObject({
    planFile: z.literal(PLAN_FILE_VERSION),
    // The hash's first 12 hex digits: what reviews and the audit trail call the plan.
    id: z.string().regex(/^[0-9a-f]{12}$/),
    // sha256 of the body as JSON: any edit to the body changes it.
    hash: sha256,
    body: PlanBodySchema,
  })
  .describe('A saved plan (runbook plan -o): what a dry run found, bound to what it was planned against');
export type PlanFile = z.infer<typeof PlanFileSchema>;

function planBodyHash(body: PlanBody): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

export function sealPlan(body: PlanBody): PlanFile {
  const hash = planBodyHash(body);
  return { planFile: PLAN_FILE_VERSION, id: hash.slice(0, 12), hash, body };
}

/** Where a plan can be written: checked before the dry run, so a typo costs no run. */
export function checkPlanOut(file: string): void {
  const dir = dirname(resolve(file));
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UserError({ message: `-o ${file}: cannot write in ${dir} (missing, or not writable)`, hint: 'give a path in an existing directory you can write to' });
  }
}

/** Written whole or not at all (a reviewer must never sign half a plan), and only if it can be read back. */
export function writePlanFile(file: string, plan: PlanFile): void {
  const text = `${JSON.stringify(plan, null, 2)}\n`;
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) {
    throw new UserError({ message: `plan ${plan.id} is ${Buffer.byteLength(text)} bytes, more than the ${MAX_FILE_BYTES} a plan may be; nothing was written to ${file}`, hint: 'plan fewer hosts at a time (--hosts)' });
  }
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new UserError({ message: `cannot write the plan to ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, hint: 'check the path and its permissions; the dry run is in the audit trail' });
  }
}

export const REMAKE_PLAN = 'make a new plan with `runbook plan`';

/**
 * Reads and checks a plan file: its format, its own hash (an edited plan is refused) and, when
 * `now` is given, its expiry. Every refusal is one located line.
 */
export function readPlanFile(file: string, now?: Date): PlanFile {
  return parsePlanFile(readSourceFile(file, 'plan'), file, now);
}

/**
 * readPlanFile, with the bytes it checked: signatures are verified over these, so a file swapped
 * after the check cannot borrow another plan's approvals. (Not valid UTF-8: the bytes differ, and
 * no signature verifies.)
 */
export function readPlanFileBytes(file: string, now?: Date): { plan: PlanFile; bytes: Buffer } {
  const text = readSourceFile(file, 'plan');
  return { plan: parsePlanFile(text, file, now), bytes: Buffer.from(text, 'utf8') };
}

function parsePlanFile(text: string, file: string, now?: Date): PlanFile {
  const src = parseYaml(text, file);
  if (src.problems.length) throw new UserError(src.problems);
  const parsed = PlanFileSchema.safeParse(src.value);
  if (!parsed.success) {
    const problems: Problem[] = zodProblems(src, PlanFileSchema, parsed.error.issues).map((p) => ({ ...p, hint: p.hint ?? `this is not a plan runbook can read; ${REMAKE_PLAN}` }));
    throw new UserError(problems);
  }
  const plan = parsed.data;
  const actual = planBodyHash(plan.body);
  if (actual !== plan.hash || plan.id !== plan.hash.slice(0, 12)) {
    throw new UserError({
      message: `${file}: plan ${plan.id} was edited after it was written (its content hashes to ${actual.slice(0, 12)}, not ${plan.hash.slice(0, 12)})`,
      hint: `a plan runs exactly as reviewed or not at all; ${REMAKE_PLAN}`,
    });
  }
  if (Date.parse(plan.body.planned.expires) - Date.parse(plan.body.planned.at) > MAX_PLAN_TTL_MS) {
    throw new UserError({ message: `${file}: plan ${plan.id} is valid for longer than ${MAX_PLAN_TTL_MS / 86_400_000} days, which runbook plan never writes`, hint: REMAKE_PLAN });
  }
  if (now && Date.parse(plan.body.planned.expires) <= now.getTime()) {
    throw new UserError({
      message: `${file}: plan ${plan.id} expired at ${plan.body.planned.expires} (made by ${plan.body.planned.by} at ${plan.body.planned.at})`,
      hint: `the fleet may have changed since; ${REMAKE_PLAN}`,
    });
  }
  return plan;
}
