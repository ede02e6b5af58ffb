/** SubnetLen 26: nothing may assume a /24. */
import { matrixSuite } from './matrix.js';

matrixSuite({
  profiles: ['subnet-len-26'],
  faults: [
    { fault: 'ip-forward-off', fixedBy: 'fix-forwarding' },
    { fault: 'docker-before-flannel', fixedBy: 'fix-flannel-docker-order' },
    { fault: 'stale-lease', fixedBy: 'fix-stale-flannel-lease' },
    { fault: 'mac-drift', fixedBy: 'fix-stale-flannel-lease' },
  ],
});
