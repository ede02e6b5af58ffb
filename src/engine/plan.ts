/**
 * The plan is data: every host's steps with their commands already rendered, before any host is
 * touched. A template error therefore stops the run before the first connection, dry-run shows
 * exactly what apply would send, and an approval is a decision about a value the operator saw.
 */
import type { CommandTemplate, Expectation, Host, Runbook, Step } from '../model/types.js';
import { UserError } from '../model/errors.js';
import type { RegisteredValues } from './registry.js';
import { analyzeRunbook, type RunbookDeps } from '../model/runbook-deps.js';

export interface RenderedCommand {
  /** Sent to the host verbatim (secrets included). Never put this in an event. */
  command: string;
  /** The same command with secrets masked: what every output shows. */
  display: string;
}

/**
 * Renders one template for one host. The CLI wires the model's templating in here. `registered`
 * (values earlier steps registered) is given when a step that reads them is rendered on its turn.
 */
export type CommandRenderer = (host: Host, step: Step, template: CommandTemplate, registered?: RegisteredValues) => RenderedCommand;

export interface PlannedStep {
  index: number;
  name: string;
  /** The source step, for strategies that need its fleet-control fields (on/once/when/register). */
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
  /** Its commands read registered values: these are a trial render, re-rendered on the host's turn. */
  deferred?: boolean;
}

export interface HostPlan {
  host: Host;
  steps: PlannedStep[];
  /** The runbook's handlers (index continues after the steps); run at the end only when notified. */
  handlers?: PlannedStep[];
}

export type RunMode = 'dry-run' | 'apply';

export interface Plan {
  runbook: Runbook;
  mode: RunMode;
  hosts: HostPlan[];
  /** For rendering deferred steps on their turn, and targeting (fleet.ts). */
  render?: CommandRenderer;
  become?: boolean;
  /** What each step reads from earlier steps (model/runbook-deps.ts). */
  deps?: RunbookDeps;
}

export interface PlanOptions {
  mode: RunMode;
  /** --become: every command through sudo, whatever the runbook says. */
  become?: boolean;
}

/**
 * sshd and `sh -c` take the command as a C string: a NUL would silently cut it short there, and
 * the host would run a different command than the one approved. Refused before any host is touched.
 */
function renderWhole(render: CommandRenderer): CommandRenderer {
  return (host, step, template) => {
    const out = render(host, step, template);
    if (out.command.includes('\0')) {
      throw new UserError({
        pos: template.pos,
        message: `a value substituted into this command (step "${step.name}", host ${host.name}) contains a NUL byte, which no remote command can receive`,
        hint: 'remove the NUL from the value; to send binary data, encode it (e.g. base64) and decode it on the host',
      });
    }
    return out;
  };
}

export function planStep(host: Host, runbook: Runbook, step: Step, index: number, renderAny: CommandRenderer, become?: boolean): PlannedStep {
  const render = renderWhole(renderAny);
  const check = render(host, step, step.check);
  return {
    index,
    name: step.name,
    source: step,
    check,
    expect: step.expect,
    fix: step.fix.map((t) => render(host, step, t)),
    verify: step.verify ? render(host, step, step.verify) : check,
    verifyExpect: step.verify ? undefined : step.expect,
    timeoutMs: step.timeoutMs,
    become: become || (step.become ?? runbook.become ?? host.become ?? false),
    continueOnFailure: step.continueOnFailure,
    needs: step.needs,
  };
}

/**
 * Stand-in for a value that will only exist at run time, for a trial render in the plan: any
 * path into it exists, so only names that can never exist are reported before the run.
 */
function anyValue(): unknown {
  const handler: ProxyHandler<object> = {
    get: (_t, key) => (key === 'toJSON' ? () => '…' : key === Symbol.toPrimitive ? () => '…' : proxy),
    getOwnPropertyDescriptor: () => ({ configurable: true, enumerable: true, writable: false, value: proxy }),
    has: () => true,
  };
  const proxy: object = new Proxy({}, handler);
  return proxy;
}

/** Registered values that will exist at run time, as stand-ins: a trial render then reports only names that can never exist. */
const trialValues = (names: string[], targets: string[]): RegisteredValues => {
  const rec = Object.fromEntries(names.map((n) => [n, anyValue()]));
  const byHost = new (class extends Map<string, Record<string, unknown>> {
    override get(): Record<string, unknown> {
      return rec;
    }
  })();
  return { own: rec, byHost, targets };
};

export function buildPlan(runbook: Runbook, hosts: Host[], render: CommandRenderer, opts: PlanOptions): Plan {
  const deps = analyzeRunbook(runbook);
  const all = [...runbook.steps, ...runbook.handlers];
  const trial = trialValues(
    [...new Set(all.flatMap((s) => (s.register ? [s.register] : [])))],
    hosts.map((h) => h.name),
  );
  const trialRender: CommandRenderer = (h, s, t) => render(h, s, t, trial);
  const plan1 = (host: Host, step: Step, i: number, d: { deferred: boolean }): PlannedStep =>
    d.deferred ? { ...planStep(host, runbook, step, i, trialRender, opts.become), deferred: true } : planStep(host, runbook, step, i, render, opts.become);
  return {
    runbook,
    mode: opts.mode,
    render,
    deps,
    ...(opts.become ? { become: true } : {}),
    hosts: hosts.map((host) => ({
      host,
      steps: runbook.steps.map((step, i) => plan1(host, step, i, deps.steps[i]!)),
      ...(runbook.handlers.length ? { handlers: runbook.handlers.map((h, j) => plan1(host, h, runbook.steps.length + j, deps.handlers[j]!)) } : {}),
    })),
  };
}
