/**
 * `runbook resume RUN` on the CLI's side: the run to continue, read back from the audit trail, and
 * what carries over from it — its runbook (unchanged since), its hosts, its vars (a secret given
 * again, never read from the trail) and the steps it finished, which the engine does not run again.
 */
import { existsSync } from 'node:fs';
import { MASK, UserError, selectHosts, type Host, type Inventory, type Problem, type Runbook } from '../model/index.js';
import type { DoneStep, ResumeFrom } from '../engine/index.js';
import { findRun, type RunDetail } from '../report/history.js';
import { findTrustedRun } from '../report/trusted-run.js';

export interface ResumeSource {
  run: RunDetail;
  /** The runbook file the run loaded while it still exists there, else its name (the search path). */
  runbookRef: string;
  from: ResumeFrom;
}

const FRESH = 'start a fresh apply instead';

/** The run RUN names (an id, a unique prefix, or `last`: the newest apply), if it can be resumed. */
export function resumeSource(auditFile: string, ref: string): ResumeSource {
  const run = findTrustedRun(auditFile, ref, 'resume', { accept: (r) => r.mode === 'apply', what: 'apply run' });
  const id = run.runId;
  if (run.mode === 'dry-run') throw new UserError({ message: `run ${id} is a dry run of ${run.runbook}: it changed nothing, so there is nothing to resume`, hint: `run \`runbook apply ${run.runbook}\` again` });
  if (run.mode !== 'apply') throw new UserError({ message: `run ${id} has no run-start record in ${auditFile}: resume cannot tell what it ran`, hint: FRESH });
  if (run.plan) {
    throw new UserError({
      message: `run ${id} applied plan ${run.plan.id}: resumed outside that plan, it could make fixes nobody reviewed`,
      hint: `apply the plan again: \`runbook apply --plan ${run.plan.file}\` (what it fixed already checks ok)`,
    });
  }
  if (run.undoes) throw new UserError({ message: `run ${id} undoes run ${run.undoes}: resume continues applies of a runbook, not undos`, hint: `run \`runbook undo ${run.undoes}\` again` });
  if (run.exitCode === 0) throw new UserError({ message: `run ${id} ended with nothing left to do (exit 0)`, hint: `\`runbook history ${id}\` shows what it did` });
  if (!run.vars) throw new UserError({ message: `run ${id} was recorded without its vars (by a runbook older than resume), so resume cannot repeat them`, hint: FRESH });
  return { run, runbookRef: existsSync(run.runbookFile) ? run.runbookFile : run.runbook, from: { runId: id, done: doneSteps(auditFile, run) } };
}

/**
 * What the run, and the runs it resumed in turn, finished: per host, each step's last ok or fixed.
 * A later result replaces it, except `not-applicable`, which is how a resume reports a step it
 * skipped as done (a step that was not this host's never ended ok or fixed anywhere).
 */
function doneSteps(auditFile: string, run: RunDetail): Map<string, Map<string, DoneStep>> {
  const chain = [run];
  for (let r = run; r.resumes !== undefined && !chain.some((c) => c.runId === r.resumes); ) chain.unshift((r = findRun(auditFile, r.resumes)));
  const done = new Map<string, Map<string, DoneStep>>();
  for (const r of chain) {
    for (const h of r.perHost) {
      for (const s of h.steps) {
        let steps = done.get(h.host);
        if (!steps) done.set(h.host, (steps = new Map()));
        if (s.status === 'ok' || s.status === 'fixed') steps.set(s.step, { status: s.status, runId: r.runId });
        else if (s.status !== 'not-applicable') steps.delete(s.step);
      }
    }
  }
  return done;
}

/** The runbook must be the one the run used: its remaining steps continue what that one started. */
export function checkResumeRunbook(src: ResumeSource, runbook: Runbook): void {
  if (runbook.hash === src.run.runbookHash) return;
  throw new UserError({
    message: `runbook ${runbook.name} (${runbook.file}) changed since run ${src.run.runId}: sha256 ${runbook.hash.slice(0, 12)} now, ${src.run.runbookHash.slice(0, 12)} then`,
    hint: `restore the runbook the run used, or ${FRESH}`,
  });
}

/** The run's targets (not a once step's other hosts), in its order; `--hosts` narrows them. */
export function resumeHosts(src: ResumeSource, inventory: Inventory, pattern: string | undefined): Host[] {
  const id = src.run.runId;
  const once = new Set(src.run.onceHosts ?? []);
  const targets = src.run.hosts.filter((h) => !once.has(h));
  const chosen = pattern === undefined ? undefined : new Set(selectHosts(inventory, pattern).map((h) => h.name));
  const names = chosen ? targets.filter((h) => chosen.has(h)) : targets;
  if (names.length === 0) throw new UserError({ message: `--hosts ${pattern} selects none of run ${id}'s hosts (${targets.join(', ')})`, hint: 'leave --hosts out to resume them all' });
  const missing = names.filter((n) => !inventory.hosts.some((h) => h.name === n));
  if (missing.length) {
    throw new UserError({
      message: `run ${id}'s host${missing.length === 1 ? '' : 's'} ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not in inventory ${inventory.file}`,
      hint: 'use the inventory the run used (-i), or leave them out with --hosts',
    });
  }
  return names.map((n) => inventory.hosts.find((h) => h.name === n)!);
}

/**
 * The vars to resume (or undo) a run with: the run's own, since its commands are rendered again. A
 * var it recorded masked (a secret) comes from `given` (RUNBOOK_VAR_<name>, --var-file, --var),
 * else from `ask` (a terminal), never from the trail; any other var given must be the run's.
 */
export async function runVars(
  src: { run: Pick<RunDetail, 'runId' | 'vars'> },
  given: Record<string, string>,
  ask: ((name: string) => Promise<string>) | undefined,
  what: 'resume' | 'undo',
): Promise<Record<string, string>> {
  const id = src.run.runId;
  const recorded = src.run.vars ?? {};
  const problems: Problem[] = [];
  const vars: Record<string, string> = {};
  const toAsk: string[] = [];
  for (const [name, value] of Object.entries(recorded)) {
    if (!value.includes(MASK)) vars[name] = value;
    else if (given[name] !== undefined) vars[name] = given[name];
    else if (ask) toAsk.push(name);
    else problems.push({ message: `run ${id} was given the secret var ${name}, which ${what} does not read from the trail`, hint: `give it again: RUNBOOK_VAR_${name}=… in the environment, or --var-file FILE` });
  }
  for (const [name, value] of Object.entries(given)) {
    if (!(name in recorded)) problems.push({ message: `var ${name} is set here but was not in run ${id}`, hint: `${what} repeats the run's vars: unset it (RUNBOOK_VAR_*, --var-file, --var)${what === 'resume' ? ', or start a fresh apply' : ''}` });
    else if (!recorded[name]!.includes(MASK) && value !== recorded[name]) problems.push({ message: `var ${name} differs from run ${id}'s`, hint: `${what} repeats the run's vars: leave it out${what === 'resume' ? ', or start a fresh apply' : ''}` });
  }
  if (problems.length) throw new UserError(problems);
  for (const name of toAsk) vars[name] = await ask!(name);
  return vars;
}
