/**
 * Fleet control on fake hosts (pure engine logic; the lab tests prove it over real sshd):
 * batches, canary, max_failures, once + register, hosts.* barriers, when, handlers, dry-run
 * dependencies on pending fixes. Commands are rendered by the real templating.
 */
import { describe, expect, it } from 'vitest';
import type { Host, Inventory, Runbook } from '../../src/model/types.js';
import { host, runbook, step } from './engine-fixtures.js';
import { buildTemplateContext, type TemplateContext } from '../../src/model/index.js';
import type { Connection, ExecResult } from '../../src/transport/types.js';
import { EventBus, RunControl, autoApprove, buildPlan, planBatches, rolloutStrategy, runPlan, templateBindings, type HostPlan, type RunEvent, type StepStatus } from '../../src/engine/index.js';
import { rolloutFor } from '../../src/cli/commands/apply-fleet.js';

// Commands: `echo TEXT` prints TEXT; `get K=V` passes when state K is V (prints it); `set K=V`;
// `slow K=V` is a set that takes 30 ms and records when it ran; `fail`.
type State = Record<string, string>;
interface World {
  states: Record<string, State>;
  log: string[];
  spans: Array<{ host: string; start: number; end: number }>;
}

function fakeConnection(host: string, w: World): Connection {
  const state = (w.states[host] ??= {});
  return {
    host,
    async exec(command: string): Promise<ExecResult> {
      w.log.push(`${host}: ${command}`);
      const base = { signal: null, stderr: '', stdoutTruncated: false, stderrTruncated: false, durationMs: 1, outcome: 'exit' as const };
      const sp = command.indexOf(' ');
      const verb = sp < 0 ? command : command.slice(0, sp);
      const arg = sp < 0 ? '' : command.slice(sp + 1);
      const [k = '', v = ''] = arg.split('=');
      await new Promise((r) => setTimeout(r, 1));
      switch (verb) {
        case 'echo':
          return { ...base, code: 0, stdout: `${arg.replace(/^'|'$/g, '')}\n` };
        case 'get':
          return { ...base, code: state[k] === v ? 0 : 1, stdout: `${state[k] ?? 'unset'}\n` };
        case 'set':
          state[k] = v;
          return { ...base, code: 0, stdout: '' };
        case 'slow': {
          const start = Date.now();
          await new Promise((r) => setTimeout(r, 30));
          state[k] = v;
          w.spans.push({ host, start, end: Date.now() });
          return { ...base, code: 0, stdout: '' };
        }
        default:
          return { ...base, code: 1, stdout: '', stderr: 'failed\n' };
      }
    },
    async close() {},
  };
}

function inventory(): Inventory {
  const hosts = [host('m1', ['etcd']), ...['a', 'b', 'c', 'd'].map((n) => host(n, ['workers']))];
  return {
    file: 'inv.yaml',
    hosts,
    groups: new Map([
      ['etcd', { name: 'etcd', hosts: ['m1'], children: [], vars: {} }],
      ['workers', { name: 'workers', hosts: ['a', 'b', 'c', 'd'], children: [], vars: {} }],
    ]),
  };
}

interface RunOpts {
  mode?: 'dry-run' | 'apply';
  targets?: string[];
  states?: Record<string, State>;
  unreachable?: string[];
  batch?: number | string;
  canary?: number;
  maxFailures?: number | string;
  forks?: number;
  confirm?: boolean;
}

async function run(rb: Runbook, o: RunOpts = {}) {
  const inv = inventory();
  const w: World = { states: o.states ?? {}, log: [], spans: [] };
  const events: RunEvent[] = [];
  const bus = new EventBus();
  bus.on((e) => events.push(e));
  const control = new RunControl();
  const contexts = new Map<string, TemplateContext>();
  const contextFor = (h: Host) => contexts.get(h.name) ?? contexts.set(h.name, buildTemplateContext({ runbook: rb, inventory: inv, host: h })).get(h.name)!;
  const fleet = templateBindings(contextFor, { runbook: rb, inventory: inv, cliVars: {} });
  const targets = inv.hosts.filter((h) => (o.targets ?? ['a', 'b', 'c', 'd']).includes(h.name));
  const mode = o.mode ?? 'apply';
  const plan = buildPlan(rb, targets, fleet, { mode });
  const rollout = rolloutFor({ batch: o.batch, canary: o.canary, maxFailures: o.maxFailures, forks: o.forks }, rb, {
    mode,
    interactive: o.confirm !== undefined,
    hosts: targets.length,
    control,
    ...(o.confirm !== undefined ? { confirm: async () => o.confirm! } : {}),
  });
  if (rollout.limit) bus.on(rollout.limit);
  const result = await runPlan(plan, {
    operator: 'op',
    bus,
    control,
    gate: mode === 'apply' ? autoApprove('op') : undefined,
    strategy: rollout.strategy,
    bindings: fleet,
    connect: async (h) => {
      if (o.unreachable?.includes(h.name)) throw new Error(`${h.name}: connection refused`);
      return fakeConnection(h.name, w);
    },
  });
  const results = events.filter((e): e is Extract<RunEvent, { type: 'step-result' }> => e.type === 'step-result');
  const status = (h: string, s: string): StepStatus | undefined => results.find((r) => r.host === h && r.step === s)?.status;
  const reason = (h: string, s: string): string | undefined => results.find((r) => r.host === h && r.step === s)?.reason;
  return { result, events, results, status, reason, w };
}

describe('rollout', () => {
  it('splits hosts into batches, canary first', () => {
    expect(planBatches(4, { batch: 2 })).toEqual([[0, 1], [2, 3]]);
    expect(planBatches(5, { batch: '25%' })).toEqual([[0, 1], [2, 3], [4]]);
    expect(planBatches(4, { canary: 1 })).toEqual([[0], [1, 2, 3]]);
    expect(planBatches(5, { canary: 1, batch: 2 })).toEqual([[0], [1, 2], [3, 4]]);
    expect(planBatches(3, {})).toEqual([[0, 1, 2]]);
  });

  it('serial: 2 never has more than 2 hosts in a fix at once, and batches do not overlap', async () => {
    const rb = runbook([step('slow fix', 'get x=1', ['slow x=1'])], { serial: 2 });
    const { result, w } = await run(rb);
    expect(result.verdict).toBe('ok');
    expect(w.spans).toHaveLength(4);
    for (const s of w.spans) expect(w.spans.filter((o) => o.start < s.end && s.start < o.end).length).toBeLessThanOrEqual(2);
    const first = w.spans.filter((s) => ['a', 'b'].includes(s.host));
    const second = w.spans.filter((s) => ['c', 'd'].includes(s.host));
    expect(Math.min(...second.map((s) => s.start))).toBeGreaterThanOrEqual(Math.max(...first.map((s) => s.end)));
  });

  it('--canary with --yes stops before the rest when the canary is not green; the rest are untouched', async () => {
    const rb = runbook([step('s', 'get x=1', ['fail'])]);
    const { result, w, status } = await run(rb, { canary: 1 });
    expect(status('a', 's')).toBe('failed');
    for (const h of ['b', 'c', 'd']) expect(status(h, 's')).toBe('not-run');
    expect(w.log.filter((l) => !l.startsWith('a:'))).toEqual([]);
    expect(result.stopReason).toMatch(/canary not all green \(a: "s" failed\), so the other 3 hosts were not started/);
    expect(result.verdict).toBe('failed');
  });

  it('--canary goes on when green (--yes), and stops when the operator says no', async () => {
    const rb = runbook([step('s', 'get x=1', ['set x=1'])]);
    expect((await run(rb, { canary: 1 })).result.verdict).toBe('ok');
    const no = await run(rb, { canary: 2, confirm: false });
    expect(no.status('a', 's')).toBe('fixed');
    expect(no.status('c', 's')).toBe('not-run');
    expect(no.result.stopReason).toMatch(/operator stopped the rollout after the canary \(a, b\)/);
    expect(no.result.verdict).toBe('aborted');
  });

  it('max_failures: the run stops once reached; unreachable counts; later hosts are untouched', async () => {
    const rb = runbook([step('s1', 'get x=1', ['fail']), step('s2', 'echo ok')], { serial: 1, maxFailures: 2 });
    const { result, w, status } = await run(rb, { unreachable: ['a'] });
    expect(status('a', 's1')).toBe('unreachable');
    expect(status('b', 's1')).toBe('failed');
    expect(status('c', 's1')).toBe('not-run');
    expect(status('d', 's2')).toBe('not-run');
    expect(w.log.filter((l) => l.startsWith('c:') || l.startsWith('d:'))).toEqual([]);
    expect(result.stopReason).toMatch(/max_failures \(2\) reached: 2 of 4 hosts failed \(a, b\)/);
  });

  it('a host waiting for an approval lends its slot, and queues for one again before it goes on', async () => {
    const log: string[] = [];
    let answer!: () => void;
    const approval = new Promise<void>((r) => (answer = r));
    const hosts = ['a', 'b'].map((name) => ({ host: { name }, steps: [] }) as unknown as HostPlan);
    await rolloutStrategy({ forks: 1 }).run(
      hosts,
      async (hp, idle) => {
        const name = hp.host.name;
        log.push(`${name} start`);
        if (name === 'a') {
          await idle!(approval);
        } else {
          answer(); // the answer comes while b holds the only slot: a waits for b
          await new Promise((r) => setTimeout(r, 5));
        }
        log.push(`${name} end`);
        return { host: name, reachable: true, steps: [] };
      },
      new RunControl(),
    );
    expect(log).toEqual(['a start', 'b start', 'b end', 'a end']);
  });
});

describe('on/once, register, hosts.*', () => {
  it('a once step runs on the first reachable etcd host; its JSON output drives every host', async () => {
    const rb = runbook([
      step('read leases', `echo {"a":"10.0.1.0","b":"10.0.2.0","c":"10.0.3.0","d":"10.0.4.0"}`, [], { on: 'etcd', once: true, register: 'leases', json: true }),
      step('subnet matches', 'get subnet={{ leases[host.name] }}'.replace('{{ leases[host.name] }}', '{{ leases.a }}')),
    ]);
    // Per-host read of the shared value: every host renders it.
    const { w, status, result, events } = await run(rb, { states: { a: { subnet: '10.0.1.0' } } });
    expect(w.log.filter((l) => l.includes('echo'))).toEqual([expect.stringMatching(/^m1: echo/)]);
    expect(status('m1', 'read leases')).toBe('ok');
    for (const h of ['a', 'b', 'c', 'd']) expect(status(h, 'read leases')).toBe('not-applicable');
    expect(w.log).toContain('a: get subnet=10.0.1.0');
    expect(w.log).toContain('d: get subnet=10.0.1.0');
    expect(status('a', 'subnet matches')).toBe('ok');
    expect(status('b', 'subnet matches')).toBe('failed');
    expect(events.find((e) => e.type === 'run-start')).toMatchObject({ hosts: ['a', 'b', 'c', 'd', 'm1'] });
    expect(result.hosts.map((h) => h.host)).toContain('m1');
  });

  it('a failed once step blocks every host; an unreachable once host falls back to the next', async () => {
    const rb = runbook([step('read', 'fail', [], { on: 'etcd', once: true }), step('after', 'echo x')]);
    const { status, reason } = await run(rb);
    expect(status('m1', 'read')).toBe('failed');
    expect(status('a', 'read')).toBe('blocked');
    expect(reason('a', 'read')).toMatch(/once step "read" failed on m1/);
    expect(status('a', 'after')).toBe('blocked');

    const rb2 = runbook([step('read', 'echo hi', [], { on: 'workers', once: true, register: 'greeting' }), step('use', 'get g={{ greeting }}')]);
    const r2 = await run(rb2, { unreachable: ['a'], targets: ['b', 'c'] });
    expect(r2.status('b', 'read')).toBe('ok');
    expect(r2.w.log.filter((l) => l.includes('echo hi'))).toEqual(['b: echo hi']);
    expect(r2.w.log).toContain('c: get g=hi');
  });

  it('{{ hosts.<name>.<var> }} waits until every host has registered it, even with one fork', async () => {
    const rb = runbook([
      step('mac', 'echo mac-{{ host.name }}', [], { register: 'mac' }),
      step('compare', 'echo macs={{ hosts.a.mac }},{{ hosts.d.mac }}'),
      step('fleet check', 'echo ok', [], { when: "hosts.a.mac == 'mac-a' and hosts.d.mac != mac" }),
    ]);
    const { w, status } = await run(rb, { forks: 1 });
    for (const h of ['a', 'b', 'c', 'd']) expect(w.log).toContain(`${h}: echo macs=mac-a,mac-d`);
    // Every 'echo mac-…' ran before any 'get macs=…'.
    const lastMac = Math.max(...w.log.map((l, i) => (l.includes('echo mac-') ? i : -1)));
    const firstGet = w.log.findIndex((l) => l.includes('echo macs='));
    expect(lastMac).toBeLessThan(firstGet);
    expect(status('a', 'fleet check')).toBe('ok');
    expect(status('d', 'fleet check')).toBe('not-applicable');
  });

  it('groups.<group>.<var>: a once step waits for every target, then sees who registered (unreachable and failed hosts absent)', async () => {
    const rb = runbook([
      step('fails on c', 'get ok=1', [], { on: 'c', continueOnFailure: true }),
      step('facts', 'echo f-{{ host.name }}', [], { register: 'facts' }),
      step('decide', 'echo got={{ groups.workers.facts }} of={{ groups.workers.hosts }}', [], { on: 'etcd', once: true, register: 'decision' }),
      step('all here', 'echo whole', [], { when: 'len(groups.workers.facts) == len(groups.workers.hosts)' }),
    ]);
    // One fork: without the barrier, a's turn would reach 'decide' before b, c, d registered.
    const { w, status } = await run(rb, { forks: 1, unreachable: ['d'] });
    // Values other hosts registered reach the shell quoted (| raw on them is refused before the run).
    expect(w.log.filter((l) => l.startsWith('m1:'))).toEqual([`m1: echo got='{"a":"f-a","b":"f-b","c":"f-c"}' of='["a","b","c","d"]'`]);
    const lastFacts = Math.max(...w.log.map((l, i) => (l.includes('echo f-') ? i : -1)));
    expect(lastFacts).toBeLessThan(w.log.findIndex((l) => l.startsWith('m1:')));
    expect(status('d', 'facts')).toBe('unreachable');
    expect(status('a', 'all here')).toBe('not-applicable');

    // A step that fails before registering leaves its host out; reachable and registered: all there.
    const rb2 = runbook([
      step('gate', 'get ok=1', [], { on: 'b' }),
      step('facts', 'echo f-{{ host.name }}', [], { register: 'facts' }),
      step('decide', 'echo got={{ groups.workers.facts }}', [], { on: 'etcd', once: true }),
      step('all here', 'echo whole', [], { when: 'len(groups.workers.facts) == len(groups.workers.hosts)' }),
    ]);
    const r2 = await run(rb2, { targets: ['a', 'b'] });
    expect(r2.w.log).toContain(`m1: echo got='{"a":"f-a"}'`);
    const r3 = await run(rb2, { targets: ['a', 'b'], states: { b: { ok: '1' } } });
    expect(r3.w.log).toContain(`m1: echo got='{"a":"f-a","b":"f-b"}'`);
    expect(r3.status('a', 'all here')).toBe('ok');
  });

  it('groups.* is checked before the run, and is pending in a dry run while a target\'s value is', async () => {
    await expect(run(runbook([step('s', 'echo {{ groups.workers.facts }}')]))).rejects.toThrow(/rb.yaml:1:1: groups.workers.facts in step "s": no earlier step registers "facts"/);
    await expect(run(runbook([step('f', 'echo x', [], { register: 'facts' }), step('s', 'echo', [], { when: 'len(groups.workers.factz) > 0' })]))).rejects.toThrow(/no earlier step registers "factz"/);
    await expect(run(runbook([step('f', 'echo x', [], { register: 'facts' }), step('s', 'echo {{ groups.nosuch.facts }}')]))).rejects.toThrow(/undefined variable "groups.nosuch.facts"/);
    const rb = runbook([step('facts', 'get x=1', ['set x=1'], { register: 'facts' }), step('use', 'echo {{ groups.workers.facts | json }}')]);
    const r = await run(rb, { mode: 'dry-run', targets: ['a', 'b'], states: { a: { x: '1' } } });
    expect(r.status('a', 'use')).toBe('depends-on-pending-fix');
    expect(r.reason('a', 'use')).toMatch(/groups.workers.facts was registered before a fix that has not run/);
  });

  it('register names read on the same host, and a bad JSON register fails the step', async () => {
    const rb = runbook([step('n', 'echo 3', [], { register: 'n' }), step('more than 2', 'echo big', [], { when: 'n > 2' }), step('j', 'echo nope', [], { register: 'j', json: true })]);
    const { status, reason } = await run(rb, { targets: ['a'] });
    expect(status('a', 'more than 2')).toBe('ok');
    expect(status('a', 'j')).toBe('failed');
    expect(reason('a', 'j')).toMatch(/register j: stdout is not JSON/);
  });

  it('on: without once runs only on the matching targets', async () => {
    const rb = runbook([step('only a', 'echo x', [], { on: 'a' })]);
    const { status } = await run(rb, { targets: ['a', 'b'] });
    expect(status('a', 'only a')).toBe('ok');
    expect(status('b', 'only a')).toBe('not-applicable');
  });
});

describe('when, handlers, dry-run dependencies', () => {
  const handlers = [step('restart flanneld', 'echo flanneld-up', ['echo restart-flanneld']), step('restart docker', 'echo docker-up', ['echo restart-docker'])];
  const rb = runbook(
    [
      step('config', 'get cfg=1', ['set cfg=1'], { notify: ['restart docker', 'restart flanneld'] }),
      step('other', 'get other=1', ['set other=1'], { notify: ['restart flanneld'] }),
      step('after change', 'echo changed', [], { when: 'changed("config")' }),
    ],
    { handlers },
  );

  it('handlers run once, in handler order, only on hosts where a notifying step changed something', async () => {
    const { w, status } = await run(rb, { targets: ['a', 'b'], states: { b: { cfg: '1', other: '1' } } });
    const a = w.log.filter((l) => l.startsWith('a: echo restart'));
    expect(a).toEqual(['a: echo restart-flanneld', 'a: echo restart-docker']);
    expect(status('a', 'restart flanneld')).toBe('fixed');
    expect(status('a', 'after change')).toBe('ok');
    expect(w.log.filter((l) => l.startsWith('b: echo restart'))).toEqual([]);
    expect(status('b', 'restart docker')).toBe('not-applicable');
    expect(status('b', 'after change')).toBe('not-applicable');
  });

  it('a handler on: other hosts is not applicable on a host it does not select, and runs nothing there', async () => {
    const rb2 = runbook([step('config', 'get cfg=1', ['set cfg=1'], { notify: ['restart etcd'] })], {
      handlers: [step('restart etcd', 'echo etcd-up', ['echo restart-etcd'], { on: 'etcd' })],
    });
    const { w, status, reason } = await run(rb2, { targets: ['a'] });
    expect(status('a', 'config')).toBe('fixed');
    expect(status('a', 'restart etcd')).toBe('not-applicable');
    expect(reason('a', 'restart etcd')).toBe('not for this host (on: etcd)');
    expect(w.log.filter((l) => l.startsWith('a: ') && !l.includes('cfg'))).toEqual([]);
  });

  it('dry run: steps and handlers that depend on a fix that did not happen are depends-on-pending-fix', async () => {
    const rb2 = runbook([...rb.steps, step('reads', 'echo v', ['set v=1'], { register: 'v' }), step('uses v', 'echo x={{ v }}')], { handlers });
    const { status, result, w } = await run(rb2, { mode: 'dry-run', targets: ['a'] });
    expect(status('a', 'config')).toBe('would-fix');
    expect(status('a', 'after change')).toBe('depends-on-pending-fix');
    expect(status('a', 'restart flanneld')).toBe('depends-on-pending-fix');
    expect(status('a', 'reads')).toBe('ok');
    expect(status('a', 'uses v')).toBe('ok');
    expect(w.log.some((l) => l.includes('restart'))).toBe(false);
    expect(result.verdict).toBe('pending');

    const rb3 = runbook([step('fixme', 'get y=1', ['set y=1'], { register: 'y' }), step('uses y', 'get z={{ y }}')]);
    const r3 = await run(rb3, { mode: 'dry-run', targets: ['a'] });
    expect(r3.status('a', 'uses y')).toBe('depends-on-pending-fix');
    expect(r3.reason('a', 'uses y')).toMatch(/y was registered before a fix that has not run/);
  });

  it('bad conditions and unknown changed() names stop the run before any host is touched', async () => {
    await expect(run(runbook([step('s', 'echo', [], { when: 'x = 1' })]))).rejects.toThrow(/rb.yaml:1:1: bad when: condition in step "s": "=" at column 3/);
    await expect(run(runbook([step('s', 'echo', [], { when: 'changed("nope")' })]))).rejects.toThrow(/changed\("nope"\) in step "s" names no earlier step/);
    await expect(run(runbook([step('s', 'echo', [], { register: 'r' }), step('t', 'echo {{ r }} {{ missing }}')]))).rejects.toThrow(/undefined variable "missing"/);
  });
});
