/** The inventory `lab up` writes (native format), with the key and known_hosts beside it. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { LabState } from './state.js';
import { sshAddress } from './topology.js';
import { FLANNEL_NETWORK, FLANNEL_PREFIX, LAN_IF } from './node-files.js';
import { NON_ROOT_USER } from './profiles.js';
import { ETCD_CLIENT } from './pki.js';
import { adminApiUrl, KUBECONFIG, POD_NETWORK } from './k8s-stack.js';

export const INVENTORY = 'inventory.yaml';
/** k8s stack: the same fleet, with the hosts taken from the cluster (inventory-kubernetes.ts). */
export const KUBE_INVENTORY = 'inventory-k8s.yaml';
export const IDENTITY = 'id_ed25519';
export const KNOWN_HOSTS = 'known_hosts';

/** The user runbook and `lab ssh` log in as: root, or the non-root profile's sudo user. */
export function loginUser(state: LabState): string {
  return state.flavour.nonRoot ? NON_ROOT_USER.name : 'root';
}

export function inventoryDoc(state: LabState): Record<string, unknown> {
  const t = state.topology;
  const byRole = (role: string): string[] => t.nodes.filter((n) => (n.roles as string[]).includes(role)).map((n) => n.name);
  const groups: Record<string, unknown> = {
    workers: { hosts: byRole('worker'), vars: { role: 'worker' } },
    // etcd-tls: where etcdctl and its client cert are (only on the etcd nodes, as with kubeadm);
    // `etcdctl` is word-split by the runbooks, the cert paths serve a v2 client (curl).
    etcd: {
      hosts: byRole('etcd'),
      ...(state.flavour.etcdTls
        ? { vars: { etcdctl: `etcdctl --cacert=${ETCD_CLIENT.cacert} --cert=${ETCD_CLIENT.cert} --key=${ETCD_CLIENT.key}`, etcd_cacert: ETCD_CLIENT.cacert, etcd_cert: ETCD_CLIENT.cert, etcd_key: ETCD_CLIENT.key } }
        : {}),
    },
  };
  if (state.ha) {
    groups.masters = { hosts: byRole('master') };
    groups.lb = { hosts: byRole('lb') };
  }
  if (state.bastion) groups.bastions = { hosts: byRole('bastion') };
  const vars: Record<string, unknown> = {
    lan_if: LAN_IF,
    etcd_endpoints: t.etcdEndpoints,
    flannel_network: state.stack === 'k8s' ? POD_NETWORK : FLANNEL_NETWORK,
    flannel_etcd_prefix: FLANNEL_PREFIX,
    flannel_iface: 'flannel.1',
    // The etcd API the lab's flannel release keeps its leases in (v2 up to flannel 0.17).
    etcd_api: state.flavour.etcdApi,
    lab_name: state.name,
  };
  if (state.stack === 'k8s') {
    vars.stack = 'k8s';
    vars.kube_apiserver = adminApiUrl(state);
    // On the controller, beside the inventory (the nodes have no kubectl, as on many clusters).
    // Absolute: a var is a plain value, and a local step's kubectl runs in runbook's directory.
    vars.kubeconfig = join(state.stateDir, KUBECONFIG);
  }
  if (t.vip) {
    vars.apiserver_vip = t.vip;
    vars.apiserver_port = 6443;
    vars.haproxy_admin_socket = '/run/haproxy/admin.sock';
  }
  const hosts: Record<string, unknown> = {};
  for (const n of t.nodes) {
    hosts[n.name] = {
      address: sshAddress(n),
      ...(state.bastion && !n.roles.includes('bastion') ? { proxy_jump: 'bastion' } : {}),
      vars: { lan_ip: n.ip },
    };
  }
  return {
    // non-root: every command through sudo (passwordless, so no become_password).
    defaults: { user: loginUser(state), ...(state.flavour.nonRoot ? { become: true } : {}), port: 22, identity_file: IDENTITY, known_hosts: KNOWN_HOSTS, vars },
    groups,
    hosts,
  };
}

/**
 * The k8s stack's fleet as an operator of a cluster writes it: no host list, the nodes from the
 * API through the kubeconfig beside it (groups control-plane and worker from their role labels),
 * with the SSH settings and vars of inventoryDoc. Every node is reached at its InternalIP: the
 * stack takes no bastion and no management network (lab up refuses them with --stack k8s).
 */
export function kubeInventoryDoc(state: LabState): Record<string, unknown> {
  return { kubernetes: { kubeconfig: KUBECONFIG, address: 'InternalIP' }, defaults: inventoryDoc(state).defaults };
}

/** Writes the inventory (and, on the k8s stack, the one from the cluster) and the known_hosts beside them. */
export async function writeInventory(state: LabState, knownHosts: string[]): Promise<{ inventory: string; kubeInventory?: string }> {
  const head = (what: string) =>
    [
      '# yaml-language-server: $schema=../schemas/inventory.schema.json',
      `# The fleet of \`runbook lab\` "${state.name}" (LAN ${state.lan}; profiles: ${state.profiles.join(',') || 'default'})${what}; written by \`runbook lab up\`, removed by \`runbook lab down\`.`,
      '',
    ].join('\n');
  const inventory = join(state.stateDir, INVENTORY);
  await writeFile(inventory, head('') + stringify(inventoryDoc(state)));
  await writeFile(join(state.stateDir, KNOWN_HOSTS), `${knownHosts.join('\n')}\n`);
  if (state.stack !== 'k8s') return { inventory };
  const kubeInventory = join(state.stateDir, KUBE_INVENTORY);
  await writeFile(kubeInventory, head(', its hosts the nodes its Kubernetes API lists') + stringify(kubeInventoryDoc(state)));
  return { inventory, kubeInventory };
}
