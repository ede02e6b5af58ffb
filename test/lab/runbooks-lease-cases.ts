/**
 * The cases runbooks/fix-stale-flannel-lease.yaml must pass on every profile that changes what it
 * reads (runbooks-lease.test.ts: the default, flannel 0.9.1 on the etcd v2 keyspace;
 * runbooks-lease-profiles.test.ts: mgmt-net,no-icmp, where the inventory's addresses are not
 * flannel's PublicIPs and nothing answers ping). Everything is proven from outside the runbook:
 * the leases' create and mod revisions (v2: createdIndex/modifiedIndex) as the lab reads them,
 * the lab probe, the units' MainPIDs and the files on the etcd host; never the runbook's output.
 */
import { expect, it } from 'vitest';
import { labBreak, labState, listLeases, type Lease } from '../../src/lab/index.js';
import { apply, describeRun, type Applied, expectProbeHealthy, failingNodes, LAB, onNode, probe, runbookJson, type Lab } from './runbooks-support.js';

export const RB = 'fix-stale-flannel-lease';
const WORKERS = ['a', 'b', 'c', 'd'];
/** Per case: up to five applies and a fault's injection on a 2-core machine shared with other labs. */
const CASE_MS = 300_000;
const PREFIX = '/coreos.com/network/subnets';

/** Every step on every host ok, or not applicable (a once step reported on the hosts it did not run on). */
export function expectNothingFound(a: Applied): void {
  expect(a.code, describeRun(a)).toBe(0);
  const steps = a.events.filter((e) => e.type === 'step-result');
  expect(steps.length).toBeGreaterThan(0);
  expect(steps.filter((e) => e.type === 'step-result' && e.status !== 'ok' && e.status !== 'not-applicable').map((e) => e.type === 'step-result' ? `${e.host}: ${e.step}: ${e.status}` : ''), describeRun(a)).toEqual([]);
}

export const leases = async (): Promise<Map<string, Lease>> => new Map((await listLeases(labState(LAB))).map((l) => [l.key, l]));
/** key → "created/modified": the proof that a lease was neither deleted nor rewritten. */
/**
 * Keys for leases a test adds (an orphan, a duplicate) that no node holds: flanneld picks its
 * subnet at random, so a fixed key such as 10.100.251.0/24 is a node's own once in a while.
 */
async function freeKeys(n: number): Promise<string[]> {
  const held = new Set(Object.keys(await revisions()));
  return Array.from({ length: 50 }, (_, i) => `${PREFIX}/10.100.${254 - i}.0-24`).filter((k) => !held.has(k)).slice(0, n);
}

export const revisions = async (): Promise<Record<string, string>> => Object.fromEntries([...(await leases()).values()].map((l) => [l.key, `${l.created}/${l.modified}`]));
export const publicIp = (node: string): string => labState(LAB).topology.nodes.find((n) => n.name === node)?.ip ?? '';
/** The node's lease key, from its subnet.env, with the real prefix length. */
export async function subnetKeyOf(node: string): Promise<string> {
  const s = await onNode(node, '. /run/flannel/subnet.env; echo "$FLANNEL_SUBNET"');
  const [addr = '', len = '24'] = s.split('/');
  const ip = addr.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(len));
  const net = ip - (ip % size);
  return `${PREFIX}/${[24, 16, 8, 0].map((b) => Math.floor(net / 2 ** b) % 256).join('.')}-${len}`;
}
const mainPids = async (): Promise<Record<string, string>> => {
  const out: Record<string, string> = {};
  for (const n of WORKERS) out[n] = await onNode(n, 'systemctl show -p MainPID --value flanneld docker kubelet | paste -sd " " -');
  return out;
};
const backups = async (): Promise<string> => onNode('m1', 'ls /root/runbook-backups/flannel 2>/dev/null || true');
/** Writes a lease value on the etcd host through the lab's flannel API (v2 or v3), with flannel's 24 h TTL. */
async function putLease(key: string, value: string): Promise<void> {
  const s = labState(LAB);
  const ep = s.topology.etcdEndpoints.split(',')[0];
  const q = (x: string): string => `'${x.replace(/'/g, `'\\''`)}'`;
  if (s.flavour.etcdApi === 'v2') await onNode('m1', `curl -sS -f -X PUT ${q(`${ep}/v2/keys${key}`)} --data-urlencode ${q(`value=${value}`)} -d ttl=86400 >/dev/null`);
  else await onNode('m1', `L=$(ETCDCTL_API=3 etcdctl --endpoints=${ep} lease grant 86400 | awk '{print $2}'); ETCDCTL_API=3 etcdctl --endpoints=${ep} put --lease="$L" ${q(key)} ${q(value)} >/dev/null`);
}
const leaseValue = (ip: string, mac: string): string => JSON.stringify({ PublicIP: ip, BackendType: 'vxlan', BackendData: { VtepMAC: mac } });
/** Whether the key expires (v2: a TTL; v3: attached to an etcd lease), read on the etcd host. */
async function expires(key: string): Promise<boolean> {
  const s = labState(LAB);
  const ep = s.topology.etcdEndpoints.split(',')[0];
  if (s.flavour.etcdApi === 'v2') return /"ttl":\d+/.test(await onNode('m1', `curl -sS -f '${ep}/v2/keys${key}'`));
  return /"lease":/.test(await onNode('m1', `ETCDCTL_API=3 etcdctl --endpoints=${ep} get '${key}' -w json`));
}
const values = async (): Promise<Record<string, string>> => Object.fromEntries([...(await leases()).values()].map((l) => [l.key, l.value]));
const STRAYS = 'no orphan or duplicate lease (once, on the etcd host; guarded)';
const HIJACKS = 'delete the hijacking leases of stopped nodes (once, on the etcd host; guarded)';

export function leaseCases(L: () => Lab, opts: { full: boolean }): void {
  it('healthy fleet: the dry run finds nothing; an apply changes no etcd revision, no MainPID, no file on the etcd host', async () => {
    const revs = await revisions();
    const pids = await mainPids();
    const files = await backups();
    expectNothingFound(apply(L(), RB, 'workers', ['--dry-run']));
    const applied = apply(L(), RB, 'workers', ['--yes']);
    expectNothingFound(applied);
    // Captures run only around an approved fix: none here.
    expect(applied.events.filter((e) => e.type === 'command' && e.phase === 'capture')).toEqual([]);
    expect(await revisions()).toEqual(revs);
    expect(await mainPids()).toEqual(pids);
    expect(await backups()).toBe(files);
  }, CASE_MS);

  it("stale-lease: d's subnet leased to a dead machine; the dry run changes nothing; apply deletes only that key (guarded, after a backup on the etcd host), d leases anew, a, b and c keep their leases", async () => {
    const t = labState(LAB).topology;
    const key = await subnetKeyOf('d');
    await labBreak(LAB, 'stale-lease', 'd');
    const broken = await revisions();
    expect(failingNodes(await probe()).length).toBeGreaterThan(0);

    const dry = apply(L(), RB, 'workers', ['--dry-run']);
    expect(dry.code, describeRun(dry)).toBe(3);
    expect(Object.entries(dry.results.d ?? {}).filter(([, r]) => r.status === 'would-fix').map(([s]) => s)).toEqual(["this node's subnet is leased to this node (hijack)"]);
    for (const h of ['a', 'b', 'c']) expect(Object.values(dry.results[h] ?? {}).every((r) => r.status === 'ok' || r.status === 'not-applicable'), describeRun(dry)).toBe(true);
    expect(await revisions()).toEqual(broken);

    const others = Object.fromEntries(Object.entries(broken).filter(([k]) => k !== key));
    const fixed = apply(L(), RB, 'workers', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    await expectProbeHealthy(30_000);
    const after = await leases();
    // a, b and c: the very same keys, neither re-created nor rewritten.
    for (const [k, rev] of Object.entries(others)) expect(`${after.get(k)?.created}/${after.get(k)?.modified}`, k).toBe(rev);
    // The dead machine's lease is gone; d holds a lease naming its own PublicIP and flannel.1's MAC.
    expect([...after.values()].filter((l) => l.publicIp === t.deadIp)).toEqual([]);
    const mine = after.get(await subnetKeyOf('d'));
    expect(mine?.publicIp).toBe(publicIp('d'));
    expect(mine?.vtepMac).toBe(await onNode('d', 'cat /sys/class/net/flannel.1/address'));
    // The backup on the etcd host was written before the delete: it holds the stale value.
    expect(await onNode('m1', `grep -l ${t.deadIp} /root/runbook-backups/flannel/m1-*.json | wc -l`)).not.toBe('0');
    expect(await onNode('d', 'systemctl is-active flanneld docker docker.socket kubelet | sort -u')).toBe('active');
    expectNothingFound(apply(L(), RB, 'workers', ['--yes']));
  }, CASE_MS);

  it('mac-drift: fixed by restarting flanneld on d (its lease rewritten, never deleted); nothing else touched', async () => {
    const key = await subnetKeyOf('d');
    await labBreak(LAB, 'mac-drift', 'd');
    const mac = await onNode('d', 'cat /sys/class/net/flannel.1/address');
    const broken = await revisions();
    const files = await backups();
    const pid = async (n: string): Promise<string> => onNode(n, 'systemctl show -p MainPID --value flanneld');
    const otherPids = await Promise.all(['a', 'b', 'c'].map(pid));

    const dry = apply(L(), RB, 'workers', ['--dry-run']);
    expect(Object.entries(dry.results.d ?? {}).filter(([, r]) => r.status === 'would-fix').map(([s]) => s)).toEqual(["the lease's VtepMAC is this node's flannel.1 MAC (MAC drift)"]);
    expect(dry.results.d?.["the lease's VtepMAC is this node's flannel.1 MAC (MAC drift)"]?.checkOutput).toMatch(new RegExp(`flannel.1 ${mac}$`));

    const fixed = apply(L(), RB, 'workers', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    await expectProbeHealthy(30_000);
    const after = await leases();
    expect(after.get(key)?.vtepMac).toBe(mac);
    // v3: flanneld's put keeps the key's create_revision (never deleted). v2: its renewing set
    // re-creates the node (createdIndex moves), so there the same key with the new MAC and no
    // backup on the etcd host (every delete is preceded by one) are the evidence.
    if (labState(LAB).flavour.etcdApi === 'v3') expect(after.get(key)?.created).toBe(broken[key]?.split('/')[0]);
    for (const [k, rev] of Object.entries(broken)) if (k !== key) expect(`${after.get(k)?.created}/${after.get(k)?.modified}`, k).toBe(rev);
    expect(await Promise.all(['a', 'b', 'c'].map(pid))).toEqual(otherPids);
    expect(await backups()).toBe(files);
    expectNothingFound(apply(L(), RB, 'workers', ['--yes']));
  }, CASE_MS);

  it('an orphan while a flannel node is left out of --hosts is "suspect": nothing deleted, nothing changed; with every node in the run it is deleted', async () => {
    const t = labState(LAB).topology;
    const [k] = (await freeKeys(1)) as [string];
    await putLease(k, leaseValue(t.deadIp, t.deadMac));
    const before = await revisions();
    const pids = await mainPids();
    const partial = apply(L(), RB, 'a,b,c', ['--yes']);
    expect(partial.code, describeRun(partial)).toBe(1);
    // d's own lease is as suspect as the orphan (d did not report its PublicIP), and etcd lists
    // leases in no fixed order: the step's reason is its first line, so read the fix's whole output.
    const strays = 'no orphan or duplicate lease (once, on the etcd host; guarded)';
    expect(partial.results.m1?.[strays]?.status, describeRun(partial)).toBe('failed');
    const fixOutput = partial.events.flatMap((e) => (e.type === 'command' && e.host === 'm1' && e.step === strays && e.phase === 'fix' ? [e.output.tail] : [])).join('\n');
    expect(fixOutput, describeRun(partial)).toContain(`suspect: ${k} names ${t.deadIp}, but flannel node(s) d did not report in this run`);
    expect(await revisions()).toEqual(before);
    expect(await mainPids()).toEqual(pids);

    const full = apply(L(), RB, 'workers', ['--yes']);
    expect(full.code, describeRun(full)).toBe(0);
    const after = await revisions();
    expect(after[k]).toBeUndefined();
    for (const [key, rev] of Object.entries(before)) if (key !== k) expect(after[key], key).toBe(rev);
    expectNothingFound(apply(L(), RB, 'workers', ['--yes']));
  }, CASE_MS);

  if (!opts.full) return;

  it("a second lease naming d and an orphan covering no node's subnet: both deleted (guarded), d keeps its own", async () => {
    const t = labState(LAB).topology;
    const key = await subnetKeyOf('d');
    const [dup, orphan] = (await freeKeys(2)) as [string, string];
    await putLease(dup, leaseValue(publicIp('d'), '02:00:00:00:00:01'));
    await putLease(orphan, leaseValue(t.deadIp, t.deadMac));
    const before = await revisions();
    const fixed = apply(L(), RB, 'workers', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    const after = await revisions();
    expect(after[dup]).toBeUndefined();
    expect(after[orphan]).toBeUndefined();
    for (const [k, rev] of Object.entries(before)) if (k !== dup && k !== orphan) expect(after[k], k).toBe(rev);
    expect((await leases()).get(key)?.publicIp).toBe(publicIp('d'));
    await expectProbeHealthy(30_000);
    expectNothingFound(apply(L(), RB, 'workers', ['--yes']));
  }, CASE_MS);

  it('runbook undo puts back the duplicate and the orphan the run deleted (same values, with a TTL), and touches no other lease', async () => {
    const t = labState(LAB).topology;
    const [dup, orphan] = (await freeKeys(2)) as [string, string];
    await putLease(dup, leaseValue(publicIp('d'), '02:00:00:00:00:01'));
    await putLease(orphan, leaseValue(t.deadIp, t.deadMac));
    const before = await values();
    const revs = await revisions();

    const fixed = apply(L(), RB, 'workers', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    expect(Object.keys(await values()).sort()).toEqual(Object.keys(before).filter((k) => k !== dup && k !== orphan).sort());
    // The diff names both deleted leases.
    const [diff] = fixed.results.m1?.[STRAYS]?.changes ?? [];
    expect(diff?.kind).toBe('snapshot');
    expect(diff!.diff).toContain(`\n-{"key":"${dup}",`);
    expect(diff!.diff).toContain(`\n-{"key":"${orphan}",`);

    const undone = runbookJson(L(), ['undo', 'last', '--yes']);
    expect(undone.code, describeRun(undone)).toBe(0);
    expect(undone.results.m1?.[`undo: ${STRAYS}`]?.status, describeRun(undone)).toBe('fixed');
    expect(await values()).toEqual(before);
    expect(await expires(dup)).toBe(true);
    expect(await expires(orphan)).toBe(true);
    const after = await revisions();
    for (const [k, rev] of Object.entries(revs)) if (k !== dup && k !== orphan) expect(after[k], k).toBe(rev);
    // Undone twice: nothing left to put back.
    const again = runbookJson(L(), ['undo', 'last', '--yes']);
    expect(again.code, describeRun(again)).toBe(0);
    expect(again.results.m1?.[`undo: ${STRAYS}`]?.status).toBe('ok');
    expect(await revisions()).toEqual(after);
    // The lab's heal removes the orphan, not the duplicate: the runbook does, again.
    expect(apply(L(), RB, 'workers', ['--yes']).code).toBe(0);
  }, CASE_MS);

  it("runbook undo after the stale-lease fix: d's steps say why they have no undo; the hijacking lease is not put back over d's new lease (refused), nothing changes", async () => {
    await labBreak(LAB, 'stale-lease', 'd');
    const fixed = apply(L(), RB, 'workers', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    await expectProbeHealthy(30_000);
    const revs = await revisions();
    const pids = await mainPids();

    const undone = runbookJson(L(), ['undo', 'last', '--yes']);
    expect(undone.code, describeRun(undone)).not.toBe(0);
    expect(undone.results.m1?.[`undo: ${HIJACKS}`]?.reason, describeRun(undone)).toMatch(/changed since the fix \(sha256 now [0-9a-f]{12}\), so it is not undone; nothing was changed$/);
    for (const s of ["this node's subnet is leased to this node (hijack)", 'flanneld and docker run on this node\'s leased subnet (hijack, subnet mismatch, no lease)']) {
      expect(undone.results.d?.[`undo: ${s}`]?.reason, describeRun(undone)).toContain('no undo: ');
    }
    expect(undone.events.filter((e) => e.type === 'command' && e.phase === 'fix')).toEqual([]);
    expect(await revisions()).toEqual(revs);
    expect(await mainPids()).toEqual(pids);
    await expectProbeHealthy();
  }, CASE_MS);

  it('a hijack while a flannel node is left out of --hosts: refused before anything changes (suspect)', async () => {
    const key = await subnetKeyOf('d');
    await labBreak(LAB, 'stale-lease', 'd');
    const before = await revisions();
    const pids = await mainPids();
    const partial = apply(L(), RB, 'b,c,d', ['--yes']);
    expect(partial.code, describeRun(partial)).toBe(1);
    expect(partial.results.d?.["this node's subnet is leased to this node (hijack)"]?.reason, describeRun(partial)).toContain(`suspect: ${key} names`);
    expect(await revisions()).toEqual(before);
    expect(await mainPids()).toEqual(pids);
  }, CASE_MS);
}
