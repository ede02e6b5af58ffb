/** Profile no-icmp alone: the lease runbook must keep every live node's lease. */
import { matrixSuite } from './matrix.js';

matrixSuite({ profiles: ['no-icmp'], faults: [{ fault: 'stale-lease', fixedBy: 'fix-stale-flannel-lease' }] });
