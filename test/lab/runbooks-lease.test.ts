/**
 * runbooks/fix-stale-flannel-lease.yaml on the lab, fleet-wide (--hosts workers): the article's
 * stale lease (d's subnet leased to a decommissioned machine), MAC drift, a duplicate lease, and
 * an orphan that covers no node's subnet, and orphans that are only "suspect" (their machine answers,
 * or a flannel node did not report in this run).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { labBreak, labState } from '../../src/lab/index.js';
import { apply, describeRun, type Applied, expectAllOk, expectProbeHealthy, failingNodes, heal, LAB, onNode, pairsWith, probe, startLab, stopLab, type Lab } from './runbooks-support.js';

const RB = 'fix-stale-flannel-lease';
const HIJACK = "this node's subnet is leased to this node (hijack)";
const NO_LEASE = "a lease names this node's IP (no lease)";
const DUP = "only one lease names this node's IP (duplicate PublicIP)";
const MAC = "the lease's VtepMAC is this node's flannel.1 MAC (MAC drift)";
const ORPHAN = 'no lease names a machine outside the fleet (orphan)';
/** The facts (host → JSON text) the orphan fix on `host` (any host) was given: FACTS='{...}' in its rendered command. */
const factsSeen = (a: Applied, host?: string): Record<string, string> => {
  const fix = a.events.find((e) => e.type === 'command' && (host === undefined || e.host === host) && e.step === ORPHAN && e.phase === 'fix');
  const m = fix?.type === 'command' ? / FACTS='(\{[^']*\})'/.exec(fix.command) : null;
  if (!m) throw new Error(`no orphan fix with FACTS on ${host ?? 'any host'}:\n${describeRun(a)}`);
  return Object.fromEntries(Object.entries(JSON.parse(m[1]!) as Record<string, unknown>).map(([k, v]) => [k, JSON.stringify(v)]));
};

let lab: Lab | undefined;
const L = (): Lab => {
  if (!lab) throw new Error('lab not up');
  return lab;
};
const etcdctl = (): string => `etcdctl --endpoints=${labState(LAB).topology.etcdEndpoints}`;
const leaseOf = async (key: string): Promise<string> => onNode('a', `${etcdctl()} get ${key} --print-value-only`);
const mySubnetKey = async (node: string): Promise<string> =>
  `/coreos.com/network/subnets/${await onNode(node, '. /run/flannel/subnet.env; echo "${FLANNEL_SUBNET%.*/*}.0-24"')}`;

beforeAll(async () => {
  lab = await startLab();
});
afterAll(async () => {
  await stopLab(lab);
});
afterEach(async () => {
  await heal();
});

describe('fix-stale-flannel-lease', () => {
  it("stale-lease: d's subnet leased to a dead machine; dry run names the hijack and deletes nothing; apply backs up, deletes it guarded, restarts d's flanneld; second apply all ok", async () => {
    const t = labState(LAB).topology;
    const key = await mySubnetKey('d');
    await labBreak(LAB, 'stale-lease', 'd');
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));

    const dry = apply(L(), RB, 'workers', ['--dry-run']);
    expect(dry.code).toBe(3);
    expect(dry.statuses.d).toEqual(['ok', 'would-fix', 'would-fix', 'ok', 'would-fix', 'ok', 'would-fix']);
    expect(dry.results.d?.[HIJACK]?.checkOutput).toBe(`hijack: ${key} (this node's subnet) is leased to ${t.deadIp} (${t.deadMac}), which is no fleet node: orphan lease`);
    expect(dry.results.d?.[NO_LEASE]?.checkOutput).toBe(`0 lease(s) name ${t.nodes.find((n) => n.name === 'd')?.ip}`);
    for (const h of ['a', 'b', 'c']) expect(dry.statuses[h]).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'would-fix']);
    expect(dry.results.a?.[ORPHAN]?.checkOutput).toBe(`orphan: ${t.deadIp} (no fleet node) holds ${key} `);
    expect(await leaseOf(key)).toContain(t.deadIp);
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));

    const fixed = apply(L(), RB, 'workers', ['--yes']);
    expect(fixed.code).toBe(0);
    expect(fixed.statuses.d?.[1]).toBe('fixed');
    // d took its subnet back; its lease names it again.
    expect(await mySubnetKey('d')).toBe(key);
    expect(await leaseOf(key)).toContain(`"PublicIP":"${t.nodes.find((n) => n.name === 'd')?.ip}"`);
    // The backup was taken before the delete and holds the stale value.
    const backup = await onNode('d', 'cat /root/runbook-backups/flannel/d-*.v3.json');
    const kvs = (JSON.parse(backup) as { kvs: { key: string; value: string }[] }).kvs.map((kv) => [Buffer.from(kv.key, 'base64').toString(), Buffer.from(kv.value, 'base64').toString()]);
    expect(kvs.find(([k]) => k === key)?.[1]).toContain(t.deadIp);
    await expectProbeHealthy();
    expectAllOk(apply(L(), RB, 'workers', ['--yes']));
  });

  it('mac-drift: fixed by restarting flanneld, never by deleting the lease', async () => {
    const key = await mySubnetKey('d');
    await labBreak(LAB, 'mac-drift', 'd');
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));
    const mac = await onNode('d', 'cat /sys/class/net/flannel.1/address');
    const backups = async (): Promise<string> => onNode('d', 'ls /root/runbook-backups/flannel 2>/dev/null | wc -l');
    const backupsBefore = await backups();

    const dry = apply(L(), RB, 'workers', ['--dry-run']);
    expect(dry.statuses.d).toEqual(['ok', 'ok', 'ok', 'ok', 'would-fix', 'ok', 'ok']);
    expect(dry.results.d?.[MAC]?.checkOutput).toMatch(new RegExp(`VtepMAC [0-9a-f:]+, flannel.1 ${mac}$`));
    expect(dry.results.d?.[MAC]?.fixCommands?.join('\n')).not.toContain('guarded_del "');

    const fixed = apply(L(), RB, 'workers', ['--yes']);
    expect(fixed.code).toBe(0);
    expect(fixed.statuses.d).toEqual(['ok', 'ok', 'ok', 'ok', 'fixed', 'ok', 'ok']);
    expect(await leaseOf(key)).toContain(`"VtepMAC":"${mac}"`);
    expect(await backups()).toBe(backupsBefore);
    await expectProbeHealthy();
    expectAllOk(apply(L(), RB, 'workers', ['--yes']));
  });

  it('a second lease naming d and an orphan covering no subnet: both deleted (guarded), d keeps its own', async () => {
    const t = labState(LAB).topology;
    const dIp = t.nodes.find((n) => n.name === 'd')?.ip ?? '';
    const key = await mySubnetKey('d');
    const value = (ip: string, mac: string): string => `'{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}'`;
    await onNode('a', `${etcdctl()} put /coreos.com/network/subnets/10.100.253.0-24 ${value(dIp, '02:00:00:00:00:01')} >/dev/null
${etcdctl()} put /coreos.com/network/subnets/10.100.254.0-24 ${value(t.deadIp, t.deadMac)} >/dev/null`);

    const dry = apply(L(), RB, 'workers', ['--dry-run']);
    expect(dry.statuses.d?.[3]).toBe('would-fix');
    expect(dry.results.d?.[DUP]?.checkOutput).toBe(`leases naming ${dIp}: ${[key, '/coreos.com/network/subnets/10.100.253.0-24'].sort().join(' ')}`);
    expect(dry.results.a?.[ORPHAN]?.checkOutput).toBe(`orphan: ${t.deadIp} (no fleet node) holds /coreos.com/network/subnets/10.100.254.0-24 `);

    const fixed = apply(L(), RB, 'workers', ['--yes']);
    expect(fixed.code).toBe(0);
    expect(fixed.statuses.d?.[3]).toBe('fixed');
    expect(await leaseOf('/coreos.com/network/subnets/10.100.253.0-24')).toBe('');
    expect(await leaseOf('/coreos.com/network/subnets/10.100.254.0-24')).toBe('');
    expect(await leaseOf(key)).toContain(dIp);
    await expectProbeHealthy();
    expectAllOk(apply(L(), RB, 'workers', ['--yes']));
  });

  it('an orphan while a flannel node is unreachable in this run is "suspect" and stays, though the other nodes still reach it; with every node in the run it is deleted', async () => {
    const t = labState(LAB).topology;
    const k = '/coreos.com/network/subnets/10.100.251.0-24';
    const dIp = t.nodes.find((n) => n.name === 'd')?.ip ?? '';
    const sshdUp = async (from: string): Promise<boolean> => (await onNode(from, `timeout 2 bash -c 'exec 3<>/dev/tcp/${dIp}/22' && echo up || echo down`)) === 'up';
    // Only the controller loses d: every node still reaches d's sshd, so nothing a node can see
    // from where it stands says d is down; only the run knows.
    const block = `iptables -I INPUT -s ${t.controllerIp} -p tcp --dport 22 -j REJECT --reject-with tcp-reset`;
    const unblock = `while iptables -D INPUT -s ${t.controllerIp} -p tcp --dport 22 -j REJECT --reject-with tcp-reset 2>/dev/null; do :; done`;
    await onNode('a', `${etcdctl()} put ${k} '{"PublicIP":"${t.deadIp}","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${t.deadMac}"}}' >/dev/null`);
    try {
      try {
        await onNode('d', block);
        expect(await sshdUp('a')).toBe(true);
        const down = apply(L(), RB, 'workers', ['--yes']);
        expect(down.code).toBe(1);
        expect(down.statuses.d?.every((s) => s === 'unreachable'), describeRun(down)).toBe(true);
        for (const h of ['a', 'b', 'c']) {
          expect(down.statuses[h]?.[0], describeRun(down)).toBe('ok');
          expect(down.statuses[h]?.[6], describeRun(down)).toBe('failed');
          expect(down.results[h]?.[ORPHAN]?.reason).toContain(`suspect: ${k} names ${t.deadIp}, but flannel node(s) d did not report in this run`);
          expect(Object.keys(factsSeen(down, h))).toEqual(['a', 'b', 'c']);
        }
        expect(await leaseOf(k)).toContain(t.deadIp);
      } finally {
        await onNode('d', unblock);
      }
      // d reachable but left out of --hosts: it did not report in this run either.
      const partial = apply(L(), RB, 'a,b,c', ['--yes']);
      expect(partial.code).toBe(1);
      expect(partial.results.a?.[ORPHAN]?.reason).toContain(`suspect: ${k} names ${t.deadIp}, but flannel node(s) d did not report in this run`);
      expect(await leaseOf(k)).toContain(t.deadIp);

      const up = apply(L(), RB, 'workers', ['--yes']);
      expect(up.code, describeRun(up)).toBe(0);
      expect(Object.keys(factsSeen(up))).toEqual(['a', 'b', 'c', 'd']);
      for (const f of Object.values(factsSeen(up))) expect(f).toMatch(/^\{"ip":"[0-9.]+","mac":"[0-9a-f:]{17}","subnet":"10\.100\.\d+\.1\/24"\}$/);
      expect(Object.values(up.statuses).map((s) => s[6])).toContain('fixed');
      expect(await leaseOf(k)).toBe('');
    } finally {
      await onNode('a', `${etcdctl()} del ${k} >/dev/null`);
    }
  });

  it('an orphan whose machine still answers is "suspect" and never deleted', async () => {
    // The controller's own LAN address answers ping and is no inventory host.
    const t = labState(LAB).topology;
    const k = '/coreos.com/network/subnets/10.100.252.0-24';
    await onNode('a', `${etcdctl()} put ${k} '{"PublicIP":"${t.controllerIp}","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:00:02"}}' >/dev/null`);
    try {
      const a = apply(L(), RB, 'a', ['--yes']);
      expect(a.code).toBe(1);
      expect(a.statuses.a?.[6]).toBe('failed');
      expect(a.results.a?.[ORPHAN]?.reason).toContain(`suspect: ${k} names ${t.controllerIp}, which still answers ping: not deleted`);
      expect(await leaseOf(k)).toContain(t.controllerIp);
    } finally {
      await onNode('a', `${etcdctl()} del ${k} >/dev/null`);
    }
  });
});
