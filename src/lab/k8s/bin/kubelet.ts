/**
 * The lab's kubelet (its unit runs `node …/kubelet.js` on every node): every second it lists the
 * pods bound to its node (`fieldSelector=spec.nodeName=NODE`, as kubelet's pod source does) and
 * makes the node match:
 * - a pod with a sandbox is asked of containerd (RunPodSandbox: a request file under
 *   /run/containerd/cri, which the containerd stand-in sets up through CNI); a sandbox whose pod is
 *   gone (deleted, evicted) is withdrawn (StopPodSandbox: containerd tears it down with CNI DEL);
 * - a hostNetwork pod runs as the node's unit that stands for its container (kube-flannel as
 *   flanneld): a new pod (another uid) restarts the unit, as a new container would start; no pod
 *   stops it. The unit running when kubelet first sees the pod is that pod's container.
 * Each running pod's status is patched as kubelet's status manager does (Running, hostIP, podIP,
 * Ready). Ready (Type=notify) once every pod bound here runs.
 * Flags: --kube-api-url= --node-name=
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { KubeClient } from '../client.js';
import { isObject, type JsonObject } from '../patch.js';
import { metadata } from '../store.js';
import { flags } from './flags.js';

const f = flags(process.argv.slice(2), ['kube-api-url', 'node-name']);
const api = new KubeClient(f['kube-api-url']);
const node = f['node-name'];
const CRI = '/run/containerd/cri';
const STATE = '/run/lab/kubelet';
/** The container each hostNetwork pod runs, and the node's unit that stands for it. */
const HOST_UNITS: Record<string, string> = { 'kube-flannel': 'flanneld' };
mkdirSync(CRI, { recursive: true });
mkdirSync(STATE, { recursive: true });

const log = (s: string): void => void process.stdout.write(`${s}\n`);
const obj = (v: unknown): JsonObject => (isObject(v as JsonObject) ? (v as JsonObject) : {});
const read = (file: string): string => (existsSync(file) ? readFileSync(file, 'utf8').trim() : '');
const hostIp = (): string => /inet (\S+)\//.exec(execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' }))?.[1] ?? '';

/** containerd's running sandboxes, from its list: "name ip netns uid". */
function sandboxes(): Map<string, { ip: string }> {
  const out = new Map<string, { ip: string }>();
  for (const line of read('/run/lab/pods').split('\n')) {
    const [, ip, , uid] = line.split(/\s+/);
    if (ip && uid) out.set(uid, { ip });
  }
  return out;
}

async function running(pod: JsonObject, ip: string): Promise<void> {
  const status = obj(pod.status);
  const ready = (Array.isArray(status.conditions) ? status.conditions : []).map(obj).some((c) => c.type === 'Ready' && c.status === 'True');
  if (status.phase === 'Running' && status.podIP === ip && ready) return;
  const m = metadata(pod);
  await api.patch(`/api/v1/namespaces/${String(m.namespace)}/pods/${String(m.name)}/status`, {
    status: { phase: 'Running', hostIP: hostIp(), podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] },
  });
}

/** One hostNetwork container's unit: started for a new pod, stopped when its pod is gone. */
function hostUnit(unit: string, pod: JsonObject | undefined): void {
  const file = `${STATE}/${unit}.uid`;
  const had = read(file);
  const uid = pod ? String(metadata(pod).uid) : '';
  if (uid === had) return;
  if (!pod) {
    log(`pod of ${unit} gone: stopping it`);
    execFileSync('systemctl', ['stop', unit]);
    rmSync(file, { force: true });
    return;
  }
  if (had) {
    log(`new pod ${String(metadata(pod).name)}: restarting ${unit}`);
    execFileSync('systemctl', ['restart', unit]);
  } else execFileSync('systemctl', ['start', unit]);
  writeFileSync(file, `${uid}\n`);
}

async function pass(): Promise<boolean> {
  const list = await api.get(`/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`);
  const pods = (list.items as JsonObject[]).filter((p) => !['Succeeded', 'Failed'].includes(String(obj(p.status).phase)));
  const containers = (p: JsonObject): string[] => (Array.isArray(obj(p.spec).containers) ? (obj(p.spec).containers as JsonObject[]) : []).map((c) => String(c.name));
  for (const [container, unit] of Object.entries(HOST_UNITS)) hostUnit(unit, pods.find((p) => obj(p.spec).hostNetwork === true && containers(p).includes(container)));
  const sandboxed = pods.filter((p) => obj(p.spec).hostNetwork !== true);
  const wanted = new Set(sandboxed.map((p) => String(metadata(p).uid)));
  for (const uid of readdirSync(CRI)) {
    if (!wanted.has(uid)) {
      log(`pod ${read(`${CRI}/${uid}`)} gone: StopPodSandbox`);
      rmSync(`${CRI}/${uid}`);
    }
  }
  const up = sandboxes();
  let all = true;
  for (const p of pods) {
    const m = metadata(p);
    if (obj(p.spec).hostNetwork === true) {
      await running(p, hostIp());
      continue;
    }
    const uid = String(m.uid);
    if (!existsSync(`${CRI}/${uid}`)) writeFileSync(`${CRI}/${uid}`, `${String(m.namespace)} ${String(m.name)}\n`);
    const s = up.get(uid);
    if (s) await running(p, s.ip);
    else all = false;
  }
  return all;
}

let ready = false;
for (;;) {
  try {
    if ((await pass()) && !ready) {
      ready = true;
      if (process.env.NOTIFY_FILE) writeFileSync(process.env.NOTIFY_FILE, '');
    }
  } catch (err) {
    log(`sync failed: ${(err as Error).message}`);
  }
  await new Promise((r) => setTimeout(r, 1000));
}
