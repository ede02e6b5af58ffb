/**
 * runbooks/fix-stale-flannel-lease.yaml with SSH over a management network and no ICMP (profiles
 * mgmt-net,no-icmp): the inventory's addresses are not flannel's PublicIPs and no node answers
 * ping, the case in which an earlier version deleted the leases of a, b and c. The nodes' own flannel.1 addresses decide; a, b and c keep their leases (same create and
 * mod revisions).
 */
import { describe } from 'vitest';
import { useLab } from '../lab/runbooks-support.js';
import { leaseCases } from '../lab/runbooks-lease-cases.js';

const L = useLab({ profiles: ['mgmt-net', 'no-icmp'] });

describe('fix-stale-flannel-lease (profiles mgmt-net,no-icmp)', () => {
  leaseCases(L, { full: false });
});
