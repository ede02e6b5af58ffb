/**
 * The k8s stack's faults on one shared lab (three workers; every fault on c): for each, the probe
 * fails for the reason the fault gives, the state that causes it is read from outside (the node's
 * namespaces through labExec, the API through the real kubectl), and the probe heals once the
 * fault is undone by hand, the way an operator would. labHeal resets the lab between cases.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { labBreak, labDown, labHeal, labProbe, labUp, type LabInfo, type ProbeResult } from '../../src/lab/index.js';
import { cli, failing, nodeShell, pairsWith } from './lab-helpers.js';

/** RB_TEST_LAB lets two checkouts run this file side by side. */
const L = process.env.RB_TEST_LAB ?? 'kf';
const NODES = ['a', 'b', 'c'];
const WITH_C = pairsWith('c', NODES);
let info: LabInfo;
const cache = mkdtempSync(join(tmpdir(), `rb-${L}-kubectl-`));

beforeAll(async () => {
  info = await labUp({ name: L, stack: 'k8s', workers: 3 });
});
afterEach(async () => {
  await labHeal(L);
});
afterAll(async () => {
  await labDown(L);
  rmSync(cache, { recursive: true, force: true });
});

const sh = nodeShell(L);

function kubectl(...args: string[]): string {
  const r = spawnSync('kubectl', ['--cache-dir', cache, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, KUBECONFIG: info.kubeconfig } });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
}

/** The probe, repeated until `done` holds (a repair takes a moment to reach every node). */
async function probeUntil(what: string, done: (r: ProbeResult) => boolean, ms = 30_000): Promise<ProbeResult> {
  const end = Date.now() + ms;
  for (;;) {
    const r = await labProbe(L);
    if (done(r)) return r;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: failing ${failing(r).join(' ')}; podless ${r.podless.join(' ')}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}
const healed = (): Promise<ProbeResult> => probeUntil('the probe to pass', (r) => r.ok);

describe('k8s stack faults', () => {
  it('the lab starts healthy', async () => {
    expect((await labProbe(L)).ok).toBe(true);
  });

  it('ip-forward-off (Docker-era, applies): every pair with c fails; sysctl back on heals it', async () => {
    await labBreak(L, 'ip-forward-off', 'c');
    const r = await labProbe(L);
    expect(failing(r)).toEqual(WITH_C);
    expect(await sh('c', 'sysctl -n net.ipv4.ip_forward; grep ip_forward /etc/sysctl.d/99-sysctl.conf')).toBe('0\nnet.ipv4.ip_forward = 0');
    await sh('c', "sysctl -q -w net.ipv4.ip_forward=1; sed -i --follow-symlinks 's/^net.ipv4.ip_forward = 0/net.ipv4.ip_forward = 1/' /etc/sysctl.d/99-sysctl.conf");
    await healed();
  });

  it('forward-reject (Docker-era, applies): a REJECT ahead of FLANNEL-FWD cuts c off; deleting it heals', async () => {
    await labBreak(L, 'forward-reject', 'c');
    expect(failing(await labProbe(L))).toEqual(WITH_C);
    expect((await sh('c', 'iptables -S FORWARD')).split('\n').slice(1, 3)).toEqual(['-A FORWARD -j REJECT --reject-with icmp-host-prohibited', '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD']);
    await sh('c', 'iptables -D FORWARD -j REJECT --reject-with icmp-host-prohibited');
    await healed();
  });

  it('the Docker-era faults that cannot happen here are refused in one line saying why', () => {
    const drop = cli(['lab', 'break', 'forward-drop', '--node', 'c', '--name', L]);
    expect(drop.code).toBe(2);
    expect(drop.stderr.trim()).toBe(
      `fault forward-drop does not apply to lab ${L} (--stack k8s): flanneld 0.26's FLANNEL-FWD rules accept the pod network whatever the policy: the policy alone breaks nothing (see iptables-split) (faults of the k8s stack: ip-forward-off, forward-reject, cni0-stale, node-recreated, no-br-netfilter, vxlan-blocked, mtu-mismatch, iptables-split)`,
    );
    const lease = cli(['lab', 'break', 'stale-lease', '--node', 'c', '--name', L]);
    expect(lease.stderr.trim()).toMatch(/^fault stale-lease does not apply to lab \w+ \(--stack k8s\): flannel's leases are node annotations there, not etcd keys \(see node-recreated\) \(faults of the k8s stack: /);
  });

  it('cni0-stale: c re-registered with a new podCIDR, its pod fails with the bridge plugin\'s error; deleting cni0 heals', async () => {
    const oldCidr = kubectl('get', 'node', 'c', '-o', 'jsonpath={.spec.podCIDR}');
    const oldUid = kubectl('get', 'node', 'c', '-o', 'jsonpath={.metadata.uid}');
    await labBreak(L, 'cni0-stale', 'c');
    const cidr = kubectl('get', 'node', 'c', '-o', 'jsonpath={.spec.podCIDR}');
    expect(cidr).not.toBe(oldCidr);
    expect(kubectl('get', 'node', 'c', '-o', 'jsonpath={.metadata.uid}')).not.toBe(oldUid);
    const subnet = cidr.replace(/\.0\/24$/, '.1/24');
    // flanneld took the new podCIDR; the bridge kept the old address.
    expect(await sh('c', '. /run/flannel/subnet.env; echo $FLANNEL_SUBNET')).toBe(subnet);
    expect(await sh('c', "ip -4 -o addr show dev cni0 | awk '{print $4}'")).toBe(oldCidr.replace(/\.0\/24$/, '.1/24'));
    expect(kubectl('get', 'pod', 'c-pod0', '-o', 'jsonpath={.status.phase}')).toBe('Pending');
    const r = await labProbe(L);
    expect(r.ok).toBe(false);
    expect(r.podless).toEqual(['c']);
    const error = `Failed to create pod sandbox for c-pod0: plugin type="flannel" failed (add): failed to delegate add: failed to set bridge addr: "cni0" already has an IP address different from ${subnet}`;
    expect(r.why).toEqual({ c: error });
    const text = cli(['lab', 'probe', '--name', L]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`no running pod on c: ${error}\nall 2 pairs of the running pods reachable, but 1 worker(s) run no pod\n`);

    // By hand: the bridge goes; the pod's next sandbox attempt creates it on the new subnet.
    await sh('c', 'ip link delete cni0');
    const ok = await healed();
    const ip = ok.pods.find((p) => p.node === 'c')?.ip ?? '';
    expect(`${ip.split('.').slice(0, 3).join('.')}.0/24`).toBe(cidr);
    // kubelet reports it within a second or two of the sandbox running.
    const status = (): string => kubectl('get', 'pod', 'c-pod0', '-o', 'jsonpath={.status.phase} {.status.podIP}');
    for (let i = 0; i < 60 && status() !== `Running ${ip}`; i++) await new Promise((r) => setTimeout(r, 250));
    expect(status()).toBe(`Running ${ip}`);
  });

  it("node-recreated: c's annotation names a VtepMAC flannel.1 does not have and the peers program it; restarting c's flanneld heals", async () => {
    await labBreak(L, 'node-recreated', 'c');
    expect(failing(await labProbe(L))).toEqual(WITH_C);
    const data = JSON.parse(kubectl('get', 'node', 'c', '-o', 'jsonpath={.metadata.annotations.flannel\\.alpha\\.coreos\\.com/backend-data}')) as { VtepMAC: string };
    const mac = await sh('c', 'cat /sys/class/net/flannel.1/address');
    expect(data.VtepMAC).not.toBe(mac);
    const gw = (await sh('c', '. /run/flannel/subnet.env; echo $FLANNEL_SUBNET')).replace(/\.1\/24$/, '.0');
    expect(await sh('a', `ip neigh show ${gw} dev flannel.1`)).toContain(data.VtepMAC);
    expect(await sh('a', 'bridge fdb show dev flannel.1')).toContain(`${data.VtepMAC} dst ${info.nodes.find((n) => n.name === 'c')?.address ?? ''}`);

    // By hand: delete the flannel pod (here: restart flanneld); on start it patches the annotation from flannel.1.
    await sh('c', 'systemctl restart flanneld');
    await healed();
    expect(kubectl('get', 'node', 'c', '-o', 'jsonpath={.metadata.annotations.flannel\\.alpha\\.coreos\\.com/backend-data}')).toBe(`{"VNI":1,"VtepMAC":"${mac}"}`);
  });

  it('no-br-netfilter: after a reboot without the module flanneld exits and c runs no pod; loading it and restarting flannel heals', async () => {
    await labBreak(L, 'no-br-netfilter', 'c');
    const r = await labProbe(L);
    expect(r.podless).toEqual(['c']);
    expect(r.why).toEqual({ c: 'Failed to create pod sandbox for c-pod0: plugin type="flannel" failed (add): loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory' });
    expect(await sh('c', 'systemctl is-active flanneld || true')).toBe('failed');
    expect(await sh('c', 'grep -c "Failed to check br_netfilter: stat /proc/sys/net/bridge/bridge-nf-call-iptables: no such file or directory" /run/lab/log/flanneld.log')).not.toBe('0');
    expect(await sh('c', 'ls /proc/sys/net/bridge | wc -l')).toBe('0');
    // Only c's view: the module stays loaded for the machine and the other nodes.
    expect(existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')).toBe(true);
    expect(await sh('a', 'cat /proc/sys/net/bridge/bridge-nf-call-iptables')).toBe('1');

    // By hand: `modprobe br_netfilter` (here: c's view of /proc/sys/net/bridge back), then delete the flannel pod.
    await sh('c', 'umount /proc/sys/net/bridge; systemctl restart flanneld');
    await healed();
  });

  it("vxlan-blocked: c's firewall drops UDP 8472 and every pair with c fails; allowing it heals", async () => {
    await labBreak(L, 'vxlan-blocked', 'c');
    expect(failing(await labProbe(L))).toEqual(WITH_C);
    // The drop rule is the one that counted the probe's vxlan packets.
    const counted = await sh('c', "iptables -L INPUT -v -n -x | awk '$3 == \"DROP\" && /dpt:8472/ {print $1}'");
    expect(Number(counted)).toBeGreaterThan(0);
    await sh('c', 'iptables -D INPUT -p udp --dport 8472 -j DROP');
    await healed();
  });

  it("mtu-mismatch: full-size packets to c are dropped while TCP's small ones pass; restoring eth0's MTU heals", async () => {
    await labBreak(L, 'mtu-mismatch', 'c');
    const r = await labProbe(L);
    const withC = r.pairs.filter((p) => p.from.startsWith('c/') || p.to.startsWith('c/'));
    expect(withC.map((p) => [p.icmp, p.tcp])).toEqual(withC.map(() => [false, true]));
    expect(failing(r)).toEqual(WITH_C);
    expect(await sh('c', "for i in eth0 flannel.1; do ip -o link show $i | grep -o 'mtu [0-9]*'; done")).toBe('mtu 1400\nmtu 1450');
    await sh('c', 'ip link set eth0 mtu 1500');
    await healed();
  });

  it("iptables-split: a DROP policy in iptables-legacy that the node's iptables (nft) does not show cuts c off; setting it back heals", async () => {
    await labBreak(L, 'iptables-split', 'c');
    expect(failing(await labProbe(L))).toEqual(WITH_C);
    const nft = await sh('c', 'iptables -S FORWARD 2>&1');
    expect(nft).toContain('-P FORWARD ACCEPT');
    expect(nft).toContain('# Warning: iptables-legacy tables present, use iptables-legacy to see them');
    expect(await sh('c', 'iptables-legacy -S FORWARD')).toBe('-P FORWARD DROP');
    await sh('c', 'iptables-legacy -P FORWARD ACCEPT');
    await healed();
  });

  it('labHeal undoes k8s faults on several nodes at once', async () => {
    await labBreak(L, 'vxlan-blocked', 'a');
    await labBreak(L, 'mtu-mismatch', 'b');
    await labBreak(L, 'cni0-stale', 'c');
    expect((await labProbe(L)).ok).toBe(false);
    await labHeal(L);
    expect((await labProbe(L)).ok).toBe(true);
  });
});
