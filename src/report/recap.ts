/**
 * The recap printed when a run ends: a hosts × status table, one reason line per host that
 * failed or could not be reached, and for a dry run the plan (per step: hosts and commands).
 * Built from the event stream only, so it shows exactly what the JSON stream says.
 */
import { neutralize } from '../engine/sanitize.js';
import type { RunEvent, RunEventListener, StepStatus } from '../engine/events.js';
import { textTable, type Align } from './text-table.js';

interface StepRecord {
  step: string;
  stepIndex: number;
  status: StepStatus;
  reason?: string;
  fixCommands?: string[];
}

export interface RecapState {
  mode?: 'dry-run' | 'apply';
  hosts: string[];
  steps: string[];
  results: Map<string, StepRecord[]>;
  end?: Extract<RunEvent, { type: 'run-end' }>;
}

export function createRecapCollector(): { listener: RunEventListener; state: RecapState } {
  const state: RecapState = { hosts: [], steps: [], results: new Map() };
  const listener: RunEventListener = (e) => {
    if (e.type === 'run-start') {
      state.mode = e.mode;
      state.hosts = e.hosts;
      state.steps = e.steps;
    } else if (e.type === 'step-result') {
      const list = state.results.get(e.host) ?? [];
      list.push({ step: e.step, stepIndex: e.stepIndex, status: e.status, reason: e.reason, fixCommands: e.fixCommands });
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

/** Statuses whose reason the recap spells out, most serious first. */
const EXPLAINED: StepStatus[] = ['unreachable', 'unknown', 'interrupted', 'failed'];

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

function reasons(state: RecapState): string[] {
  const lines: string[] = [];
  for (const host of state.hosts) {
    const recs = state.results.get(host) ?? [];
    for (const status of EXPLAINED) {
      const rec = recs.find((r) => r.status === status);
      if (!rec) continue;
      lines.push(status === 'unreachable' ? `${host}: unreachable: ${rec.reason ?? ''}` : `${host}: "${rec.step}" ${status}: ${rec.reason ?? ''}`);
      break;
    }
  }
  return lines;
}

/** Per step, hosts grouped by the exact commands they would run (templated commands differ per host). */
function plan(state: RecapState): string[] {
  const lines: string[] = [];
  state.steps.forEach((step, index) => {
    const byCommands = new Map<string, string[]>();
    for (const host of state.hosts) {
      const rec = (state.results.get(host) ?? []).find((r) => r.stepIndex === index && r.status === 'would-fix');
      if (!rec) continue;
      const key = JSON.stringify(rec.fixCommands ?? []);
      byCommands.set(key, [...(byCommands.get(key) ?? []), host]);
    }
    if (byCommands.size === 0) return;
    const count = [...byCommands.values()].flat().length;
    lines.push(`  "${step}" would change ${count} host${count === 1 ? '' : 's'}:`);
    for (const [key, hosts] of byCommands) {
      lines.push(`    on ${hosts.join(', ')}:`);
      for (const cmd of JSON.parse(key) as string[]) lines.push(`      $ ${cmd.replace(/\n/g, '\n        ')}`);
    }
  });
  return lines;
}

export function renderRecap(state: RecapState): string {
  const out = ['', 'Recap:', statusTable(state)];
  const why = reasons(state);
  if (why.length) out.push('', ...why);
  if (state.mode === 'dry-run') {
    const p = plan(state);
    out.push('', p.length ? 'Plan (dry run, nothing was changed):' : 'Plan: nothing to change.', ...p);
  }
  if (state.end?.stopReason) out.push('', `Stopped early: ${state.end.stopReason}.`);
  // Commands may hold registered values (what other hosts sent), reasons their output: never raw.
  return `${neutralize(out.join('\n'))}\n`;
}
