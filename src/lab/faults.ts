/**
 * The incident's faults, injected the way they happen in production (docs/lab.md, "Faults", says how each shows and is fixed by hand), and
 * `labHeal`, which undoes all of them with the documented fixes so tests can share one lab. FAULTS lists
 * both stacks' faults: the k8s stack's own are in faults-k8s.ts; a Docker-era fault either applies to
 * both stacks or says why it cannot occur on the k8s stack.
 */
import { randomBytes } from 'node:crypto';
import pLimit from 'p-limit';
import { UserError } from '../model/errors.js';
import { unitsFor } from './node-files.js';
import { hasFilterTable } from './firewall.js';
import { deleteLease, listLeases, putLease, SUBNETS, subnetKey } from './leases.js';
import { nodeExec } from './node-process.js';
import { exec, waitFor } from './fault-exec.js';
import { requireState, type LabState } from './state.js';
import { appliesTo, stackOf, type FaultDef } from './fault-def.js';
import type { NodeSpec } from './topology.js';
import { breakK8s, healK8s, K8S_FAULTS } from './faults-k8s.js';

export const FAULTS: FaultDef[] = [
  { name: 'ip-forward-off', role: 'worker', ha: false, defaultNode: 'd', description: 'net.ipv4.ip_forward = 0 at runtime and in /etc/sysctl.d/99-sysctl.conf', signature: "nothing reaches the node's pods" },
  {
    name: 'forward-drop', role: 'worker', ha: false, defaultNode: 'd', stack: 'docker', notOn: "flanneld 0.26's FLANNEL-FWD rules accept the pod network whatever the policy: the policy alone breaks nothing (see iptables-split)", description: 'iptables -P FORWARD DROP', signature: "nothing reaches the node's pods",
    impossible: (f) => (f.forwardRules ? "flanneld's FLANNEL-FWD rules accept the pod network whatever the policy (flannel >= 0.10): the policy alone breaks nothing" : undefined),
  },
  { name: 'forward-reject', role: 'worker', ha: false, defaultNode: 'd', description: 'iptables -I FORWARD 1 -j REJECT --reject-with icmp-host-prohibited (a REJECT ahead of every pod-network accept)', signature: "nothing reaches the node's pods" },
  { name: 'docker-before-flannel', role: 'worker', ha: false, defaultNode: 'd', stack: 'docker', notOn: 'there is no docker: containerd\'s pods wait for subnet.env through the flannel CNI plugin', description: 'flanneld\'s unit not enabled (docker does not require it), then a "reboot" (empty /run/flannel, no docker0): docker starts before flanneld and docker0 gets 172.17.0.1/16, never leased', signature: "nothing reaches the node's pods" },
  { name: 'stale-lease', role: 'worker', ha: false, defaultNode: 'd', stack: 'docker', notOn: 'flannel\'s leases are node annotations there, not etcd keys (see node-recreated)', description: "the node's subnet lease in etcd names a decommissioned machine's PublicIP and VtepMAC", signature: "the other nodes send the node's pod traffic to the dead machine" },
  { name: 'flanneld-restarted', role: 'worker', ha: false, defaultNode: 'd', healthy: true, stack: 'docker', notOn: 'there is no docker to start before flanneld', description: 'flanneld killed (as the OOM killer does) and restarted by Restart=on-failure: it now started after docker, and every pod still works', signature: 'none: a healthy node that must not be flagged' },
  { name: 'mac-drift', role: 'worker', ha: false, defaultNode: 'd', stack: 'docker', notOn: 'its fix restarts docker; the k8s form of a VtepMAC that peers program wrongly is node-recreated', description: "flannel.1's MAC changes; the lease keeps the old VtepMAC", signature: "vxlan frames to the node carry the old MAC and are dropped: nothing reaches the node's pods" },
  { name: 'etcd-member-down', role: 'etcd', ha: true, defaultNode: 'm2', stack: 'docker', notOn: 'it needs --ha, which --stack k8s does not take', description: 'systemctl stop etcd on one member of the 3-member cluster', signature: 'cluster keeps quorum; the member is unhealthy' },
  { name: 'vip-split', role: 'lb', ha: true, defaultNode: 'lb2', stack: 'docker', notOn: 'it needs --ha, which --stack k8s does not take', description: 'VRRP (IP protocol 112) dropped on one load balancer: both claim the VIP', signature: 'two VIP holders' },
  { name: 'apiserver-down', role: 'master', ha: true, defaultNode: 'm1', stack: 'docker', notOn: 'it needs --ha, which --stack k8s does not take', description: 'systemctl stop apiserver on one master', signature: 'one haproxy backend DOWN' },
  ...K8S_FAULTS,
];

const SED_FORWARD = (v: number): string =>
  `sed -i --follow-symlinks -E 's/^[[:space:]]*net\\.ipv4\\.ip_forward[[:space:]]*=.*/net.ipv4.ip_forward = ${v}/' /etc/sysctl.d/99-sysctl.conf`;

const workers = (s: LabState): NodeSpec[] => s.topology.nodes.filter((n) => n.roles.includes('worker'));

async function mySubnetKey(state: LabState, node: string): Promise<string> {
  const out = await exec(state, node, '. /run/flannel/subnet.env; echo "$FLANNEL_SUBNET"');
  return `${SUBNETS}/${subnetKey(out)}`;
}

async function injectStaleLease(state: LabState, node: string): Promise<void> {
  const t = state.topology;
  const key = await mySubnetKey(state, node);
  const value = JSON.stringify({ PublicIP: t.deadIp, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: t.deadMac } });
  await putLease(state, key, value);
  const net = key.split('/').pop()?.replace(/-\d+$/, '') ?? '';
  // The other nodes' flanneld follow the watch; wait until they all point at the dead machine.
  await pLimit(16).map(workers(state).filter((n) => n.name !== node), (n) =>
    waitFor(`${n.name} to learn the stale lease`, 10_000, async () => (await exec(state, n.name, `ip neigh show ${net} dev flannel.1`)).includes(t.deadMac)),
  );
}

/** Kills flanneld as the OOM killer would and waits for Restart=on-failure to bring it back ready. */
async function restartFlanneldBehindDocker(state: LabState, node: string): Promise<void> {
  const pid = (await exec(state, node, 'systemctl show -p MainPID --value flanneld')).trim();
  const inode = (await exec(state, node, 'stat -c %i /run/flannel/subnet.env')).trim();
  await exec(state, node, `kill -KILL ${pid}`);
  await waitFor(`flanneld on ${node} to be restarted`, 20_000, async () => {
    const r = await nodeExec(state, node, 'systemctl is-active -q flanneld && systemctl show -p MainPID --value flanneld && stat -c %i /run/flannel/subnet.env');
    const [now, ino] = r.stdout.trim().split('\n');
    return r.code === 0 && now !== pid && now !== '0' && ino !== inode;
  });
}

/** Injects the fault and returns the node it broke (the fault's usual victim unless `node` is given). */
export async function labBreak(name: string, fault: string, node?: string): Promise<string> {
  const state = requireState(name);
  const def = FAULTS.find((f) => f.name === fault);
  const stack = stackOf(state);
  const here = FAULTS.filter((f) => appliesTo(f, stack)).map((f) => f.name);
  if (!def) throw new UserError({ message: `unknown fault "${fault}"`, hint: `faults of the ${stack} stack: ${here.join(', ')}` });
  if (!appliesTo(def, stack)) throw new UserError({ message: `fault ${fault} does not apply to lab ${name} (--stack ${stack}): ${def.notOn ?? ''}`, hint: `faults of the ${stack} stack: ${here.join(', ')}` });
  if (def.ha && !state.ha) throw new UserError({ message: `fault ${fault} needs the HA topology`, hint: 'runbook lab up --ha' });
  const target = node ?? def.defaultNode;
  const why = def.impossible?.(state.flavour);
  if (why) throw new UserError({ message: `fault ${fault} cannot occur on this lab (profiles: ${state.profiles.join(',') || 'default'}): ${why}` });
  const spec = state.topology.nodes.find((n) => n.name === target);
  if (!spec) throw new UserError({ message: `no node "${target}" in lab ${name}`, hint: `nodes: ${state.topology.nodes.map((n) => n.name).join(' ')}` });
  if (!spec.roles.includes(def.role)) throw new UserError({ message: `fault ${fault} applies to ${def.role} nodes; ${target} is ${spec.roles.join('/')}` });
  if (def.stack === 'k8s') {
    await breakK8s(state, def.name, target);
    return target;
  }
  switch (def.name) {
    case 'ip-forward-off':
      await exec(state, target, `sysctl -q -w net.ipv4.ip_forward=0\n${SED_FORWARD(0)}`);
      break;
    case 'forward-drop':
      await exec(state, target, 'iptables -P FORWARD DROP');
      break;
    case 'docker-before-flannel':
      // flannel's RequiredBy=docker.service only takes effect once the unit is enabled; without it
      // docker's unit does not pull flanneld in, and a reboot (empty /run, no docker0) starts
      // docker first.
      await exec(state, target, `sed -i "s/^Requires=.*/Requires=('docker.socket')/" /etc/lab/units/docker
systemctl stop kubelet docker.socket docker flanneld
rm -f /run/flannel/subnet.env ${state.flavour.dockerOpts.file}
ip link del docker0
systemctl start docker kubelet
systemctl start flanneld`);
      break;
    case 'forward-reject':
      await exec(state, target, 'iptables -I FORWARD 1 -j REJECT --reject-with icmp-host-prohibited');
      break;
    case 'flanneld-restarted':
      await restartFlanneldBehindDocker(state, target);
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
        const held = await pLimit(4).map(lbs, (n) => exec(state, n.name, `ip -4 -o addr show to ${state.topology.vip}/32`));
        return held.every((h) => h.trim() !== '');
      });
      break;
    }
  }
  return target;
}

/**
 * Undoes every fault with the by-hand fixes docs/lab.md lists: ip_forward on (runtime and persisted),
 * FORWARD ACCEPT and no REJECT ahead of the pod network (RHEL's own REJECT stays last); then on the
 * k8s stack healK8s, else orphan leases deleted, flanneld then docker restarted where the lease,
 * VtepMAC or docker0 do not match; on --ha, stopped etcd/apiserver started and VRRP allowed again.
 */
export async function labHeal(name: string): Promise<void> {
  const state = requireState(name);
  const t = state.topology;
  const ws = workers(state);
  if (state.ha) {
    await pLimit(4).map(t.nodes.filter((n) => n.roles.includes('master')), (n) => exec(state, n.name, 'systemctl start etcd apiserver'));
    await pLimit(4).map(t.nodes.filter((n) => n.roles.includes('lb')), (n) =>
      exec(state, n.name, 'while iptables -D INPUT -p vrrp -j DROP 2>/dev/null; do :; done\nsystemctl start haproxy keepalived'),
    );
  }
  const reject = 'FORWARD -j REJECT --reject-with icmp-host-prohibited';
  // A backend without a filter table is skipped: \`iptables-legacy -D\` would create the table,
  // a change no real node's heal makes (and one that hid a snapshot creating it).
  await pLimit(16).map(ws, (n) =>
    exec(state, n.name, `sysctl -q -w net.ipv4.ip_forward=1\n${SED_FORWARD(1)}\niptables -P FORWARD ACCEPT
for ipt in iptables-legacy iptables-nft; do ${hasFilterTable('$ipt')} || continue; while $ipt -D ${reject} 2>/dev/null; do :; done; done
${state.flavour.rhelFirewall ? `iptables -A ${reject}` : ''}`),
  );
  if (stackOf(state) === 'k8s') return healK8s(state);
  // The unit files as the lab wrote them (docker-before-flannel edits docker's).
  await pLimit(16).map(ws, async (n) => {
    const docker = unitsFor(state, n).docker;
    if (docker) await exec(state, n.name, `cmp -s /etc/lab/units/docker - <<'UNIT' || cat > /etc/lab/units/docker <<'UNIT'\n${docker}UNIT\n${docker}UNIT`);
  });
  if (ws.length === 0) return;
  // Leases whose PublicIP is no node of the lab (the decommissioned machine's).
  const ips = new Set(t.nodes.map((n) => n.ip));
  for (const l of await listLeases(state)) if (!ips.has(l.publicIp)) await deleteLease(state, l.key);
  const leases = new Map((await listLeases(state)).map((l) => [l.key, l]));
  await pLimit(16).map(ws, async (n) => {
    const r = await nodeExec(state, n.name, 'systemctl is-active -q flanneld docker && . /run/flannel/subnet.env && echo "$FLANNEL_SUBNET" && cat /sys/class/net/flannel.1/address && ip -4 -o addr show dev docker0');
    const [subnet = '', mac = '', docker0 = ''] = r.stdout.trim().split('\n');
    const lease = leases.get(`${SUBNETS}/${subnetKey(subnet)}`);
    const ok = r.code === 0 && lease?.publicIp === n.ip && lease.vtepMac === mac && docker0.split(/\s+/)[3] === subnet;
    if (!ok) {
      // docker refuses a docker0 whose address is not its --bip (moby), so a stale bridge goes first.
      await exec(state, n.name, `systemctl stop docker.socket docker
systemctl restart flanneld
. /run/flannel/subnet.env
set -- $(ip -4 -o addr show dev docker0 2>/dev/null)
[ "\${4:-}" = "$FLANNEL_SUBNET" ] || ip link del docker0 2>/dev/null || true
systemctl start docker`);
    }
  });
}
