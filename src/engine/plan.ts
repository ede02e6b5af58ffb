/**
 * The plan is plain, versioned data (docs/plan.md, plan-schema.ts): every host's steps with their
 * commands already rendered, before any host is touched. A template error therefore stops the run
 * before the first connection, dry-run shows exactly what apply would send, and an approval is a
 * decision about a value the operator saw. What only exists at run time (values registered by
 * earlier steps, `hosts.*` and `groups.*` of them) stays a reference, `{{ name }}`, in a step marked
 * `deferred`, rendered on the host's turn by the run's renderer (FleetBindings.render). No closure,
 * proxy or class instance lives in a plan: JSON.parse(JSON.stringify(plan)) is the same plan.
 */
import type { CommandTemplate, Expectation, Host, Runbook, Step } from '../model/types.js';
import type { RegisteredValues } from './registry.js';
import { analyzeRunbook, type RunbookDeps } from '../model/runbook-deps.js';
import { DEFAULT_DRAIN_TIMEOUT_MS, drainPlan, type DrainPlan } from './node-drain.js';
import type { RenderedCommand } from './rendered.js';

export const PLAN_VERSION = 1;

export type { RenderedCommand } from './rendered.js';

/**
 * Renders one template for one host. `values`: the values earlier steps registered, when a
 * deferred step is rendered on its turn; 'references' for the plan's trial render, where every
 * value registered at run time renders as a reference (`{{ name }}`) and only names that can never
 * exist are errors.
 */
export type CommandRenderer = (host: Host, step: Step, template: CommandTemplate, values?: RegisteredValues | 'references') => RenderedCommand;

export interface PlannedStep {
  index: number;
  name: string;
  /** The source step, for its fleet-control fields (on/once/when/register/notify). */
  source: Step;
  check: RenderedCommand;
  expect?: Expectation;
  /** Empty for a check-only step. */
  fix: RenderedCommand[];
  /** Defaults to the check. */
  verify: RenderedCommand;
  /** Only meaningful when the verify is the check (a custom verify has no expectation). */
  verifyExpect?: Expectation;
  timeoutMs?: number;
  become: boolean;
  continueOnFailure: boolean;
  /** Programs the host must have before the check runs (the step's `needs`). */
  needs: string[];
  /** What the fix may change, captured before and after it (capture.ts): files (each path a shell word) and snapshot commands. */
  files: { path: RenderedCommand; sensitive: boolean }[];
  snapshot: RenderedCommand[];
  /** Prints what the one file would become. */
  preview?: RenderedCommand;
  /** What `runbook undo` runs after restoring the files (undo.ts). */
  undo?: RenderedCommand;
  /** A disruptive step: the node drained before the fix and uncordoned after it (node-drain.ts). */
  drain?: DrainPlan;
  /** Its commands read registered values: they hold references, and are rendered on the host's turn. */
  deferred?: boolean;
  /** Not this host's step (`on:` does not select it): nothing was rendered for it, and nothing runs. */
  elsewhere?: boolean;
}

export interface HostPlan {
  host: Host;
  steps: PlannedStep[];
  /** The runbook's handlers (index continues after the steps); run at the end only when notified. */
  handlers?: PlannedStep[];
}

export type RunMode = 'dry-run' | 'apply';

/** What a plan keeps of its runbook: enough to name it in the trail and to plan a once host on its turn. */
export interface PlanRunbook {
  name: string;
  file: string;
  /** sha256 of the runbook file's bytes. */
  hash: string;
  become?: boolean;
}

export interface Plan {
  planVersion: typeof PLAN_VERSION;
  runbook: PlanRunbook;
  mode: RunMode;
  /** --become: every command through sudo, whatever the runbook says. */
  become?: boolean;
  /** How draining goes around disruptive steps: --no-drain, or kubectl drain's --timeout. */
  drain?: DrainOptions;
  /** The runbook's steps and handlers, in order (a once host that is not a target is planned from these). */
  steps: Step[];
  handlers: Step[];
  /** What each step reads from earlier steps (model/runbook-deps.ts). */
  deps: RunbookDeps;
  hosts: HostPlan[];
}

export interface PlanOptions {
  mode: RunMode;
  /** --become: every command through sudo, whatever the runbook says. */
  become?: boolean;
  drain?: DrainOptions;
}

/** `off`: --no-drain (disruptive steps run with the pods in place); else how long a drain may take. */
export type DrainOptions = { off: true } | { timeoutMs: number };

/**
 * One step for one host. `values` as for CommandRenderer: a deferred step is planned with
 * 'references' and planned again with the registered values on the host's turn.
 */
export function planStep(
  host: Host,
  plan: Pick<Plan, 'runbook' | 'become' | 'drain'>,
  step: Step,
  index: number,
  renderAny: CommandRenderer,
  values?: RegisteredValues | 'references',
): PlannedStep {
  const render = (h: Host, s: Step, t: CommandTemplate): RenderedCommand => renderAny(h, s, t, values);
  const check = render(host, step, step.check);
  return {
    index,
    name: step.name,
    source: step,
    check,
    ...(step.expect ? { expect: step.expect } : {}),
    fix: step.fix.map((t) => render(host, step, t)),
    verify: step.verify ? render(host, step, step.verify) : check,
    ...(!step.verify && step.expect ? { verifyExpect: step.expect } : {}),
    ...(step.timeoutMs !== undefined ? { timeoutMs: step.timeoutMs } : {}),
    // A local step runs on the controller as the operator: sudo there would be root on the
    // operator's own machine, which neither --become, the runbook nor the inventory asks for.
    become: !step.local && (plan.become || (step.become ?? plan.runbook.become ?? host.become ?? false)),
    continueOnFailure: step.continueOnFailure,
    needs: step.needs,
    files: step.files.map((f) => ({ path: render(host, step, f.path), sensitive: f.sensitive })),
    snapshot: step.snapshot.map((t) => render(host, step, t)),
    ...(step.preview ? { preview: render(host, step, step.preview) } : {}),
    ...(step.undo ? { undo: render(host, step, step.undo) } : {}),
    ...(step.disruptive ? drainFor(host, step, plan) : {}),
    ...(values === 'references' ? { deferred: true } : {}),
  };
}

/** A disruptive step's drain on this host; hosts with no known node are refused before (model/drain-targets.ts). */
function drainFor(host: Host, step: Step, plan: Pick<Plan, 'runbook' | 'drain'>): { drain?: DrainPlan } {
  const opts = plan.drain;
  if (opts && 'off' in opts) return {};
  if (!host.kubeNode) throw new Error(`internal: step "${step.name}" is disruptive and host ${host.name} is no known Kubernetes node`);
  return { drain: drainPlan(host.kubeNode, plan.runbook.name, opts?.timeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS) };
}

const NOTHING: RenderedCommand = { command: '', display: '' };

/**
 * `render`: the run's renderer; `select`: the hosts an `on:` pattern selects. A step is rendered
 * only for the hosts it runs on: a step `on: etcd` may use vars only the etcd hosts have.
 */
export function buildPlan(runbook: Runbook, hosts: Host[], bindings: { render: CommandRenderer; select(pattern: string): Host[] }, opts: PlanOptions): Plan {
  const deps = analyzeRunbook(runbook);
  const render = bindings.render;
  const onSets = new Map([...runbook.steps, ...runbook.handlers].flatMap((s) => (s.on ? [[s.on, new Set(bindings.select(s.on).map((h) => h.name))] as const] : [])));
  const head = {
    runbook: { name: runbook.name, file: runbook.file, hash: runbook.hash, ...(runbook.become !== undefined ? { become: runbook.become } : {}) },
    ...(opts.become ? { become: true } : {}),
    ...(opts.drain ? { drain: opts.drain } : {}),
  };
  const plan1 = (host: Host, step: Step, i: number, d: { deferred: boolean }): PlannedStep =>
    step.on && !onSets.get(step.on)!.has(host.name)
      ? { ...planStep(host, head, step, i, () => NOTHING), elsewhere: true }
      : planStep(host, head, step, i, render, d.deferred ? 'references' : undefined);
  return {
    planVersion: PLAN_VERSION,
    ...head,
    mode: opts.mode,
    steps: runbook.steps,
    handlers: runbook.handlers,
    deps,
    hosts: hosts.map((host) => ({
      host,
      steps: runbook.steps.map((step, i) => plan1(host, step, i, deps.steps[i]!)),
      ...(runbook.handlers.length ? { handlers: runbook.handlers.map((h, j) => plan1(host, h, runbook.steps.length + j, deps.handlers[j]!)) } : {}),
    })),
  };
}
