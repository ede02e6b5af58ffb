/**
 * Renders every command of a runbook for every given host, as a plan would, and returns every
 * problem at once instead of the first: undefined names (with "did you mean"), unavailable
 * secrets, NUL bytes, and values read before any step registers them. `validate -i`, `show
 * --hosts` and `apply` all call this before anything else, so they accept and refuse the same
 * files. Values registered by earlier steps are references here (their steps are rendered again on
 * the host's turn). A step `on: PATTERN` is rendered only for the hosts the pattern selects (a once
 * step's host may be any of them), as the plan does. The names a `when:` reads are checked on the
 * same hosts: the condition is evaluated only on the host's turn, where an undefined name would
 * stop the run halfway.
 */
import { conditionRefs, type ConditionNode } from './condition.js';
import { drainTargetProblems } from './drain-targets.js';
import { UserError, formatProblem, type Problem } from './errors.js';
import { selectHosts } from './host-pattern.js';
import { runbookDeps } from './runbook-deps.js';
import { buildTemplateContext, readTooEarly, readsRegistered, renderCommand, undefinedNameHint, type TemplateContext } from './template.js';
import { stepTemplates, type Host, type Inventory, type Runbook, type Step } from './types.js';

export interface RenderCheckOptions {
  cliVars?: Record<string, string>;
  /** validate: secrets are not needed to check the commands (apply needs them). */
  secretsNeeded: boolean;
  /** --no-drain: disruptive steps need no known Kubernetes node. */
  noDrain?: boolean;
}

/** What each step (steps, then handlers: run order) may read of the registered names. */
interface RegisterOrder {
  /** Registered by earlier steps: values at run time. */
  earlier: Set<string>;
  /** Registered only by this step or later ones (→ the first such step): not yet there. */
  later: Map<string, string>;
}

function registerOrder(steps: readonly Step[]): RegisterOrder[] {
  return steps.map((_, i) => {
    const earlier = new Set(steps.slice(0, i).flatMap((s) => (s.register ? [s.register] : [])));
    const later = new Map<string, string>();
    for (const s of steps.slice(i)) if (s.register && !earlier.has(s.register) && !later.has(s.register)) later.set(s.register, s.name);
    return { earlier, later };
  });
}

const BUILT_INS = new Set(['host', 'hosts', 'groups', 'inventory']);

/**
 * The names a step's `when:` reads that will not exist on this host when it is evaluated. A name
 * the condition tests with defined() may be missing; host.*, hosts.* and groups.* are looked up
 * on the host's turn.
 */
function conditionProblems(step: Step, condition: ConditionNode, ctx: TemplateContext, order: RegisterOrder): Problem[] {
  const refs = conditionRefs(condition);
  const tested = new Set(refs.defined.map((p) => p[0]));
  const problems: Problem[] = [];
  for (const path of refs.paths) {
    const head = path[0]!;
    if (BUILT_INS.has(head) || tested.has(head) || readsRegistered(path, order.earlier) || Object.hasOwn(ctx.vars, head)) continue;
    const registrar = order.later.get(head);
    problems.push({
      pos: step.when!.pos,
      host: ctx.where.host,
      ...(registrar !== undefined
        ? readTooEarly(step.name, path, registrar)
        : {
            message: `undefined variable "${path.join('.')}" in the when: of step "${step.name}" for host ${ctx.where.host}`,
            hint: `${undefinedNameHint(path, [...Object.keys(ctx.vars), ...order.earlier])}, or test it with defined(${path.join('.')})`,
          }),
    });
  }
  return problems;
}

/** Each step's `on:` pattern must select hosts of the inventory: one problem per pattern, at its step. */
export function onPatternProblems(runbook: Runbook, inventory: Inventory): Problem[] {
  const problems: Problem[] = [];
  for (const s of [...runbook.steps, ...runbook.handlers]) {
    if (!s.on) continue;
    try {
      selectHosts(inventory, s.on);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      for (const p of e.problems) problems.push({ pos: s.pos, message: `step "${s.name}": on: ${p.message}`, hint: p.hint });
    }
  }
  return problems;
}

export function renderProblems(runbook: Runbook, inventory: Inventory, hosts: readonly Host[], opts: RenderCheckOptions): Problem[] {
  // Which hosts a step runs on decides where it is rendered: a bad `on:` first, at its step.
  const patterns = onPatternProblems(runbook, inventory);
  if (patterns.length) return patterns;
  const drains = opts.noDrain ? [] : drainTargetProblems(runbook, hosts);
  if (drains.length) return drains;
  const steps = [...runbook.steps, ...runbook.handlers];
  const orders = registerOrder(steps);
  const { deps } = runbookDeps(runbook);
  const conditions = [...deps.steps, ...deps.handlers].map((d) => d.condition);
  const problems: Problem[] = [];
  // One problem per place in the file: the same undefined name on forty hosts is one line (the first host's).
  const seen = new Set<string>();
  const report = (ps: readonly Problem[], host: Host): void => {
    for (const p of ps) {
      const key = formatProblem({ ...p, message: p.message.replace(` for host ${host.name}`, '') });
      if (seen.has(key)) continue;
      seen.add(key);
      problems.push(p);
    }
  };
  const onSets = new Map<string, Set<string>>();
  const runsOn = (pattern: string, host: string): boolean => {
    let set = onSets.get(pattern);
    if (!set) onSets.set(pattern, (set = new Set(selectHosts(inventory, pattern).map((h) => h.name))));
    return set.has(host);
  };
  const onceHosts = new Set(steps.flatMap((s) => (s.once && s.on ? selectHosts(inventory, s.on).map((h) => h.name) : [])));
  for (const host of [...hosts, ...inventory.hosts.filter((h) => onceHosts.has(h.name) && !hosts.includes(h))]) {
    const ctx = buildTemplateContext({ runbook, inventory, host, cliVars: opts.cliVars ?? {} });
    for (const [i, step] of steps.entries()) {
      const target = hosts.includes(host);
      if (step.once && step.on ? !runsOn(step.on, host.name) : !target || (step.on !== undefined && !runsOn(step.on, host.name))) continue;
      const order = orders[i]!;
      const condition = conditions[i];
      if (condition) report(conditionProblems(step, condition, ctx, order), host);
      for (const t of stepTemplates(step)) {
        try {
          renderCommand(t, ctx, { step: step.name, references: order.earlier, registeredLater: order.later, unavailableSecretsOk: !opts.secretsNeeded });
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
          report(err.problems, host);
        }
      }
    }
  }
  return problems;
}
