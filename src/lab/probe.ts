/**
 * `lab probe`: the pod-to-pod matrix. From every pod, a full-size ICMP echo (the pod network's MTU,
 * don't fragment) and a TCP connection to port 80 of every other pod, run inside the source pod's
 * network namespace so the packets take the real path (pod → docker0 or cni0 → flannel.1 → vxlan
 * over the LAN → ...). All sources run in parallel. A worker without a running pod is named with
 * why, as its runtime last logged it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { binDir, nodeDir } from './paths.js';
import { LAN_MTU } from './network.js';
import { run } from './proc.js';
import { podNsPath } from './node-process.js';
import { requireState, type LabState } from './state.js';

export interface PodInfo {
  /** node/pod, e.g. "d/pod0". */
  id: string;
  node: string;
  pod: string;
  ip: string;
  /** Its network namespace's name in the node's /run/netns (docker: the pod's name; containerd: cni-<uuid>). */
  netns: string;
}

export interface ProbePair {
  from: string;
  to: string;
  icmp: boolean;
  tcp: boolean;
}

export interface ProbeResult {
  lab: string;
  ok: boolean;
  pods: PodInfo[];
  /** Workers with no running pod (docker stopped or failed): every pair with them fails. */
  podless: string[];
  /** Why, for each podless worker: its runtime's last failure (containerd's sandbox error), or that docker is not running. */
  why: Record<string, string>;
  pairs: ProbePair[];
}

/** Payload of the probe's echo request: the pod network's MTU (vxlan's 50 bytes off the LAN's) less the IP and ICMP headers. */
const ICMP_SIZE = LAN_MTU - 50 - 28;

/** The last "Failed to create pod sandbox" containerd logged on the node (kubelet's event), or why there is none. */
function podlessWhy(state: LabState, node: string): string {
  if (state.stack !== 'k8s') return 'docker is not running';
  let log = '';
  try {
    log = readFileSync(join(nodeDir(state.name, node), 'run/lab/log/containerd.log'), 'utf8');
  } catch {
    // no log: containerd never started
  }
  const failed = log.split('\n').filter((l) => l.includes('Failed to create pod sandbox')).pop();
  return failed?.replace(/^.*?containerd: /, '') ?? 'containerd has not started its pods';
}

export function labPods(state: LabState): { pods: PodInfo[]; podless: string[] } {
  const pods: PodInfo[] = [];
  const podless: string[] = [];
  for (const n of state.topology.nodes.filter((x) => x.roles.includes('worker'))) {
    let text = '';
    try {
      // Each stack's pod runner lists its running pods: dockerd "pod ip", containerd "pod ip netns".
      text = readFileSync(join(nodeDir(state.name, n.name), state.stack === 'k8s' ? 'run/lab/pods' : 'run/docker/pods'), 'utf8');
    } catch {
      // no pods file: docker is not running
    }
    const mine = text
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f): f is [string, string, ...string[]] => f.length >= 2 && !!f[0] && !!f[1])
      .map(([pod, ip, netns]) => ({ id: `${n.name}/${pod}`, node: n.name, pod, ip, netns: netns ?? pod }));
    if (mine.length === 0) podless.push(n.name);
    pods.push(...mine);
  }
  return { pods, podless };
}

export interface ProbeOptions {
  /** Probe only from the pods of these nodes (to every pod); default: from every pod. */
  from?: string[];
}

export async function labProbe(name: string, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const state = requireState(name);
  const { pods, podless } = labPods(state);
  const script = join(binDir(state.name), 'probe.sh');
  const sources = opts.from ? pods.filter((p) => opts.from?.includes(p.node)) : pods;
  // Each source runs up to 32 checks at once; a few sources in parallel keep the machine responsive.
  const results = await pLimit(pods.length > 20 ? 4 : 16).map(sources, async (src) => {
    const targets = pods.filter((p) => p.id !== src.id);
    const status = new Map<string, ProbePair>(targets.map((t) => [t.id, { from: src.id, to: t.id, icmp: false, tcp: false }]));
    let nsPath: string | undefined;
    try {
      nsPath = podNsPath(state, src.node, src.netns);
    } catch {
      // the node is down: every pair from it fails
    }
    if (nsPath && targets.length > 0) {
      const r = await run('nsenter', [`--net=${nsPath}`, 'bash', script, ...targets.map((t) => `${t.id}=${t.ip}`)], { timeoutMs: 120_000, env: { ...process.env, PROBE_ICMP_SIZE: String(ICMP_SIZE) } });
      for (const line of r.stdout.split('\n')) {
        const [id, proto, verdict] = line.trim().split(' ');
        const pair = id ? status.get(id) : undefined;
        if (!pair || verdict !== 'ok') continue;
        if (proto === 'icmp') pair.icmp = true;
        if (proto === 'tcp') pair.tcp = true;
      }
    }
    return [...status.values()];
  });
  const pairs = results.flat();
  const why = Object.fromEntries(podless.map((n) => [n, podlessWhy(state, n)]));
  return { lab: state.name, ok: podless.length === 0 && pairs.every((p) => p.icmp && p.tcp), pods, podless, why, pairs };
}

export function formatProbe(r: ProbeResult): string {
  const label = (id: string): string => (r.pods.filter((p) => p.node === id.split('/')[0]).length > 1 ? id : (id.split('/')[0] ?? id));
  const lines: string[] = [];
  const bad = r.pairs.filter((p) => !(p.icmp && p.tcp));
  if (r.pods.length <= 30) {
    const ids = r.pods.map((p) => p.id);
    const w = Math.max(9, ...ids.map((i) => label(i).length + 2));
    const cell = (s: string): string => s.padEnd(w);
    const index = new Map(r.pairs.map((p) => [`${p.from} ${p.to}`, p]));
    lines.push(`pod-to-pod (full-size ICMP/TCP 80), lab ${r.lab}: ok = both work, i- = ICMP only, -t = TCP only, -- = neither`);
    lines.push(cell('from\\to') + ids.map((i) => cell(label(i))).join(''));
    for (const from of ids) {
      const row = ids.map((to) => {
        if (from === to) return cell('.');
        const p = index.get(`${from} ${to}`);
        return cell(!p ? '?' : p.icmp && p.tcp ? 'ok' : p.icmp ? 'i-' : p.tcp ? '-t' : '--');
      });
      lines.push(cell(label(from)) + row.join(''));
    }
  }
  for (const n of r.podless) lines.push(`no running pod on ${n}: ${r.why[n] ?? 'unknown'}`);
  lines.push(
    r.ok
      ? `all ${r.pairs.length} pod pairs reachable`
      : bad.length === 0
        ? `all ${r.pairs.length} pairs of the running pods reachable, but ${r.podless.length} worker(s) run no pod`
        : `${bad.length} of ${r.pairs.length} pod pairs fail${bad.length <= 12 ? `: ${bad.map((p) => `${label(p.from)}→${label(p.to)}`).join(' ')}` : ''}`,
  );
  return lines.join('\n');
}
