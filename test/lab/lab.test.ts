/**
 * One lab ("t1") shared by the file: up, each node fault on d and its signature in the pod-to-pod
 * probe, the by-hand fix from domain-notes restoring the probe, then down leaving nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { labDown, labExec, labPids, labState, listLeases, subnetKey, type Lease, type LabState } from '../../src/lab/index.js';
import { cli, expectGone, failing, pairsWith, probe } from './lab-helpers.js';

const NAME = 't1';
const WORKERS = ['a', 'b', 'c', 'd'];
let state: LabState;

async function sh(node: string, cmd: string): Promise<string> {
  const r = await labExec(NAME, node, cmd);
  expect(r.code, `${node}: ${cmd}\n${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

/** Every pair with d fails, or (`inbound`) only connections into d's pods: docker's FORWARD rules let d's pods' own connections out and their replies back. */
function expectOnlyDBroken(which: 'all' | 'inbound' = 'all'): void {
  const r = probe(NAME);
  expect(r.code).toBe(1);
  const want = which === 'all' ? pairsWith('d', WORKERS) : WORKERS.filter((n) => n !== 'd').map((n) => `${n}→d`);
  expect(failing(r)).toEqual(want);
}

/** d's lease, read through the etcd API the lab's flannel release uses (v2 on the default profile). */
async function dLease(): Promise<Lease | undefined> {
  const key = `/coreos.com/network/subnets/${subnetKey(await sh('d', '. /run/flannel/subnet.env; echo $FLANNEL_SUBNET'))}`;
  return (await listLeases(state)).find((l) => l.key === key);
}

function expectHealthy(): void {
  const r = probe(NAME);
  expect(failing(r)).toEqual([]);
  expect(r.code).toBe(0);
}

beforeAll(async () => {
  const r = cli(['lab', 'up', '--name', NAME]);
  expect(r.code, r.stderr).toBe(0);
  state = labState(NAME);
});

afterAll(async () => {
  await labDown(NAME);
});

describe('lab', () => {
  it('comes up with every pod reaching every other pod (ICMP and TCP 80)', () => {
    const r = probe(NAME);
    expect(r.pods.map((p) => p.node)).toEqual(WORKERS);
    expect(r.pairs).toHaveLength(12);
    expect(r.code).toBe(0);
  });

  it('lets an operator in with real ssh and strict host-key checking, into a clean node', () => {
    const r = cli(['lab', 'ssh', 'd', '--name', NAME, 'hostname; echo $HOME; ls -A ~; readlink /etc/sysctl.d/99-sysctl.conf; systemctl is-active flanneld docker']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['d', '/root', '.ssh', '../sysctl.conf', 'active', 'active', '']);
  });

  it('ip-forward-off: d drops pod traffic until ip_forward is set at runtime and persisted through the symlink', async () => {
    expect(cli(['lab', 'break', 'ip-forward-off', '--node', 'd', '--name', NAME]).code).toBe(0);
    expect(await sh('d', 'sysctl -n net.ipv4.ip_forward')).toBe('0');
    expect(await sh('d', "grep '^net.ipv4.ip_forward' /etc/sysctl.d/99-sysctl.conf")).toBe('net.ipv4.ip_forward = 0');
    expectOnlyDBroken();
    await sh(
      'd',
      "sysctl -w net.ipv4.ip_forward=1 && sed -i --follow-symlinks 's/^net.ipv4.ip_forward.*/net.ipv4.ip_forward = 1/' /etc/sysctl.d/99-sysctl.conf && sysctl -p /etc/sysctl.d/99-sysctl.conf",
    );
    expect(await sh('d', 'readlink /etc/sysctl.d/99-sysctl.conf; grep -c somaxconn /etc/sysctl.conf')).toBe('../sysctl.conf\n1');
    expectHealthy();
  });

  it('forward-drop: FORWARD policy DROP on d, fixed by iptables -P FORWARD ACCEPT', async () => {
    // Without --node the fault goes to its usual victim, and the operator is told which node that was.
    const broke = cli(['lab', 'break', 'forward-drop', '--name', NAME]);
    expect([broke.code, broke.stdout, broke.stderr]).toEqual([0, `lab ${NAME}: forward-drop injected on d\n`, '']);
    expect(await sh('d', 'iptables -S FORWARD | head -1')).toBe('-P FORWARD DROP');
    expectOnlyDBroken('inbound');
    await sh('d', 'iptables -P FORWARD ACCEPT');
    expectHealthy();
  });

  it('forward-reject: a REJECT ahead of everything in FORWARD on d', async () => {
    expect(cli(['lab', 'break', 'forward-reject', '--node', 'd', '--name', NAME]).code).toBe(0);
    expect(await sh('d', 'iptables -S FORWARD | sed -n 2p')).toBe('-A FORWARD -j REJECT --reject-with icmp-host-prohibited');
    expectOnlyDBroken();
    await sh('d', 'iptables -D FORWARD -j REJECT --reject-with icmp-host-prohibited');
    expectHealthy();
  });

  it('flanneld-restarted: flanneld killed and brought back by Restart=on-failure after docker; nothing breaks', async () => {
    const docker = await sh('d', 'systemctl show -p MainPID --value docker');
    // Meanwhile d's systemctl is asked for flanneld's MainPID without pause: a stop running beside
    // the read must not make it complain that the pid file is gone.
    const reader = labExec(NAME, 'd', 'rm -f /run/reader-stop; until [ -e /run/reader-stop ]; do systemctl show -p MainPID --value flanneld > /dev/null; done');
    expect(cli(['lab', 'break', 'flanneld-restarted', '--node', 'd', '--name', NAME]).code).toBe(0);
    const [flanneldAt, dockerAt] = (await sh('d', 'systemctl show -p ActiveEnterTimestampMonotonic --value flanneld docker')).split('\n').map(Number);
    expect(flanneldAt).toBeGreaterThan(dockerAt ?? 0);
    expect(await sh('d', 'systemctl show -p MainPID --value docker')).toBe(docker);
    expectHealthy();
    expect(await sh('d', 'systemctl stop flanneld && systemctl start flanneld docker && touch /run/reader-stop && echo restarted')).toBe('restarted');
    expect(await reader).toMatchObject({ code: 0, stderr: '' });
    expectHealthy();
  });

  it('docker-before-flannel: docker0 off FLANNEL_SUBNET, fixed by stop docker, restart flanneld, start docker', async () => {
    expect(cli(['lab', 'break', 'docker-before-flannel', '--node', 'd', '--name', NAME]).code).toBe(0);
    const [flanneld, docker] = (await sh('d', 'systemctl show -p ActiveEnterTimestampMonotonic --value flanneld docker')).split('\n').map(Number);
    expect(docker).toBeLessThan(flanneld ?? 0);
    const subnet = await sh('d', '. /run/flannel/subnet.env; echo $FLANNEL_SUBNET');
    expect(await sh('d', "ip -4 -o addr show dev docker0 | awk '{print $4}'")).not.toBe(subnet);
    expectOnlyDBroken('inbound');
    // docker.socket too (the kubelet would start docker again), and docker0 goes: dockerd refuses a bridge on another subnet.
    await sh('d', 'systemctl stop docker.socket docker && systemctl restart flanneld && ip link del docker0 && systemctl start docker');
    expect(await sh('d', "ip -4 -o addr show dev docker0 | awk '{print $4}'")).toBe(subnet);
    expectHealthy();
  });

  it("stale-lease: d's subnet leased to a dead machine; the others route there until the key is deleted and flanneld restarts", async () => {
    const ep = state.topology.etcdEndpoints.split(',')[0];
    expect(cli(['lab', 'break', 'stale-lease', '--node', 'd', '--name', NAME]).code).toBe(0);
    const lease = await dLease();
    expect(lease?.publicIp).toBe(state.topology.deadIp);
    expect(await sh('a', `bridge fdb show dev flannel.1 | grep -c 'dst ${state.topology.deadIp}'`)).toBe('1');
    expectOnlyDBroken();
    // domain-notes' safe order on flannel 0.9 (v2 keyspace): d's flanneld exits when its key goes, so stop it first.
    await sh('d', 'systemctl stop docker.socket docker flanneld');
    await sh('m1', `ETCDCTL_API=2 etcdctl --endpoints=${ep} rm ${lease?.key ?? ''}`);
    // flannel < 0.10 does not reuse subnet.env's subnet: d gets a new one, and dockerd refuses the old docker0.
    await sh('d', 'systemctl start flanneld && . /run/flannel/subnet.env && set -- $(ip -4 -o addr show dev docker0) && { [ "$4" = "$FLANNEL_SUBNET" ] || ip link del docker0; } && systemctl start docker');
    expect((await dLease())?.publicIp).toBe(state.topology.nodes.find((n) => n.name === 'd')?.ip);
    expectHealthy();
  });

  it("mac-drift: flannel.1's MAC no longer matches the lease's VtepMAC until flanneld restarts", async () => {
    expect(cli(['lab', 'break', 'mac-drift', '--node', 'd', '--name', NAME]).code).toBe(0);
    const mac = await sh('d', 'cat /sys/class/net/flannel.1/address');
    expect((await dLease())?.vtepMac).not.toBe(mac);
    expectOnlyDBroken();
    // docker Requires flanneld: this restarts docker (and its pods) too.
    await sh('d', 'systemctl restart flanneld');
    expect((await dLease())?.vtepMac).toBe(mac);
    expectHealthy();
  });

  it('refuses a LAN that overlaps a route on this machine', () => {
    const r = cli(['lab', 'up', '--name', 't9', '--lan', state.lan]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/overlaps a route/);
  });

  it('down leaves no namespace, process, link, mount or state, and is idempotent', async () => {
    const pids = await labPids(NAME);
    expect(pids.length).toBeGreaterThan(10);
    expect(cli(['lab', 'down', '--name', NAME]).code).toBe(0);
    await expectGone(NAME, pids, join(process.cwd(), '.lab-t1'));
    expect(cli(['lab', 'down', '--name', NAME]).code).toBe(0);
  });
});
