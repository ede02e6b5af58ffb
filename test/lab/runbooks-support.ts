/**
 * Shared by the runbooks-*.test.ts files: one lab named `tr`, the shipped runbooks applied through
 * the real CLI (`node bin/runbook.js apply ... --json`), and the lab's own view of the fleet (probe,
 * node state read straight from each node's namespaces, never through runbook).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { runEventSchema } from '../../src/engine/events-schema.js';
import type { RunEvent, StepStatus } from '../../src/engine/events.js';
import { labDown, labExec, labHeal, labProbe, labUp, type LabInfo, type ProbeResult } from '../../src/lab/index.js';

/** The lab these tests share; RB_TEST_LAB lets two checkouts (or helpers) run them side by side. */
export const LAB = process.env.RB_TEST_LAB ?? 'tr';
export const BIN = resolve('bin/runbook.js');
export const RUNBOOKS = resolve('runbooks');

export interface Lab {
  info: LabInfo;
  /** Scratch dir for the audit trail of every apply in this file. */
  scratch: string;
}

export interface LabOptions {
  ha?: boolean;
  /** `lab up --profile` names (default: the default profile). */
  profiles?: string[];
}

export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const scratch = mkdtempSync(join(tmpdir(), 'rb-tr-'));
  const info = await labUp({ name: LAB, workers: 4, ha: !!opts.ha, profiles: opts.profiles ?? [] });
  return { info, scratch };
}

export async function stopLab(lab: Lab | undefined): Promise<void> {
  try {
    await labDown(LAB);
  } finally {
    if (lab) rmSync(lab.scratch, { recursive: true, force: true });
  }
}

/**
 * One lab for the calling test file: up before its tests, down after them (even on failure), and
 * `reset` (then the lab's own heal) after each test. Returns the running lab's accessor.
 */
export function useLab(opts: LabOptions = {}, reset?: () => Promise<unknown>): () => Lab {
  let lab: Lab | undefined;
  beforeAll(async () => {
    lab = await startLab(opts);
  });
  afterAll(async () => {
    await stopLab(lab);
  });
  afterEach(async () => {
    await reset?.();
    await heal();
  });
  return () => {
    if (!lab) throw new Error('lab not up');
    return lab;
  };
}

export interface Applied {
  code: number | null;
  events: RunEvent[];
  /** host → status of each step, by step index. */
  statuses: Record<string, StepStatus[]>;
  /** host → step name → step-result event. */
  results: Record<string, Record<string, Extract<RunEvent, { type: 'step-result' }>>>;
  stderr: string;
}

/** Exit code of apply when a host is locked by another run. */
const EXIT_LOCKED = 4;
const EXIT_INTERNAL = 70;

/**
 * `runbook apply NAME --hosts P -i <lab inventory> --json` plus `args` (e.g. --yes, --dry-run, --var).
 * The engine's host lock ends when sshd has closed the previous run's connection (a moment after
 * that run exits), so an apply right after another may find the host still locked: retry then.
 */
export function apply(lab: Lab, runbook: string, hosts: string, args: string[]): Applied {
  for (let attempt = 1; ; attempt++) {
    const a = applyOnce(lab, runbook, hosts, args);
    if (a.code === EXIT_INTERNAL) throw new Error(`runbook apply ${runbook} crashed (exit 70): ${a.stderr}`);
    if (a.code !== EXIT_LOCKED || attempt === 5) return a;
    spawnSync('sleep', ['1']);
  }
}

function applyOnce(lab: Lab, runbook: string, hosts: string, args: string[]): Applied {
  return runbookJson(lab, ['apply', runbook, '--hosts', hosts, ...args]);
}

/** `runbook ARGV -i <lab inventory> --runbooks <shipped> --json` with the lab's audit trail, its events parsed. */
export function runbookJson(lab: Lab, argv: string[]): Applied {
  const r = spawnSync('node', [BIN, ...argv, '-i', lab.info.inventory, '--runbooks', RUNBOOKS, '--json'], {
    encoding: 'utf8',
    env: { ...process.env, RUNBOOK_AUDIT_FILE: join(lab.scratch, 'audit.jsonl'), CI: '1' },
    input: '',
    timeout: 170_000,
  });
  const events = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => runEventSchema.parse(JSON.parse(l)) as RunEvent);
  const statuses: Applied['statuses'] = {};
  const results: Applied['results'] = {};
  for (const e of events) {
    if (e.type !== 'step-result') continue;
    (statuses[e.host] ??= [])[e.stepIndex] = e.status;
    (results[e.host] ??= {})[e.step] = e;
  }
  return { code: r.status, events, statuses, results, stderr: r.stderr };
}

/** Every step-result of the run, as "host: step: status". Handy in failure messages. */
export function describeRun(a: Applied): string {
  const lines = a.events.flatMap((e) => (e.type === 'step-result' ? [`${e.host}: ${e.step}: ${e.status}${e.reason ? ` (${e.reason})` : ''}`] : []));
  return `exit ${a.code}\n${lines.join('\n')}\n${a.stderr}`;
}

/** Asserts exit 0 and that every step on every host ended `ok` (a second apply finds nothing left to fix). */
export function expectAllOk(a: Applied): void {
  expect(a.code, describeRun(a)).toBe(0);
  const steps = a.events.filter((e) => e.type === 'step-result');
  expect(steps.length).toBeGreaterThan(0);
  // not-applicable: a step for other hosts (on:), or a once step that ran elsewhere.
  expect(steps.filter((e) => e.type === 'step-result' && e.status !== 'ok' && e.status !== 'not-applicable').map((e) => describeRun({ ...a, events: [e] }).split('\n')[1])).toEqual([]);
  const end = a.events.at(-1);
  expect(end?.type).toBe('run-end');
}

/** Runs a command as root inside a lab node (its own namespaces and /etc), without ssh. */
export async function onNode(node: string, cmd: string): Promise<string> {
  const r = await labExec(LAB, node, cmd, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${node}: ${cmd}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

export function probe(): Promise<ProbeResult> {
  return labProbe(LAB);
}

/** Failing node pairs ("a→d"), sorted. */
export function failingNodes(r: ProbeResult): string[] {
  return [...new Set(r.pairs.filter((p) => !(p.icmp && p.tcp)).map((p) => `${p.from.split('/')[0]}→${p.to.split('/')[0]}`))].sort();
}

/** The signature of "nothing reaches d's pods, and d's pods reach nothing": every pair with d fails, no other. */
export function pairsWith(node: string, nodes = ['a', 'b', 'c', 'd']): string[] {
  return nodes
    .filter((n) => n !== node)
    .flatMap((n) => [`${n}→${node}`, `${node}→${n}`])
    .sort();
}

/** Polls until the probe passes (flanneld on the other nodes follows etcd's watch asynchronously). */
export async function expectProbeHealthy(timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: ProbeResult;
  for (;;) {
    last = await probe();
    if (last.ok || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  expect(failingNodes(last), `podless: ${last.podless.join(' ')}`).toEqual([]);
  expect(last.ok).toBe(true);
}

export function heal(): Promise<void> {
  return labHeal(LAB);
}
