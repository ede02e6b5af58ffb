/**
 * fix-cni0-mismatch on the k8s stack (issue 22), and the drain around a disruptive step, with the
 * real kubectl against the lab's API; one lab for the file, its hosts from the cluster (the lab's
 * kubernetes: inventory). Healthy: nothing to do, no kubectl drain, nothing changed. cni0-stale on
 * c: the dry run shows the drain around the fix and changes nothing; the apply drains c, deletes
 * cni0, verifies and uncordons c; a new pod then starts on c (the bridge plugin recreates cni0 on
 * flannel's subnet) and every pod pair is reachable; the next apply is all ok. A pod no controller
 * would recreate makes the drain fail: c is uncordoned again and cni0 is untouched. Hosts that are no
 * known node are refused before anything runs. State is read from outside runbook: the node's
 * namespaces (labExec) and the API (kubectl).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { formatProbe, labBreak, labHeal, labProbe } from '../../src/lab/index.js';
import { k8sLab, until } from './k8s-support.js';
import { apply, describeRun, expectAllOk, type Applied, type Lab } from './runbooks-support.js';

const K = k8sLab('cn');
const RB = 'fix-cni0-mismatch';
const STEP = "cni0 is on flannel's subnet";
const scratch = mkdtempSync(join(tmpdir(), 'rb-cn-'));
/** The lab's inventory whose hosts are the nodes the API lists. */
const lab = (): Lab => ({ info: { ...K.info(), inventory: K.info().kubeInventory! }, scratch });
const kubectl = (...args: string[]) => K.run('kubectl', args);
/** The probe workload's replicas: one per worker (a, b, c). */
const WORKLOAD = 3;

afterEach(async () => {
  await labHeal(K.name);
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

interface Pod {
  metadata: { name: string };
  spec: { nodeName?: string };
  status: { phase: string };
}
const pods = (): Pod[] => (JSON.parse(kubectl('get', 'pods', '-o', 'json').stdout) as { items: Pod[] }).items;
const unschedulable = (node: string): string => kubectl('get', 'node', node, '-o', 'jsonpath={.spec.unschedulable}').stdout;
/** cni0 as the node sees it: ifindex and addresses (absent: "none"). */
const bridge = (node: string): Promise<string> => K.sh(node, 'cat /sys/class/net/cni0/ifindex 2>/dev/null && ip -4 -o addr show dev cni0 | awk "{ print \\$4 }" || echo none');
const kubectlPhases = (a: Applied): string[] => a.events.flatMap((e) => (e.type === 'command-start' && (e.phase === 'drain' || e.phase === 'uncordon') ? [`${e.host} ${e.phase} ${e.command.replace(/kubectl --kubeconfig \S+ /g, '')}`] : []));

/**
 * A workload pod runs on `node`: the evicted pod's replacement may land there once it is
 * uncordoned; else one replica is moved there (Kubernetes never moves pods back by itself).
 */
async function podBackOn(node: string): Promise<void> {
  // The ReplicaSet's replacement of an evicted pod first, bound to a node.
  await until(() => `${WORKLOAD} workload pods bound: ${pods().filter((p) => p.spec.nodeName).length}`, () => pods().filter((p) => p.spec.nodeName).length >= WORKLOAD);
  if (!pods().some((p) => p.spec.nodeName === node)) {
    const crowded = pods().find((p, _, all) => all.filter((q) => q.spec.nodeName === p.spec.nodeName).length > 1);
    expect(kubectl('delete', 'pod', crowded?.metadata.name ?? '').code).toBe(0);
  }
  await until(() => `a pod running on ${node}: ${pods().map((p) => `${p.metadata.name}@${p.spec.nodeName ?? ''}:${p.status.phase}`).join(' ')}`, () => pods().some((p) => p.spec.nodeName === node && p.status.phase === 'Running'), 60_000);
}

describe('fix-cni0-mismatch (k8s stack)', () => {
  it('healthy: a dry run and an apply find nothing to do; no node is drained, no bridge touched', async () => {
    const nodes = K.info().nodes.map((n) => n.name);
    const before = await Promise.all(nodes.map(bridge));
    const dry = apply(lab(), RB, 'all', ['--dry-run']);
    expectAllOk(dry);
    expect(Object.keys(dry.statuses).sort()).toEqual([...nodes].sort());
    const applied = apply(lab(), RB, 'all', ['--yes']);
    expectAllOk(applied);
    expect(kubectlPhases(applied)).toEqual([]);
    expect(await Promise.all(nodes.map(bridge))).toEqual(before);
    for (const n of nodes) expect(unschedulable(n)).toBe('');
  });

  it('cni0-stale on c: the dry run shows the drain and changes nothing; the apply drains c, deletes cni0, uncordons c; a new pod starts there and every pair is reachable', async () => {
    await labBreak(K.name, 'cni0-stale', 'c');
    expect((await labProbe(K.name)).podless).toEqual(['c']);
    const stale = await bridge('c');

    const dry = apply(lab(), RB, 'c', ['--dry-run']);
    expect(dry.statuses.c, describeRun(dry)).toEqual(['would-fix']);
    const planned = dry.results.c?.[STEP];
    expect(planned?.checkOutput).toMatch(/cni0 holds 10\.\S+, not flannel's 10\.\S+: new pods fail/);
    expect(planned?.fixCommands?.[0]).toMatch(/^first, on this machine: kubectl --kubeconfig \S+ drain c --ignore-daemonsets --timeout=300s$/);
    expect(planned?.fixCommands?.at(-1)).toMatch(/^after the verify passes, if c took pods before: kubectl --kubeconfig \S+ uncordon c --request-timeout=20s && kubectl --kubeconfig \S+ annotate node c runbook\/drained-by- --request-timeout=20s$/);
    expect(kubectlPhases(dry)).toEqual([]);
    expect(await bridge('c')).toBe(stale);
    expect(unschedulable('c')).toBe('');

    const fixed = apply(lab(), RB, 'c', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    expect(fixed.statuses.c, describeRun(fixed)).toEqual(['fixed']);
    expect(fixed.results.c?.[STEP]?.reason).toBe('node c drained, then uncordoned');
    expect(kubectlPhases(fixed)).toEqual([
      "c drain get node c --output 'jsonpath={.spec.unschedulable} {.metadata.annotations.runbook/drained-by}' --request-timeout=20s",
      'c drain annotate --overwrite node c runbook/drained-by=fix-cni0-mismatch --request-timeout=20s',
      'c drain drain c --ignore-daemonsets --timeout=300s',
      'c uncordon uncordon c --request-timeout=20s && annotate node c runbook/drained-by- --request-timeout=20s',
    ]);
    // From outside: c takes pods again without runbook's mark, its old bridge is gone, and a pod starts there.
    expect(unschedulable('c')).toBe('');
    expect(kubectl('get', 'node', 'c', '-o', 'jsonpath={.metadata.annotations}').stdout).not.toContain('runbook/drained-by');
    expect(await bridge('c')).not.toBe(stale);
    await podBackOn('c');
    let last = await labProbe(K.name);
    await until(() => `every pod pair reachable:\n${formatProbe(last)}`, async () => (last = await labProbe(K.name)).ok, 60_000);
    const subnet = (await K.sh('c', 'sed -n "s/^FLANNEL_SUBNET=//p" /run/flannel/subnet.env')).trim();
    expect((await bridge('c')).split('\n')[1]).toBe(subnet);

    const again = apply(lab(), RB, 'c', ['--yes']);
    expectAllOk(again);
    expect(kubectlPhases(again)).toEqual([]);
  });

  it('a drain that fails (a pod no controller would recreate): c is uncordoned again and its bridge untouched', async () => {
    // The fault shows on a node that runs a pod.
    await podBackOn('c');
    await labBreak(K.name, 'cni0-stale', 'c');
    const stale = await bridge('c');
    const bare = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bare' }, spec: { nodeName: 'c', containers: [{ name: 'web', image: 'registry.k8s.io/e2e-test-images/agnhost:2.52' }] } });
    expect(K.run('kubectl', ['create', '--validate=false', '-f', '-'], bare).code).toBe(0);
    try {
      const refused = apply(lab(), RB, 'c', ['--yes']);
      expect(refused.statuses.c, describeRun(refused)).toEqual(['failed']);
      expect(refused.results.c?.[STEP]?.reason).toMatch(/^draining node c failed \(kubectl: exit code 1: .*cannot delete Pods that declare no controller.*\); node c uncordoned again; the fix did not run$/);
      expect(unschedulable('c')).toBe('');
      expect(await bridge('c')).toBe(stale);
      expect(pods().some((p) => p.metadata.name === 'bare')).toBe(true);
    } finally {
      kubectl('delete', 'pod', 'bare');
    }
  });

  it('hosts that are no known node (the lab\'s plain inventory) are refused before anything runs, unless --no-drain', () => {
    const plain: Lab = { info: K.info(), scratch };
    const refused = apply(plain, RB, 'c', ['--yes']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/fix-cni0-mismatch\.yaml:\d+:\d+: step "cni0 is on flannel's subnet" is disruptive \(its node is drained before the fix\), and c is no Kubernetes node runbook knows: only hosts from an inventory's kubernetes: are \(take the hosts from the cluster/);
    expect(refused.events).toEqual([]);
    const dry = apply(plain, RB, 'c', ['--dry-run', '--no-drain']);
    expectAllOk(dry);
    expect(dry.stderr).toContain(`--no-drain: the nodes are not cordoned or drained for "${STEP}": their fixes run with the pods in place`);
  });
});
