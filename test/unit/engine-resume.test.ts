/**
 * resume in the engine, on fake hosts: what the resumed run finished is reported, never run; a host
 * with nothing left is not even connected; a fix it made still notifies handlers; a step that
 * registers a value runs its check again; the start event names the run and carries the vars.
 */
import { describe, expect, it } from 'vitest';
import type { Host, Inventory, Runbook } from '../../src/model/types.js';
import { host, runbook, step } from './engine-fixtures.js';
import { buildTemplateContext, type TemplateContext } from '../../src/model/index.js';
import type { Connection, ExecResult } from '../../src/transport/types.js';
import { EventBus, autoApprove, buildPlan, runPlan, templateBindings, type RunEvent } from '../../src/engine/index.js';
import type { DoneStep } from '../../src/engine/index.js';

// `get K=V` passes when state K is V (prints it); `set K=V`; `echo TEXT`.
function fakeConnection(name: string, state: Record<string, string>, log: string[]): Connection {
  return {
    host: name,
    async exec(command: string): Promise<ExecResult> {
      log.push(`${name}: ${command}`);
      const base = { signal: null, stderr: '', stdoutTruncated: false, stderrTruncated: false, durationMs: 1, outcome: 'exit' as const };
      const [verb, arg = ''] = command.split(' ', 2) as [string, string?];
      const [k = '', v = ''] = arg.split('=');
      if (verb === 'set') state[k] = v;
      if (verb === 'get') return { ...base, code: state[k] === v ? 0 : 1, stdout: `${state[k] ?? 'unset'}\n` };
      return { ...base, code: 0, stdout: verb === 'echo' ? `${arg}\n` : '' };
    },
    async close() {},
  };
}

const inv = (): Inventory => {
  const hosts = [host('m1', ['etcd']), ...['a', 'b'].map((n) => host(n, ['workers']))];
  return { file: 'inv.yaml', hosts, groups: new Map([['workers', { name: 'workers', hosts: ['a', 'b'], children: [], vars: {} }], ['etcd', { name: 'etcd', hosts: ['m1'], children: [], vars: {} }]]) };
};

type Done = Record<string, Record<string, DoneStep['status']>>;

async function resume(rb: Runbook, states: Record<string, Record<string, string>>, done: Done, vars?: Record<string, string>) {
  const inventory = inv();
  const log: string[] = [];
  const connected: string[] = [];
  const events: RunEvent[] = [];
  const bus = new EventBus();
  bus.on((e) => events.push(e));
  const contexts = new Map<string, TemplateContext>();
  const contextFor = (h: Host) => contexts.get(h.name) ?? contexts.set(h.name, buildTemplateContext({ runbook: rb, inventory, host: h })).get(h.name)!;
  const bindings = templateBindings(contextFor, { runbook: rb, inventory, cliVars: {} });
  const plan = buildPlan(rb, inventory.hosts.filter((h) => h.name in states), bindings, { mode: 'apply' });
  const doneMap = new Map(Object.entries(done).map(([h, steps]) => [h, new Map(Object.entries(steps).map(([s, status]) => [s, { status, runId: 'R1' }]))]));
  const result = await runPlan(plan, {
    operator: 'op',
    bus,
    gate: autoApprove('op'),
    bindings,
    resume: { runId: 'R1', done: doneMap },
    redact: (s) => s.replaceAll('hunter2', '********'),
    ...(vars ? { vars } : {}),
    connect: async (h) => {
      connected.push(h.name);
      return fakeConnection(h.name, (states[h.name] ??= {}), log);
    },
  });
  const results = events.filter((e): e is Extract<RunEvent, { type: 'step-result' }> => e.type === 'step-result');
  const outcome = (h: string, s: string) => {
    const r = results.find((x) => x.host === h && x.step === s);
    return r ? `${r.status}${r.reason ? `: ${r.reason}` : ''}` : undefined;
  };
  return { result, events, log, connected, outcome };
}

describe('engine: resume', () => {
  const rb = runbook([step('one', 'get x=1', ['set x=1']), step('two', 'get y=1', ['set y=1'])]);

  it('runs only what the resumed run left, checked first; a host it finished is not contacted at all', async () => {
    // a finished; b fixed "one", and the controller died during "two" (its fix may have landed: it did).
    const r = await resume(rb, { a: { x: '1', y: '1' }, b: { x: '1', y: '1' } }, { a: { one: 'fixed', two: 'ok' }, b: { one: 'fixed' } });
    expect(r.connected).toEqual(['b']);
    expect(r.log).toEqual(['b: get y=1']);
    expect(r.outcome('a', 'one')).toBe('not-applicable: done in run R1: fixed');
    expect(r.outcome('a', 'two')).toBe('not-applicable: done in run R1: ok');
    expect(r.outcome('b', 'one')).toBe('not-applicable: done in run R1: fixed');
    expect(r.outcome('b', 'two')).toBe('ok');
    expect(r.result.verdict).toBe('ok');
    expect(r.events[0]).toMatchObject({ type: 'run-start', resumes: 'R1', hosts: ['a', 'b'] });
  });

  it('a later step still runs after one skipped as done, and fixes what it finds', async () => {
    const r = await resume(rb, { a: { x: '1', y: '0' } }, { a: { one: 'fixed' } });
    expect(r.log).toEqual(['a: get y=1', 'a: set y=1', 'a: get y=1']);
    expect(r.outcome('a', 'two')).toBe('fixed');
  });

  it("a fix the resumed run made notifies a handler it never ran; a handler it ran is not run again", async () => {
    const withHandler = runbook([step('config', 'get cfg=1', ['set cfg=1'], { notify: ['restart'] }), step('later', 'get z=1', ['set z=1'])], {
      handlers: [step('restart', 'echo up', ['echo restarting'])],
    });
    const r = await resume(withHandler, { a: { cfg: '1', z: '0' }, b: { cfg: '1', z: '1' } }, { a: { config: 'fixed' }, b: { config: 'fixed', later: 'ok', restart: 'fixed' } });
    expect(r.log.filter((l) => l.includes('restart'))).toEqual(['a: echo restarting']);
    expect(r.outcome('a', 'restart')).toBe('fixed: notified by "config"');
    expect(r.outcome('b', 'restart')).toBe('not-applicable: done in run R1: fixed');
    expect(r.connected).toEqual(['a']);
  });

  it('a handler the resumed run ran runs again when a fix made now notifies it', async () => {
    const withHandler = runbook([step('config', 'get cfg=1', ['set cfg=1'], { notify: ['restart'], continueOnFailure: true })], {
      handlers: [step('restart', 'echo up', ['echo restarting'])],
    });
    const r = await resume(withHandler, { a: { cfg: '0' } }, { a: { restart: 'fixed' } });
    expect(r.outcome('a', 'config')).toBe('fixed');
    expect(r.outcome('a', 'restart')).toBe('fixed: notified by "config"');
  });

  it('a step that registers a value runs its check again, so the steps left can read it', async () => {
    const registers = runbook([step('read', 'echo 42', [], { register: 'answer' }), step('use', 'get v={{ answer }}', ['set v={{ answer }}'])]);
    const r = await resume(registers, { a: {} }, { a: { read: 'ok' } });
    expect(r.outcome('a', 'read')).toBe('ok');
    expect(r.log).toEqual(['a: echo 42', 'a: get v=42', 'a: set v=42', 'a: get v=42']);
  });

  it('the start event carries the vars, masked again by the run redactor, and the hosts only a once step runs on', async () => {
    const once = runbook([step('on etcd', 'echo hi', [], { on: 'etcd', once: true }), step('one', 'get x=1', ['set x=1'])]);
    const r = await resume(once, { a: { x: '1' } }, {}, { dir: '/srv', token: 'hunter2' });
    expect(r.events[0]).toMatchObject({ type: 'run-start', vars: { dir: '/srv', token: '********' }, hosts: ['a', 'm1'], onceHosts: ['m1'] });
  });
});
