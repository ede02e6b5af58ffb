/**
 * One lab ("t1") shared by the file: up, each node fault on d and its signature in the pod-to-pod
 * probe, the by-hand fix from domain-notes restoring the probe, then down leaving nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { labDown, labExec, labPids, labState, type LabState } from '../../src/lab/index.js';
import { cli, expectGone, failing, pairsWith, probe } from './lab-helpers.js';

const NAME = 't1';
const WORKERS = ['a', 'b', 'c', 'd'];
let state: LabState;

async function sh(node: string, cmd: string): Promise<string> {
  const r = await labExec(NAME, node, cmd);
  expect(r.code, `${node}: ${cmd}\n${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

function expectOnlyDBroken(): void {
  const r = probe(NAME);
  expect(r.code).toBe(1);
  expect(failing(r)).toEqual(pairsWith('d', WORKERS));
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
    expect(cli(['lab', 'break', 'forward-drop', '--node', 'd', '--name', NAME]).code).toBe(0);
    expect(await sh('d', 'iptables -S FORWARD | head -1')).toBe('-P FORWARD DROP');
    expectOnlyDBroken();
    await sh('d', 'iptables -P FORWARD ACCEPT');
    expectHealthy();
  });

  it('docker-before-flannel: docker0 off FLANNEL_SUBNET, fixed by stop docker, restart flanneld, start docker', async () => {
    expect(cli(['lab', 'break', 'docker-before-flannel', '--node', 'd', '--name', NAME]).code).toBe(0);
    const [flanneld, docker] = (await sh('d', 'systemctl show -p ActiveEnterTimestampMonotonic --value flanneld docker')).split('\n').map(Number);
    expect(docker).toBeLessThan(flanneld ?? 0);
    const subnet = await sh('d', '. /run/flannel/subnet.env; echo $FLANNEL_SUBNET');
    expect(await sh('d', "ip -4 -o addr show dev docker0 | awk '{print $4}'")).not.toBe(subnet);
    expectOnlyDBroken();
    await sh('d', 'systemctl stop docker && systemctl restart flanneld && systemctl start docker');
    expect(await sh('d', "ip -4 -o addr show dev docker0 | awk '{print $4}'")).toBe(subnet);
    expectHealthy();
  });

  it("stale-lease: d's subnet leased to a dead machine; the others route there until the key is deleted and flanneld restarts", async () => {
    const ep = state.topology.etcdEndpoints;
    const key = `/coreos.com/network/subnets/${await sh('d', '. /run/flannel/subnet.env; echo ${FLANNEL_SUBNET%.*/*}.0-24')}`;
    expect(cli(['lab', 'break', 'stale-lease', '--node', 'd', '--name', NAME]).code).toBe(0);
    const lease = JSON.parse(await sh('m1', `etcdctl --endpoints=${ep} get ${key} --print-value-only`)) as { PublicIP: string };
    expect(lease.PublicIP).toBe(state.topology.deadIp);
    expect(await sh('a', `bridge fdb show dev flannel.1 | grep -c 'dst ${state.topology.deadIp}'`)).toBe('1');
    expectOnlyDBroken();
    await sh('m1', `etcdctl --endpoints=${ep} del ${key}`);
    await sh('d', 'systemctl stop docker && systemctl restart flanneld && systemctl start docker');
    const fixed = JSON.parse(await sh('m1', `etcdctl --endpoints=${ep} get ${key} --print-value-only`)) as { PublicIP: string };
    expect(fixed.PublicIP).toBe(state.topology.nodes.find((n) => n.name === 'd')?.ip);
    expectHealthy();
  });

  it("mac-drift: flannel.1's MAC no longer matches the lease's VtepMAC until flanneld restarts", async () => {
    const ep = state.topology.etcdEndpoints;
    expect(cli(['lab', 'break', 'mac-drift', '--node', 'd', '--name', NAME]).code).toBe(0);
    const key = `/coreos.com/network/subnets/${await sh('d', '. /run/flannel/subnet.env; echo ${FLANNEL_SUBNET%.*/*}.0-24')}`;
    const leaseMac = (): Promise<string> =>
      sh('m1', `etcdctl --endpoints=${ep} get ${key} --print-value-only`).then((v) => (JSON.parse(v) as { BackendData: { VtepMAC: string } }).BackendData.VtepMAC);
    const mac = await sh('d', 'cat /sys/class/net/flannel.1/address');
    expect(await leaseMac()).not.toBe(mac);
    expectOnlyDBroken();
    await sh('d', 'systemctl restart flanneld');
    expect(await leaseMac()).toBe(mac);
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
