/**
 * The bench's fleet: N light workers (up to 1,000) brought up once per run and shared by every tool
 * and round, the workloads' commands rendered through runbook's own model, and the fault the apply
 * workload needs (ip_forward off at runtime and persisted), injected and checked out of band.
 *
 * A light worker is what fix-forwarding reads and writes, and nothing else: its own network
 * namespace (sysctls, both iptables backends' tables), its own /etc (sysctl.conf), /run (flannel's
 * subnet.env) and /root, and a real OpenSSH sshd with its own host key. No overlay, no docker, no
 * flanneld: a full lab node runs five daemons, so a full lab stops near 200 workers on 2 cores.
 * The lab "scale" uses the lab's names (namespaces rb-scale-*, /run/rb-lab/scale), so
 * `runbook lab down --name scale` removes a stale one and a new one first removes it.
 *
 * Addresses: 198.18.252.0/22 (benchmarking range, RFC 2544; the lab's own LANs are /24s below it).
 * Every address on it has a permanent neighbour entry on both sides: the kernel's neighbour table
 * limit (gc_thresh3, 1,024 by default) is machine-wide and counts only dynamic entries, so 1,000
 * workers never raise it.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import pLimit from 'p-limit';
import { stringify } from 'yaml';
import { labDown } from '../src/lab/down.js';
import { generateKey, generateKeys, knownHostsLine } from '../src/lab/keys.js';
import { overlappingRoutes } from '../src/lab/lan.js';
import { nodeDir, nodeNs, runtimeDir, switchNs, uplinkName } from '../src/lab/paths.js';
import { run, runOk, sleep } from '../src/lab/proc.js';
import { macFor } from '../src/lab/topology.js';
import { sshdConfig } from '../src/lab/node-files.js';
import { buildTemplateContext, loadInventory, loadRunbook, renderCommand, selectHosts } from '../src/model/index.js';
import type { SpecHost, SpecStep } from './spec.js';

export const LAB = 'scale';
/** A bridge takes at most 1,024 ports (BR_MAX_PORTS); the uplink is one of them. */
export const MAX_WORKERS = 1000;
const NET = { base: [198, 18, 252] as const, cidr: '198.18.252.0/22', prefix: 22 };
const STATE_DIR = resolve(import.meta.dirname, '..', `.lab-${LAB}`);
const INIT = join(import.meta.dirname, 'light-node.sh');
const HOST_KEY = 'etc-upper/ssh/bench_host_ed25519_key';

/** The k-th address of the LAN (k = 1 is the controller's). */
function address(k: number): string {
  const n = NET.base[2] * 256 + k;
  return `${NET.base[0]}.${NET.base[1]}.${Math.floor(n / 256)}.${n % 256}`;
}

// Without the lab's ForceCommand (its command log): each command is sshd → shell, as on a real node.
const SSHD_CONFIG = sshdConfig('a runbook bench worker', '/etc/ssh/bench_host_ed25519_key');

export interface Fleet {
  inventory: string;
  identityFile: string;
  knownHostsFile: string;
  /** Workers in inventory order (w1, w2, ...). */
  workers: SpecHost[];
}

interface Worker extends SpecHost {
  ns: string;
}

const workerList = (n: number): Worker[] =>
  Array.from({ length: n }, (_, i) => ({ name: `w${i + 1}`, address: address(i + 2), ns: nodeNs(LAB, `w${i + 1}`) }));

const batch = (lines: string[], ns?: string): Promise<string> =>
  runOk('ip', [...(ns ? ['-n', ns] : []), '-batch', '-'], { input: `${lines.join('\n')}\n` });
const neigh = (ip: string, dev: string): string => `neigh replace ${ip} lladdr ${macFor(ip)} dev ${dev} nud permanent`;

function fleetOf(n: number): Fleet {
  return {
    inventory: join(STATE_DIR, 'inventory.yaml'),
    identityFile: join(STATE_DIR, 'id_ed25519'),
    knownHostsFile: join(STATE_DIR, 'known_hosts'),
    workers: workerList(n).map(({ name, address: a }) => ({ name, address: a })),
  };
}

async function prepareWorker(w: Worker, k: number, pub: string): Promise<void> {
  const dir = nodeDir(LAB, w.name);
  for (const d of ['etc-upper/ssh', 'root/.ssh', 'run/sshd', 'run/flannel']) await mkdir(join(dir, d), { recursive: true });
  await chmod(join(dir, 'root'), 0o700);
  await writeFile(join(dir, 'root/.ssh/authorized_keys'), pub, { mode: 0o600 });
  await writeFile(join(dir, 'etc-upper/hostname'), `${w.name}\n`);
  await writeFile(join(dir, 'etc-upper/sysctl.conf'), 'net.ipv4.ip_forward = 1\n');
  await writeFile(join(dir, 'etc-upper/ssh/bench_sshd_config'), SSHD_CONFIG);
  // What flanneld would have written: the check of "pod traffic is forwarded" reads it.
  await writeFile(join(dir, 'run/flannel/subnet.env'), `FLANNEL_NETWORK=10.96.0.0/12\nFLANNEL_SUBNET=10.${96 + (k >> 8)}.${k & 255}.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`);
}

async function createNetwork(ws: Worker[]): Promise<void> {
  const sw = switchNs(LAB);
  const up = uplinkName(LAB);
  const ctl = address(1);
  await batch([sw, ...ws.map((w) => w.ns)].map((ns) => `netns add ${ns}`));
  const swLines = ['link add br0 type bridge', 'link set br0 addrgenmode none', 'link set br0 up'];
  ws.forEach((w, k) => {
    swLines.push(
      `link add p${k} type veth peer name eth0 address ${macFor(w.address)} netns ${w.ns}`,
      `link set p${k} addrgenmode none`, `link set p${k} master br0`, `link set p${k} up`,
    );
  });
  await batch(swLines, sw);
  await runOk('ip', ['link', 'add', up, 'address', macFor(ctl), 'type', 'veth', 'peer', 'name', 'up0', 'netns', sw]);
  await batch(['link set up0 addrgenmode none', 'link set up0 master br0', 'link set up0 up'], sw);
  await batch([`link set ${up} addrgenmode none`, `addr add ${ctl}/${NET.prefix} dev ${up}`, `link set ${up} up`, ...ws.map((w) => neigh(w.address, up))]);
  await pLimit(8).map(ws, (w) =>
    batch(['link set eth0 addrgenmode none', `addr add ${w.address}/${NET.prefix} dev eth0`, 'link set eth0 up', neigh(ctl, 'eth0')], w.ns),
  );
}

/** Where the running fleet's PID 1s are (sshd, as the host sees it), for --reuse-lab and the out-of-band checks. */
const PIDS_FILE = join(runtimeDir(LAB), 'bench-fleet.json');
let pids: Record<string, number> = {};

/** Starts a worker's namespaces and PID 1; returns the holder (unshare), whose one child is PID 1. */
function boot(w: Worker): number {
  const err = openSync(join(nodeDir(LAB, w.name), 'init.err'), 'a');
  try {
    const child = spawn(
      'ip', ['netns', 'exec', w.ns, 'unshare', '--mount', '--uts', '--pid', '--fork', '--kill-child', '--mount-proc', '--propagation', 'slave', 'bash', INIT, nodeDir(LAB, w.name)],
      { detached: true, stdio: ['ignore', 'ignore', err] },
    );
    child.unref();
    if (child.pid === undefined) throw new Error(`cannot start bench worker ${w.name}`);
    return child.pid;
  } finally {
    closeSync(err);
  }
}

const read = (f: string): string => {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
};

/** PID 1 once sshd listens on port 22 in the worker's namespace (0016 LISTEN in its /proc/net/tcp), else undefined. */
function listening(holder: number): number | undefined {
  const pid = Number(read(`/proc/${holder}/task/${holder}/children`).trim().split(/\s+/)[0]);
  if (!(pid > 0) || !read(`/proc/${pid}/comm`).startsWith('sshd')) return undefined;
  return /^\s*\d+: [0-9A-F]{8}:0016 [0-9A-F]{8}:0000 0A /m.test(read(`/proc/${pid}/net/tcp`)) ? pid : undefined;
}

export async function fleetUp(workers: number, say: (m: string) => void): Promise<Fleet> {
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) throw new Error(`--workers ${workers}: must be 1 to ${MAX_WORKERS}`);
  await labDown(LAB, { stateDir: STATE_DIR });
  const hits = await overlappingRoutes({ base: NET.base.join('.'), cidr: NET.cidr });
  if (hits.length > 0) throw new Error(`the bench LAN ${NET.cidr} overlaps a route on this machine: ${hits[0]}; take down whatever uses it`);
  const ws = workerList(workers);
  const fleet = fleetOf(workers);
  try {
    await mkdir(STATE_DIR, { recursive: true });
    await mkdir(runtimeDir(LAB), { recursive: true });
    await generateKey(fleet.identityFile, `runbook-bench-${LAB}`);
    const pub = await readFile(`${fleet.identityFile}.pub`, 'utf8');
    say(`files and host keys for ${workers} workers`);
    await pLimit(16).map(ws, (w, k) => prepareWorker(w, k, pub));
    await generateKeys(ws.map((w) => ({ file: join(nodeDir(LAB, w.name), HOST_KEY), comment: `root@${w.name}` })));
    say(`network ${NET.cidr}`);
    await createNetwork(ws);
    say(`booting ${workers} workers`);
    const holders = ws.map(boot);
    const deadline = Date.now() + 60_000 + 100 * workers;
    const pending = new Set(ws.keys());
    while (pending.size > 0) {
      for (const k of pending) {
        const pid = listening(holders[k] as number);
        if (pid !== undefined) {
          pids[(ws[k] as Worker).name] = pid;
          pending.delete(k);
        }
      }
      if (pending.size === 0) break;
      if (Date.now() > deadline) {
        const w = ws[[...pending][0] as number] as Worker;
        throw new Error(`${pending.size} bench workers have no sshd listening, ${w.name} among them: ${read(join(nodeDir(LAB, w.name), 'init.err')).trim() || 'no error written'}`);
      }
      await sleep(200);
    }
    writeFileSync(PIDS_FILE, `${JSON.stringify(pids)}\n`);
    const known = await Promise.all(ws.map((w) => knownHostsLine(w.address, join(nodeDir(LAB, w.name), `${HOST_KEY}.pub`))));
    await writeFile(fleet.knownHostsFile, `${known.join('\n')}\n`);
    await writeFile(fleet.inventory, inventoryText(ws));
    return fleet;
  } catch (e) {
    await labDown(LAB, { stateDir: STATE_DIR }).catch(() => undefined);
    throw e;
  }
}

function inventoryText(ws: Worker[]): string {
  const doc = {
    defaults: { user: 'root', port: 22, identity_file: 'id_ed25519', known_hosts: 'known_hosts', vars: { flannel_iface: 'flannel.1' } },
    groups: { workers: { hosts: ws.map((w) => w.name) } },
    hosts: Object.fromEntries(ws.map((w) => [w.name, { address: w.address }])),
  };
  return `# The bench's light fleet (${NET.cidr}), written by bench/fleet.ts; removed by \`runbook lab down --name ${LAB}\`.\n${stringify(doc)}`;
}

/** For development (--reuse-lab): the running fleet, if it has enough workers. */
export function fleetReuse(workers: number): Fleet | undefined {
  const known = JSON.parse(read(PIDS_FILE) || '{}') as Record<string, number>;
  const ws = workerList(workers);
  if (!ws.every((w) => known[w.name] !== undefined && read(`/proc/${known[w.name]}/comm`).startsWith('sshd'))) return undefined;
  pids = known;
  return fleetOf(workers);
}

export async function fleetDown(): Promise<void> {
  await labDown(LAB, { stateDir: STATE_DIR });
}

/** The steps of a runbook as runbook would send them to these hosts; they must be the same on all. */
export function renderSteps(runbookRef: string, inventoryFile: string, hosts: SpecHost[]): SpecStep[] {
  const runbook = loadRunbook(runbookRef);
  const inventory = loadInventory(inventoryFile);
  let first: SpecStep[] | undefined;
  for (const h of hosts) {
    const [host] = selectHosts(inventory, h.name);
    if (!host) throw new Error(`${h.name} is not in ${inventoryFile}`);
    const ctx = buildTemplateContext({ runbook, inventory, host, cliVars: {} });
    const r = (t: Parameters<typeof renderCommand>[0], step: string): string => renderCommand(t, ctx, { step }).command;
    const steps: SpecStep[] = runbook.steps.map((s) => ({
      name: s.name,
      check: r(s.check, s.name),
      ...(s.expect ? { expect: s.expect } : {}),
      fix: s.fix.map((f) => r(f, s.name)),
      verify: s.verify ? r(s.verify, s.name) : r(s.check, s.name),
      ...(!s.verify && s.expect ? { verifyExpect: s.expect } : {}),
    }));
    if (first && JSON.stringify(first) !== JSON.stringify(steps)) {
      throw new Error(`${runbookRef} renders differently for ${h.name}; the other tools send one command to every host`);
    }
    first ??= steps;
  }
  return first ?? [];
}

/**
 * Runs `command` in each host's mount and network namespaces (nsenter, no SSH); the names whose
 * command exited non-zero. One bash per share of the hosts, forking only nsenter: spawning a
 * process per host from node would take longer than the run being measured.
 */
async function failing(names: string[], command: string): Promise<string[]> {
  const shares = [0, 1, 2, 3].map((i) => names.filter((_, k) => k % 4 === i)).filter((s) => s.length > 0);
  const out = await Promise.all(
    shares.map(async (share) => {
      const lines = share.map((n) => {
        const pid = pids[n];
        if (pid === undefined) throw new Error(`bench worker ${n} is not running`);
        return `${pid} ${n}`;
      });
      const script = 'while read -r pid name; do nsenter -t "$pid" -m -n -- sh -c "$1" >/dev/null 2>&1 || echo "$name"; done';
      return (await run('bash', ['-c', script, 'bash', command], { input: `${lines.join('\n')}\n` })).stdout.split('\n').filter(Boolean);
    }),
  );
  return out.flat();
}

const HEALTHY = `test "$(sysctl -n net.ipv4.ip_forward)" = 1 && grep -Eq '^[[:space:]]*net\\.ipv4\\.ip_forward[[:space:]]*=[[:space:]]*1[[:space:]]*$' /etc/sysctl.d/99-sysctl.conf && iptables -S FORWARD | head -n 1 | grep -qx -- '-P FORWARD ACCEPT'`;
const HEAL = `sysctl -q -w net.ipv4.ip_forward=1 && sed -i --follow-symlinks -E 's/^[[:space:]]*net\\.ipv4\\.ip_forward[[:space:]]*=.*/net.ipv4.ip_forward = 1/' /etc/sysctl.d/99-sysctl.conf && iptables -P FORWARD ACCEPT`;
/** The lab's ip-forward-off fault: off at runtime and persisted off. */
const BREAK = `sysctl -q -w net.ipv4.ip_forward=0 && sed -i --follow-symlinks -E 's/^[[:space:]]*net\\.ipv4\\.ip_forward[[:space:]]*=.*/net.ipv4.ip_forward = 0/' /etc/sysctl.d/99-sysctl.conf`;

export async function breakForwarding(hosts: SpecHost[]): Promise<void> {
  const bad = await failing(hosts.map((h) => h.name), BREAK);
  if (bad.length > 0) throw new Error(`cannot break forwarding on ${bad.slice(0, 5).join(' ')}`);
}

/** Checked without SSH: the hosts whose forwarding is not fully on. */
export function unhealthy(hosts: SpecHost[]): Promise<string[]> {
  return failing(hosts.map((h) => h.name), HEALTHY);
}

export async function heal(names: string[]): Promise<void> {
  const bad = await failing(names, HEAL);
  if (bad.length > 0) throw new Error(`cannot restore forwarding on ${bad.slice(0, 5).join(' ')}`);
}
