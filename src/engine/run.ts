/**
 * Executes a plan: run-start, every host through the strategy, run-end. The single entry point
 * the CLI (and tests, and later fleet control) call.
 */
import { randomBytes } from 'node:crypto';
import type { EventBus } from './bus.js';
import { RunControl } from './control.js';
import type { ApprovalGate } from './approval.js';
import { runHost, type Connect, type HostRunContext } from './host-run.js';
import { commandIds, type HostOutcome } from './step-report.js';
import type { Plan } from './plan.js';
import { parallelStrategy, type Strategy } from './strategy.js';
import { runVerdict, summarize, type HostCounts } from './summary.js';
import type { RunVerdict } from './status.js';
import { EXIT_CODE_FOR_VERDICT } from '../model/exit-codes.js';
import type { Redact } from './sanitize.js';
import type { HostLockOptions } from './host-lock.js';
import { Fleet } from './fleet.js';
import { DrainGate } from './node-drain.js';
import { disruptiveSteps } from '../model/drain-targets.js';
import type { FleetBindings } from './bindings.js';
import type { PlanGuard } from './plan-guard.js';
import type { CaptureStore } from './capture.js';
import type { RunPlanRef } from './events.js';
import type { ResumeFrom } from './resume.js';

export interface RunOptions {
  operator: string;
  /** Required in apply mode; dry-run never asks. */
  gate?: ApprovalGate;
  connect: Connect;
  bus: EventBus;
  redact?: Redact;
  control?: RunControl;
  strategy?: Strategy;
  runId?: string;
  /** For steps without their own `timeout`. */
  defaultTimeoutMs?: number;
  /** Apply mode: one run at a time per host, through a host-side flock (host-lock.ts). */
  hostLock?: HostLockOptions;
  /** How to render deferred steps, read `when:` values and resolve `on:` patterns (bindings.ts). */
  bindings: FleetBindings;
  /** apply --plan: only the planned fixes, while the hosts are as planned (plan-guard.ts). */
  planGuard?: PlanGuard;
  /** Where captured content is kept, by digest (capture.ts), for undo. */
  captureStore?: CaptureStore;
  /** apply --plan: the plan, named in the run's start event (and so in the audit trail). */
  plan?: RunPlanRef;
  /** runbook undo: the run being undone, named in the start event. */
  undoes?: string;
  /** runbook resume: the run continued, and the steps it finished (not run again). */
  resume?: ResumeFrom;
  /** The operator's vars, secrets masked by name: recorded in the start event for resume. */
  vars?: Record<string, string>;
  /** How many nodes disruptive steps may drain at once (node-drain.ts): 1 unless the run goes in batches. */
  drainsAtOnce?: number;
  now?: () => Date;
}

export interface RunResult {
  runId: string;
  /** The CLI maps it to its exit code (model/exit-codes.ts EXIT_CODE_FOR_VERDICT). */
  verdict: RunVerdict;
  aborted: boolean;
  stopReason?: string;
  hosts: HostOutcome[];
  summary: Record<string, HostCounts>;
}

export const DEFAULT_STEP_TIMEOUT_MS = 5 * 60_000;

export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

const neverAsked: ApprovalGate = {
  asks: false,
  decide: () => Promise.reject(new Error('internal: an approval was requested without a gate')),
};

export async function runPlan(plan: Plan, opts: RunOptions): Promise<RunResult> {
  const now = opts.now ?? (() => new Date());
  const runId = opts.runId ?? newRunId(now());
  const control = opts.control ?? new RunControl();
  const strategy = opts.strategy ?? parallelStrategy();
  const started = Date.now();
  const fleet = new Fleet(plan, opts.bindings, opts.connect, opts.resume);
  const ctx: HostRunContext = {
    runId,
    mode: plan.mode,
    emit: (e) => {
      opts.bus.emit(e);
      fleet.barrier.observe(e);
    },
    redact: opts.redact ?? ((s) => s),
    gate: opts.gate ?? neverAsked,
    control,
    defaultTimeoutMs: opts.defaultTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS,
    now,
    nextCommandId: commandIds(runId),
    ...(opts.hostLock ? { hostLock: { ...opts.hostLock, operator: opts.operator } } : {}),
    ...(opts.planGuard ? { planGuard: opts.planGuard } : {}),
    ...(opts.captureStore ? { captureStore: opts.captureStore } : {}),
    drains: new DrainGate(opts.drainsAtOnce ?? 1),
    fleet,
  };

  const onceHosts = fleet.onceHosts();
  ctx.emit({
    type: 'run-start',
    time: now().toISOString(),
    runId,
    runbook: plan.runbook.name,
    runbookFile: plan.runbook.file,
    runbookHash: plan.runbook.hash,
    operator: opts.operator,
    mode: plan.mode,
    ...(opts.plan ? { plan: opts.plan } : {}),
    ...(opts.undoes ? { undoes: opts.undoes } : {}),
    ...(opts.resume ? { resumes: opts.resume.runId } : {}),
    ...(opts.vars ? { vars: Object.fromEntries(Object.entries(opts.vars).map(([k, v]) => [k, ctx.redact(v)])) } : {}),
    // A once step's host that is not a target is listed too: its commands are part of the run.
    hosts: [...plan.hosts.map((h) => h.host.name), ...onceHosts],
    ...(onceHosts.length ? { onceHosts } : {}),
    steps: [...plan.steps, ...plan.handlers].map((s) => s.name),
    ...(plan.drain && 'off' in plan.drain && disruptiveSteps(plan).length ? { noDrain: disruptiveSteps(plan) } : {}),
  });

  let hosts: HostOutcome[];
  try {
    hosts = await strategy.run(
      plan.hosts,
      (hp, idle) => runHost(hp, fleet.connect, idle ? { ...ctx, idle } : ctx).finally(() => fleet.barrier.finished(hp.host.name)),
      control,
      { admit: (names) => fleet.barrier.admit(names) },
    );
  } finally {
    await fleet.close();
  }
  hosts = [...hosts, ...fleet.extraOutcomes];
  const summary = summarize(hosts);
  const verdict = runVerdict(hosts, { aborted: control.aborted });
  ctx.emit({
    type: 'run-end',
    time: now().toISOString(),
    runId,
    // The audit trail records the exit code the CLI will exit with.
    exitCode: EXIT_CODE_FOR_VERDICT[verdict],
    aborted: control.aborted,
    ...(control.stopReason !== undefined ? { stopReason: control.stopReason } : {}),
    summary,
    durationMs: Date.now() - started,
  });
  return { runId, verdict, aborted: control.aborted, stopReason: control.stopReason, hosts, summary };
}
