/**
 * What "nothing changed" means on a lab node, read from outside the runbook (nsenter into the
 * node, the node's files from the host, etcd through the lab): the hashes of the node's /etc
 * (its overlay's upper layer: every file the node ever wrote there), /run/flannel and the docker
 * options files; iptables-save of both backends; every net.* sysctl; every unit's MainPID; and
 * the create/mod revisions of every flannel key in etcd (fleet-wide, under the key "etcd").
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { labExec, labState, listLeases } from '../../src/lab/index.js';
import { nodeDir } from '../../src/lab/paths.js';

export type Snapshot = Record<string, string>;

function hashTree(root: string, prefix: string, out: Snapshot): void {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return;
  }
  for (const e of entries.sort()) {
    const p = join(root, e);
    const st = lstatSync(p);
    const key = `${prefix}/${e}`;
    if (st.isDirectory()) hashTree(p, key, out);
    else if (st.isSymbolicLink()) out[key] = `-> ${readlinkSync(p)}`;
    else if (st.isFile()) out[key] = `${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`;
  }
}

/** Values that move on their own on an idle node, so they say nothing about a runbook. */
const VOLATILE = /^net\.netfilter\.nf_conntrack_count|^net\.ipv4\.route\.gc_|random|stable_secret/;

export async function nodeSnapshot(lab: string, node: string): Promise<Snapshot> {
  const dir = nodeDir(lab, node);
  const out: Snapshot = {};
  hashTree(join(dir, 'etc-upper'), '/etc', out);
  hashTree(join(dir, 'run/flannel'), '/run/flannel', out);
  hashTree(join(dir, 'run/docker_opts.env'), '/run/docker_opts.env', out);
  const r = await labExec(lab, node, `for b in legacy nft; do echo "== $b"; iptables-$b-save 2>/dev/null | grep -v '^#' | sed -E 's/\\[[0-9]+:[0-9]+\\]/[]/'; done
echo "== sysctl"; sysctl -a 2>/dev/null | grep '^net\\.'
echo "== units"; for u in /etc/lab/units/*; do u=\${u##*/}; echo "$u $(systemctl show -p MainPID --value "$u")"; done`, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`snapshot of ${node}: ${r.stderr}`);
  let section = '';
  let n = 0;
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('== ')) {
      section = line.slice(3);
      n = 0;
      continue;
    }
    if (line === '') continue;
    if (section === 'sysctl') {
      const [k, ...v] = line.split(' = ');
      if (k && !VOLATILE.test(k)) out[`sysctl ${k}`] = v.join(' = ');
    } else if (section === 'units') {
      const [u, pid] = line.split(' ');
      out[`MainPID ${u}`] = pid ?? '';
    } else out[`iptables-${section} ${String(n++).padStart(3, '0')}`] = line;
  }
  return out;
}

export async function etcdSnapshot(lab: string): Promise<Snapshot> {
  const out: Snapshot = {};
  for (const l of await listLeases(labState(lab))) out[`etcd ${l.key}`] = `created ${l.created} modified ${l.modified}`;
  return out;
}

/** Every node's snapshot plus etcd's, as one map "node: key" → value. */
export async function fleetSnapshot(lab: string, nodes: string[]): Promise<Snapshot> {
  const out: Snapshot = await etcdSnapshot(lab);
  for (const n of nodes) for (const [k, v] of Object.entries(await nodeSnapshot(lab, n))) out[`${n}: ${k}`] = v;
  return out;
}

/** The keys whose values differ (or exist on one side only), as "key: before → after". */
export function changes(before: Snapshot, after: Snapshot, keep: (key: string) => boolean = () => true): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.filter((k) => before[k] !== after[k] && keep(k)).map((k) => `${k}: ${before[k] ?? '(none)'} → ${after[k] ?? '(none)'}`);
}
