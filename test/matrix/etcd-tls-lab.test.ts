/**
 * Profile etcd-tls, on an --ha lab (3 etcd members) with flannel-modern (leases in the
 * v3 keyspace, so the flanneld stand-in talks to etcd through its private etcdctl): etcd serves
 * clients only over https with client certificates at kubeadm's paths, workers have no etcdctl,
 * flanneld holds its leases with its own client cert, and runbooks/check-etcd-health.yaml reads etcd
 * as JSON with the TLS flags the inventory gives the etcd group. Everything is checked from outside:
 * curl and etcdctl from the host, the nodes' own namespaces, the lab probe, etcd's member list.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { labBreak, labDown, labExec, labHeal, labProbe, labState, labUp, listLeases, runtimeDir, subnetKey } from '../../src/lab/index.js';
import { ETCD_CLIENT } from '../../src/lab/pki.js';
import { apply, describeRun, expectAllOk, failingNodes, type Lab } from '../lab/runbooks-support.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const NAME = 'tet';
const ETCD = 'check-etcd-health';
const WORKERS = ['a', 'b', 'c', 'd'];
const TLS = `--cacert=${ETCD_CLIENT.cacert} --cert=${ETCD_CLIENT.cert} --key=${ETCD_CLIENT.key}`;

let lab: Lab | undefined;
const L = (): Lab => {
  if (!lab) throw new Error('lab not up');
  return lab;
};

async function onNode(node: string, cmd: string): Promise<string> {
  const r = await labExec(NAME, node, cmd, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${node}: ${cmd}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}
const endpoints = (): string => labState(NAME).topology.etcdEndpoints;
const ipOf = (node: string): string => labState(NAME).topology.nodes.find((n) => n.name === node)?.ip ?? '';
/** The host's copy of the lab's PKI (generated at `lab up`). */
const pki = (f: string): string => join(runtimeDir(NAME), 'pki', f);

async function unhealthyMembers(): Promise<string[]> {
  const out = await onNode('m1', `etcdctl ${TLS} --endpoints=${endpoints()} --dial-timeout=1s --command-timeout=2s endpoint health --cluster -w json 2>/dev/null || true`);
  return (JSON.parse(out || '[]') as { endpoint: string; health: boolean }[]).filter((h) => !h.health).map((h) => h.endpoint);
}
async function mainPids(): Promise<string[]> {
  return Promise.all(['m1', 'm2', 'm3'].map((n) => onNode(n, 'systemctl show -p MainPID --value etcd')));
}
async function probeHealthy(timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await labProbe(NAME);
    if (r.ok) return;
    if (Date.now() > deadline) throw new Error(`probe: failing pairs ${failingNodes(r).join(' ')}; podless ${r.podless.join(' ')}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}
async function settled(): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await unhealthyMembers()).length > 0) {
    if (Date.now() > deadline) throw new Error('etcd did not settle');
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  const scratch = mkdtempSync(join(tmpdir(), 'rb-tet-'));
  const info = await labUp({ name: NAME, workers: 4, ha: true, profiles: ['etcd-tls', 'flannel-modern'] });
  lab = { info, scratch };
}, 300_000);
afterAll(async () => {
  try {
    await labDown(NAME);
  } finally {
    if (lab) rmSync(lab.scratch, { recursive: true, force: true });
  }
});
afterEach(async () => {
  await labHeal(NAME);
  await settled();
});

describe('profile etcd-tls', () => {
  it('etcd answers only https with a client cert signed by its CA: plain http and certless https are refused', () => {
    const m1 = `${ipOf('m1')}:2379`;
    const curl = (args: string[]): ReturnType<typeof spawnSync> => spawnSync('curl', ['-sS', '--max-time', '5', ...args], { encoding: 'utf8' });
    expect(endpoints()).toMatch(/^https:\/\/[^,]+:2379(,https:\/\/[^,]+:2379){2}$/);
    const plain = curl([`http://${m1}/version`]);
    expect(plain.status, String(plain.stdout)).not.toBe(0);
    expect(curl(['--cacert', pki('ca.crt'), `https://${m1}/version`]).status).not.toBe(0);
    const v2 = spawnSync('etcdctl', [`--endpoints=http://${m1}`, '--dial-timeout=2s', '--command-timeout=3s', 'endpoint', 'health'], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
    expect(v2.status).not.toBe(0);
    const ok = curl(['--cacert', pki('ca.crt'), '--cert', pki('m1-healthcheck-client.crt'), '--key', pki('m1-healthcheck-client.key'), `https://${m1}/version`]);
    expect(ok.status, String(ok.stderr)).toBe(0);
    expect(String(ok.stdout)).toContain('etcdserver');
  });

  it("certs at kubeadm's paths on the etcd nodes only; no etcdctl on workers or load balancers; the inventory says where", async () => {
    for (const m of ['m1', 'm2', 'm3']) {
      expect(await onNode(m, 'cd /etc/kubernetes/pki/etcd && ls ca.crt server.crt server.key healthcheck-client.crt healthcheck-client.key | wc -l')).toBe('5');
      expect(await onNode(m, 'command -v etcdctl')).toBe('/usr/bin/etcdctl');
      expect(await onNode(m, 'systemctl show -p ExecStart etcd')).toMatch(/--client-cert-auth=true.*--trusted-ca-file=\/etc\/kubernetes\/pki\/etcd\/ca\.crt/);
    }
    for (const n of [...WORKERS, 'lb1', 'lb2']) {
      expect(await onNode(n, 'command -v etcdctl || echo none; ls /usr/bin/etcdctl 2>/dev/null || echo absent; ls /etc/kubernetes/pki/etcd 2>/dev/null || echo no-etcd-pki')).toBe('none\nabsent\nno-etcd-pki');
    }
    for (const w of WORKERS) {
      expect(await onNode(w, 'systemctl show -p ExecStart flanneld')).toContain('--etcd-cafile=/etc/kubernetes/pki/flannel/ca.crt --etcd-certfile=/etc/kubernetes/pki/flannel/client.crt --etcd-keyfile=/etc/kubernetes/pki/flannel/client.key');
    }
    const inv = spawnSync('cat', [L().info.inventory], { encoding: 'utf8' }).stdout;
    expect(inv).toMatch(/etcd:\n {4}hosts:\n(?: {6}- m\d\n){3} {4}vars:\n {6}etcdctl: etcdctl --cacert=\/etc\/kubernetes\/pki\/etcd\/ca\.crt/);
    expect(inv).toContain(`etcd_endpoints: ${endpoints()}`);
  });

  it('flanneld on every worker holds its lease (v3 keyspace, through its own client cert); the probe passes', async () => {
    await probeHealthy();
    const leases = await listLeases(labState(NAME));
    for (const w of WORKERS) {
      expect(await onNode(w, 'systemctl is-active flanneld')).toBe('active');
      const subnet = await onNode(w, '. /run/flannel/subnet.env; echo "$FLANNEL_SUBNET"');
      const lease = leases.find((l) => l.subnet === subnetKey(subnet));
      expect(lease?.publicIp, `${w}: ${subnet}`).toBe(ipOf(w));
    }
  });

  it('check-etcd-health: every step ok on every member, with the inventory\'s TLS flags or with ETCDCTL_* in the environment', () => {
    expectAllOk(apply(L(), ETCD, 'etcd', ['--yes']));
    const env = `env ETCDCTL_CACERT=${ETCD_CLIENT.cacert} ETCDCTL_CERT=${ETCD_CLIENT.cert} ETCDCTL_KEY=${ETCD_CLIENT.key} etcdctl`;
    expectAllOk(apply(L(), ETCD, 'etcd', ['--yes', '--var', `etcdctl=${env}`]));
  }, 240_000);

  it('check-etcd-health without the client cert: every member fails its check, and the fix refuses instead of restarting a running etcd', async () => {
    const before = await mainPids();
    const run = apply(L(), ETCD, 'etcd', ['--yes', '--var', 'etcdctl=etcdctl', '--var', 'settle_seconds=1']);
    expect(run.code, describeRun(run)).not.toBe(0);
    for (const m of ['m1', 'm2', 'm3']) {
      expect(run.statuses[m]?.[0], describeRun(run)).toBe('failed');
      expect(run.results[m]?.['this member is healthy']?.reason ?? '').toMatch(/refused: etcd runs here and these etcdctl settings reach no other healthy member; not restarting it; nothing changed/);
    }
    expect(await mainPids()).toEqual(before);
    expect(await unhealthyMembers()).toEqual([]);
  }, 240_000);

  it('a learner is listed but not counted: 3 voting members + 1 learner is an odd count with quorum', async () => {
    const ctl = `etcdctl ${TLS} --endpoints=${endpoints()}`;
    await onNode('m1', `${ctl} member add l1 --learner --peer-urls=http://${labState(NAME).topology.deadIp}:2380 >/dev/null`);
    try {
      expectAllOk(apply(L(), ETCD, 'etcd', ['--yes', '--var', 'settle_seconds=2']));
    } finally {
      // The learner's ID, read as text (it exceeds 2^53), in hex for member remove.
      const list = await onNode('m1', `${ctl} member list -w json`);
      const id = /\{"ID":(\d+),"peerURLs":\[[^\]]*\],"isLearner":true/.exec(list)?.[1];
      if (id) await onNode('m1', `${ctl} member remove ${BigInt(id).toString(16)} >/dev/null`);
    }
    expect(await onNode('m1', `${ctl} member list -w json`)).not.toContain('isLearner');
  }, 240_000);

  it('etcd-member-down on m2: the cluster check names m2; dry run would restart m2 only and changes nothing; apply restarts it; second apply all ok', async () => {
    const m2 = `https://${ipOf('m2')}:2379`;
    await labBreak(NAME, 'etcd-member-down', 'm2');
    expect(await unhealthyMembers()).toEqual([m2]);

    const dry = apply(L(), ETCD, 'etcd', ['--dry-run', '--var', 'settle_seconds=1']);
    expect(dry.statuses.m2?.[0], describeRun(dry)).toBe('would-fix');
    expect(dry.statuses.m1?.[0]).toBe('ok');
    expect(dry.statuses.m3?.[0]).toBe('ok');
    expect(dry.results.m1?.['every member is healthy']?.checkOutput ?? '').toMatch(new RegExp(`m2 ${m2.replace(/\./g, '\\.')} is unhealthy`));
    expect(await unhealthyMembers()).toEqual([m2]);

    const fixed = apply(L(), ETCD, 'etcd', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    expect(fixed.statuses.m2?.[0]).toBe('fixed');
    expect(fixed.statuses.m1?.[0]).toBe('ok');
    expect(fixed.statuses.m3?.[0]).toBe('ok');
    expect(await unhealthyMembers()).toEqual([]);
    expectAllOk(apply(L(), ETCD, 'etcd', ['--yes']));
    await probeHealthy();
  }, 480_000);
});
