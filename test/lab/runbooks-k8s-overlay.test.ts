/**
 * check-overlay-path and fix-flannel-annotations on the k8s stack (issue 22), one lab for the file,
 * run through the CLI against the inventory the cluster lists (`inventory-k8s.yaml`, kubectl on
 * this machine for the local steps). Healthy: both all ok and nothing changed. vxlan-blocked and
 * mtu-mismatch on c: check-overlay-path names the broken pairs and c, fix-flannel-annotations
 * finds nothing of its own. node-recreated on c: the dry run changes nothing, the apply deletes c's
 * flannel pod only, the probe passes, the next apply is all ok. What changed is read from outside
 * runbook: the nodes' namespaces (labExec) and the API through the real kubectl.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { labBreak, labHeal, labProbe, type ProbeResult } from '../../src/lab/index.js';
import { k8sLab, until } from './k8s-support.js';
import { apply, describeRun, expectAllOk, type Applied, type Lab } from './runbooks-support.js';

const K = k8sLab('ov');
const OVERLAY = 'check-overlay-path';
const ANNOTATIONS = 'fix-flannel-annotations';
const PAIRS = 'every other node answers over the overlay, at full size';
const VERDICT = 'the broken pairs do not all lead to this node';
const MTU_STEP = "flannel.1's MTU leaves room for VXLAN on the underlay";
const MATCH = "the node's flannel annotations match its flannel.1";
const NODES = ['m1', 'a', 'b', 'c'];
const scratch = mkdtempSync(join(tmpdir(), 'rb-ov-'));
// kubectl's discovery cache, for runbook's local steps (KUBECACHEDIR) outside the lab's state dir.
process.env.KUBECACHEDIR = join(scratch, 'kube-cache');
// The operator's fleet: the nodes the API lists.
const lab = (): Lab => ({ info: { ...K.info(), inventory: K.info().kubeInventory! }, scratch });
// kubectl reaches the cluster as the inventory listed the nodes (its k8s_kubeconfig): no --var.
const run = (runbook: string, args: string[], hosts = 'all'): Applied => apply(lab(), runbook, hosts, args);

afterEach(async () => {
  await labHeal(K.name);
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

function kubectl(...args: string[]): string {
  const r = K.run('kubectl', args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

/** What either runbook may change, as the cluster sees it: each node's resourceVersion and flannel annotations, each flannel pod's node and uid. */
const apiState = (): string =>
  kubectl('get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.metadata.resourceVersion} {.metadata.annotations}{"\\n"}{end}') +
  kubectl('-n', 'kube-flannel', 'get', 'pods', '-o', 'jsonpath={range .items[*]}{.spec.nodeName} {.metadata.uid}{"\\n"}{end}');

/** A node's side: flanneld's pid, flannel.1's MAC, every link's MTU, subnet.env (inode, mtime, content). */
const nodeState = (node: string): Promise<string> =>
  K.sh(node, `systemctl show -p MainPID --value flanneld; cat /sys/class/net/flannel.1/address
for l in /sys/class/net/*; do echo "\${l##*/} $(cat $l/mtu)"; done
stat -c '%i %.9Y' /run/flannel/subnet.env; cat /run/flannel/subnet.env`);
const fleetState = async (): Promise<string[]> => [apiState(), ...(await Promise.all(NODES.map(async (n) => `${n}:\n${await nodeState(n)}`)))];
/** A node's flannel backend-data annotation, parsed. */
const backendData = (node: string): { VNI: number; VtepMAC: string } =>
  JSON.parse(kubectl('get', 'node', node, '-o', 'jsonpath={.metadata.annotations.flannel\\.alpha\\.coreos\\.com/backend-data}')) as { VNI: number; VtepMAC: string };
/** The flannel pods as "node uid", sorted. */
const flannelPods = (): string[] => kubectl('-n', 'kube-flannel', 'get', 'pods', '-o', 'jsonpath={range .items[*]}{.spec.nodeName} {.metadata.uid}{"\\n"}{end}').split('\n').sort();
const flanneldPid = (node: string): Promise<string> => K.sh(node, 'systemctl show -p MainPID --value flanneld');

/** The output of a step's check on a host (the last check-phase command: the needs lookup comes first). */
function checkOutput(a: Applied, host: string, step: string): string | undefined {
  const e = [...a.events].reverse().find((x) => x.type === 'command' && x.host === host && x.step === step && x.phase === 'check');
  return e?.type === 'command' ? e.output.tail : undefined;
}

const reason = (a: Applied, host: string, step: string): string => a.results[host]?.[step]?.reason ?? '';

/** Each node's status for step `step`, as "node: status". */
const statusOf = (a: Applied, step: string): string[] => NODES.map((n) => `${n}: ${a.results[n]?.[step]?.status ?? 'absent'}`);

async function probeUntilOk(): Promise<ProbeResult> {
  let last: ProbeResult | undefined;
  await until('the probe to pass', async () => (last = await labProbe(K.name)).ok, 60_000);
  return last!;
}

describe('check-overlay-path and fix-flannel-annotations (k8s stack)', () => {
  it('healthy: both runbooks are all ok on every node, and nothing changed (pids, pod uids, annotations, MTUs)', async () => {
    expect((await labProbe(K.name)).ok).toBe(true);
    const before = await fleetState();
    const overlay = run(OVERLAY, ['--yes']);
    expectAllOk(overlay);
    expect(Object.keys(overlay.statuses).sort()).toEqual([...NODES].sort());
    // Every pair was really tried, full size, to the address each node reported for flannel.1.
    const fromA = checkOutput(overlay, 'a', PAIRS) ?? '';
    expect(fromA).toContain('all 3 other node(s) answer over the overlay at full size');
    expect(fromA).toMatch(/^a -> c: ok \(10\.244\.3\.0, PublicIP [\d.]+, 1422 bytes, don't fragment\)$/m);
    expect(checkOutput(overlay, 'c', MTU_STEP)).toBe('flannel.1 MTU 1450 + 50 (VXLAN) <= eth0 MTU 1500');
    expect(checkOutput(overlay, 'm1', "cni0 and the pods' veths fit flannel.1's MTU")).toContain('no cni0 on this node');

    const applied = run(ANNOTATIONS, ['--yes']);
    expectAllOk(applied);
    for (const n of NODES) expect(applied.statuses[n], describeRun(applied)).toEqual(['ok', 'ok']);
    expect(await fleetState()).toEqual(before);
  });

  it('vxlan-blocked on c: check-overlay-path names every pair with c and the rule on c; fix-flannel-annotations is all ok and restarts nothing', async () => {
    await labBreak(K.name, 'vxlan-blocked', 'c');
    const before = await fleetState();
    const r = run(OVERLAY, ['--yes']);
    expect(r.code, describeRun(r)).toBe(1);
    expect(statusOf(r, MTU_STEP)).toEqual(NODES.map((n) => `${n}: ok`));
    expect(statusOf(r, PAIRS)).toEqual(NODES.map((n) => `${n}: failed`));
    for (const n of ['m1', 'a', 'b']) expect(reason(r, n, PAIRS)).toContain(`from ${n}, broken: c (lost)`);
    expect(reason(r, 'c', PAIRS)).toContain('from c, broken: a (lost), b (lost), m1 (lost)');
    expect(statusOf(r, VERDICT)).toEqual(['m1: ok', 'a: ok', 'b: ok', 'c: failed']);
    expect(reason(r, 'c', VERDICT)).toContain('VXLAN UDP 8472 is dropped on c; not fixed automatically');
    expect(reason(r, 'c', VERDICT)).toContain('-D INPUT -p udp -m udp --dport 8472 -j DROP');
    expect(checkOutput(r, 'c', VERDICT)).toContain('every broken pair is with c (c-m1, a-c, b-c), and pairs without it work');

    expectAllOk(run(ANNOTATIONS, ['--yes']));
    expect(await fleetState()).toEqual(before);
  });

  it('mtu-mismatch on c: check-overlay-path names c\'s MTU and every full-size pair with c; fix-flannel-annotations is all ok and restarts nothing', async () => {
    await labBreak(K.name, 'mtu-mismatch', 'c');
    const before = await fleetState();
    const r = run(OVERLAY, ['--yes']);
    expect(r.code, describeRun(r)).toBe(1);
    expect(statusOf(r, MTU_STEP)).toEqual(['m1: ok', 'a: ok', 'b: ok', 'c: failed']);
    expect(reason(r, 'c', MTU_STEP)).toContain('flannel.1 MTU 1450 + 50 (VXLAN) > eth0 MTU 1400');
    expect(reason(r, 'c', MTU_STEP)).toContain('not fixed automatically');
    for (const n of ['m1', 'a', 'b']) expect(reason(r, n, PAIRS)).toContain(`from ${n}, broken: c (too-big)`);
    expect(reason(r, 'c', VERDICT)).toContain('only full-size packets are lost: an MTU at c is below the overlay');
    expect(statusOf(r, VERDICT)).toEqual(['m1: ok', 'a: ok', 'b: ok', 'c: failed']);

    expectAllOk(run(ANNOTATIONS, ['--yes']));
    expect(await fleetState()).toEqual(before);
  });

  it('node-recreated on c: the dry run changes nothing; the apply restarts only c\'s flannel pod, the probe passes, the next apply is all ok', async () => {
    await labBreak(K.name, 'node-recreated', 'c');
    expect((await labProbe(K.name)).ok).toBe(false);
    const mac = await K.sh('c', 'cat /sys/class/net/flannel.1/address');
    const stale = backendData('c').VtepMAC;
    expect(stale).not.toBe(mac);
    const podsBefore = flannelPods();
    const before = await fleetState();

    const dry = run(ANNOTATIONS, ['--dry-run']);
    expect(dry.code, describeRun(dry)).toBe(3);
    expect(statusOf(dry, MATCH)).toEqual(['m1: ok', 'a: ok', 'b: ok', 'c: would-fix']);
    expect(reason(dry, 'c', MATCH)).toContain(`stale annotations on c: backend-data VtepMAC ${stale} is not flannel.1's MAC ${mac}`);
    expect(dry.results.c?.[MATCH]?.fixCommands?.join('\n')).toContain('delete pod "$1"');
    expect(await fleetState()).toEqual(before);

    const others = await Promise.all(['m1', 'a', 'b'].map(flanneldPid));
    const cPid = await flanneldPid('c');
    const fixed = run(ANNOTATIONS, ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    expect(statusOf(fixed, MATCH)).toEqual(['m1: ok', 'a: ok', 'b: ok', 'c: fixed']);
    await probeUntilOk();
    // From outside: the annotation carries flannel.1's MAC, c's flannel pod and flanneld are new,
    // and no other node's flanneld or flannel pod was touched.
    expect(backendData('c')).toEqual({ VNI: 1, VtepMAC: mac });
    const podsAfter = flannelPods();
    expect(podsAfter.filter((l) => !l.startsWith('c '))).toEqual(podsBefore.filter((l) => !l.startsWith('c ')));
    expect(podsAfter.filter((l) => l.startsWith('c '))).toHaveLength(1);
    expect(podsAfter).not.toContain(podsBefore.find((l) => l.startsWith('c ')));
    expect(await flanneldPid('c')).not.toBe(cPid);
    expect(await Promise.all(['m1', 'a', 'b'].map(flanneldPid))).toEqual(others);
    expect(await K.sh('c', 'cat /sys/class/net/flannel.1/address')).toBe(mac);

    // The second apply: all ok, and c's new flanneld and pod are left alone.
    const after = await fleetState();
    expectAllOk(run(ANNOTATIONS, ['--yes']));
    expect(await fleetState()).toEqual(after);
  });

  it("a stale public-ip on b (the form node-recreated does not build): named, fixed by restarting b's flannel pod, the probe passes", async () => {
    const ip = await K.sh('b', "ip -4 -o addr show dev eth0 | awk '{ sub(/\\/.*/, \"\", $4); print $4 }'");
    // The decommissioned machine's address (docs/lab.md): the other nodes send b's VXLAN there.
    const dead = `${ip.split('.').slice(0, 3).join('.')}.240`;
    kubectl('annotate', '--overwrite', 'node', 'b', `flannel.alpha.coreos.com/public-ip=${dead}`);
    await until('the probe to fail for b', async () => !(await labProbe(K.name)).ok);
    const others = await Promise.all(['m1', 'a', 'c'].map(flanneldPid));
    const dry = run(ANNOTATIONS, ['--dry-run'], 'b');
    expect(dry.statuses.b, describeRun(dry)).toEqual(['ok', 'would-fix']);
    expect(reason(dry, 'b', MATCH)).toContain(`public-ip ${dead} is not ${ip}, flannel.1's local address`);
    const fixed = run(ANNOTATIONS, ['--yes']);
    expect(statusOf(fixed, MATCH), describeRun(fixed)).toEqual(['m1: ok', 'a: ok', 'b: fixed', 'c: ok']);
    expect(kubectl('get', 'node', 'b', '-o', 'jsonpath={.metadata.annotations.flannel\\.alpha\\.coreos\\.com/public-ip}')).toBe(ip);
    await probeUntilOk();
    expect(await Promise.all(['m1', 'a', 'c'].map(flanneldPid))).toEqual(others);
  });

  it('a node whose flannel does not run the kube subnet manager: refused in the dry run and the apply, nothing changed', async () => {
    const key = 'flannel.alpha.coreos.com/kube-subnet-manager';
    kubectl('annotate', 'node', 'm1', `${key}-`);
    try {
      const before = await fleetState();
      for (const mode of ['--dry-run', '--yes']) {
        const r = run(ANNOTATIONS, [mode], 'm1');
        expect(r.code, describeRun(r)).toBe(1);
        expect(r.statuses.m1, describeRun(r)).toEqual(['ok', 'failed']);
        expect(reason(r, 'm1', MATCH)).toContain(`refused: node m1 has no ${key}=true annotation`);
      }
      expect(await fleetState()).toEqual(before);
    } finally {
      kubectl('annotate', 'node', 'm1', `${key}=true`);
    }
  });
});
