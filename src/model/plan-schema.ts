/**
 * The plan's format (docs/plan.md) as a zod schema: what a plan written to a file must hold to be
 * read back, and (`runbook schema plan`) its JSON Schema. The engine's Plan type (engine/plan.ts)
 * and this schema are checked against each other by the type checker (test/unit/plan-data.test.ts),
 * so neither can change alone.
 */
import { z } from 'zod';
import type { ConditionNode } from './condition.js';
import { CONNECTION_KINDS } from './types.js';

const Pos = z.strictObject({ file: z.string(), line: z.int().min(1), col: z.int().min(1) });
const Template = z.strictObject({ text: z.string(), pos: Pos, placeholderPos: z.array(Pos).optional() });
const Expectation = z.strictObject({ kind: z.enum(['equals', 'regex']), value: z.string() });
const Path = z.array(z.string()).describe('A dotted name, split: hosts.d.mac is ["hosts", "d", "mac"]');

const StepSchema = z.strictObject({
  name: z.string(),
  pos: Pos,
  check: Template,
  expect: Expectation.optional(),
  fix: z.array(Template),
  verify: Template.optional(),
  timeoutMs: z.int().min(1).optional(),
  continueOnFailure: z.boolean(),
  become: z.boolean().optional(),
  local: z.boolean().optional(),
  disruptive: z.boolean().optional(),
  needs: z.array(z.string()),
  when: Template.optional(),
  on: z.string().optional(),
  once: z.boolean(),
  register: z.string().optional(),
  json: z.boolean(),
  notify: z.array(z.string()),
  fixedBy: z.string().optional(),
  refuseExit: z.int().optional(),
  drift: z.union([z.strictObject({ kind: z.enum(['exit', 'output']) }), z.strictObject({ kind: z.literal('regex'), value: z.string() })]).optional(),
  files: z.array(z.strictObject({ path: Template, sensitive: z.boolean() })),
  snapshot: z.array(Template),
  preview: Template.optional(),
  undo: Template.optional(),
  noUndo: z.string().optional(),
  confirmMs: z.int().optional(),
});

const compareOp = z.enum(['==', '!=', '<', '<=', '>', '>=', 'in', 'not in']);
const ConditionSchema: z.ZodType<ConditionNode> = z.lazy(() =>
  z.union([
    z.strictObject({ kind: z.literal('literal'), value: z.unknown() }),
    z.strictObject({ kind: z.literal('list'), items: z.array(ConditionSchema) }),
    z.strictObject({ kind: z.literal('path'), path: Path }),
    z.strictObject({ kind: z.literal('changed'), step: z.string() }),
    z.strictObject({ kind: z.literal('defined'), path: Path }),
    z.strictObject({ kind: z.literal('len'), arg: ConditionSchema }),
    z.strictObject({ kind: z.literal('not'), arg: ConditionSchema }),
    z.strictObject({ kind: z.enum(['and', 'or']), left: ConditionSchema, right: ConditionSchema }),
    z.strictObject({ kind: z.literal('compare'), op: compareOp, left: ConditionSchema, right: ConditionSchema }),
  ]),
);

const StepDepsSchema = z.strictObject({
  condition: ConditionSchema.optional(),
  registeredPaths: z.array(Path),
  changed: z.array(z.string()),
  deferred: z.boolean(),
  barrier: z.boolean(),
});

const HostSchema = z.strictObject({
  name: z.string(),
  address: z.string(),
  port: z.int().min(1).max(65535),
  user: z.string(),
  groups: z.array(z.string()),
  vars: z.record(z.string(), z.unknown()),
  secretVars: z.array(z.string()),
  connection: z.enum(CONNECTION_KINDS),
  identityFile: z.string().optional(),
  knownHostsFile: z.string().optional(),
  proxyJump: z.string().optional(),
  become: z.boolean().optional(),
  becomePassword: z.string().optional(),
  becomePasswordError: z.string().optional(),
  defaulted: z.array(z.enum(['user', 'port', 'address'])).optional(),
  kubeNode: z.strictObject({ name: z.string(), kubeconfig: z.string().optional(), context: z.string().optional() }).optional(),
  pos: Pos.optional(),
});

const Rendered = z
  .strictObject({
    command: z.string().describe('Sent to the host verbatim, secrets included'),
    display: z.string().describe('The same with secrets masked: the approval prompt, show, the audit trail'),
    brief: z.string().optional().describe('The display with bulky values summarised ({{ lease_lib: 84 lines }}): the dry-run plan and run lines'),
  })
  .describe('A command rendered for one host; in a deferred step, values registered at run time are still {{ }} references');

const PlannedStepSchema = z.strictObject({
  index: z.int().min(0),
  name: z.string(),
  source: StepSchema,
  check: Rendered,
  expect: Expectation.optional(),
  fix: z.array(Rendered),
  verify: Rendered,
  verifyExpect: Expectation.optional(),
  timeoutMs: z.int().min(1).optional(),
  become: z.boolean(),
  continueOnFailure: z.boolean(),
  needs: z.array(z.string()),
  files: z.array(z.strictObject({ path: Rendered, sensitive: z.boolean() })),
  snapshot: z.array(Rendered),
  preview: Rendered.optional(),
  undo: Rendered.optional(),
  drain: z
    .strictObject({ node: z.string(), schedulable: Rendered, mark: Rendered, drain: Rendered, uncordon: Rendered, timeoutMs: z.int().min(1) })
    .optional()
    .describe('A disruptive step: the node is cordoned and drained (on this machine, through kubectl) before the fix, and uncordoned after the verify passes if it was schedulable'),
  deferred: z.boolean().optional().describe('Reads registered values: rendered again on the host\'s turn'),
  elsewhere: z.boolean().optional().describe('Not this host\'s step (on:): nothing rendered, nothing runs'),
});

export const PlanSchema = z
  .strictObject({
    planVersion: z.literal(1),
    runbook: z.strictObject({ name: z.string(), file: z.string(), hash: z.string(), become: z.boolean().optional() }),
    mode: z.enum(['dry-run', 'apply']),
    become: z.boolean().optional(),
    drain: z.union([z.strictObject({ off: z.literal(true) }), z.strictObject({ timeoutMs: z.int().min(1) })]).optional().describe('--no-drain, or how long draining a node may take'),
    steps: z.array(StepSchema),
    handlers: z.array(StepSchema),
    deps: z.strictObject({ steps: z.array(StepDepsSchema), handlers: z.array(StepDepsSchema) }),
    hosts: z.array(
      z.strictObject({
        host: HostSchema,
        steps: z.array(PlannedStepSchema),
        handlers: z.array(PlannedStepSchema).optional(),
      }),
    ),
  })
  .describe('A runbook planned for its hosts: every command rendered before any host is touched');
