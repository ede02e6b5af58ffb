/** The runbook YAML format, strict: any unknown key is an error. `runbook schema runbook` prints it as JSON Schema. */
import { z } from 'zod';
import { DURATION_RE } from './duration.js';
import { VarsSchema } from './var-schema.js';

const Command = z.string().min(1, 'command is empty');
const Commands = z.union([Command, z.array(Command)], { error: 'expected a command or a list of commands' });
const TOOL_HINT = 'expected a program name such as "jq", or a list of them';
const Tools = z.union([z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, TOOL_HINT), z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, TOOL_HINT))], { error: TOOL_HINT });
const DURATION_HINT = 'expected a duration such as "30s", "2m", "500ms", or a number of seconds';
const Duration = z.union([z.number().positive(DURATION_HINT), z.string().regex(DURATION_RE, DURATION_HINT)], { error: DURATION_HINT });
const CountOrPercent = (what: string) =>
  z.union([z.int().nonnegative(`expected ${what} as a number or a percentage such as "25%"`), z.string().regex(/^\d+(\.\d+)?%$/, `expected ${what} as a number or a percentage such as "25%"`)], {
    error: `expected ${what} as a number or a percentage such as "25%"`,
  });

/** What a runbook's name may be: also all that `list --names` prints (shell completion reads it). */
export const RUNBOOK_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const RunbookName = z.string().regex(RUNBOOK_NAME_RE, 'runbook names are letters, digits, ., _ and -');

export const StepSchema = z
  .strictObject({
    name: z.string().min(1).describe('Shown in output and the audit trail; unique within the runbook'),
    check: Command.describe('Read-only command; the step is healthy when it exits 0 (and matches expect)'),
    expect: z
      .union([z.string(), z.number(), z.strictObject({ regex: z.string().min(1) })], {
        error: 'expected a string (exact stdout) or { regex: "..." }',
      })
      .optional()
      .describe('Exact stdout (trailing newline ignored), or { regex } matched against stdout'),
    fix: Commands.optional()
      .describe('Command(s) that repair the host; a list runs in order and stops at the first failure'),
    verify: Command.optional().describe('Run after the fix; defaults to the check'),
    timeout: Duration.optional().describe('Per-command deadline, e.g. "30s" or "2m"'),
    continue_on_failure: z.boolean().optional().describe("A failure here does not block this host's later steps"),
    become: z.boolean().optional().describe('Run through sudo'),
    local: z
      .boolean()
      .optional()
      .describe("Run on the controller (this machine, as you, never through sudo) instead of the host, once per target host with that host's vars, like Ansible's delegate_to: localhost; for kubectl and other tools of the operator's"),
    disruptive: z
      .boolean()
      .optional()
      .describe("The fix disrupts the node's pods (deletes their bridge, restarts the runtime): runbook cordons and drains the Kubernetes node before it and uncordons it after the verify passes, one node at a time; the host must come from a kubernetes: inventory (or run with --no-drain)"),
    needs: Tools.optional().describe("Programs this step's commands run; a host without one fails the step (\"needs jq on d\") before its check runs"),
    on: z.string().min(1).optional().describe('Host pattern this step runs on instead of the target'),
    once: z.boolean().optional().describe('Run once (on the first reachable host of `on`) instead of on every target'),
    register: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'register names are letters, digits and _')
      .optional()
      .describe('Store stdout as this var; other hosts read {{ hosts.<name>.<var> }}'),
    json: z.boolean().optional().describe('Parse the registered stdout as JSON'),
    when: z.string().min(1).optional().describe('Condition evaluated by the controller; the step runs only when it holds'),
    notify: z.union([z.string().min(1), z.array(z.string().min(1))]).optional().describe('Handler(s) to run when this step fixed something'),
    refuse_exit: z
      .int()
      .min(1, 'refuse_exit is an exit code from 1 to 255')
      .max(255, 'refuse_exit is an exit code from 1 to 255')
      .optional()
      .describe("The check's exit code for \"broken, and this step's fix must not run here\": the step fails with the check's last line, and no fix is proposed (dry run) or run (apply)"),
    drift: z
      .union([z.enum(['exit', 'output']), z.strictObject({ regex: z.string().min(1) })], { error: 'expected exit, output or { regex: "..." }' })
      .optional()
      .describe('apply --plan: what of the check must still be as planned for the fix to run: exit (its exit code), output (default: exit code and output), or { regex } (exit code and the regex\'s matches, for checks that print volatile values)'),
    files: z
      .array(z.union([z.string().min(1), z.strictObject({ path: z.string().min(1), sensitive: z.boolean().optional() })], { error: 'expected a path, or { path, sensitive: true }' }))
      .optional()
      .describe('Files the fix may change: captured (content, mode, owner, link) before and after it and shown as a diff; sensitive: true keeps only digests'),
    snapshot: Commands.optional()
      .describe('Read-only commands whose output the fix changes (the filter table of iptables-save): captured before and after it and shown as a diff'),
    preview: Command.optional().describe("Read-only command that prints what the step's one file would become: dry runs and the approval prompt show the diff"),
    undo: Command.optional().describe('What `runbook undo` runs to put back what the fix changed, after restoring the step\'s files; $BEFORE_1… hold the snapshot outputs captured before the fix. Needs files or snapshot: undo runs only while they are as the fix left them'),
    confirm: Duration.optional().describe('For a fix that may cut the connection: a watchdog armed on the host before it puts back what the step captured after this long (e.g. "60s") unless runbook confirms, which it does once the verify passes'),
    no_undo: z.string().min(1).optional().describe('Why the fix has no undo (a restart has no inverse, …): `runbook undo` says so instead of undoing'),
    fixed_by: RunbookName.optional().describe('The runbook that fixes what this (check-only) step finds: the recap ends with `runbook apply <it> --hosts <where it was found>`'),
  })
  .describe('One check → fix → verify step');

export const RunbookSchema = z
  .strictObject({
    name: RunbookName.optional().describe('Defaults to the file name'),
    description: z.string().optional().describe('One line, shown by `runbook list`'),
    vars: VarsSchema.optional().describe('Lowest-precedence vars; a value may be { secret: true, value | env | file }'),
    hosts: z.string().min(1).optional().describe('Default targets (a host pattern) when apply gets no --hosts, e.g. workers, so that a bare apply never sweeps in the control plane'),
    serial: CountOrPercent('a batch size').optional().describe('Hosts per batch: a number or "25%"'),
    max_failures: CountOrPercent('a failure limit').optional().describe('Stop starting new work after this many failed hosts: a number or "10%"'),
    become: z.boolean().optional().describe('Run every step through sudo unless a step says otherwise'),
    needs: Tools.optional().describe('Programs every step needs (added to each step\'s own needs)'),
    steps: z.array(StepSchema).min(1, 'a runbook needs at least one step'),
    handlers: z.array(StepSchema).optional().describe('Steps run once at the end, only when notified'),
  })
  .describe('A runbook: ordered check → fix → verify steps');

export type StepYaml = z.infer<typeof StepSchema>;
