/**
 * Everything `lab up` writes, runbook reads: for each lab flag on its own and for the combination
 * the docs show, the CLI brings the lab up exactly as a user would, `runbook validate` accepts the
 * inventory it wrote, and a dry run of a read-only runbook through that inventory (its key, its
 * known_hosts, its ProxyJump) reaches every node, each answering with its own hostname. The k8s
 * stack also writes a kubeconfig the real kubectl reads, and an inventory that takes its hosts from
 * the cluster through it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { runEventSchema } from '../../src/engine/events-schema.js';
import { labDown, labExec, labProbe, labState } from '../../src/lab/index.js';
import { runOk } from '../../src/lab/proc.js';
import { cli } from '../lab/lab-helpers.js';

const BIN = resolve('bin/runbook.js');
let dir: string;
const labs = new Set<string>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rb-roundtrip-'));
  // Read-only: each host says whether it is the node the inventory says it is.
  writeFileSync(
    join(dir, 'rt-whoami.yaml'),
    ['name: rt-whoami', 'description: each node answers with its own hostname (read-only)', 'steps:', '  - name: this is the node the inventory names', '    check: test "$(hostname)" = {{ host.name }}', ''].join('\n'),
  );
});

afterAll(async () => {
  for (const l of labs) await labDown(l);
  rmSync(dir, { recursive: true, force: true });
}, 180_000);

interface Written {
  inventory: string;
  /** k8s stack: the inventory whose hosts are the nodes its API lists. */
  kubeInventory?: string;
  hosts: string[];
  groups: Record<string, { hosts?: string[] }>;
}

/** `runbook lab up NAME FLAGS…` as a user types it (one lab at a time); the inventory it says it wrote. */
async function up(name: string, flags: string[]): Promise<Written> {
  for (const l of labs) await labDown(l);
  labs.clear();
  labs.add(name);
  const r = cli(['lab', 'up', '--name', name, ...flags], 300_000);
  expect(r.code, r.stderr).toBe(0);
  const inventory = /^inventory: (.+)$/m.exec(r.stdout)?.[1];
  expect(inventory, r.stdout).toBeDefined();
  const kubeInventory = /^inventory from the cluster: (.+)$/m.exec(r.stdout)?.[1];
  const doc = parse(readFileSync(inventory!, 'utf8')) as { hosts: Record<string, unknown>; groups: Written['groups'] };
  return { inventory: inventory!, ...(kubeInventory !== undefined && { kubeInventory }), hosts: Object.keys(doc.hosts), groups: doc.groups };
}

/** validate, then a dry run over every host: each must be reached and be the node it claims. */
function roundTrip(w: Written): void {
  const v = cli(['validate', '-i', w.inventory, join(dir, 'rt-whoami.yaml')]);
  expect(`${v.code} ${v.stderr}`).toBe('0 ');
  const r = spawnSync('node', [BIN, 'apply', 'rt-whoami', '--dry-run', '--hosts', 'all', '--json', '-i', w.inventory, '--runbooks', dir], {
    encoding: 'utf8',
    env: { ...process.env, RUNBOOK_AUDIT_FILE: join(dir, 'audit.jsonl'), CI: '1' },
    input: '',
    timeout: 240_000,
  });
  expect(r.status, r.stderr).toBe(0);
  const results = r.stdout
    .trim()
    .split('\n')
    .map((l) => runEventSchema.parse(JSON.parse(l)))
    .flatMap((e) => (e.type === 'step-result' ? [`${e.host} ${e.status}`] : []));
  expect(results.sort()).toEqual(w.hosts.map((h) => `${h} ok`).sort());
}

describe('lab up writes an inventory runbook reads', () => {
  it('--name alone (state in ./.lab-NAME)', async () => {
    const w = await up('rtn', []);
    expect(w.inventory).toBe(resolve('.lab-rtn/inventory.yaml'));
    roundTrip(w);
  });

  it('--state-dir', async () => {
    const w = await up('rts', ['--state-dir', join(dir, 'state')]);
    expect(w.inventory).toBe(join(dir, 'state/inventory.yaml'));
    roundTrip(w);
  });

  it('--workers 2', async () => {
    const w = await up('rtw', ['--workers', '2']);
    expect(w.groups.workers?.hosts).toEqual(['a', 'b']);
    roundTrip(w);
  });

  it('--pods 2', async () => {
    roundTrip(await up('rtp', ['--pods', '2']));
  });

  it('--lan', async () => {
    const w = await up('rtl', ['--lan', '198.19.201.0/24']);
    expect(readFileSync(w.inventory, 'utf8')).toContain('address: 198.19.201.20');
    roundTrip(w);
  });

  it('--ha', async () => {
    const w = await up('rth', ['--ha']);
    expect(Object.keys(w.groups).sort()).toEqual(['etcd', 'lb', 'masters', 'workers']);
    roundTrip(w);
  });

  it('--stack k8s: the inventory, the kubeconfig beside it that the real kubectl reads, the inventory from the cluster, and pods on every worker', async () => {
    const w = await up('rtk', ['--stack', 'k8s', '--workers', '2', '--pods', '2']);
    expect(w.hosts).toEqual(['m1', 'a', 'b']);
    // The same fleet, its hosts the nodes the API lists (through the real kubectl), reached alike.
    expect(w.kubeInventory).toBe(join(dirname(w.inventory), 'inventory-k8s.yaml'));
    const shown = cli(['inventory', '--json', '-i', w.kubeInventory!]);
    expect(shown.code, shown.stderr).toBe(0);
    const listed = (JSON.parse(shown.stdout) as { hosts: { name: string; address: string; groups: string[] }[] }).hosts;
    const lan = parse(readFileSync(w.inventory, 'utf8')) as { hosts: Record<string, { address: string }> };
    expect(listed.map((h) => `${h.name} ${h.address} ${h.groups.join(',')}`)).toEqual([`m1 ${lan.hosts.m1!.address} control-plane`, `a ${lan.hosts.a!.address} worker`, `b ${lan.hosts.b!.address} worker`]);
    roundTrip({ ...w, inventory: w.kubeInventory! });
    const vars = (parse(readFileSync(w.inventory, 'utf8')) as { defaults: { vars: Record<string, unknown> } }).defaults.vars;
    expect(vars).toMatchObject({ stack: 'k8s', flannel_network: '10.244.0.0/16', kubeconfig: join(dirname(w.inventory), 'kubeconfig') });
    roundTrip(w);
    const k = spawnSync('kubectl', ['--cache-dir', join(dir, 'kube-cache'), 'get', 'nodes', '-o', 'name'], {
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG: String(vars.kubeconfig) },
      timeout: 30_000,
    });
    expect(`${k.stdout}${k.stderr}`).toBe('node/m1\nnode/a\nnode/b\n');
    const probe = await labProbe('rtk');
    expect(probe.pods).toHaveLength(4);
    expect(probe.ok).toBe(true);
  });

  it('--bastion: the group is "bastions", and every other node is reached only through the bastion', async () => {
    const L = 'rtb';
    const w = await up(L, ['--bastion']);
    expect(w.groups.bastions?.hosts).toEqual(['bastion']);
    const s = labState(L);
    const d = s.topology.nodes.find((n) => n.name === 'd');
    // No route from the controller into the internal LAN through the lab (checked without sending a packet).
    const route = JSON.parse(await runOk('ip', ['-j', 'route', 'get', d?.ip ?? ''])) as { dev: string }[];
    expect(route[0]?.dev).not.toBe(`rb-${L}`);
    expect((await labExec(L, 'bastion', 'sysctl -n net.ipv4.ip_forward')).stdout.trim()).toBe('0');
    roundTrip(w);
    const r = cli(['lab', 'ssh', 'd', '--name', L, 'hostname']);
    expect(`${r.code} ${r.stdout.trim()}`, r.stderr).toBe('0 d');
    expect((await labProbe(L)).ok).toBe(true);
  });

  it('--ha --bastion --workers 2 --pods 2 (the combination docs/lab.md shows)', async () => {
    const w = await up('rtc', ['--ha', '--bastion', '--workers', '2', '--pods', '2']);
    expect(Object.keys(w.groups).sort()).toEqual(['bastions', 'etcd', 'lb', 'masters', 'workers']);
    roundTrip(w);
  });
});
