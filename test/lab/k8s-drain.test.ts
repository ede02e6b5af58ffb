/**
 * The k8s stack's workload lifecycle, driven by the real kubectl (the machine's 1.32 and Debian's
 * 1.20): cordon, drain with evictions, PodDisruptionBudgets, uncordon, and deleting the flannel
 * DaemonSet pod. One lab for the file; each test leaves the cluster as it found it (all nodes
 * schedulable, one workload pod per worker's worth, every pod pair reachable).
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { formatProbe, labProbe } from '../../src/lab/index.js';
import { k8sLab, OLD_KUBECTL, until } from './k8s-support.js';

const lab = k8sLab('kd');
const L = lab.name;
const run = lab.run;
const sh = lab.sh;
const kubectl = (...args: string[]): ReturnType<typeof run> => run('kubectl', args);

interface Pod {
  metadata: { name: string; namespace: string; uid: string };
  spec: { nodeName?: string };
  status: { phase: string; podIP?: string };
}
function pods(namespace = 'default'): Pod[] {
  const r = kubectl('get', 'pods', '-n', namespace, '-o', 'json');
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { items: Pod[] }).items;
}
const where = (ps: Pod[]): string[] => ps.map((p) => `${p.metadata.name}@${p.spec.nodeName ?? ''}:${p.status.phase}`).sort();
const unschedulable = (node: string): string => kubectl('get', 'node', node, '-o', 'jsonpath={.spec.unschedulable}').stdout;

/**
 * Every workload pod Running (3) and every pod pair reachable; `drained` is the worker left
 * without a pod, which the probe reports as podless.
 */
async function settled(drained?: string): Promise<void> {
  await until('3 workload pods running', () => {
    const ps = pods();
    return ps.length === 3 && ps.every((p) => p.status.phase === 'Running');
  });
  let last = '';
  await until(() => `every pod pair reachable${drained ? `, ${drained} podless` : ''}; last probe:\n${last}`, async () => {
    const probe = await labProbe(L);
    last = `${formatProbe(probe)}\npods: ${where(pods()).join(' ')}`;
    return probe.pairs.length > 0 && probe.pairs.every((p) => p.icmp && p.tcp) && probe.podless.join() === (drained ?? '');
    // A probe round takes seconds on a loaded machine, and the replacement pod needs its sandbox first.
  }, 60_000);
}

describe.each([
  { name: "the machine's kubectl (1.32)", bin: 'kubectl', node: 'a' },
  { name: "Debian's kubectl 1.20 (policy/v1beta1 evictions)", bin: OLD_KUBECTL, node: 'b' },
])('$name', ({ bin, node }) => {
  it('is there', () => {
    expect(existsSync(bin) || bin === 'kubectl', `${bin} is missing: run scripts/ensure-deps.sh`).toBe(true);
  });

  it('drain --ignore-daemonsets evicts the workload, which the ReplicaSet recreates on the other nodes; uncordon lets pods land again', async () => {
    const all = pods();
    const before = all.filter((p) => p.spec.nodeName === node);
    expect(before).toHaveLength(1);
    const r = run(bin, ['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=60s']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`node/${node} cordoned`);
    expect(r.stdout).toContain(`pod/${before[0]?.metadata.name ?? ''} evicted`);
    expect(r.stderr).toMatch(/ignoring DaemonSet-managed Pods: kube-flannel\/kube-flannel-ds-[a-z0-9]{5}/);
    expect(unschedulable(node)).toBe('true');
    await settled(node);
    const after = pods();
    // A new pod (a new name and uid), bound elsewhere; the flannel pod stays on the drained node.
    // New to the whole list: an earlier test's replacement is no drain's (deleting it instead left
    // a tie between two emptiest nodes, and the scheduler's coin sometimes chose the other one).
    expect(after.filter((p) => p.spec.nodeName === node)).toEqual([]);
    const fresh = after.filter((p) => !all.some((b) => b.metadata.uid === p.metadata.uid));
    expect(fresh.map((p) => p.metadata.name), where(after).join(' ')).toEqual([expect.stringMatching(/^probe-[a-z0-9]{5}$/)]);
    const replacement = fresh[0];
    expect(pods('kube-flannel').filter((p) => p.spec.nodeName === node)).toHaveLength(1);

    expect(run(bin, ['uncordon', node]).stdout).toBe(`node/${node} uncordoned\n`);
    // The next replacement goes to the emptiest node: the uncordoned one.
    expect(run(bin, ['delete', 'pod', replacement?.metadata.name ?? '']).code).toBe(0);
    await until(() => `a new pod on ${node}: ${where(pods()).join(' ')}`, () => pods().some((p) => p.spec.nodeName === node && p.status.phase === 'Running'));
    await settled();
  });
});

describe('PodDisruptionBudgets', () => {
  // --validate=false: the lab API serves no OpenAPI documents for kubectl's client-side validation.
  const budget = (minAvailable: number): string => JSON.stringify({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'probe' }, spec: { minAvailable, selector: { matchLabels: { app: 'probe' } } } });

  it('a budget that allows no disruption makes drain retry the eviction until its timeout, and the pod stays', () => {
    expect(run('kubectl', ['create', '--validate=false', '-f', '-'], budget(3)).code).toBe(0);
    expect(run(OLD_KUBECTL, ['get', 'pdb', 'probe', '-o', 'jsonpath={.status.disruptionsAllowed}/{.status.currentHealthy}']).stdout).toBe('0/3');
    const before = where(pods());
    const r = kubectl('drain', 'c', '--ignore-daemonsets', '--timeout=8s');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.");
    expect(r.stderr).toContain('global timeout reached: 8s');
    expect(where(pods())).toEqual(before);
    expect(kubectl('uncordon', 'c').code).toBe(0);
  });

  it('a budget with room lets the drain through, one eviction at a time', async () => {
    expect(kubectl('delete', 'pdb', 'probe').code).toBe(0);
    expect(run('kubectl', ['create', '--validate=false', '-f', '-'], budget(2)).code).toBe(0);
    const r = kubectl('drain', 'c', '--ignore-daemonsets', '--timeout=60s');
    expect(r.code, r.stderr).toBe(0);
    await settled('c');
    expect(kubectl('delete', 'pdb', 'probe').code).toBe(0);
    expect(kubectl('uncordon', 'c').code).toBe(0);
    // Uncordoning moves nothing back; a pod deleted from a node with two is replaced on c.
    const crowded = pods().find((p, _, all) => all.filter((q) => q.spec.nodeName === p.spec.nodeName).length > 1);
    expect(kubectl('delete', 'pod', crowded?.metadata.name ?? '').code).toBe(0);
    await until(() => `a new pod on c: ${where(pods()).join(' ')}`, () => pods().some((p) => p.spec.nodeName === 'c' && p.status.phase === 'Running'));
    await settled();
  });
});

describe('the flannel DaemonSet pod', () => {
  it('kubectl delete pod restarts flanneld on that node, as a new pod of the DaemonSet, and the pod network keeps working', async () => {
    const old = pods('kube-flannel').find((p) => p.spec.nodeName === 'b');
    const pid = await sh('b', 'systemctl show -p MainPID --value flanneld');
    expect(kubectl('-n', 'kube-flannel', 'delete', 'pod', old?.metadata.name ?? '').stdout).toBe(`pod "${old?.metadata.name ?? ''}" deleted\n`);
    await until('a new flannel pod on b, running', () => pods('kube-flannel').some((p) => p.spec.nodeName === 'b' && p.metadata.uid !== old?.metadata.uid && p.status.phase === 'Running'));
    await until('a new flanneld', async () => {
      const now = await sh('b', 'systemctl is-active flanneld >/dev/null && systemctl show -p MainPID --value flanneld');
      return now !== pid && now !== '0';
    });
    const now = await sh('b', 'systemctl show -p MainPID --value flanneld');
    expect(await sh('b', `tr '\\0' ' ' < /proc/${now}/cmdline`)).toContain('flanneld.js --kube-api-url=');
    expect(pods('kube-flannel').filter((p) => p.spec.nodeName === 'b')).toHaveLength(1);
    await settled();
  });
});
