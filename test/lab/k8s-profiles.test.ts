/**
 * The do-no-harm profiles that apply to the k8s stack, all on one lab (mgmt-net, no-icmp, non-root
 * and rhel-firewall combine): it comes up with every pod pair reachable, each profile shows as it
 * does on real nodes (read from outside), and a profile that does not apply is refused without
 * costing the running lab.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labBreak, labDown, labHeal, labProbe, labState, labUp, type LabInfo } from '../../src/lab/index.js';
import { cli, failing, nodeShell, pairsWith } from './lab-helpers.js';

/** RB_TEST_LAB lets two checkouts run this file side by side. */
const L = process.env.RB_TEST_LAB ?? 'kp';
const PROFILES = ['mgmt-net', 'no-icmp', 'non-root', 'rhel-firewall'];
let info: LabInfo;
const cache = mkdtempSync(join(tmpdir(), `rb-${L}-kubectl-`));

beforeAll(async () => {
  info = await labUp({ name: L, stack: 'k8s', workers: 3, profiles: PROFILES });
});
afterAll(async () => {
  await labDown(L);
  rmSync(cache, { recursive: true, force: true });
});

const sh = nodeShell(L);

describe('--stack k8s with the profiles that apply', () => {
  it('comes up with every pod pair reachable', async () => {
    expect(info.profiles).toEqual(['rhel-firewall', 'mgmt-net', 'no-icmp', 'non-root']);
    const r = await labProbe(L);
    expect(r.pairs).toHaveLength(6);
    expect(r.ok).toBe(true);
  });

  it("mgmt-net: the controller reaches the API over the management LAN; flannel's public-ip is the internal address", () => {
    const c = labState(L).topology.nodes.find((n) => n.name === 'c');
    expect(c?.mgmtIp).toBeDefined();
    const r = spawnSync('kubectl', ['--cache-dir', cache, 'get', 'node', 'c', '-o', 'jsonpath={.metadata.annotations.flannel\\.alpha\\.coreos\\.com/public-ip}'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, KUBECONFIG: info.kubeconfig },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(c?.ip);
    expect(info.nodes.find((n) => n.name === 'c')?.address).toBe(c?.mgmtIp);
  });

  it('no-icmp: a node does not answer ping, its pods do', async () => {
    const c = info.nodes.find((n) => n.name === 'c')?.address ?? '';
    expect(spawnSync('ping', ['-n', '-q', '-c', '1', '-W', '1', c]).status).not.toBe(0);
    expect((await labProbe(L)).pairs.every((p) => p.icmp)).toBe(true);
  });

  it('non-root: ssh logs in as ops, who reaches root through sudo', () => {
    const r = cli(['lab', 'ssh', '--name', L, 'a', 'id -un; sudo -n iptables -S INPUT']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('ops\n-P INPUT ACCEPT\n-A INPUT -p icmp -m icmp --icmp-type 8 -j DROP\n');
  });

  it("rhel-firewall: the pod network is accepted ahead of RHEL's REJECT, and a fault healed keeps that order", async () => {
    const expected = ['-A FORWARD -s 10.244.0.0/16 -j ACCEPT', '-A FORWARD -d 10.244.0.0/16 -j ACCEPT', '-A FORWARD -j REJECT --reject-with icmp-host-prohibited'];
    expect((await sh('c', 'iptables -S FORWARD')).split('\n').slice(1, 4)).toEqual(expected);
    await labBreak(L, 'ip-forward-off', 'c');
    expect(failing(await labProbe(L))).toEqual(pairsWith('c', ['a', 'b', 'c']));
    await labHeal(L);
    expect((await labProbe(L)).ok).toBe(true);
    const rules = (await sh('c', 'iptables -S FORWARD')).split('\n');
    expect(rules.filter((l) => expected.includes(l))).toEqual(expected);
  });

  it('a profile that does not apply is refused in one line, and the running lab stays', async () => {
    const r = cli(['lab', 'up', '--name', L, '--stack', 'k8s', '--profile', 'etcd-tls']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('--profile etcd-tls does not apply to --stack k8s: flannel reads the Kubernetes API there, not etcd (profiles of --stack k8s: rhel-firewall, mgmt-net, no-icmp, non-root)');
    expect((await labProbe(L)).ok).toBe(true);
  });
});
