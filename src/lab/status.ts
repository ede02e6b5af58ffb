/** `lab status`: the nodes, their services, and the subnet leases in etcd. */
import pLimit from 'p-limit';
import { listLeases, SUBNETS } from './leases.js';
import { nodeExec } from './node-process.js';
import { requireState } from './state.js';
import { sshAddress } from './topology.js';

export interface NodeStatus {
  name: string;
  address: string;
  roles: string[];
  running: boolean;
  services: Record<string, string>;
  docker0?: string;
}

export interface LeaseStatus {
  subnet: string;
  publicIp: string;
  vtepMac: string;
  /** The lab node with that PublicIP, if any. */
  node?: string;
}

export interface LabStatus {
  name: string;
  lan: string;
  profiles: string[];
  etcdApi: string;
  stateDir: string;
  /** Absent: the docker stack. */
  stack?: 'k8s';
  nodes: NodeStatus[];
  leases: LeaseStatus[];
  leaseError?: string;
}

export async function labStatus(name: string): Promise<LabStatus> {
  const state = requireState(name);
  const t = state.topology;
  const nodes = await pLimit(16).map(t.nodes, async (n): Promise<NodeStatus> => {
    const base = { name: n.name, address: sshAddress(n), roles: n.roles };
    try {
      const r = await nodeExec(state, n.name, 'systemctl list-units; ip -4 -o addr show dev docker0 2>/dev/null', { timeoutMs: 10_000 });
      const services: Record<string, string> = {};
      let docker0: string | undefined;
      for (const line of r.stdout.split('\n')) {
        const m = /^(\S+)\.service\s+(\S+)/.exec(line);
        if (m?.[1] && m[2]) services[m[1]] = m[2];
        const a = /\binet (\S+)/.exec(line);
        if (a?.[1]) docker0 = a[1];
      }
      return { ...base, running: true, services, ...(docker0 ? { docker0 } : {}) };
    } catch {
      return { ...base, running: false, services: {} };
    }
  });
  const etcdNode = t.nodes.find((n) => n.roles.includes('etcd'));
  let leases: LeaseStatus[] = [];
  let leaseError: string | undefined;
  // On the k8s stack flannel keeps no leases in etcd: they are node annotations.
  if (etcdNode && state.stack !== 'k8s') {
    try {
      leases = (await listLeases(state)).map((l) => {
        const owner = t.nodes.find((n) => n.ip === l.publicIp);
        return { subnet: l.subnet, publicIp: l.publicIp, vtepMac: l.vtepMac, ...(owner ? { node: owner.name } : {}) };
      });
    } catch (e) {
      leaseError = (e instanceof Error ? e.message : String(e)).split('\n').pop() ?? 'etcd unreachable';
    }
  }
  return { name: state.name, lan: state.lan, profiles: state.profiles, etcdApi: state.flavour.etcdApi, stateDir: state.stateDir, ...(state.stack === 'k8s' ? { stack: state.stack } : {}), nodes, leases, ...(leaseError ? { leaseError } : {}) };
}

export function formatStatus(s: LabStatus): string {
  const lines = [`lab ${s.name}: LAN ${s.lan}, profiles ${s.profiles.join(',') || 'default'}, inventory ${s.stateDir}/inventory.yaml`];
  const w = Math.max(4, ...s.nodes.map((n) => n.name.length)) + 2;
  for (const n of s.nodes) {
    const svc = n.running ? Object.entries(n.services).map(([k, v]) => `${k}:${v}`).join(' ') : 'NOT RUNNING';
    lines.push(`  ${n.name.padEnd(w)}${n.address.padEnd(16)}${svc}${n.docker0 ? `  docker0 ${n.docker0}` : ''}`);
  }
  if (s.stack === 'k8s') {
    lines.push(`flannel leases: node annotations and podCIDRs (KUBECONFIG=${s.stateDir}/kubeconfig kubectl get nodes -o json)`);
    return lines.join('\n');
  }
  lines.push(`subnet leases (${SUBNETS}, etcd ${s.etcdApi}):`);
  if (s.leaseError) lines.push(`  cannot read: ${s.leaseError}`);
  for (const l of s.leases) lines.push(`  ${l.subnet.padEnd(18)}PublicIP ${l.publicIp.padEnd(16)}VtepMAC ${l.vtepMac}  ${l.node ?? '(no lab node)'}`);
  return lines.join('\n');
}
