/**
 * The firewall a node boots with, as its distribution's iptables service loads it before docker
 * and flanneld start (RHEL's iptables.service reads /etc/sysconfig/iptables). Loaded into each
 * node's network namespace before the node boots, so the daemons add their rules on top of it, in
 * the order real nodes get them.
 */
import pLimit from 'p-limit';
import { FLANNEL_NETWORK } from './node-files.js';
import { POD_NETWORK } from './k8s-stack.js';
import { nodeNs } from './paths.js';
import { runOk } from './proc.js';
import type { LabState } from './state.js';
import type { NodeSpec } from './topology.js';

/**
 * A shell test, true when this iptables backend (`iptables-legacy`, `iptables-nft`) has a filter
 * table. A heal that changes a rule or a policy through a backend without one would create the
 * table, a change no operator's fix makes on a real node: such a backend is skipped.
 */
export const hasFilterTable = (ipt: string): string => `${ipt}-save | grep -q '^[*]filter'`;

/** iptables-restore input for a node, or undefined when its profile adds nothing. */
export function firewallRules(state: LabState, node: NodeSpec): string | undefined {
  const f = state.flavour;
  const filter: string[] = [];
  if (f.noIcmp) filter.push('-A INPUT -p icmp -m icmp --icmp-type 8 -j DROP');
  if (f.rhelFirewall && node.roles.includes('worker')) {
    // RHEL 7's stock /etc/sysconfig/iptables ends FORWARD with this REJECT; a working flannel node
    // accepts its pod network ahead of it.
    const net = state.stack === 'k8s' ? POD_NETWORK : FLANNEL_NETWORK;
    filter.push(
      `-A FORWARD -s ${net} -j ACCEPT`,
      `-A FORWARD -d ${net} -j ACCEPT`,
      '-A FORWARD -j REJECT --reject-with icmp-host-prohibited',
    );
  }
  if (filter.length === 0) return undefined;
  return ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ...filter, 'COMMIT', ''].join('\n');
}

export async function loadFirewalls(state: LabState): Promise<void> {
  await pLimit(8).map(state.topology.nodes, async (n) => {
    const rules = firewallRules(state, n);
    if (rules) await runOk('ip', ['netns', 'exec', nodeNs(state.name, n.name), 'iptables-restore', '--noflush'], { input: rules });
  });
}
