/**
 * runbooks/check-etcd-health.yaml and check-apiserver-ha.yaml on the lab's --ha topology (3 etcd
 * members/masters, 2 load balancers with keepalived + haproxy). The "HA probe" is read straight
 * from the nodes: etcd's own cluster health, who holds the VIP, haproxy's backend states.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { labBreak, labState } from '../../src/lab/index.js';
import { apply, expectAllOk, heal, LAB, onNode, startLab, stopLab, type Lab } from '../lab/runbooks-support.js';

const ETCD = 'check-etcd-health';
const HA = 'check-apiserver-ha';
const HA_HOSTS = 'lb,masters';

let lab: Lab | undefined;
const L = (): Lab => {
  if (!lab) throw new Error('lab not up');
  return lab;
};

beforeAll(async () => {
  lab = await startLab({ ha: true });
});
afterAll(async () => {
  await stopLab(lab);
});
afterEach(async () => {
  await heal();
  await settled();
});

/** Members etcd itself reports unhealthy, e.g. ["http://198.19.x.11:2379"]. */
async function unhealthyMembers(): Promise<string[]> {
  const out = await onNode('m1', `etcdctl --endpoints=${labState(LAB).topology.etcdEndpoints} --dial-timeout=1s --command-timeout=2s endpoint health --cluster 2>&1 || true`);
  return out.split('\n').filter((l) => l.includes(' is unhealthy')).map((l) => l.split(' ')[0] ?? '');
}
async function vipHolders(): Promise<string[]> {
  const vip = labState(LAB).topology.vip ?? '';
  const held = await Promise.all(['lb1', 'lb2'].map(async (n) => ((await onNode(n, `ip -4 -o addr show to ${vip}/32`)) === '' ? [] : [n])));
  return held.flat();
}
async function backendsDown(): Promise<string[]> {
  const stat = await onNode('lb1', "echo 'show stat' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock");
  return stat
    .split('\n')
    .map((l) => l.split(','))
    .filter((f) => f[0] === 'apiservers' && f[1] !== 'BACKEND' && !(f[17] ?? '').startsWith('UP'))
    .map((f) => f[1] ?? '');
}
/** Waits until the HA lab is healthy again (VRRP and haproxy checks converge in seconds). */
async function settled(): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if ((await unhealthyMembers()).length === 0 && (await vipHolders()).length === 1 && (await backendsDown()).length === 0) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('the HA lab did not settle');
}

describe('check-etcd-health', () => {
  it('a healthy cluster: every step ok on every member', () => {
    expectAllOk(apply(L(), ETCD, 'etcd', ['--yes']));
  });

  it('etcd-member-down on m2: dry run would restart m2 only and changes nothing; apply restarts it; second apply all ok', async () => {
    const m2 = `http://${labState(LAB).topology.nodes.find((n) => n.name === 'm2')?.ip}:2379`;
    await labBreak(LAB, 'etcd-member-down', 'm2');
    expect(await unhealthyMembers()).toEqual([m2]);

    const dry = apply(L(), ETCD, 'm2', ['--dry-run', '--var', 'settle_seconds=1']);
    expect(dry.statuses.m2?.[0]).toBe('would-fix');
    // A guard (refuses while etcd runs here and the same settings reach no other healthy member), the restart, the wait.
    expect(dry.results.m2?.['this member is healthy']?.fixCommands).toEqual([expect.stringContaining('refused:') as string, 'systemctl restart etcd', expect.stringContaining('endpoint health') as string]);
    expect(await unhealthyMembers()).toEqual([m2]);

    const fixed = apply(L(), ETCD, 'etcd', ['--yes']);
    expect(fixed.code).toBe(0);
    expect(fixed.statuses.m2?.[0]).toBe('fixed');
    expect(fixed.statuses.m1?.[0]).toBe('ok');
    expect(await unhealthyMembers()).toEqual([]);
    expectAllOk(apply(L(), ETCD, 'etcd', ['--yes']));
  });
});

describe('check-apiserver-ha', () => {
  it('a healthy HA setup: every step ok on every master and load balancer', () => {
    expectAllOk(apply(L(), HA, HA_HOSTS, ['--yes']));
  });

  it('vip-split: dry run names both holders and the dropped VRRP and changes nothing; apply allows VRRP; one holder again', async () => {
    await labBreak(LAB, 'vip-split', 'lb2');
    expect(await vipHolders()).toEqual(['lb1', 'lb2']);

    const dry = apply(L(), HA, HA_HOSTS, ['--dry-run', '--var', 'settle_seconds=2']);
    expect(dry.statuses.lb2?.[2]).toBe('would-fix');
    expect(dry.results.lb2?.['VRRP (IP protocol 112) reaches this load balancer']?.checkOutput).toBe('-A INPUT -p vrrp -j DROP');
    expect(dry.results.lb1?.['exactly one load balancer holds the VIP']?.checkOutput).toMatch(/^2 VIP holders /);
    expect(await vipHolders()).toEqual(['lb1', 'lb2']);

    const fixed = apply(L(), HA, HA_HOSTS, ['--yes']);
    expect(fixed.code).toBe(0);
    expect(fixed.statuses.lb2?.[2]).toBe('fixed');
    expect(await vipHolders()).toEqual(['lb1']);
    expectAllOk(apply(L(), HA, HA_HOSTS, ['--yes']));
  });

  it('apiserver-down on m1: haproxy shows it DOWN; apply restarts it on m1; every backend UP again', async () => {
    await labBreak(LAB, 'apiserver-down', 'm1');
    const deadline = Date.now() + 10_000;
    while ((await backendsDown()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 300));
    expect(await backendsDown()).toEqual(['m1']);

    const dry = apply(L(), HA, HA_HOSTS, ['--dry-run', '--var', 'settle_seconds=1']);
    expect(dry.statuses.m1?.[0]).toBe('would-fix');
    expect(dry.results.lb1?.['every haproxy apiserver backend is UP']?.checkOutput).toBe('apiservers/m1 DOWN');
    expect(await backendsDown()).toEqual(['m1']);

    const fixed = apply(L(), HA, HA_HOSTS, ['--yes']);
    expect(fixed.code).toBe(0);
    expect(fixed.statuses.m1?.[0]).toBe('fixed');
    expect(await backendsDown()).toEqual([]);
    expectAllOk(apply(L(), HA, HA_HOSTS, ['--yes']));
  });
});
