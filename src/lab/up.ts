/** `lab up`: builds a lab from nothing (after removing any lab of the same name). */
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import pLimit from 'p-limit';
import { checkDeps } from './deps.js';
import { labDown } from './down.js';
import { assertLanFree, defaultInternalLan, defaultLan, parseLan } from './lan.js';
import { createNetwork } from './network.js';
import { bootNode, nodeExec, waitReady } from './node-process.js';
import { flannelConfig, HOST_KEY, installScripts, prepareNode } from './node-files.js';
import { loadFirewalls } from './firewall.js';
import { etcdctlTlsFlags, putConfig } from './leases.js';
import { generatePki, installNodePki } from './pki.js';
import { resolveProfiles } from './profiles.js';
import { generateKey, generateKeys, knownHostsLine } from './keys.js';
import { IDENTITY, writeInventory } from './inventory.js';
import { binDir, checkLabName, DEFAULT_LAB, defaultStateDir, nodeDir, SCRIPTS_DIR } from './paths.js';
import { sleep } from './proc.js';
import { writeState, type LabState } from './state.js';
import { buildTopology, sshAddress, STACKS, type Stack } from './topology.js';
import { generateApiPki, writeKubeconfig } from './k8s-stack.js';
import { UserError } from '../model/errors.js';

export interface LabUpOptions {
  name?: string;
  workers?: number;
  ha?: boolean;
  bastion?: boolean;
  /** A /24, e.g. "198.19.7.0/24"; default derived from the name. */
  lan?: string;
  /** Where inventory.yaml goes; default ./.lab (name "lab") or ./.lab-<name>. */
  stateDir?: string;
  /** Pods per worker (default 1). */
  pods?: number;
  /** Profile names (`--profile a,b`); see profiles.ts. */
  profiles?: string[];
  /** `--stack`: docker (default, the seed's era) or k8s. */
  stack?: Stack;
  onProgress?: (message: string) => void;
}

export interface LabInfo {
  name: string;
  profiles: string[];
  inventory: string;
  stateDir: string;
  lan: string;
  nodes: { name: string; address: string; roles: string[] }[];
  /** k8s stack: the admin kubeconfig. */
  kubeconfig?: string;
  /** k8s stack: the inventory whose hosts are the nodes the API lists (inventory.ts KUBE_INVENTORY). */
  kubeInventory?: string;
  seconds: number;
}

async function waitEtcd(state: LabState, node: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const ep = state.topology.etcdEndpoints;
  for (;;) {
    const r = await nodeExec(state, node, `etcdctl${etcdctlTlsFlags(state)} --endpoints=${ep} --dial-timeout=1s --command-timeout=2s endpoint health`);
    if (r.code === 0) return;
    if (Date.now() > deadline) throw new Error(`etcd did not become healthy: ${r.stderr.trim().split('\n').pop() ?? ''}`);
    await sleep(150);
  }
}

export async function labUp(opts: LabUpOptions = {}): Promise<LabInfo> {
  const started = Date.now();
  const say = opts.onProgress ?? ((): void => undefined);
  const name = checkLabName(opts.name ?? DEFAULT_LAB);
  const workers = opts.workers ?? 4;
  const pods = opts.pods ?? 1;
  if (!Number.isInteger(pods) || pods < 1 || pods > 8) throw new UserError({ message: `--pods ${pods}: must be 1 to 8` });
  const stack = opts.stack ?? 'docker';
  if (!STACKS.includes(stack)) throw new UserError({ message: `--stack ${String(stack)}: no such stack`, hint: `one of: ${STACKS.join(', ')}` });
  if (stack === 'k8s' && (opts.ha || opts.bastion)) {
    throw new UserError({ message: '--stack k8s does not take --ha or --bastion yet', hint: 'run `lab up --stack k8s` without them (issue 21 lists what comes next)' });
  }
  checkDeps({ ha: opts.ha, k8s: stack === 'k8s' });
  const stateDir = resolve(opts.stateDir ?? defaultStateDir(name));

  // Before the old lab goes: a mistaken --profile must not cost the user a running lab.
  const { profiles, flavour } = resolveProfiles(opts.profiles ?? [], stack);
  await labDown(name, { stateDir });
  const lan = opts.lan ? parseLan(opts.lan) : defaultLan(name);
  await assertLanFree(lan, 'the lab LAN');
  const internal = opts.bastion || flavour.mgmtNet ? defaultInternalLan(name) : undefined;
  if (internal) {
    if (internal.cidr === lan.cidr) throw new UserError({ message: `--lan ${lan.cidr} is the lab's internal LAN`, hint: 'choose another /24' });
    await assertLanFree(internal, 'the internal LAN');
  }
  const topology = buildTopology({ workers, ha: !!opts.ha, bastion: !!opts.bastion, mgmtNet: flavour.mgmtNet, stack }, lan, internal);
  // etcd-tls: clients reach etcd over https.
  if (flavour.etcdTls) topology.etcdEndpoints = topology.etcdEndpoints.replace(/\bhttp:\/\//g, 'https://');
  const state: LabState = {
    name, stateDir, lan: lan.cidr, ...(internal ? { internalLan: internal.cidr } : {}),
    workers, ha: !!opts.ha, bastion: !!opts.bastion, pods, profiles, flavour, ...(stack === 'k8s' ? { stack } : {}), topology, holders: {}, createdAt: new Date().toISOString(),
  };

  try {
    writeState(state);
    await installScripts(SCRIPTS_DIR, binDir(name));
    await mkdir(stateDir, { recursive: true });
    say(`keys for ${topology.nodes.length} nodes`);
    await generateKey(join(stateDir, IDENTITY), `runbook-lab-${name}`);
    const pub = await readFile(join(stateDir, `${IDENTITY}.pub`), 'utf8');
    if (stack === 'k8s') {
      say('API server certificate and token');
      await generateApiPki(state);
    }
    await pLimit(8).map(topology.nodes, (n) => prepareNode(state, n, pub));
    if (flavour.etcdTls) {
      say('etcd CA and certificates (kubeadm layout)');
      await generatePki(state);
      await pLimit(8).map(topology.nodes, (n) => installNodePki(state, n));
    }
    await generateKeys(topology.nodes.map((n) => ({ file: join(nodeDir(name, n.name), HOST_KEY), comment: `root@${n.name}` })));

    say(`network ${lan.cidr}${internal ? ` (internal ${internal.cidr})` : ''}${profiles.length ? `; profiles ${profiles.join(',')}` : ''}`);
    await createNetwork(state);
    await loadFirewalls(state);

    // etcd first (members of a cluster wait for each other, so they boot together), then the rest.
    const first = topology.nodes.filter((n) => n.roles.includes('etcd') || n.roles.includes('bastion'));
    const rest = topology.nodes.filter((n) => !first.includes(n));
    say(`booting ${first.map((n) => n.name).join(' ')}`);
    for (const n of first) state.holders[n.name] = bootNode(name, n.name);
    writeState(state);
    // Generous: on a loaded 2-core machine a node's services take far longer than the usual seconds.
    await waitReady(name, first.map((n) => n.name), 90_000);
    const etcd0 = first.find((n) => n.roles.includes('etcd'));
    if (!etcd0) throw new Error('topology has no etcd node');
    await waitEtcd(state, etcd0.name, 30_000);
    // k8s: flannel's network config is the DaemonSet's ConfigMap (a file on each node), not etcd.
    if (stack === 'docker') await putConfig(state, flannelConfig(flavour));

    say(`booting ${rest.length} nodes`);
    for (const n of rest) state.holders[n.name] = bootNode(name, n.name);
    writeState(state);
    // Every lease wakes every flanneld, so a big fleet boots in time that grows faster than its size.
    await waitReady(name, rest.map((n) => n.name), 90_000 + 3000 * rest.length);

    const known = await Promise.all(
      topology.nodes.map((n) => knownHostsLine(sshAddress(n), join(nodeDir(name, n.name), `${HOST_KEY}.pub`))),
    );
    const kubeconfig = stack === 'k8s' ? await writeKubeconfig(state) : undefined;
    const { inventory, kubeInventory } = await writeInventory(state, known);
    return {
      name, profiles, inventory, stateDir, lan: lan.cidr, ...(kubeconfig ? { kubeconfig } : {}), ...(kubeInventory ? { kubeInventory } : {}),
      nodes: topology.nodes.map((n) => ({ name: n.name, address: sshAddress(n), roles: n.roles })),
      seconds: (Date.now() - started) / 1000,
    };
  } catch (err) {
    // RUNBOOK_LAB_KEEP_FAILED=1 leaves a failed lab in place to read its logs (`lab down` removes it).
    if (!process.env.RUNBOOK_LAB_KEEP_FAILED) await labDown(name, { stateDir }).catch(() => undefined);
    throw err;
  }
}
