/**
 * The recap printed when a run ends: a hosts × status table, every finding (each failed step of
 * each host, an unreachable host once), for a dry run the plan (per step: hosts and commands), and
 * the next commands: the runbooks that fix what check-only steps found, with the hosts to run them
 * on. Built from the event stream (plus each step's `fixed_by`), so it shows exactly what the JSON
 * stream says.
 */
import { neutralize } from '../engine/sanitize.js';
import type { RunEvent, RunEventListener, StepStatus } from '../engine/events.js';
import { isFailed } from '../engine/status.js';
import { hostRanges } from './host-ranges.js';
import { reasonText } from './step-line.js';
import { textTable, type Align } from './text-table.js';

interface StepRecord {
  step: string;
  stepIndex: number;
  status: StepStatus;
  reason?: string;
  fixCommands?: string[];
  changes?: { target: string; kind: string; diff: string }[];
  finding?: true;
  local?: true;
}

export interface RecapState {
  mode?: 'dry-run' | 'apply';
  hosts: string[];
  steps: string[];
  results: Map<string, StepRecord[]>;
  end?: Extract<RunEvent, { type: 'run-end' }>;
  /** Step name → the runbook that fixes what it finds (`fixed_by`). */
  fixedBy: ReadonlyMap<string, string>;
  /** The options the next commands need to reach the same fleet (` -i inv.yaml`), shell-quoted. */
  nextOptions: string;
}

export function createRecapCollector(next: { fixedBy: ReadonlyMap<string, string>; options: string } = { fixedBy: new Map(), options: '' }): { listener: RunEventListener; state: RecapState } {
  const state: RecapState = { hosts: [], steps: [], results: new Map(), fixedBy: next.fixedBy, nextOptions: next.options };
  const listener: RunEventListener = (e) => {
    if (e.type === 'run-start') {
      state.mode = e.mode;
      state.hosts = e.hosts;
      state.steps = e.steps;
    } else if (e.type === 'step-result') {
      const list = state.results.get(e.host) ?? [];
      list.push({
        step: e.step,
        stepIndex: e.stepIndex,
        status: e.status,
        reason: e.reason,
        fixCommands: e.fixCommands,
        ...(e.changes ? { changes: e.changes } : {}),
        ...(e.finding ? { finding: true as const } : {}),
        ...(e.local ? { local: true as const } : {}),
      });
      state.results.set(e.host, list);
    } else if (e.type === 'run-end') {
      state.end = e;
    }
  };
  return { listener, state };
}

const COLUMNS: Array<{ status: StepStatus; title: string; always: boolean }> = [
  { status: 'ok', title: 'ok', always: true },
  { status: 'fixed', title: 'fixed', always: true },
  { status: 'would-fix', title: 'would fix', always: true },
  { status: 'failed', title: 'failed', always: true },
  { status: 'skipped', title: 'skipped', always: true },
  { status: 'blocked', title: 'blocked', always: true },
  { status: 'unreachable', title: 'unreachable', always: true },
  { status: 'unknown', title: 'unknown', always: false },
  { status: 'interrupted', title: 'interrupted', always: false },
  { status: 'depends-on-pending-fix', title: 'pending dep', always: false },
  { status: 'not-applicable', title: 'n/a', always: false },
  { status: 'not-run', title: 'not run', always: false },
];


function statusTable(state: RecapState): string {
  const all = [...state.results.values()].flat();
  const cols = COLUMNS.filter((c) => c.always || all.some((r) => r.status === c.status));
  const rows = [['host', ...cols.map((c) => c.title)]];
  for (const host of state.hosts) {
    const recs = state.results.get(host) ?? [];
    rows.push([host, ...cols.map((c) => String(recs.filter((r) => r.status === c.status).length))]);
  }
  return textTable(rows, ['left', ...cols.map((): Align => 'right')]);
}

/** Every finding, host by host in step order; an unreachable host once (its steps share the error). */
function findings(state: RecapState): string[] {
  const lines: string[] = [];
  for (const host of state.hosts) {
    const recs = state.results.get(host) ?? [];
    const unreachable = recs.find((r) => r.status === 'unreachable');
    if (unreachable) lines.push(`${host}: unreachable: ${reasonText('unreachable', unreachable.reason)}`);
    for (const r of recs) if (isFailed(r.status) && r.status !== 'unreachable') lines.push(`${host}: "${r.step}" ${r.status}: ${reasonText(r.status, r.reason)}`);
  }
  return lines;
}

/**
 * `runbook apply FIX --hosts H1,H2 <the options this run used>` for each runbook that fixes a
 * step whose check found something (a refusal, a missing tool or a held lock is no such finding).
 */
function nextCommands(state: RecapState): string[] {
  // In the runbook's step order, so the first cause it checks comes first.
  const where = new Map<string, string[]>();
  const found = [...state.results].flatMap(([host, recs]) => recs.filter((r) => r.finding && state.fixedBy.has(r.step)).map((r) => ({ host, r })));
  found.sort((x, y) => x.r.stepIndex - y.r.stepIndex || state.hosts.indexOf(x.host) - state.hosts.indexOf(y.host));
  for (const { host, r } of found) {
    const fix = state.fixedBy.get(r.step)!;
    const hosts = where.get(fix) ?? [];
    if (!hosts.includes(host)) hosts.push(host);
    where.set(fix, hosts);
  }
  return [...where].map(([fix, hosts]) => `  runbook apply ${fix} --hosts ${hosts.join(',')}${state.nextOptions}`);
}

/** Per step, hosts grouped by the exact commands they would run (templated commands differ per host). */
function plan(state: RecapState): string[] {
  const lines: string[] = [];
  state.steps.forEach((step, index) => {
    const byCommands = new Map<string, string[]>();
    for (const host of state.hosts) {
      const rec = (state.results.get(host) ?? []).find((r) => r.stepIndex === index && r.status === 'would-fix');
      if (!rec) continue;
      // A step without a preview says so: its commands are all a dry run can show of it.
      const key = JSON.stringify([rec.changes?.some((c) => c.kind === 'preview') ?? false, rec.local ?? false, ...(rec.fixCommands ?? [])]);
      byCommands.set(key, [...(byCommands.get(key) ?? []), host]);
    }
    if (byCommands.size === 0) return;
    const count = [...byCommands.values()].flat().length;
    lines.push(`  "${step}" would change ${count} host${count === 1 ? '' : 's'}:`);
    for (const [key, hosts] of byCommands) {
      const [previewed, local, ...commands] = JSON.parse(key) as [boolean, boolean, ...string[]];
      // A local step changes nothing on these hosts itself: its commands run here, once for each.
      lines.push(local ? `    on this machine, for ${hostRanges(hosts)}:` : `    on ${hostRanges(hosts)}:`);
      for (const cmd of commands) lines.push(`      $ ${cmd.replace(/\n/g, '\n        ')}`);
      if (!previewed) lines.push('      (no preview: these commands are all a dry run can show of this change)');
    }
  });
  return lines;
}

/** Each step's diffs: what its fix changed, or (dry run) what its preview says it would. */
function changes(state: RecapState): string[] {
  const lines: string[] = [];
  for (const host of state.hosts) {
    for (const r of state.results.get(host) ?? []) {
      if (!r.changes?.length) continue;
      lines.push(`  ${host}: "${r.step}" ${r.status === 'would-fix' ? 'would change' : 'changed'}:`);
      for (const c of r.changes) lines.push(...c.diff.split('\n').map((l) => `    ${l}`));
    }
  }
  return lines;
}

export function renderRecap(state: RecapState): string {
  const out = ['', 'Recap:', statusTable(state)];
  const why = findings(state);
  if (why.length) out.push('', ...why);
  if (state.mode === 'dry-run') {
    const p = plan(state);
    // "Nothing to change" only when every host answered and nothing failed: a failed check is not a clean bill.
    if (p.length) out.push('', 'Plan (dry run, nothing was changed):', ...p);
    else if (why.length === 0) out.push('', 'Plan: nothing to change.');
  }
  const diffs = changes(state);
  if (diffs.length) out.push('', state.mode === 'dry-run' ? 'Changes (previews):' : 'Changes:', ...diffs);
  if (state.end?.stopReason) out.push('', `Stopped early: ${state.end.stopReason}.`);
  const next = nextCommands(state);
  if (next.length) out.push('', 'Next (the runbooks that fix what was found):', ...next);
  // Commands may hold registered values (what other hosts sent), reasons their output: never raw.
  return `${neutralize(out.join('\n'))}\n`;
}
