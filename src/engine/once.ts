/**
 * `on: PATTERN` + `once: true`: the step runs once per run, on the first reachable host the
 * pattern selects (whole inventory, inventory order), triggered by the first target host that
 * reaches it; every other target waits for that one result. The once host gets its own
 * connection, kept for the run's other once steps. It takes the host lock only when it is not
 * also a target (a target's own run already holds that host's lock through its own connection).
 */
import type { Connection } from '../transport/types.js';
import type { Host, Step } from '../model/types.js';
import type { Connect, HostRunContext } from './host-run.js';
import { reportStepResult, type HostOutcome, type StepOutcome } from './step-report.js';
import { lockHost, type HeldLock } from './host-lock.js';
import type { PlannedStep } from './plan.js';
import { oneLine } from './sanitize.js';

/** Hosts that are not targets but will most likely run a once step (its pattern's first host): listed with the run's hosts. */
export function onceHostNames(steps: readonly Step[], targets: readonly string[], select: (pattern: string) => Host[]): string[] {
  const out = new Set<string>();
  for (const s of steps) {
    const first = s.once && s.on ? select(s.on)[0] : undefined;
    if (first && !targets.includes(first.name)) out.add(first.name);
  }
  return [...out];
}

export interface OnceResult {
  /** Where it ran; undefined when no host of the pattern could be reached (or locked). */
  ranOn?: string;
  outcome: StepOutcome;
}

/** Runs the step on the chosen host (with its own plan for that host), reporting as usual. */
export type ExecuteOn = (conn: Connection, host: Host, index: number, ctx: HostRunContext) => Promise<StepOutcome>;

interface OpenHost {
  conn?: Connection;
  lock?: HeldLock;
  /** Why it cannot be used (connection or lock refused). */
  error?: string;
}

export class OnceSteps {
  private readonly results = new Map<number, Promise<OnceResult>>();
  private readonly open = new Map<string, Promise<OpenHost>>();
  /** Outcomes on hosts that are not targets, for the run's result. */
  readonly extraOutcomes = new Map<string, HostOutcome>();

  constructor(
    private readonly targets: ReadonlySet<string>,
    private readonly connect: Connect,
    private readonly select: (pattern: string) => Host[],
  ) {}

  /** The one result of once step `ps`, running it if this is the first host to ask. */
  run(ps: PlannedStep, ctx: HostRunContext, execute: ExecuteOn): Promise<OnceResult> {
    let r = this.results.get(ps.index);
    if (!r) this.results.set(ps.index, (r = this.runFirst(ps, ctx, execute)));
    return r;
  }

  private async runFirst(ps: PlannedStep, ctx: HostRunContext, execute: ExecuteOn): Promise<OnceResult> {
    const pattern = ps.source.on!;
    const tried: string[] = [];
    for (const host of this.select(pattern)) {
      const open = await this.openHost(host, ps, ctx);
      if (!open.conn) {
        tried.push(`${host.name}: ${open.error}`);
        continue;
      }
      const outcome = await execute(open.conn, host, ps.index, ctx);
      if (!this.targets.has(host.name)) {
        let extra = this.extraOutcomes.get(host.name);
        if (!extra) this.extraOutcomes.set(host.name, (extra = { host: host.name, reachable: true, steps: [] }));
        extra.steps.push(outcome);
      }
      return { ranOn: host.name, outcome };
    }
    const first = this.select(pattern)[0];
    const reason = oneLine(`no reachable host for on: ${pattern} (${tried.join('; ') || 'the pattern selects no host'})`);
    const where = first?.name ?? pattern;
    const outcome = reportStepResult(ctx, where, ps, 'unreachable', Date.now(), { reason });
    if (first && !this.targets.has(first.name)) this.extraOutcomes.set(first.name, { host: first.name, reachable: false, steps: [outcome] });
    return { outcome };
  }

  private openHost(host: Host, ps: PlannedStep, ctx: HostRunContext): Promise<OpenHost> {
    let o = this.open.get(host.name);
    if (!o) this.open.set(host.name, (o = this.doOpen(host, ps, ctx)));
    return o;
  }

  private async doOpen(host: Host, ps: PlannedStep, ctx: HostRunContext): Promise<OpenHost> {
    const started = Date.now();
    let conn: Connection;
    try {
      conn = await this.connect(host);
    } catch (err) {
      const error = oneLine(ctx.redact(err instanceof Error ? err.message : String(err)));
      ctx.emit({ type: 'host-connect', time: ctx.now().toISOString(), runId: ctx.runId, host: host.name, ok: false, error, durationMs: Date.now() - started });
      return { error };
    }
    ctx.emit({ type: 'host-connect', time: ctx.now().toISOString(), runId: ctx.runId, host: host.name, ok: true, durationMs: Date.now() - started });
    if (ctx.hostLock && ctx.mode === 'apply' && !this.targets.has(host.name)) {
      const got = await lockHost(conn, { host, steps: [ps] }, ctx, ctx.hostLock);
      if (!('release' in got)) {
        await conn.close().catch(() => undefined);
        return { error: got.locked ?? 'locked by another run' };
      }
      return { conn, lock: got };
    }
    return { conn };
  }

  async close(): Promise<void> {
    for (const o of this.open.values()) {
      const h = await o;
      await h.lock?.release().catch(() => undefined);
      await h.conn?.close().catch(() => undefined);
    }
  }
}
