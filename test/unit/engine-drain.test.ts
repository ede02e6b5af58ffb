/**
 * `disruptive: true` (engine/node-drain.ts): the node is cordoned and drained through kubectl on
 * the controller after the fix is approved, and uncordoned after the verify passes if it took pods
 * before; one node at a time unless the run goes in batches; a node whose fix failed stays
 * cordoned and no other node is drained after it. The transport here is scripted: the lab test
 * (test/lab/runbooks-k8s-cni0.test.ts) drives the real kubectl against the lab's API.
 */
import { describe, expect, it } from 'vitest';
import type { Host, Runbook } from '../../src/model/types.js';
import type { Connection, ExecOptions, ExecResult } from '../../src/transport/types.js';
import { EventBus, RunControl, autoApprove, buildPlan, runPlan, type CommandRenderer, type DrainOptions, type RunEvent } from '../../src/engine/index.js';
import { drainTargetProblems } from '../../src/model/drain-targets.js';
import { bindings, host, runbook, step } from './engine-fixtures.js';

const node = (name: string): Host => ({ ...host(name), connection: 'ssh', kubeNode: { name: `node-${name}`, kubeconfig: '/k/config' } });
const render: CommandRenderer = (h, _s, t) => {
  const text = t.text.replace('{{ me }}', String(h.vars.me));
  return { command: text, display: text };
};

interface Script {
  /** Hosts whose check passes. */
  healthy?: string[];
  /** Nodes already cordoned before the run. */
  cordoned?: string[];
  /** Nodes an earlier run of runbook left cordoned (they carry its mark). */
  marked?: string[];
  /** Hosts whose fix fails. */
  fixFails?: string[];
  /** Nodes whose drain fails. */
  drainFails?: string[];
  /** How long each drain takes (ms): lets two hosts overlap. */
  drainMs?: number;
  /** The run is stopped (as by Ctrl-C) while this node drains. */
  stopAt?: string;
}

async function run(rb: Runbook, names: string[], s: Script = {}, opts: { mode?: 'dry-run' | 'apply'; drain?: DrainOptions; drainsAtOnce?: number; control?: RunControl } = {}) {
  const log: string[] = [];
  const events: RunEvent[] = [];
  const bus = new EventBus();
  bus.on((e) => events.push(e));
  const fixed = new Set<string>();
  const cordoned = new Set([...(s.cordoned ?? []), ...(s.marked ?? [])]);
  const marked = new Map((s.marked ?? []).map((n) => [n, 'rb']));
  const exec = (where: string) => async (command: string, _o?: ExecOptions): Promise<ExecResult> => {
    log.push(`${where}: ${command}`);
    const nodeName = /node-[a-z]+/.exec(command)?.[0] ?? '';
    let code = 0;
    let stdout = '';
    if (command.includes(' get node ')) stdout = `${cordoned.has(nodeName) ? 'true' : ''} ${marked.get(nodeName) ?? ''}`;
    else if (command.includes(' annotate --overwrite ')) marked.set(nodeName, 'rb');
    else if (command.includes(' drain ')) {
      cordoned.add(nodeName);
      if (s.stopAt === nodeName) opts.control?.stop('stopped by the test', { byOperator: true });
      await new Promise((r) => setTimeout(r, s.drainMs ?? 0));
      if (s.drainFails?.includes(nodeName)) code = 1;
      log.push(`${where}: drained ${nodeName}${code ? ' (failed)' : ''}`);
    } else if (command.includes(' uncordon ')) {
      cordoned.delete(nodeName);
      marked.delete(nodeName);
    }
    else if (command.startsWith('check ')) code = s.healthy?.includes(where) || fixed.has(where) ? 0 : 1;
    else if (command.startsWith('fix ')) {
      code = s.fixFails?.includes(where) ? 1 : 0;
      if (!code) fixed.add(where);
    }
    return { outcome: 'exit', code, signal: null, stdout, stderr: code ? 'it went wrong' : '', stdoutTruncated: false, stderrTruncated: false, durationMs: 1 };
  };
  const plan = buildPlan(rb, names.map(node), bindings(render), { mode: opts.mode ?? 'apply', ...(opts.drain ? { drain: opts.drain } : {}) });
  const result = await runPlan(plan, {
    operator: 'tester',
    bindings: bindings(render),
    gate: autoApprove('tester'),
    bus,
    ...(opts.control ? { control: opts.control } : {}),
    ...(opts.drainsAtOnce !== undefined ? { drainsAtOnce: opts.drainsAtOnce } : {}),
    connect: async (h): Promise<Connection> => ({ host: h.name, exec: exec(h.connection === 'local' ? `here for ${h.name}` : h.name), close: async () => undefined }),
  });
  const results = events.flatMap((e) => (e.type === 'step-result' ? [`${e.host} ${e.step}: ${e.status}${e.reason ? ` (${e.reason})` : ''}`] : []));
  return { result, log, events, results, cordoned, marked };
}

const rb = runbook([step('bridge', 'check {{ me }}', ['fix {{ me }}'], { disruptive: true }), step('after', 'check-after {{ me }}')]);
const KUBECTL = 'kubectl --kubeconfig /k/config';
const UNCORDON = (n: string): string => `${KUBECTL} uncordon node-${n} --request-timeout=20s && ${KUBECTL} annotate node node-${n} runbook/drained-by- --request-timeout=20s`;

describe('disruptive steps', () => {
  it('a healthy node: no kubectl at all, nothing cordoned', async () => {
    const r = await run(rb, ['a'], { healthy: ['a'] });
    expect(r.log.filter((l) => l.startsWith('here'))).toEqual([]);
    expect(r.results[0]).toBe('a bridge: ok');
  });

  it('drains after the approval, fixes, verifies, then uncordons the node it found schedulable', async () => {
    const r = await run(rb, ['a']);
    expect(r.log).toEqual([
      'a: check a',
      `here for a: ${KUBECTL} get node node-a --output 'jsonpath={.spec.unschedulable} {.metadata.annotations.runbook/drained-by}' --request-timeout=20s`,
      `here for a: ${KUBECTL} annotate --overwrite node node-a runbook/drained-by=rb --request-timeout=20s`,
      `here for a: ${KUBECTL} drain node-a --ignore-daemonsets --timeout=300s`,
      'here for a: drained node-a',
      'a: fix a',
      'a: check a',
      `here for a: ${UNCORDON('a')}`,
      'a: check-after a',
    ]);
    expect(r.results[0]).toBe('a bridge: fixed (node node-a drained, then uncordoned)');
    expect(r.cordoned.size).toBe(0);
    // kubectl's commands are the step's, run on this machine: audited as local, with the fix's approval.
    const drains = r.events.filter((e) => e.type === 'command-start' && (e.phase === 'drain' || e.phase === 'uncordon'));
    expect(drains.map((e) => (e.type === 'command-start' ? `${e.phase} ${String(e.local)} ${e.approval?.by ?? ''}` : ''))).toEqual(['drain true tester', 'drain true tester', 'drain true tester', 'uncordon true tester']);
    expect(r.marked.size).toBe(0);
  });

  it('a node cordoned before the run stays cordoned', async () => {
    const r = await run(rb, ['a'], { cordoned: ['node-a'] });
    expect(r.log.some((l) => l.includes('uncordon') || l.includes('annotate'))).toBe(false);
    expect(r.results[0]).toBe('a bridge: fixed (node node-a drained; it stays cordoned, as it was before the run)');
  });

  it('a node an earlier run left cordoned (its mark) is uncordoned once fixed, and says so', async () => {
    const r = await run(rb, ['a'], { marked: ['node-a'] });
    expect(r.log.some((l) => l.includes('annotate --overwrite'))).toBe(false);
    expect(r.results[0]).toBe('a bridge: fixed (node node-a drained, then uncordoned (left cordoned by an earlier run of runbook rb))');
    expect(r.cordoned.size + r.marked.size).toBe(0);
  });

  it('a fix that fails leaves its node cordoned, and no other node is drained after it', async () => {
    const r = await run(rb, ['a', 'b'], { fixFails: ['a'] });
    expect(r.results).toContain(`a bridge: failed (fix: exit code 1: it went wrong; node node-a stays cordoned (drained for this fix): run ${UNCORDON('a')} once it is healthy)`);
    expect(r.results).toContain('b bridge: failed (not drained: node node-a was left cordoned after its fix on a ended failed; the fix did not run (uncordon that node once it is healthy, then run again for this host))');
    expect(r.log.some((l) => l.includes('drain node-b') || l === 'b: fix b')).toBe(false);
    expect([...r.cordoned]).toEqual(['node-a']);
    expect([...r.marked.keys()]).toEqual(['node-a']);
  });

  it('a drain that fails: the node is uncordoned again and the fix does not run', async () => {
    const r = await run(rb, ['a'], { drainFails: ['node-a'] });
    expect(r.results[0]).toBe('a bridge: failed (draining node node-a failed (kubectl: exit code 1: it went wrong); node node-a uncordoned again; the fix did not run)');
    expect(r.log).not.toContain('a: fix a');
    expect(r.cordoned.size).toBe(0);
  });

  it('drains one node at a time: the next drain starts after the previous node is uncordoned', async () => {
    const r = await run(rb, ['a', 'b', 'c'], { drainMs: 30 });
    const order = r.log.flatMap((l) => / (?:drain|uncordon) node-\w/.exec(l) ?? []).map((m) => m.trim());
    expect(order).toEqual(['drain node-a', 'uncordon node-a', 'drain node-b', 'uncordon node-b', 'drain node-c', 'uncordon node-c']);
  });

  it('a run stopped while one node drains drains no other: the waiting host ends not-run, the drained node is put back', async () => {
    const r = await run(rb, ['a', 'b'], { drainMs: 30, stopAt: 'node-a' }, { control: new RunControl() });
    expect(r.results.filter((l) => l.includes(' bridge: '))).toEqual(['a bridge: not-run (stopped by the test; node node-a uncordoned again)', 'b bridge: not-run (stopped by the test)']);
    expect(r.log.filter((l) => l.includes('node-b') && l.startsWith('here'))).toEqual([]);
    expect(r.cordoned.size + r.marked.size).toBe(0);
  });

  it('in batches, the nodes of a batch are drained together', async () => {
    const r = await run(rb, ['a', 'b'], { drainMs: 30 }, { drainsAtOnce: Number.POSITIVE_INFINITY });
    const order = r.log.flatMap((l) => (/ drain node-/.test(l) ? ['drain'] : / uncordon /.test(l) ? ['uncordon'] : []));
    expect(order, r.log.join('\n')).toEqual(['drain', 'drain', 'uncordon', 'uncordon']);
  });

  it('a dry run shows the drain around the fix and runs no kubectl', async () => {
    const r = await run(rb, ['a'], {}, { mode: 'dry-run' });
    const result = r.events.find((e) => e.type === 'step-result' && e.step === 'bridge');
    expect(result?.type === 'step-result' && result.fixCommands).toEqual([
      `first, on this machine: ${KUBECTL} drain node-a --ignore-daemonsets --timeout=300s`,
      'fix a',
      `after the verify passes, if node-a took pods before: ${UNCORDON('a')}`,
    ]);
    expect(r.log.filter((l) => l.startsWith('here'))).toEqual([]);
  });

  it('--no-drain: no kubectl, and the run says which steps it did not drain for', async () => {
    const r = await run(rb, ['a'], {}, { drain: { off: true } });
    expect(r.log.filter((l) => l.startsWith('here'))).toEqual([]);
    expect(r.results[0]).toBe('a bridge: fixed');
    const start = r.events.find((e) => e.type === 'run-start');
    expect(start?.type === 'run-start' && start.noDrain).toEqual(['bridge']);
  });

  it('the drain timeout is kubectl drain\'s --timeout', async () => {
    const r = await run(rb, ['a'], {}, { drain: { timeoutMs: 600_000 } });
    expect(r.log).toContain(`here for a: ${KUBECTL} drain node-a --ignore-daemonsets --timeout=600s`);
  });

  it('hosts that are no known Kubernetes node are refused before any host is touched, named', () => {
    const hosts = [node('a'), host('x'), host('y')];
    expect(drainTargetProblems(rb, hosts).map((p) => `${p.pos?.line}:${p.pos?.col}: ${p.message} (${p.hint})`)).toEqual([
      '1:1: step "bridge" is disruptive (its node is drained before the fix), and x, y are no Kubernetes node runbook knows: only hosts from an inventory\'s kubernetes: are (take the hosts from the cluster (kubernetes: in the inventory, docs/formats.md), or pass --no-drain to fix with the pods in place)',
    ]);
    expect(drainTargetProblems(rb, [node('a')])).toEqual([]);
  });
});
