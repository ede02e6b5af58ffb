/**
 * Which nodes a lab has, their roles and addresses. Pure: no system calls.
 *
 * Address plan on each /24 LAN (host numbers): .1 controller (root namespace), .2 bastion,
 * .9 apiserver VIP, .10-.12 masters/etcd, .13-.14 load balancers, .20+ workers,
 * .240 the decommissioned machine that the stale-lease fault names.
 */
import { UserError } from '../model/errors.js';
import type { Lan } from './lan.js';

export type Role = 'etcd' | 'master' | 'lb' | 'worker' | 'bastion' | 'control-plane';

/**
 * What the fleet runs: `docker` is the seed's era (flannel leases in etcd, docker0, the default);
 * `k8s` a kubeadm-style cluster of 2026 (containerd pods on the CNI bridge, flannel's kube subnet
 * manager, a Kubernetes API on the control-plane node).
 */
export type Stack = 'docker' | 'k8s';
export const STACKS: readonly Stack[] = ['docker', 'k8s'];

export interface NodeSpec {
  name: string;
  roles: Role[];
  /** The node's flannel PublicIP (its address on the LAN the overlay runs over). */
  ip: string;
  /** With mgmt-net: the node's address on the management LAN, where the controller reaches its sshd. */
  mgmtIp?: string;
  /** True when eth0 sits on the internal LAN (--bastion). */
  internal: boolean;
  /** The bastion's second leg, on the internal LAN. */
  internalIp?: string;
  /** Lab services started in this order at boot. */
  services: string[];
}

export interface TopologyOptions {
  workers: number;
  ha: boolean;
  bastion: boolean;
  /** SSH over a management LAN (profile mgmt-net): the overlay runs on a second, internal LAN. */
  mgmtNet?: boolean;
  /** Default docker. */
  stack?: Stack;
}

export interface Topology {
  nodes: NodeSpec[];
  controllerIp: string;
  /** Endpoints of the etcd cluster, comma-separated, as etcdctl --endpoints takes them. */
  etcdEndpoints: string;
  vip?: string;
  deadIp: string;
  deadMac: string;
}

export const MAX_WORKERS = 200;

/**
 * The MAC of the interface holding `ip` on a lab LAN (02:00 + the address in hex). Fixed MACs let
 * every node carry permanent ARP entries for its LAN: the kernel's neighbour table limit
 * (gc_thresh3, 1024 by default) is shared by all namespaces, and 100 nodes learning 100 peers
 * each would overflow it for the whole machine.
 */
export function macFor(ip: string): string {
  return `02:00:${ip
    .split('.')
    .map((o) => Number(o).toString(16).padStart(2, '0'))
    .join(':')}`;
}

/** a..z, then w27, w28, ... so that a, b, c, d always exist (the incident's nodes). */
export function workerName(i: number): string {
  return i < 26 ? String.fromCharCode(97 + i) : `w${i + 1}`;
}

/** Where the controller reaches a node's sshd. */
export const sshAddress = (n: NodeSpec): string => n.mgmtIp ?? n.ip;

export function buildTopology(opts: TopologyOptions, lan: Lan, internal?: Lan): Topology {
  if (!Number.isInteger(opts.workers) || opts.workers < 1 || opts.workers > MAX_WORKERS) {
    throw new UserError({ message: `--workers ${opts.workers}: must be 1 to ${MAX_WORKERS}` });
  }
  if ((opts.bastion || opts.mgmtNet) && !internal) throw new Error('bastion and mgmt-net topologies need an internal LAN');
  if (opts.bastion && opts.mgmtNet) throw new UserError({ message: '--bastion and --profile mgmt-net cannot be combined', hint: 'choose one of them' });
  const inner = (opts.bastion || opts.mgmtNet) && internal ? internal : lan;
  // mgmt-net: each node's eth0 is on the internal (overlay) LAN and its eth1 on the controller's
  // LAN, with the same host number, so the inventory's addresses are never flannel's PublicIPs.
  const hidden = opts.bastion || !!opts.mgmtNet;
  const mgmt = (host: number): { mgmtIp?: string } => (opts.mgmtNet ? { mgmtIp: `${lan.base}.${host}` } : {});
  const at = (host: number): string => `${inner.base}.${host}`;
  const nodes: NodeSpec[] = [];
  if (opts.bastion) {
    nodes.push({ name: 'bastion', roles: ['bastion'], ip: `${lan.base}.2`, internal: false, internalIp: at(2), services: ['ssh'] });
  }
  const k8s = opts.stack === 'k8s';
  const masters = opts.ha ? 3 : 1;
  for (let i = 0; i < masters; i++) {
    nodes.push({
      name: `m${i + 1}`,
      roles: k8s ? ['etcd', 'control-plane'] : opts.ha ? ['etcd', 'master'] : ['etcd'],
      ip: at(10 + i),
      ...mgmt(10 + i),
      internal: hidden,
      // k8s: kubeadm's control plane (etcd, the API) also runs flannel's DaemonSet pod.
      services: k8s ? ['ssh', 'etcd', 'kube-apiserver', 'kube-controller-manager', 'flanneld', 'kubelet'] : opts.ha ? ['ssh', 'etcd', 'apiserver'] : ['ssh', 'etcd'],
    });
  }
  if (opts.ha) {
    for (let i = 0; i < 2; i++) {
      nodes.push({ name: `lb${i + 1}`, roles: ['lb'], ip: at(13 + i), ...mgmt(13 + i), internal: hidden, services: ['ssh', 'haproxy', 'keepalived'] });
    }
  }
  for (let i = 0; i < opts.workers; i++) {
    nodes.push({ name: workerName(i), roles: ['worker'], ip: at(20 + i), ...mgmt(20 + i), internal: hidden, services: k8s ? ['ssh', 'flanneld', 'containerd', 'kubelet'] : ['ssh', 'flanneld', 'docker.socket', 'docker', 'kubelet'] });
  }
  return {
    nodes,
    controllerIp: `${lan.base}.1`,
    etcdEndpoints: nodes
      .filter((n) => n.roles.includes('etcd'))
      .map((n) => `http://${n.ip}:2379`)
      .join(','),
    ...(opts.ha ? { vip: at(9) } : {}),
    deadIp: at(240),
    deadMac: '02:de:ad:00:00:f0',
  };
}
