import { describe, expect, it } from 'vitest';
import type { Runbook } from '../../src/model/types.js';
import { bindings, host, runbook, step } from './engine-fixtures.js';
import type { Connection, ExecOptions, ExecResult } from '../../src/transport/types.js';
import {
  EventBus,
  RunControl,
  autoApprove,
  buildPlan,
  createInteractiveGate,
  parallelStrategy,
  runPlan,
  type CommandRenderer,
  type PlanGuard,
  type PromptAnswer,
  type RunEvent,
} from '../../src/engine/index.js';

// A fake host for pure engine logic: "commands" are tiny scripts over a key/value state.
//   get K=V     passes when state[K] === V, prints state[K]
//   set K=V     sets state[K]
//   fail MSG    exits 1 printing MSG
//   refuse MSG  exits 3 printing MSG
//   lose        the connection drops mid-command
type State = Record<string, string>;

function fakeConnection(host: string, state: State, log: string[]): Connection {
  return {
    host,
    async exec(command: string, _opts?: ExecOptions): Promise<ExecResult> {
      log.push(`${host}: ${command}`);
      const base = { signal: null, stderr: '', stdoutTruncated: false, stderrTruncated: false, durationMs: 1 };
      const [verb, arg = ''] = command.split(' ', 2) as [string, string?];
      const [k = '', v = ''] = arg.split('=');
      await new Promise((r) => setTimeout(r, 1));
      switch (verb) {
        case 'get':
          return { ...base, outcome: 'exit', code: state[k] === v ? 0 : 1, stdout: `${state[k] ?? 'unset'}\n` };
        case 'set':
          state[k] = v;
          return { ...base, outcome: 'exit', code: 0, stdout: '' };
        case 'refuse':
          return { ...base, outcome: 'exit', code: 3, stdout: `${arg}\n` };
        case 'lose':
          return { ...base, outcome: 'lost', code: null, stdout: '', reason: 'connection reset' };
        default:
          return { ...base, outcome: 'exit', code: 1, stdout: '', stderr: `${arg}\n` };
      }
    },
    async close() {},
  };
}

const render: CommandRenderer = (_h, _s, t) => ({ command: t.text, display: t.text.replace('hunter2', '********') });

async function run(
  rb: Runbook,
  states: Record<string, State>,
  opts: { mode?: 'dry-run' | 'apply'; answers?: PromptAnswer[]; unreachable?: string[]; forks?: number; planGuard?: PlanGuard } = {},
) {
  const log: string[] = [];
  const events: RunEvent[] = [];
  const bus = new EventBus();
  bus.on((e) => events.push(e));
  const control = new RunControl();
  const answers = [...(opts.answers ?? [])];
  const asked: string[] = [];
  const drifts: string[] = [];
  const gate = opts.answers
    ? createInteractiveGate(
        async (req) => {
          asked.push(`${req.host}/${req.step}`);
          if (req.drift) drifts.push(`${req.drift.reason} | planned: ${req.drift.plannedOutput}`);
          return answers.shift() ?? 'no';
        },
        'tester',
        control,
      )
    : autoApprove('tester');
  const plan = buildPlan(rb, Object.keys(states).map((n) => host(n)), bindings(render), { mode: opts.mode ?? 'apply' });
  const result = await runPlan(plan, {
    operator: 'tester',
    bindings: bindings(render),
    gate,
    bus,
    control,
    strategy: parallelStrategy(opts.forks),
    ...(opts.planGuard ? { planGuard: opts.planGuard } : {}),
    connect: async (h) => {
      if (opts.unreachable?.includes(h.name)) throw Object.assign(new Error(`${h.name}: connection refused`), { hint: 'is sshd running?' });
      return fakeConnection(h.name, states[h.name]!, log);
    },
  });
  const status = (h: string) => result.hosts.find((x) => x.host === h)!.steps.map((s) => s.status);
  return { result, events, log, status, asked, drifts };
}

describe('engine: step semantics', () => {
  it('a failing check-only step says why it failed, without noise about having no fix', async () => {
    const rb = runbook([step('diagnose', 'fail lease-of-d-is-stale')]);
    const r = await run(rb, { a: {} });
    const res = r.events.find((e) => e.type === 'step-result');
    expect(res).toMatchObject({ status: 'failed', reason: 'check failed: exit code 1: lease-of-d-is-stale', finding: true });
  });

  it('ok when the check passes; fixes and verifies when it does not', async () => {
    const rb = runbook([step('fwd', 'get fwd=1', ['set fwd=1'])]);
    const states = { a: { fwd: '1' }, b: { fwd: '0' } };
    const r = await run(rb, states);
    expect(r.status('a')).toEqual(['ok']);
    expect(r.status('b')).toEqual(['fixed']);
    expect(states.b.fwd).toBe('1');
    expect(r.log).not.toContain('a: set fwd=1');
    expect(r.result.verdict).toBe('ok');
  });

  it('dry-run changes nothing, reports would-fix with check output and commands, exits 3', async () => {
    const rb = runbook([step('fwd', 'get fwd=1', ['set fwd=1', 'set other=hunter2'])]);
    const states = { b: { fwd: '0' } };
    const r = await run(rb, states, { mode: 'dry-run' });
    expect(states.b).toEqual({ fwd: '0' });
    const res = r.events.find((e) => e.type === 'step-result');
    expect(res).toMatchObject({ status: 'would-fix', checkOutput: '0', fixCommands: ['set fwd=1', 'set other=********'] });
    expect(r.result.verdict).toBe('pending');
  });

  it("refuse_exit: the check's own refusal fails the step; a dry run proposes no fix and an apply runs none", async () => {
    const rb = runbook([step('fwd', 'refuse blocked-by-rule-1', ['set fwd=1'], { refuseExit: 3 }), step('then', 'get y=1', ['set y=1'])]);
    for (const mode of ['dry-run', 'apply'] as const) {
      const states = { a: {} as State };
      const r = await run(rb, states, { mode });
      const res = r.events.find((e) => e.type === 'step-result');
      expect(res).toMatchObject({ status: 'failed', reason: 'refused: exit code 3: blocked-by-rule-1', checkOutput: 'blocked-by-rule-1' });
      expect(res && 'fixCommands' in res ? res.fixCommands : undefined).toBeUndefined();
      expect(res && 'finding' in res ? res.finding : undefined).toBeUndefined();
      expect(r.status('a')).toEqual(['failed', 'blocked']);
      expect(r.log).toEqual(['a: refuse blocked-by-rule-1']);
      expect(r.result.verdict).toBe('failed');
    }
    // Any other failing exit code is an ordinary finding, fixed as usual.
    const other = await run(runbook([step('fwd', 'get fwd=1', ['set fwd=1'], { refuseExit: 3 })]), { a: {} });
    expect(other.status('a')).toEqual(['fixed']);
  });

  it('a failed fix blocks later steps unless continue_on_failure', async () => {
    const rb = runbook([
      step('one', 'get x=1', ['fail nope']),
      step('two', 'get y=1', ['set y=1'], { continueOnFailure: true }),
      step('three', 'get z=1', ['set z=1']),
    ]);
    const r = await run(rb, { a: {} });
    expect(r.status('a')).toEqual(['failed', 'blocked', 'blocked']);
    const failed = r.result.hosts[0]!.steps[0]!;
    expect(failed.reason).toContain('nope');
    expect(r.result.verdict).toBe('failed');

    const rb2 = runbook([step('one', 'get x=1', ['fail nope'], { continueOnFailure: true }), step('two', 'get y=1', ['set y=1'])]);
    const r2 = await run(rb2, { a: {} });
    expect(r2.status('a')).toEqual(['failed', 'fixed']);
  });

  it('a fix whose verify still fails is failed', async () => {
    const rb = runbook([step('one', 'get x=1', ['set x=2'])]);
    const r = await run(rb, { a: {} });
    expect(r.status('a')).toEqual(['failed']);
    expect(r.result.hosts[0]!.steps[0]!.reason).toMatch(/^verify after fix/);
  });

  it('a lost connection is unknown, never ok, and blocks the rest', async () => {
    const rb = runbook([step('one', 'lose', [], { continueOnFailure: true }), step('two', 'get y=1')]);
    const r = await run(rb, { a: { y: '1' } });
    expect(r.status('a')).toEqual(['unknown', 'blocked']);
    expect(r.result.verdict).toBe('failed');
  });

  it('an unreachable host among others: the others complete', async () => {
    const rb = runbook([step('fwd', 'get fwd=1', ['set fwd=1'])]);
    const states = { a: { fwd: '0' }, b: { fwd: '0' }, c: { fwd: '0' } };
    const r = await run(rb, states, { unreachable: ['b'] });
    expect(r.status('a')).toEqual(['fixed']);
    expect(r.status('b')).toEqual(['unreachable']);
    expect(r.status('c')).toEqual(['fixed']);
    expect(r.result.hosts[1]!.steps[0]!.reason).toContain('is sshd running?');
    expect(r.result.verdict).toBe('failed');
  });

  it('expect matches stdout exactly or by regex', async () => {
    const rb = runbook([
      step('exact', 'get v=7', [], { expect: { kind: 'equals', value: '7' } }),
      step('regex', 'get v=7', [], { expect: { kind: 'regex', value: '^[0-6]$' }, continueOnFailure: true }),
    ]);
    const r = await run(rb, { a: { v: '7' } });
    expect(r.status('a')).toEqual(['ok', 'failed']);
  });
});

describe('engine: approvals', () => {
  it('yes on one host, no on another; a declined step lets later checks run', async () => {
    const rb = runbook([step('one', 'get x=1', ['set x=1']), step('two', 'get y=1', ['set y=1'])]);
    const states: Record<string, State> = { a: {}, b: {} };
    const r = await run(rb, states, { answers: ['yes', 'no', 'no', 'no'], forks: 1 });
    const all = [...r.status('a'), ...r.status('b')].sort();
    expect(all).toEqual(['fixed', 'skipped', 'skipped', 'skipped']);
    expect(r.asked).toHaveLength(4);
    expect(r.result.verdict).toBe('pending');
    const approvals = r.events.filter((e) => e.type === 'approval').map((e) => e.decision);
    expect(approvals.sort()).toEqual(['no', 'no', 'no', 'yes']);
  });

  it('all-hosts approves the step everywhere without asking again', async () => {
    const rb = runbook([step('one', 'get x=1', ['set x=1'])]);
    const states: Record<string, State> = { a: {}, b: {}, c: {} };
    const r = await run(rb, states, { answers: ['all-hosts'] });
    expect(r.asked).toHaveLength(1);
    expect(Object.values(states).map((s) => s.x)).toEqual(['1', '1', '1']);
    expect(r.result.verdict).toBe('ok');
  });

  it('yes to everything approves every later fix, on every step, without asking', async () => {
    const rb = runbook([step('one', 'get x=1', ['set x=1']), step('two', 'get y=1', ['set y=1'])]);
    const states: Record<string, State> = { a: {}, b: {}, c: {} };
    const r = await run(rb, states, { answers: ['all'] });
    expect(r.asked).toHaveLength(1);
    expect(Object.values(states).map((s) => `${s.x}${s.y}`)).toEqual(['11', '11', '11']);
    const decisions = r.events.filter((e) => e.type === 'approval').map((e) => e.decision);
    expect(decisions).toEqual(['all', 'all', 'all', 'all', 'all', 'all']);
  });

  it('quit stops new fixes and ends aborted', async () => {
    const rb = runbook([step('one', 'get x=1', ['set x=1']), step('two', 'get y=1', ['set y=1'])]);
    const states: Record<string, State> = { a: {}, b: {} };
    const r = await run(rb, states, { answers: ['quit'] });
    expect(r.asked).toHaveLength(1);
    expect(Object.values(states).every((s) => s.x === undefined)).toBe(true);
    expect(r.result.aborted).toBe(true);
    expect(r.result.verdict).toBe('aborted');
    const end = r.events.at(-1);
    expect(end).toMatchObject({ type: 'run-end', aborted: true, exitCode: 130 });
  });

  it('emits a command event for every command, fix commands carrying the approval', async () => {
    const rb = runbook([step('one', 'get x=1', ['set x=1'])]);
    const r = await run(rb, { a: {} });
    const cmds = r.events.filter((e) => e.type === 'command');
    expect(cmds.map((c) => c.phase)).toEqual(['check', 'fix', 'verify']);
    expect(cmds[1]).toMatchObject({ approval: { decision: 'auto', by: 'tester' } });
    expect(r.events[0]!.type).toBe('run-start');
  });

  it('one prompt at a time, and a host waiting for approval does not stop other hosts checking, even with --forks 1', async () => {
    const rb = runbook([step('one', 'get x=1', ['set x=1'])]);
    const states: Record<string, State> = { a: {}, b: {}, c: { x: '1' } };
    const events: RunEvent[] = [];
    const bus = new EventBus();
    bus.on((e) => events.push(e));
    const control = new RunControl();
    let open = 0;
    let maxOpen = 0;
    let release!: () => void;
    const firstAnswered = new Promise<void>((r) => (release = r));
    let calls = 0;
    const gate = createInteractiveGate(
      async () => {
        open += 1;
        maxOpen = Math.max(maxOpen, open);
        if (calls++ === 0) await firstAnswered;
        open -= 1;
        return 'yes';
      },
      'tester',
      control,
    );
    const log: string[] = [];
    const done = runPlan(buildPlan(rb, ['a', 'b', 'c'].map((n) => host(n)), bindings(render), { mode: 'apply' }), {
      operator: 'tester',
      bindings: bindings(render),
      gate,
      bus,
      control,
      strategy: parallelStrategy(1),
      connect: async (h) => fakeConnection(h.name, states[h.name]!, log),
    });
    // While the first prompt is open, every host's check still completes.
    await new Promise((r) => setTimeout(r, 50));
    const checked = events.filter((e) => e.type === 'command' && e.phase === 'check').map((e) => (e.type === 'command' ? e.host : ''));
    expect(checked.sort()).toEqual(['a', 'b', 'c']);
    expect(events.some((e) => e.type === 'step-result' && e.host === 'c' && e.status === 'ok')).toBe(true);
    release();
    const result = await done;
    expect(maxOpen).toBe(1);
    expect(result.verdict).toBe('ok');
  });
});

describe('engine: apply --plan (the plan guard)', () => {
  const guard = (decision: ReturnType<PlanGuard['beforeFix']>): PlanGuard => ({
    passed: () => 'no longer needed: the check passes now (plan p1 had a fix for it)',
    beforeFix: () => decision,
    beforeHandler: () => decision,
  });
  const rb = runbook([step('fwd', 'get fwd=1', ['set fwd=1'])]);
  const reasonOf = (r: Awaited<ReturnType<typeof run>>, h: string) => r.events.flatMap((e) => (e.type === 'step-result' && e.host === h ? [e.reason] : []))[0];

  it('a check that passes now is ok, no longer needed; a planned fix runs', async () => {
    const states = { a: { fwd: '1' }, b: { fwd: '0' } };
    const r = await run(rb, states, { planGuard: guard({ kind: 'planned' }) });
    expect(r.status('a')).toEqual(['ok']);
    expect(reasonOf(r, 'a')).toBe('no longer needed: the check passes now (plan p1 had a fix for it)');
    expect(r.status('b')).toEqual(['fixed']);
  });

  it('a fix not in the plan is skipped without asking; a drifted one is skipped with --yes and put to the operator in a terminal', async () => {
    const notPlanned = await run(rb, { b: { fwd: '0' } }, { planGuard: guard({ kind: 'skip', reason: 'not in plan p1: its check passed when planned; make a new plan to fix it' }), answers: ['yes'] });
    expect(notPlanned.status('b')).toEqual(['skipped']);
    expect(notPlanned.asked).toEqual([]);
    expect(notPlanned.log).not.toContain('b: set fwd=1');

    const drifted = { kind: 'drifted' as const, reason: "drifted since plan p1: the check's output changed; drift: output", plannedOutput: 'unset' };
    const yes = await run(rb, { b: { fwd: '0' } }, { planGuard: guard(drifted) });
    expect(yes.status('b')).toEqual(['skipped']);
    expect(reasonOf(yes, 'b')).toBe("drifted since plan p1: the check's output changed; drift: output");
    expect(yes.log).not.toContain('b: set fwd=1');

    const asked = await run(rb, { b: { fwd: '0' } }, { planGuard: guard(drifted), answers: ['yes'] });
    expect(asked.drifts).toEqual(["drifted since plan p1: the check's output changed; drift: output | planned: unset"]);
    expect(asked.status('b')).toEqual(['fixed']);
  });

  it("a notified handler runs only if the guard lets it: a plan cannot show a handler's registered values", async () => {
    const rb2 = runbook([step('fwd', 'get fwd=1', ['set fwd=1'], { notify: ['restart'] })], { handlers: [step('restart', 'get up=1', ['set restarted=1'])] });
    const states = { b: { fwd: '0', up: '1' } as State };
    const deferred: PlanGuard = {
      passed: () => undefined,
      beforeFix: () => ({ kind: 'planned' }),
      beforeHandler: () => ({ kind: 'skip', reason: "not in plan p1: this handler's commands read values registered during the run, which a plan cannot show; apply the runbook itself to run it" }),
    };
    const r = await run(rb2, states, { planGuard: deferred });
    expect(r.status('b')).toEqual(['fixed', 'skipped']);
    expect(states.b.restarted).toBeUndefined();
    expect(r.log).not.toContain('b: set restarted=1');
  });
});
