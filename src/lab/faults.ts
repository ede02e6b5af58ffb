/**
 * The incident's faults, injected the way they happen in production (see domain-notes), and
 * `labHeal`, which undoes all of them with the documented fixes so tests can share one lab.
 */
import { randomBytes } from 'node:crypto';
import { UserError } from '../model/errors.js';
import { FLANNEL_PREFIX } from './node-files.js';
import { nodeExec } from './node-process.js';
import { mapLimit, sleep } from './proc.js';
import { requireState, type LabState } from './state.js';
import type { NodeSpec, Role } from './topology.js';

export interface FaultDef {
  name: string;
  /** The role the target node must have. */
  role: Role;
  ha: boolean;
  defaultNode: string;
  description: string;
  signature: string;
}

export const FAULTS: FaultDef[] = [
  { name: 'ip-forward-off', role: 'worker', ha: false, defaultNode: 'd', description: 'net.ipv4.ip_forward = 0 at runtime and in /etc/sysctl.d/99-sysctl.conf', signature: "nothing reaches the node's pods" },
  { name: 'forward-drop', role: 'worker', ha: false, defaultNode: 'd', description: 'iptables -P FORWARD DROP', signature: "nothing reaches the node's pods" },
  { name: 'docker-before-flannel', role: 'worker', ha: false, defaultNode: 'd', description: 'after a "reboot" (empty /run/flannel) docker starts before flanneld: docker0 gets 172.17.0.1/16, never leased', signature: "nothing reaches the node's pods" },
  { name: 'stale-lease', role: 'worker', ha: false, defaultNode: 'd', description: "the node's subnet lease in etcd names a decommissioned machine's PublicIP and VtepMAC", signature: "the other nodes send the node's pod traffic to the dead machine" },
  { name: 'mac-drift', role: 'worker', ha: false, defaultNode: 'd', description: "flannel.1's MAC changes; the lease keeps the old VtepMAC", signature: "vxlan frames to the node carry the old MAC and are dropped: nothing reaches the node's pods" },
  { name: 'etcd-member-down', role: 'etcd', ha: true, defaultNode: 'm2', description: 'systemctl stop etcd on one member of the 3-member cluster', signature: 'cluster keeps quorum; the member is unhealthy' },
  { name: 'vip-split', role: 'lb', ha: true, defaultNode: 'lb2', description: 'VRRP (IP protocol 112) dropped on one load balancer: both claim the VIP', signature: 'two VIP holders' },
  { name: 'apiserver-down', role: 'master', ha: true, defaultNode: 'm1', description: 'systemctl stop apiserver on one master', signature: 'one haproxy backend DOWN' },
];

const SED_FORWARD = (v: number): string =>
  `sed -i --follow-symlinks -E 's/^[[:space:]]*net\\.ipv4\\.ip_forward[[:space:]]*=.*/net.ipv4.ip_forward = ${v}/' /etc/sysctl.d/99-sysctl.conf`;

async function exec(state: LabState, node: string, cmd: string): Promise<string> {
  const r = await nodeExec(state, node, `set -e\n${cmd}`, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`${node}: ${cmd.split('\n')[0]}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

async function waitFor(what: string, timeoutMs: number, test: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const workers = (s: LabState): NodeSpec[] => s.topology.nodes.filter((n) => n.roles.includes('worker'));

async function mySubnetKey(state: LabState, node: string): Promise<string> {
  const out = await exec(state, node, '. /run/flannel/subnet.env; echo "${FLANNEL_SUBNET%.*/*}.0-24"');
  return `${FLANNEL_PREFIX}/subnets/${out.trim()}`;
}

async function injectStaleLease(state: LabState, node: string): Promise<void> {
  const t = state.topology;
  const key = await mySubnetKey(state, node);
  const value = JSON.stringify({ PublicIP: t.deadIp, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: t.deadMac } });
  await exec(state, node, `L=$(etcdctl --endpoints=${t.etcdEndpoints} lease grant 86400 | awk '{print $2}')
etcdctl --endpoints=${t.etcdEndpoints} put --lease="$L" ${key} '${value}' >/dev/null`);
  const net = key.split('/').pop()?.replace(/-24$/, '') ?? '';
  // The other nodes' flanneld follow the watch; wait until they all point at the dead machine.
  await mapLimit(workers(state).filter((n) => n.name !== node), 16, (n) =>
    waitFor(`${n.name} to learn the stale lease`, 10_000, async () => (await exec(state, n.name, `ip neigh show ${net} dev flannel.1`)).includes(t.deadMac)),
  );
}

export async function labBreak(name: string, fault: string, node?: string): Promise<void> {
  const state = requireState(name);
  const def = FAULTS.find((f) => f.name === fault);
  if (!def) throw new UserError({ message: `unknown fault "${fault}"`, hint: `one of: ${FAULTS.map((f) => f.name).join(', ')}` });
  if (def.ha && !state.ha) throw new UserError({ message: `fault ${fault} needs the HA topology`, hint: 'runbook lab up --ha' });
  const target = node ?? def.defaultNode;
  const spec = state.topology.nodes.find((n) => n.name === target);
  if (!spec) throw new UserError({ message: `no node "${target}" in lab ${name}`, hint: `nodes: ${state.topology.nodes.map((n) => n.name).join(' ')}` });
  if (!spec.roles.includes(def.role)) throw new UserError({ message: `fault ${fault} applies to ${def.role} nodes; ${target} is ${spec.roles.join('/')}` });
  switch (def.name) {
    case 'ip-forward-off':
      await exec(state, target, `sysctl -q -w net.ipv4.ip_forward=0\n${SED_FORWARD(0)}`);
      break;
    case 'forward-drop':
      await exec(state, target, 'iptables -P FORWARD DROP');
      break;
    case 'docker-before-flannel':
      await exec(state, target, 'systemctl stop docker flanneld\nrm -f /run/flannel/subnet.env /run/flannel/docker\nsystemctl start docker\nsystemctl start flanneld');
      break;
    case 'stale-lease':
      await injectStaleLease(state, target);
      break;
    case 'mac-drift': {
      const b = randomBytes(5).toString('hex').match(/../g) ?? [];
      await exec(state, target, `ip link set flannel.1 address 02:${b.join(':')}`);
      break;
    }
    case 'etcd-member-down':
      await exec(state, target, 'systemctl stop etcd');
      break;
    case 'apiserver-down': {
      await exec(state, target, 'systemctl stop apiserver');
      const lb = state.topology.nodes.find((n) => n.roles.includes('lb'));
      // haproxy marks a backend DOWN after two failed 1 s health checks.
      if (lb) {
        await waitFor(`haproxy to mark ${target} DOWN`, 15_000, async () =>
          (await exec(state, lb.name, "echo 'show stat' | socat stdio /run/haproxy/admin.sock")).includes(`apiservers,${target},`) &&
          /DOWN/.test((await exec(state, lb.name, `echo 'show stat' | socat stdio /run/haproxy/admin.sock | grep '^apiservers,${target},'`))),
        );
      }
      break;
    }
    case 'vip-split': {
      await exec(state, target, 'iptables -I INPUT -p vrrp -j DROP');
      const lbs = state.topology.nodes.filter((n) => n.roles.includes('lb'));
      await waitFor('both load balancers to claim the VIP', 15_000, async () => {
        const held = await mapLimit(lbs, 4, (n) => exec(state, n.name, `ip -4 -o addr show to ${state.topology.vip}/32`));
        return held.every((h) => h.trim() !== '');
      });
      break;
    }
  }
}

/**
 * Undoes every fault with the fixes domain-notes documents: ip_forward on (runtime and persisted),
 * FORWARD ACCEPT, orphan leases deleted, flanneld then docker restarted where the lease, VtepMAC
 * or docker0 do not match; on --ha, stopped etcd/apiserver started and VRRP allowed again.
 */
export async function labHeal(name: string): Promise<void> {
  const state = requireState(name);
  const t = state.topology;
  const ws = workers(state);
  const nodeIps = t.nodes.map((n) => n.ip).join(' ');
  if (state.ha) {
    await mapLimit(t.nodes.filter((n) => n.roles.includes('master')), 4, (n) => exec(state, n.name, 'systemctl start etcd apiserver'));
    await mapLimit(t.nodes.filter((n) => n.roles.includes('lb')), 4, (n) =>
      exec(state, n.name, 'while iptables -D INPUT -p vrrp -j DROP 2>/dev/null; do :; done\nsystemctl start haproxy keepalived'),
    );
  }
  await mapLimit(ws, 16, (n) => exec(state, n.name, `sysctl -q -w net.ipv4.ip_forward=1\n${SED_FORWARD(1)}\niptables -P FORWARD ACCEPT`));
  const first = ws[0];
  if (!first) return;
  // Leases whose PublicIP is no node of the lab (the decommissioned machine's).
  await exec(state, first.name, `ips=" ${nodeIps} "
etcdctl --endpoints=${t.etcdEndpoints} get --prefix ${FLANNEL_PREFIX}/subnets/ -w json |
  jq -r '.kvs[]? | [(.key | @base64d), ((.value | @base64d | fromjson? // {}) | .PublicIP // "")] | @tsv' |
  while IFS=$'\\t' read -r key ip; do
    case $ips in *" $ip "*) ;; *) etcdctl --endpoints=${t.etcdEndpoints} del "$key" >/dev/null ;; esac
  done`);
  await mapLimit(ws, 16, (n) =>
    exec(state, n.name, `ok=1
systemctl is-active -q flanneld docker || ok=0
if [ $ok = 1 ]; then
  . /run/flannel/subnet.env
  mac=$(cat /sys/class/net/flannel.1/address)
  v=$(etcdctl --endpoints=${t.etcdEndpoints} get ${FLANNEL_PREFIX}/subnets/\${FLANNEL_SUBNET%.*/*}.0-24 --print-value-only)
  case $v in *'"PublicIP":"${n.ip}"'*'"VtepMAC":"'$mac'"'*) ;; *) ok=0 ;; esac
  set -- $(ip -4 -o addr show dev docker0)
  [ "\${4:-}" = "$FLANNEL_SUBNET" ] || ok=0
fi
if [ $ok = 0 ]; then systemctl stop docker; systemctl restart flanneld; systemctl start docker; fi`),
  );
}
