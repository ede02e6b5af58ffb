/**
 * Static analysis of what each step reads from earlier steps, done when the runbook is loaded, so
 * that validate, show and apply accept and refuse the same files: which commands must wait to be
 * rendered until registered values exist, which steps must wait for every host (they read
 * `hosts.<name>.<var>` of a per-host register, or anything under `groups.`), and the parsed
 * `when:` conditions. Problems (a bad condition, changed() of an unknown step, groups.<g>.<var>
 * of a name no earlier step registers) name the runbook's file:line:col.
 */
import { UserError, type Problem } from './errors.js';
import { rawTemplatePaths, readsRegistered, templatePaths } from './template.js';
import { stepTemplates, type Runbook, type Step } from './types.js';
import { ConditionSyntaxError, conditionRefs, parseCondition, type ConditionNode } from './condition.js';

export interface StepDeps {
  condition?: ConditionNode;
  /** Paths (in commands and the condition) that read a value registered by an earlier step. */
  registeredPaths: string[][];
  /** Steps named by changed("...") in the condition. */
  changed: string[];
  /** Commands read registered values: rendered on the host's turn, not in the plan. */
  deferred: boolean;
  /** Reads another host's per-host registered value, or groups.*: waits until every host has run the earlier steps. */
  barrier: boolean;
}

/** Per step, then per handler (index = steps.length + handler index), what it depends on. */
export interface RunbookDeps {
  steps: StepDeps[];
  handlers: StepDeps[];
}


/** The runbook's dependencies; throws a UserError listing every problem (see runbookDeps). */
export function analyzeRunbook(runbook: Runbook): RunbookDeps {
  const { deps, problems } = runbookDeps(runbook);
  if (problems.length) throw new UserError(problems);
  return deps;
}

export function runbookDeps(runbook: Pick<Runbook, 'steps' | 'handlers'>): { deps: RunbookDeps; problems: Problem[] } {
  const problems: Problem[] = [];
  /** name → whether only once steps registered it so far (no barrier needed to read it from another host). */
  const registered = new Map<string, { perHost: boolean }>();
  const earlierSteps = new Set<string>();
  const allRegistered = new Set([...runbook.steps, ...runbook.handlers].flatMap((s) => (s.register ? [s.register] : [])));

  const analyze = (step: Step): StepDeps => {
    const reads = (path: string[]): boolean => readsRegistered(path, registered);
    const unregistered = (paths: string[][], pos: Step['pos']): void => {
      for (const p of paths) {
        if (p[0] !== 'groups' || p.length < 3 || p[2] === 'hosts' || registered.has(p[2]!)) continue;
        problems.push({
          pos,
          message: `${p.join('.')} in step "${step.name}": no earlier step registers "${p[2]}"`,
          hint: 'groups.<group>.<var> reads values registered by earlier steps (register: <var>); groups.<group>.hosts lists the run\'s hosts in the group',
        });
      }
    };
    for (const t of stepTemplates(step)) unregistered(templatePaths(t.text), t.pos);
    // What a host sends back is never code: registered values (and hosts.*, groups.* of anything) are always quoted.
    for (const t of stepTemplates(step)) {
      for (const p of rawTemplatePaths(t.text)) {
        if (p[0] !== 'hosts' && p[0] !== 'groups' && !readsRegistered(p, allRegistered)) continue;
        problems.push({
          pos: t.pos,
          message: `{{ ${p.join('.')} | raw }} in step "${step.name}": ${p[0] === 'hosts' || p[0] === 'groups' ? `${p[0]}.* values come from other hosts and are` : `"${p[0]}" is registered from a host's output and is`} never substituted unquoted`,
          hint: 'drop "| raw": the value then reaches the shell as one quoted word',
        });
      }
    }
    const commandPaths = stepTemplates(step)
      .flatMap((t) => templatePaths(t.text))
      .filter(reads);
    let condition: ConditionNode | undefined;
    let conditionPaths: string[][] = [];
    let changed: string[] = [];
    if (step.when) {
      try {
        condition = parseCondition(step.when.text);
        const refs = conditionRefs(condition);
        unregistered(refs.paths, step.when.pos);
        conditionPaths = refs.paths.filter(reads);
        changed = refs.changed;
        for (const name of changed) {
          if (!earlierSteps.has(name)) {
            problems.push({
              pos: step.when.pos,
              message: `when: changed("${name}") in step "${step.name}" names no earlier step`,
              hint: 'changed() takes the name of a step that comes before this one',
            });
          }
        }
      } catch (err) {
        if (!(err instanceof ConditionSyntaxError)) throw err;
        problems.push({ pos: step.when.pos, message: `bad when: condition in step "${step.name}": ${err.message}`, hint: 'e.g. when: \'leases.count > 0 and not changed("restart flanneld")\'' });
      }
    }
    const registeredPaths = [...commandPaths, ...conditionPaths];
    const deps: StepDeps = {
      registeredPaths,
      changed,
      deferred: commandPaths.length > 0,
      barrier: registeredPaths.some((p) => p[0] === 'groups' || (p[0] === 'hosts' && registered.get(p[2]!)?.perHost === true)),
      ...(condition ? { condition } : {}),
    };
    if (step.register) registered.set(step.register, { perHost: !step.once || registered.get(step.register)?.perHost === true });
    earlierSteps.add(step.name);
    return deps;
  };

  const steps = runbook.steps.map(analyze);
  const handlers = runbook.handlers.map(analyze);
  return { deps: { steps, handlers }, problems };
}
