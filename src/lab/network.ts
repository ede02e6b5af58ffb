/**
 * The lab's wiring. Each node is a network namespace whose eth0 is a veth into a bridge that lives
 * in the lab's own switch namespace (rb-<lab>-sw), so the host's bridge netfilter and iptables never
 * see lab traffic. The controller reaches the LAN through one veth in the root namespace,
 * rb-<lab>, which holds the LAN's .1. Nodes have no default route: nothing leaves the machine.
 * With --bastion, a second bridge (br1) is the internal LAN; only the bastion has a leg on it.
 */
import pLimit from 'p-limit';
import type { LabState } from './state.js';
import { nodeNs, switchNs, uplinkName } from './paths.js';
import { runOk } from './proc.js';
import { macFor } from './topology.js';

/** The LAN links' MTU: veth's default, which the lab keeps. flannel's vxlan takes 50 off it for the pod network. */
export const LAN_MTU = 1500;

const batch = (lines: string[], ns?: string): Promise<string> =>
  runOk('ip', [...(ns ? ['-n', ns] : []), '-batch', '-'], { input: `${lines.join('\n')}\n` });

const neigh = (ip: string, dev: string): string => `neigh replace ${ip} lladdr ${macFor(ip)} dev ${dev} nud permanent`;

export async function createNetwork(state: LabState): Promise<void> {
  const lab = state.name;
  const sw = switchNs(lab);
  const up = uplinkName(lab);
  const nodes = state.topology.nodes;
  await batch([sw, ...nodes.map((n) => nodeNs(lab, n.name))].map((ns) => `netns add ${ns}`));

  const swLines = ['link add br0 type bridge', 'link set br0 addrgenmode none', 'link set br0 up'];
  if (state.internalLan) swLines.push('link add br1 type bridge', 'link set br1 addrgenmode none', 'link set br1 up');
  nodes.forEach((n, k) => {
    swLines.push(
      `link add p${k} type veth peer name eth0 address ${macFor(n.ip)} netns ${nodeNs(lab, n.name)}`,
      `link set p${k} addrgenmode none`,
      `link set p${k} master ${n.internal ? 'br1' : 'br0'}`,
      `link set p${k} up`,
    );
    // A second leg: the bastion's on the internal LAN, or (mgmt-net) a node's on the management LAN.
    const second = n.internalIp ?? n.mgmtIp;
    if (second) {
      swLines.push(
        `link add q${k} type veth peer name eth1 address ${macFor(second)} netns ${nodeNs(lab, n.name)}`,
        `link set q${k} addrgenmode none`,
        `link set q${k} master ${n.internalIp ? 'br1' : 'br0'}`,
        `link set q${k} up`,
      );
    }
  });
  await batch(swLines, sw);

  const ctl = state.topology.controllerIp;
  await runOk('ip', ['link', 'add', up, 'address', macFor(ctl), 'type', 'veth', 'peer', 'name', 'up0', 'netns', sw]);
  await batch(['link set up0 addrgenmode none', 'link set up0 master br0', 'link set up0 up'], sw);
  const outside = nodes.filter((n) => !n.internal);
  const mgmt = nodes.flatMap((n) => (n.mgmtIp ? [{ ip: n.mgmtIp }] : []));
  await batch([
    `link set ${up} addrgenmode none`, `addr add ${ctl}/24 dev ${up}`, `link set ${up} up`,
    ...[...outside, ...mgmt].map((n) => neigh(n.ip, up)),
  ]);

  // Permanent ARP entries for every fixed address on the node's LAN(s); the VIP stays dynamic
  // (it moves) and the decommissioned machine's address stays unanswered.
  const inside: { ip: string }[] = nodes.filter((n) => n.internal);
  const bastion = nodes.find((n) => n.internalIp);
  if (bastion?.internalIp) inside.push({ ip: bastion.internalIp });
  await pLimit(8).map(nodes, (n) => {
    const lines = ['link set eth0 addrgenmode none', `addr add ${n.ip}/24 dev eth0`, 'link set eth0 up'];
    const peers = n.internal ? inside : [{ ip: ctl }, ...outside];
    lines.push(...peers.filter((p) => p.ip !== n.ip).map((p) => neigh(p.ip, 'eth0')));
    if (n.internalIp) {
      lines.push('link set eth1 addrgenmode none', `addr add ${n.internalIp}/24 dev eth1`, 'link set eth1 up');
      lines.push(...inside.filter((p) => p.ip !== n.internalIp).map((p) => neigh(p.ip, 'eth1')));
    }
    if (n.mgmtIp) {
      lines.push('link set eth1 addrgenmode none', `addr add ${n.mgmtIp}/24 dev eth1`, 'link set eth1 up');
      lines.push(...[{ ip: ctl }, ...mgmt].filter((p) => p.ip !== n.mgmtIp).map((p) => neigh(p.ip, 'eth1')));
    }
    return batch(lines, nodeNs(lab, n.name));
  });
}
