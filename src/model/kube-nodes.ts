/**
 * The nodes of a cluster, as `kubectl get nodes -o json` lists them, for an inventory that names a
 * cluster (inventory-kubernetes.ts).
 *
 * Why the real kubectl and not an HTTP client of our own: a kubeconfig authenticates in many ways
 * (client certificates, bearer tokens and token files, exec plugins such as `aws eks get-token` or
 * `gke-gcloud-auth-plugin`, auth-provider entries, proxies, `insecure-skip-tls-verify`, several
 * files merged through $KUBECONFIG). kubectl honours every one of them exactly as the operator's
 * own commands do; a hand-written client would honour the few we thought of, and fail or, worse,
 * talk to another cluster on the others. The cost is a process per inventory load and kubectl on
 * the controller, which is where an operator of a cluster has it.
 *
 * What kubectl prints comes from the API server and is hostile input: its size is capped, it is
 * parsed with a schema that accepts only what an inventory uses (names and addresses that are safe
 * to connect to), and its errors are shown on one neutralised line.
 */
import { spawnSync } from 'node:child_process';
import { z } from 'zod';
import { oneLine } from './printable.js';
import { shellQuote } from './shell-quote.js';

/** Output beyond this is refused (a node object is a few KiB: room for thousands of nodes). */
export const MAX_KUBECTL_OUTPUT = 64 * 1024 * 1024;
export const MAX_NODES = 10_000;
/** kubectl's own deadline for each request, and ours for the whole process (discovery first, then the list). */
const REQUEST_TIMEOUT_S = 20;
const PROCESS_TIMEOUT_MS = 45_000;

export const ADDRESS_TYPES = ['InternalIP', 'ExternalIP', 'Hostname', 'InternalDNS', 'ExternalDNS'] as const;
export type AddressType = (typeof ADDRESS_TYPES)[number];

/** Host names are the inventory's (inventory-schema.ts); a node name (a DNS subdomain) always is one. */
const NodeName = z.string().max(253).regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'not a usable host name');
/** An address ssh can be pointed at: no option-like or shell-like text. */
const Address = z.string().max(253).regex(/^[A-Za-z0-9][A-Za-z0-9.:_-]*$/, 'not an IP address or DNS name');
/** Label keys: an optional DNS prefix and a name; values are at most 63 characters (the API enforces both). */
const Labels = z.record(z.string().min(1).max(317), z.string().max(63));
/** The API caps all of an object's annotations at 256 KiB together. */
const Annotations = z.record(z.string().min(1).max(317), z.string().max(256 * 1024));

const NodeSchema = z.object({
  metadata: z.object({ name: NodeName, labels: Labels.optional(), annotations: Annotations.optional() }),
  status: z.object({ addresses: z.array(z.object({ type: z.string().max(64), address: z.string().max(253) })).max(64).optional() }).optional(),
});
const NodeListSchema = z.object({ kind: z.enum(['List', 'NodeList']), items: z.array(NodeSchema).max(MAX_NODES) });

export interface KubeNode {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** By type, the first of each (a node may list several of one type). */
  addresses: Partial<Record<string, string>>;
}

export interface KubeSource {
  /** Absolute; absent: kubectl's own choice ($KUBECONFIG, else ~/.kube/config). */
  kubeconfig?: string;
  context?: string;
  selector?: string;
}

/** Which setting a failure is about, so that it is reported at that key's line. */
export type KubeSetting = 'kubeconfig' | 'context' | 'selector';

export type NodesOrProblem = { nodes: KubeNode[] } | { problem: { message: string; hint: string; setting?: KubeSetting } };

/** The kubectl command line for `src` (also shown, to reproduce a failure by hand). */
export function kubectlArgs(src: KubeSource): string[] {
  return [
    ...(src.kubeconfig !== undefined ? ['--kubeconfig', src.kubeconfig] : []),
    ...(src.context !== undefined ? ['--context', src.context] : []),
    'get',
    'nodes',
    ...(src.selector !== undefined ? ['--selector', src.selector] : []),
    '--output',
    'json',
    `--request-timeout=${REQUEST_TIMEOUT_S}s`,
  ];
}

/** kubectl's message: its last line that is not a klog record (`E1203 12:57:01.669498 …`). */
function kubectlMessage(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.filter((l) => !/^[EWI]\d{4} /.test(l)).at(-1) ?? lines.at(-1) ?? '';
}

/** What to do about a kubectl failure, from its message. */
function failureAdvice(message: string, again: string): { hint: string; setting?: KubeSetting } {
  if (/context was not found|context .* does not exist/i.test(message)) return { setting: 'context', hint: 'name a context of the kubeconfig (kubectl config get-contexts lists them)' };
  if (/error loading config file|invalid configuration|no configuration has been provided/i.test(message)) return { setting: 'kubeconfig', hint: 'point kubeconfig at a working kubeconfig file' };
  if (/unable to parse requirement|invalid label|found '.*', expected/i.test(message)) return { setting: 'selector', hint: 'write a label selector as kubectl -l takes it, e.g. node-role.kubernetes.io/worker or topology.kubernetes.io/zone=a' };
  if (/refused|unable to connect|dial tcp|i\/o timeout|no such host|no route to host|handshake timeout|deadline exceeded|timeout/i.test(message)) {
    return { hint: `is the API server reachable from this machine? try: ${again} (or list the hosts under hosts:)` };
  }
  if (/unauthorized|forbidden|credentials/i.test(message)) return { setting: 'kubeconfig', hint: `the kubeconfig's user may not list nodes; try: ${again}` };
  return { hint: `try: ${again}` };
}

/** Lists the nodes through kubectl, or says in one line what went wrong and what to do. */
export function listNodes(src: KubeSource): NodesOrProblem {
  const args = kubectlArgs(src);
  const again = ['kubectl', ...args].map(shellQuote).join(' ');
  const r = spawnSync('kubectl', args, { encoding: 'utf8', maxBuffer: MAX_KUBECTL_OUTPUT, timeout: PROCESS_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
  const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return { problem: { message: 'kubectl is not installed here (not on the PATH): the node list comes from `kubectl get nodes`', hint: 'install kubectl on this machine, or list the hosts under hosts: instead of naming a cluster' } };
  if (code === 'ENOBUFS') return { problem: { message: `kubectl get nodes printed more than ${MAX_KUBECTL_OUTPUT / 1024 / 1024} MiB`, hint: 'narrow the node list with selector:', setting: 'selector' } };
  if (code === 'ETIMEDOUT' || r.signal) return { problem: { message: `kubectl get nodes did not finish within ${PROCESS_TIMEOUT_MS / 1000}s`, hint: `is the API server reachable from this machine? try: ${again}` } };
  if (r.error) return { problem: { message: oneLine(`cannot run kubectl: ${r.error.message}`, 300), hint: `try: ${again}` } };
  if (r.status !== 0) {
    const message = oneLine(kubectlMessage(r.stderr), 300) || `exit code ${r.status}`;
    return { problem: { message: `kubectl get nodes failed: ${message}`, ...failureAdvice(message, again) } };
  }
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    return { problem: { message: 'kubectl get nodes -o json printed something that is not JSON', hint: `check the kubectl on the PATH: ${again}` } };
  }
  const parsed = NodeListSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.join('.');
    return { problem: { message: oneLine(`the node list from the API is not usable: ${where ? `${where}: ` : ''}${issue.message}`, 300), hint: `look at it with: ${again}` } };
  }
  return {
    nodes: parsed.data.items.map((n) => {
      const addresses: Partial<Record<string, string>> = {};
      for (const a of n.status?.addresses ?? []) addresses[a.type] ??= a.address;
      return { name: n.metadata.name, labels: n.metadata.labels ?? {}, annotations: n.metadata.annotations ?? {}, addresses };
    }),
  };
}

/** The node's address of the chosen type, checked as something ssh may be pointed at. */
export function nodeAddress(node: KubeNode, type: AddressType): { address: string } | { problem: string } {
  const a = node.addresses[type];
  const has = Object.keys(node.addresses);
  if (a === undefined) return { problem: `node "${node.name}" has no ${type} address (it has ${has.length ? has.join(', ') : 'none'})` };
  if (!Address.safeParse(a).success) return { problem: oneLine(`node "${node.name}" has ${type} ${JSON.stringify(a)}, which is not an IP address or DNS name`, 300) };
  return { address: a };
}
