/**
 * Renders every command of a runbook for every given host, as a plan would, and returns every
 * problem at once instead of the first: undefined names (with "did you mean"), unavailable
 * secrets, NUL bytes. `validate -i` and `apply` both call this before anything else, so they
 * accept and refuse the same files. Values registered at run time are references here (their
 * steps are rendered again on the host's turn). A step `on: PATTERN` is rendered only for the
 * hosts the pattern selects (a once step's host may be any of them), as the plan does.
 */
import { UserError, formatProblem, type Problem } from './errors.js';
import { selectHosts } from './host-pattern.js';
import { buildTemplateContext, renderCommand } from './template.js';
import type { Host, Inventory, Runbook } from './types.js';

export interface RenderCheckOptions {
  cliVars?: Record<string, string>;
  /** validate: secrets are not needed to check the commands (apply needs them). */
  secretsNeeded: boolean;
}

export function renderProblems(runbook: Runbook, inventory: Inventory, hosts: readonly Host[], opts: RenderCheckOptions): Problem[] {
  const steps = [...runbook.steps, ...runbook.handlers];
  const references = new Set(steps.flatMap((s) => (s.register ? [s.register] : [])));
  const problems: Problem[] = [];
  // One problem per place in the file: the same undefined name on forty hosts is one line (the first host's).
  const seen = new Set<string>();
  const onSets = new Map<string, Set<string>>();
  const runsOn = (pattern: string, host: string): boolean => {
    let set = onSets.get(pattern);
    if (!set) onSets.set(pattern, (set = new Set(selectHosts(inventory, pattern).map((h) => h.name))));
    return set.has(host);
  };
  const onceHosts = new Set(steps.flatMap((s) => (s.once && s.on ? selectHosts(inventory, s.on).map((h) => h.name) : [])));
  for (const host of [...hosts, ...inventory.hosts.filter((h) => onceHosts.has(h.name) && !hosts.includes(h))]) {
    const ctx = buildTemplateContext({ runbook, inventory, host, cliVars: opts.cliVars ?? {} });
    for (const step of steps) {
      const target = hosts.includes(host);
      if (step.once && step.on ? !runsOn(step.on, host.name) : !target || (step.on !== undefined && !runsOn(step.on, host.name))) continue;
      for (const t of [step.check, ...step.fix, ...(step.verify ? [step.verify] : [])]) {
        try {
          renderCommand(t, ctx, { step: step.name, references, unavailableSecretsOk: !opts.secretsNeeded });
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
          for (const p of err.problems) {
            const key = formatProblem({ ...p, message: p.message.replace(` for host ${host.name}`, '') });
            if (seen.has(key)) continue;
            seen.add(key);
            problems.push(p);
          }
        }
      }
    }
  }
  return problems;
}
