/** Profile mgmt-net alone: the lease runbook must keep every live node's lease. */
import { matrixSuite } from './matrix.js';

matrixSuite({ profiles: ['mgmt-net'], faults: [{ fault: 'stale-lease', fixedBy: 'fix-stale-flannel-lease' }] });
