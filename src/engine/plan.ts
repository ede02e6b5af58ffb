/**
 * The plan is data: every host's steps with their commands already rendered, before any host is
 * touched. A template error therefore stops the run before the first connection, dry-run shows
 * exactly what apply would send, and an approval is a decision about a value the operator saw.
 */
import type { CommandTemplate, Expectation, Host, Runbook, Step } from '../model/types.js';
import { UserError } from '../model/errors.js';

export interface RenderedCommand {
  /** Sent to the host verbatim (secrets included). Never put this in an event. */
  command: string;
  /** The same command with secrets masked: what every output shows. */
  display: string;
}

/** Renders one template for one host. The CLI wires the model's templating in here. */
export type CommandRenderer = (host: Host, step: Step, template: CommandTemplate) => RenderedCommand;

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
}

export interface HostPlan {
  host: Host;
  steps: PlannedStep[];
}

export type RunMode = 'dry-run' | 'apply';

export interface Plan {
  runbook: Runbook;
  mode: RunMode;
  hosts: HostPlan[];
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
  };
}

export function buildPlan(runbook: Runbook, hosts: Host[], render: CommandRenderer, opts: PlanOptions): Plan {
  return {
    runbook,
    mode: opts.mode,
    hosts: hosts.map((host) => ({
      host,
      steps: runbook.steps.map((step, i) => planStep(host, runbook, step, i, render, opts.become)),
    })),
  };
}
