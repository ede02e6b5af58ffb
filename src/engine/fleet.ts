/**
 * Fleet control inside a runbook, per step and host, in this order:
 *   `on:` (not this host's step) → barrier (reads hosts.*) → `once` (one run, shared result) →
 *   depends on a pending fix (dry run) → `when:` → render (if it reads registered values) →
 *   check/fix/verify → register the output and record whether the host changed.
 * Then, after the host's steps, its notified handlers. Everything is reported as events.
 */
import type { Connection } from '../transport/types.js';
import type { Host } from '../model/types.js';
import { UserError } from '../model/errors.js';
import type { FleetBindings } from './bindings.js';
import { ConditionError, evaluateCondition } from '../model/condition.js';
import type { StepStatus } from './events.js';
import { notification, notifiers, runNotifiedHandler } from './handlers.js';
import { runStep, type Connect, type FleetHooks, type HostRunContext } from './host-run.js';
import { reportStepResult, type HostOutcome, type StepOutcome } from './step-report.js';
import { OnceSteps, onceHostNames } from './once.js';
import { sharedConnections } from './fleet-connections.js';
import { planStep, type HostPlan, type Plan, type PlannedStep } from './plan.js';
import { Registry, registeredValue } from './registry.js';
import type { StepDeps } from '../model/runbook-deps.js';
import { StepBarrier } from './rollout-barrier.js';
import { isFailed } from './status.js';
import { oneLine } from './sanitize.js';
import { doneReason, type DoneStep, type ResumeFrom } from './resume.js';


export class Fleet implements FleetHooks {
  readonly registry: Registry;
  readonly barrier: StepBarrier;
  private readonly once: OnceSteps;
  private readonly notifiedBy: Map<string, string[]>;
  private readonly onSets = new Map<string, Set<string>>();
  /** resume: the changes skipDone carried over from the resumed run ("host\0step"; a once step's: "\0step"). */
  private readonly carried = new Set<string>();
  /** Targets and once steps must connect through this (one reference-counted connection per host). */
  readonly connect: Connect;

  constructor(
    private readonly plan: Plan,
    private readonly bindings: FleetBindings,
    private readonly connectAnew: Connect,
    private readonly resume?: ResumeFrom,
  ) {
    const targets = plan.hosts.map((h) => h.host.name);
    this.connect = sharedConnections(connectAnew);
    this.barrier = new StepBarrier(targets);
    this.registry = new Registry(targets);
    this.once = new OnceSteps(new Set(targets), this.connect, (p) => bindings.select(p));
    this.notifiedBy = notifiers(plan.steps);
  }

  /** Hosts that are not targets but ran a once step, with what they ran. */
  get extraOutcomes(): HostOutcome[] {
    return [...this.once.extraOutcomes.values()];
  }

  close(): Promise<void> {
    return this.once.close();
  }

  private deps(index: number): StepDeps {
    const d = this.plan.deps;
    return index < d.steps.length ? d.steps[index]! : d.handlers[index - d.steps.length]!;
  }

  private onSet(pattern: string): Set<string> {
    let s = this.onSets.get(pattern);
    if (!s) this.onSets.set(pattern, (s = new Set(this.bindings.select(pattern).map((h) => h.name))));
    return s;
  }

  async runStep(conn: Connection, hp: HostPlan, ps: PlannedStep, ctx: HostRunContext): Promise<StepOutcome> {
    const host = hp.host.name;
    const step = ps.source;
    const started = Date.now();
    const report = (status: StepStatus, reason?: string) => reportStepResult(ctx, host, ps, status, started, reason !== undefined ? { reason } : {});
    if (step.on && !step.once && !this.onSet(step.on).has(host)) return this.recorded(host, ps, false, report('not-applicable', `not for this host (on: ${step.on})`));
    if (this.deps(ps.index).barrier) {
      const waiting = this.barrier.wait(ps.index);
      await (ctx.idle ? ctx.idle(waiting) : waiting);
    }
    if (ctx.control.stopping) return report('not-run', ctx.control.stopReason);
    if (!step.once) return this.execute(conn, hp.host, ps, ctx, false);

    const { ranOn, outcome } = await this.once.run(ps, ctx, (c, h, index, octx) => this.execute(c, h, this.planFor(h, index), octx, true));
    if (ranOn === host) return outcome;
    if (isFailed(outcome.status) || outcome.status === 'blocked') {
      const where = ranOn ? ` on ${ranOn}` : '';
      // continue_on_failure lets the other hosts go on, exactly as it would on the host itself.
      if (step.continueOnFailure) return report('not-applicable', `ran once${where}: ${outcome.status}`);
      return report('blocked', `blocked: once step "${ps.name}" ${outcome.status}${where}`);
    }
    return report('not-applicable', `ran once on ${ranOn}: ${outcome.status}`);
  }

  /** The once host's planned step. A host that is not a target has no plan: it is rendered on its turn, like a deferred step. */
  private planFor(host: Host, index: number): PlannedStep {
    const existing = this.plan.hosts.find((h) => h.host.name === host.name)?.steps[index];
    if (existing && !existing.elsewhere) return existing;
    const unrendered = () => ({ command: '', display: '' });
    return planStep(host, this.plan, this.plan.steps[index]!, index, unrendered, 'references');
  }

  onceHosts(): string[] {
    return onceHostNames(this.plan.steps, this.plan.hosts.map((h) => h.host.name), (p) => this.bindings.select(p));
  }

  /** pending → when → render → run → register. Reports the result; `shared`: a once step. */
  private async execute(conn: Connection, host: Host, ps: PlannedStep, ctx: HostRunContext, shared: boolean): Promise<StepOutcome> {
    const name = host.name;
    const step = ps.source;
    const deps = this.deps(ps.index);
    const started = Date.now();
    const report = (status: StepStatus, reason: string) => this.recorded(name, ps, shared, reportStepResult(ctx, name, ps, status, started, { reason }));

    const done = this.doneBefore(name, ps);
    if (done) return this.skipDone(name, ps, done, ctx, shared);
    const pendingOn = this.pendingReason(name, deps);
    if (pendingOn) return report('depends-on-pending-fix', pendingOn);
    if (deps.condition) {
      let holds: boolean;
      try {
        holds = evaluateCondition(deps.condition, {
          lookup: (path) => this.bindings.lookup(host, path, this.registry.values(name)),
          changed: (s) => this.registry.change(name, s) === 'changed',
        });
      } catch (err) {
        return report('failed', hostProblem('when', err, name, ctx));
      }
      if (!holds) return report('not-applicable', oneLine(ctx.redact(`when: ${step.when!.text} is false`)));
    }
    let planned = ps;
    if (ps.deferred) {
      try {
        planned = planStep(host, this.plan, step, ps.index, this.bindings.render, this.registry.values(name));
      } catch (err) {
        return report('failed', hostProblem('render', err, name, ctx));
      }
    }
    const outcome = await this.where(conn, host, planned, ctx, started, (c) =>
      runStep(c, name, planned, ctx, {
        // Not the shared connection: after a cut, that one is gone.
        reconnect: () => this.connectAnew(host),
        here: () => this.connectHere(host),
        register: step.register
          ? (stdout, status) => {
              const r = registeredValue(stdout, step.json);
              if ('problem' in r) return `register ${step.register}: ${r.problem}`;
              this.setRegistered(name, step.register!, r.value, status === 'would-fix', shared);
              return undefined;
            }
          : undefined,
      }),
    );
    return this.recorded(name, ps, shared, outcome);
  }

  /**
   * Runs a step's commands where they belong: over the host's connection, or for a `local: true`
   * step on this machine, through the local transport (the run's connect, given the host as
   * `connection: local`, so the CLI's wrapping applies), opened for the step and closed after it.
   * It connects as the operator: no sudo, whatever the host's inventory entry says.
   */
  private async where(conn: Connection, host: Host, ps: PlannedStep, ctx: HostRunContext, started: number, run: (c: Connection) => Promise<StepOutcome>): Promise<StepOutcome> {
    if (!ps.source.local) return run(conn);
    let here: Connection;
    try {
      here = await this.connectHere(host);
    } catch (err) {
      return reportStepResult(ctx, host.name, ps, 'failed', started, { reason: oneLine(ctx.redact(`cannot run this local step on this machine: ${err instanceof Error ? err.message : String(err)}`)) });
    }
    try {
      return await run(here);
    } finally {
      await here.close().catch(() => undefined);
    }
  }

  /** This machine, for `host`'s local commands: as the operator, no sudo whatever the host's entry says. */
  private connectHere(host: Host): Promise<Connection> {
    const { become: _become, becomePassword: _password, becomePasswordError: _error, ...asIs } = host;
    return this.connectAnew({ ...asIs, connection: 'local' });
  }

  /**
   * resume: how the resumed run finished this step here, if it did. A step that registers a value
   * runs again (its check first): the trail does not keep the value, and later steps may read it.
   */
  private doneBefore(host: string, ps: PlannedStep): DoneStep | undefined {
    return ps.source.register ? undefined : this.resume?.done.get(host)?.get(ps.name);
  }

  /** A step (or handler) finished by the resumed run: reported, not run; its fix still counts as a change. */
  private skipDone(host: string, ps: PlannedStep, done: DoneStep, ctx: HostRunContext, shared = false): StepOutcome {
    const outcome = reportStepResult(ctx, host, ps, 'not-applicable', Date.now(), { reason: doneReason(done) });
    if (shared) this.registry.recordSharedChange(ps.name, done.status);
    else this.registry.recordChange(host, ps.name, done.status);
    this.carried.add(`${shared ? '' : host}\0${ps.name}`);
    return outcome;
  }

  /**
   * resume: when the resumed run finished every step of this host (or the step is not this host's,
   * `on:`), and every handler it notified, the host is not contacted at all. Undefined otherwise.
   */
  finishedEarlier(hp: HostPlan, ctx: HostRunContext): StepOutcome[] | undefined {
    const host = hp.host.name;
    if (!this.resume?.done.has(host)) return undefined;
    const notMine = (ps: PlannedStep) => Boolean(ps.source.on && !ps.source.once && !this.onSet(ps.source.on).has(host));
    if (!hp.steps.every((ps) => this.doneBefore(host, ps) || notMine(ps))) return undefined;
    const changed = (s: string) => (this.resume?.done.get(host)?.get(s)?.status === 'fixed' ? 'changed' : 'unchanged');
    const notified = (ps: PlannedStep) => notification(this.notifiedBy.get(ps.name) ?? [], changed).changed.length > 0;
    if (!(hp.handlers ?? []).every((ps) => this.doneBefore(host, ps) || !notified(ps))) return undefined;
    const notRun = (ps: PlannedStep, reason: string) => {
      const outcome = reportStepResult(ctx, host, ps, 'not-applicable', Date.now(), { reason });
      this.registry.recordChange(host, ps.name, outcome.status);
      return outcome;
    };
    return [
      ...hp.steps.map((ps) => {
        const done = this.doneBefore(host, ps);
        return done ? this.skipDone(host, ps, done, ctx) : notRun(ps, `not for this host (on: ${ps.source.on})`);
      }),
      ...(hp.handlers ?? []).map((ps) => {
        const done = this.doneBefore(host, ps);
        return done ? this.skipDone(host, ps, done, ctx) : notRun(ps, 'not notified: nothing it watches changed');
      }),
    ];
  }

  /** Records the change and, when the step registered nothing, marks its name pending if the step was. */
  private recorded(host: string, ps: PlannedStep, shared: boolean, outcome: StepOutcome): StepOutcome {
    if (shared) this.registry.recordSharedChange(ps.name, outcome.status);
    else this.registry.recordChange(host, ps.name, outcome.status);
    const reg = ps.source.register;
    if (reg && (outcome.status === 'depends-on-pending-fix' || outcome.status === 'would-fix') && !this.registry.values(host).own[reg]) {
      this.setRegistered(host, reg, undefined, true, shared);
    }
    return outcome;
  }

  private setRegistered(host: string, name: string, value: unknown, pending: boolean, shared: boolean): void {
    if (shared) this.registry.registerShared(host, name, value, pending);
    else this.registry.register(host, name, value, pending);
  }

  /** Why a step waits on a fix that has not happened (dry run): a pending changed() or registered value. */
  private pendingReason(host: string, deps: StepDeps): string | undefined {
    const step = deps.changed.find((s) => this.registry.change(host, s) === 'pending');
    if (step) return `depends on a pending fix: changed("${step}") is not known until "${step}" is fixed`;
    const path = deps.registeredPaths.find((p) => this.registry.isPending(host, p));
    if (path) return `depends on a pending fix: ${path.join('.')} was registered before a fix that has not run`;
    return undefined;
  }

  async runHandlers(conn: Connection, hp: HostPlan, ctx: HostRunContext, blockedBy: string | undefined): Promise<StepOutcome[]> {
    const host = hp.host.name;
    const out: StepOutcome[] = [];
    for (const ps of hp.handlers ?? []) {
      const started = Date.now();
      const report = (status: StepStatus, reason?: string) => reportStepResult(ctx, host, ps, status, started, reason !== undefined ? { reason } : {});
      const { changed, pending } = notification(this.notifiedBy.get(ps.name) ?? [], (s) => this.registry.change(host, s));
      // A handler the resumed run ran already runs again only for a fix made in this run.
      const done = this.doneBefore(host, ps);
      if (done && changed.every((s) => this.carried.has(`${host}\0${s}`) || this.carried.has(`\0${s}`))) {
        out.push(this.skipDone(host, ps, done, ctx));
        continue;
      }
      let outcome: StepOutcome;
      if (changed.length === 0 && pending.length === 0) outcome = report('not-applicable', 'not notified: nothing it watches changed');
      // A handler `on:` other hosts has nothing rendered for this one (the plan's `elsewhere`).
      else if (ps.elsewhere) outcome = report('not-applicable', `not for this host (on: ${ps.source.on})`);
      else if (blockedBy !== undefined) outcome = report('blocked', blockedBy);
      else if (ctx.control.stopping) outcome = report('not-run', ctx.control.stopReason);
      else if (changed.length === 0) outcome = report('depends-on-pending-fix', `depends on a pending fix: notified only when ${pending.map((p) => `"${p}"`).join(', ')} is fixed`);
      else outcome = await this.runHandler(conn, hp.host, ps, ctx, changed);
      this.registry.recordChange(host, ps.name, outcome.status);
      out.push(outcome);
    }
    return out;
  }

  private async runHandler(conn: Connection, host: Host, ps: PlannedStep, ctx: HostRunContext, changed: string[]): Promise<StepOutcome> {
    const deps = this.deps(ps.index);
    const started = Date.now();
    const report = (status: StepStatus, reason: string) => reportStepResult(ctx, host.name, ps, status, started, { reason });
    if (deps.condition) {
      try {
        const holds = evaluateCondition(deps.condition, {
          lookup: (path) => this.bindings.lookup(host, path, this.registry.values(host.name)),
          changed: (s) => this.registry.change(host.name, s) === 'changed',
        });
        if (!holds) return report('not-applicable', oneLine(ctx.redact(`when: ${ps.source.when!.text} is false`)));
      } catch (err) {
        return report('failed', hostProblem('when', err, host.name, ctx));
      }
    }
    let planned = ps;
    if (ps.deferred) {
      try {
        planned = planStep(host, this.plan, ps.source, ps.index, this.bindings.render, this.registry.values(host.name));
      } catch (err) {
        return report('failed', hostProblem('render', err, host.name, ctx));
      }
    }
    return this.where(conn, host, planned, ctx, started, (c) => runNotifiedHandler(c, host.name, planned, ctx, changed));
  }
}

/**
 * Why evaluating `when:` or rendering a step on its turn failed for one host, in one line. Values
 * there come from hosts, so anything may go wrong (a condition's type error, an undefined name, or
 * something no check foresaw, such as a stack overflow): it fails this host's step, never the run.
 */
function hostProblem(what: 'when' | 'render', err: unknown, host: string, ctx: HostRunContext): string {
  if (what === 'when' && err instanceof ConditionError) return oneLine(ctx.redact(`when: ${err.message}`));
  if (what === 'render' && err instanceof UserError) return oneLine(ctx.redact(err.message));
  const message = err instanceof Error ? err.message : String(err);
  return oneLine(ctx.redact(what === 'when' ? `when: cannot evaluate it for ${host}: ${message}` : `cannot render this step for ${host}: ${message}`));
}
