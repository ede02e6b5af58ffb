/**
 * The k8s stack's own files (`lab up --stack k8s`), prepared on the host like the rest of a node's:
 * the API server's certificate and bearer token, the objects it starts with (the seed), the
 * kubeconfig in the state dir, and on every node what the kube-flannel DaemonSet installs (the
 * net-conf.json of its ConfigMap, the CNI conflist, the flannel CNI plugin in /opt/cni/bin) plus
 * the service account token its pod would mount.
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes, randomUUID } from 'node:crypto';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { nodeDir, runtimeDir } from './paths.js';
import { runOk } from './proc.js';
import type { LabState } from './state.js';
import { sshAddress, type NodeSpec } from './topology.js';
import type { JsonObject } from './k8s/patch.js';
import { generatedName, type Seed } from './k8s/store.js';
import { DAEMON_TOLERATIONS } from './k8s/scheduling.js';
import { UserError } from '../model/errors.js';

/** kubeadm's and kube-flannel.yml's pod network. */
export const POD_NETWORK = '10.244.0.0/16';
export const API_PORT = 6443;
export const KUBECONFIG = 'kubeconfig';
/**
 * What kubeadm's container-runtime prerequisites (up to 1.29) have every node persist: br_netfilter
 * (with overlay) loaded at boot, and bridged traffic through iptables. The lab's nodes start with
 * both, as a node that followed them; fix-br-netfilter's healthy case reads them, no-br-netfilter
 * takes the modules file away.
 */
export const MODULES_LOAD = { path: '/etc/modules-load.d/k8s.conf', text: 'overlay\nbr_netfilter\n' };
const SYSCTL_K8S = { path: '/etc/sysctl.d/k8s.conf', text: 'net.bridge.bridge-nf-call-iptables  = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n' };
/** The node's API files: the server's under /etc/kubernetes (kubeadm's directory), the seed beside them. */
const API_PKI = '/etc/kubernetes/pki';
const SEED = '/etc/kubernetes/lab-seed.json';
const TOKEN = '/etc/kubernetes/lab-token';
/** The service account a pod mounts (client-go's in-cluster config reads it), under the node's /run. */
const SA_DIR = 'run/secrets/kubernetes.io/serviceaccount';
/** The lab's Node daemons, compiled: dist/lab/k8s/bin (the same path from src/lab and dist/lab). */
const DAEMONS = fileURLToPath(new URL('../../dist/lab/k8s/bin/', import.meta.url));
/**
 * Where a node runs them from: its own copy under /opt. A node sees a fresh tmpfs as /tmp, so a
 * checkout under /tmp (a CI clone) is invisible from inside it.
 */
const NODE_DAEMONS = '/opt/lab/k8s/bin';
/** The flannel CNI plugin stand-in, shipped beside the node scripts. */
const CNI_PLUGIN = fileURLToPath(new URL('../../src/lab/cni/flannel', import.meta.url));

export const controlPlane = (state: LabState): NodeSpec => {
  const n = state.topology.nodes.find((x) => x.roles.includes('control-plane'));
  if (!n) throw new Error('the k8s stack has no control-plane node');
  return n;
};
/** The API as the nodes reach it: the control plane's address on the LAN the cluster runs on. */
export const apiUrl = (state: LabState): string => `https://${controlPlane(state).ip}:${API_PORT}`;
/** The API as the controller reaches it (kubeconfig, inventory): with mgmt-net, over the management LAN. */
export const adminApiUrl = (state: LabState): string => `https://${sshAddress(controlPlane(state))}:${API_PORT}`;
const pkiDir = (lab: string): string => join(runtimeDir(lab), 'k8s-pki');

/**
 * nodeipam's allocation: the cluster CIDR's /24s in the order nodes registered (the control plane
 * first, as kubeadm init registers it before any join).
 */
export function podCidr(state: LabState, node: NodeSpec): string {
  const i = state.topology.nodes.findIndex((n) => n.name === node.name);
  return `10.244.${i}.0/24`;
}

/** The workload: a ReplicaSet of probe pods (agnhost answering on :80), `--pods` per worker. */
const WORKLOAD = 'probe';
const FLANNEL_NS = 'kube-flannel';
const FLANNEL_DS = 'kube-flannel-ds';

/**
 * The objects the API starts with: what kubelet registration, nodeipam, the scheduler and the
 * controllers would have made. Owners carry their uid so that their pods' ownerReferences name them.
 */
export function seed(state: LabState): Seed {
  const nodes = state.topology.nodes.map((n): JsonObject => ({
    metadata: {
      name: n.name,
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': n.name,
        'kubernetes.io/os': 'linux',
        ...(n.roles.includes('control-plane') ? { 'node-role.kubernetes.io/control-plane': '', 'node.kubernetes.io/exclude-from-external-load-balancers': '' } : { 'node-role.kubernetes.io/worker': '' }),
      },
      annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
    },
    spec: {
      podCIDR: podCidr(state, n),
      podCIDRs: [podCidr(state, n)],
      ...(n.roles.includes('control-plane') ? { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] } : {}),
    },
    status: {
      addresses: [{ type: 'InternalIP', address: n.ip }, { type: 'Hostname', address: n.name }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
      // The kernel is the machine's: every lab node runs on it.
      nodeInfo: { kubeletVersion: 'v1.32.0', containerRuntimeVersion: 'containerd://1.7.24', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: release(), operatingSystem: 'linux', architecture: 'amd64' },
    },
  }));
  const workers = state.topology.nodes.filter((n) => n.roles.includes('worker'));
  const rs = { name: WORKLOAD, uid: randomUUID() };
  const podSpec = { containers: [{ name: 'web', image: 'registry.k8s.io/e2e-test-images/agnhost:2.52', ports: [{ containerPort: 80, protocol: 'TCP' }] }] };
  const replicasets = [{
    metadata: { name: rs.name, namespace: 'default', uid: rs.uid, labels: { app: WORKLOAD } },
    spec: { replicas: workers.length * state.pods, selector: { matchLabels: { app: WORKLOAD } }, template: { metadata: { labels: { app: WORKLOAD } }, spec: podSpec } },
  }];
  const ownedBy = (kind: string, o: { name: string; uid: string }): JsonObject => ({ ownerReferences: [{ apiVersion: 'apps/v1', kind, name: o.name, uid: o.uid, controller: true, blockOwnerDeletion: true }] });
  const workload = workers.flatMap((n) =>
    Array.from({ length: state.pods }, (_, i): JsonObject => ({
      metadata: { name: `${n.name}-pod${i}`, namespace: 'default', labels: { app: WORKLOAD }, ...ownedBy('ReplicaSet', rs) },
      spec: { ...podSpec, nodeName: n.name },
      status: { phase: 'Pending' },
    })),
  );
  // kube-flannel.yml's DaemonSet: host network, every NoSchedule taint tolerated.
  const ds = { name: FLANNEL_DS, uid: randomUUID() };
  const flannelSpec = {
    hostNetwork: true,
    priorityClassName: 'system-node-critical',
    serviceAccountName: 'flannel',
    tolerations: [{ operator: 'Exists', effect: 'NoSchedule' }],
    containers: [{ name: 'kube-flannel', image: 'ghcr.io/flannel-io/flannel:v0.26.1', command: ['/opt/bin/flanneld'], args: ['--ip-masq', '--kube-subnet-mgr'] }],
  };
  const daemonsets = [{
    metadata: { name: ds.name, namespace: FLANNEL_NS, uid: ds.uid, labels: { app: 'flannel', 'k8s-app': 'flannel' } },
    spec: { selector: { matchLabels: { app: 'flannel' } }, template: { metadata: { labels: { app: 'flannel', tier: 'node' } }, spec: flannelSpec } },
  }];
  const flannelPods = state.topology.nodes
    .filter((n) => n.services.includes('flanneld'))
    .map((n): JsonObject => ({
      metadata: { name: generatedName(`${FLANNEL_DS}-`), namespace: FLANNEL_NS, labels: { app: 'flannel', tier: 'node' }, ...ownedBy('DaemonSet', ds) },
      spec: { ...flannelSpec, tolerations: [...flannelSpec.tolerations, ...DAEMON_TOLERATIONS], nodeName: n.name },
      status: { phase: 'Pending' },
    }));
  return { nodes, pods: [...flannelPods, ...workload], replicasets, daemonsets };
}

/** kube-flannel.yml's ConfigMap net-conf.json. */
export const netConf = (): string => `${JSON.stringify({ Network: POD_NETWORK, EnableNFTables: false, Backend: { Type: 'vxlan' } }, null, 2)}\n`;

/**
 * kube-flannel.yml's cni-conf.json without its portmap entry (no pod here has a hostPort, and the
 * lab's slice of containerd does not pass capabilities).
 */
export const cniConflist = (): string =>
  `${JSON.stringify({ name: 'cbr0', cniVersion: '0.3.1', plugins: [{ type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } }] }, null, 2)}\n`;

/** The API server's certificate (self-signed, with the control plane's address) and the bearer token. */
export async function generateApiPki(state: LabState): Promise<void> {
  // The nodes run the compiled daemons, also when the lab itself runs from the sources (tests).
  if (!existsSync(join(DAEMONS, 'kube-apiserver.js'))) throw new UserError({ message: `--stack k8s: ${DAEMONS} has no kube-apiserver.js`, hint: 'build first: npm run build' });
  const dir = pkiDir(state.name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const cp = controlPlane(state);
  await runOk('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-sha256', '-subj', '/CN=kube-apiserver',
    '-addext', `subjectAltName=IP:${cp.ip},${cp.mgmtIp ? `IP:${cp.mgmtIp},` : ''}IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc`,
    '-keyout', join(dir, 'apiserver.key'), '-out', join(dir, 'apiserver.crt'),
  ]);
  await writeFile(join(dir, 'token'), `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
}

/** The units of a k8s-stack node's services (node-files.ts adds ssh and etcd). */
export function k8sUnits(state: LabState, node: NodeSpec, unit: (f: Record<string, string | string[]>) => string): Record<string, string> {
  const out: Record<string, string> = {};
  if (node.services.includes('kube-apiserver')) {
    // Bound to every interface, kube-apiserver's default: with mgmt-net the controller comes over the management LAN.
    out['kube-apiserver'] = unit({
      Description: 'Kubernetes API server (lab stand-in: core/v1 nodes and pods, policy, apps)',
      Type: 'notify',
      ExecStart: [
        process.execPath, `${NODE_DAEMONS}/kube-apiserver.js`, '--bind-address=0.0.0.0', `--secure-port=${API_PORT}`,
        `--tls-cert-file=${API_PKI}/apiserver.crt`, `--tls-private-key-file=${API_PKI}/apiserver.key`, `--token-file=${TOKEN}`,
        `--seed-file=${SEED}`, '--data-file=/run/lab/kube-apiserver.json',
      ],
      Restart: 'always',
    });
  }
  if (node.services.includes('flanneld')) {
    // kube-flannel.yml's container: `flanneld --ip-masq --kube-subnet-mgr`, NODE_NAME from the pod spec.
    out.flanneld = unit({
      Description: 'flanneld, kube subnet manager (lab stand-in for the kube-flannel DaemonSet pod)',
      Type: 'notify',
      EnvironmentFile: ['/etc/lab/flanneld.env'],
      ExecStart: [process.execPath, `${NODE_DAEMONS}/flanneld.js`, `--kube-api-url=${apiUrl(state)}`, '--iface=eth0', '--net-config-path=/etc/kube-flannel/net-conf.json', '--ip-masq=true', '--kube-subnet-mgr=true'],
      Restart: 'always',
    });
  }
  if (node.services.includes('kube-controller-manager')) {
    out['kube-controller-manager'] = unit({
      Description: 'Kubernetes controller manager (lab stand-in: ReplicaSet and DaemonSet controllers, and the scheduler)',
      Type: 'notify',
      ExecStart: [process.execPath, `${NODE_DAEMONS}/kube-controller-manager.js`, `--kube-api-url=${apiUrl(state)}`],
      Restart: 'always',
    });
  }
  if (node.services.includes('containerd')) {
    out.containerd = unit({
      Description: "containerd (lab stand-in: the CRI plugin's pod sandboxes through CNI)",
      Type: 'notify',
      ExecStart: ['/usr/local/sbin/containerd'],
      Restart: 'always',
    });
  }
  if (node.services.includes('kubelet')) {
    // Ready once every pod bound to the node runs: `lab up` waits for the pods through it.
    out.kubelet = unit({
      Description: "kubelet (lab stand-in: the node's pods through containerd, hostNetwork pods as their units)",
      Type: 'notify',
      ExecStart: [process.execPath, `${NODE_DAEMONS}/kubelet.js`, `--kube-api-url=${apiUrl(state)}`, `--node-name=${node.name}`],
      Restart: 'always',
      TimeoutStartSec: '0',
    });
  }
  return out;
}

/** A k8s-stack node's files, beside those every node gets. */
export async function prepareK8sNode(state: LabState, node: NodeSpec): Promise<void> {
  const dir = nodeDir(state.name, node.name);
  const etc = join(dir, 'etc-upper');
  const pki = pkiDir(state.name);
  for (const d of ['etc-upper/kube-flannel', 'etc-upper/cni/net.d', 'etc-upper/kubernetes/pki', SA_DIR, 'opt-upper/cni/bin', 'var-lib-upper']) {
    await mkdir(join(dir, d), { recursive: true });
  }
  await writeFile(join(etc, 'kube-flannel/net-conf.json'), netConf());
  await writeFile(join(etc, 'cni/net.d/10-flannel.conflist'), cniConflist());
  await writeFile(join(etc, 'lab/flanneld.env'), `NODE_NAME=${node.name}\n`);
  for (const f of [MODULES_LOAD, SYSCTL_K8S]) {
    await mkdir(join(etc, dirname(f.path).replace(/^\/etc\//, '')), { recursive: true });
    await writeFile(join(etc, f.path.replace(/^\/etc\//, '')), f.text);
  }
  await copyFile(CNI_PLUGIN, join(dir, 'opt-upper/cni/bin/flannel'));
  // The compiled daemons and what they import (dist/lab/k8s only), as ES modules.
  // /opt/lab/k8s inside the node is opt-upper/lab/k8s here.
  const daemons = join(dir, 'opt-upper', dirname(NODE_DAEMONS).replace(/^\/opt\//, ''));
  await cp(join(DAEMONS, '..'), daemons, { recursive: true });
  await writeFile(join(daemons, 'package.json'), '{ "type": "module" }\n');
  await chmod(join(dir, 'opt-upper/cni/bin/flannel'), 0o755);
  await copyFile(join(pki, 'apiserver.crt'), join(dir, SA_DIR, 'ca.crt'));
  await copyFile(join(pki, 'token'), join(dir, SA_DIR, 'token'));
  if (node.services.includes('kube-apiserver')) {
    await copyFile(join(pki, 'apiserver.crt'), join(etc, 'kubernetes/pki/apiserver.crt'));
    await copyFile(join(pki, 'apiserver.key'), join(etc, 'kubernetes/pki/apiserver.key'));
    await copyFile(join(pki, 'token'), join(etc, TOKEN.replace(/^\/etc\//, '')));
    await writeFile(join(etc, SEED.replace(/^\/etc\//, '')), JSON.stringify(seed(state)));
  }
}

/** The admin kubeconfig in the state dir: the API's URL, its certificate as the CA, the bearer token. */
export async function writeKubeconfig(state: LabState): Promise<string> {
  const pki = pkiDir(state.name);
  const ca = (await readFile(join(pki, 'apiserver.crt'))).toString('base64');
  const token = (await readFile(join(pki, 'token'), 'utf8')).trim();
  const name = `lab-${state.name}`;
  const file = join(state.stateDir, KUBECONFIG);
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: adminApiUrl(state), 'certificate-authority-data': ca } }],
    users: [{ name: 'lab-admin', user: { token } }],
    contexts: [{ name, context: { cluster: name, user: 'lab-admin' } }],
    'current-context': name,
  };
  await writeFile(file, stringify(doc), { mode: 0o600 });
  return file;
}
