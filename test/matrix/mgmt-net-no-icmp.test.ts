/** SSH over a management network and no ICMP: inventory addresses are not PublicIPs and ping proves nothing. */
import { matrixSuite } from './matrix.js';

matrixSuite({
  profiles: ['mgmt-net', 'no-icmp'],
  unusual: ['flanneld-restarted'],
  faults: [
    { fault: 'stale-lease', fixedBy: 'fix-stale-flannel-lease' },
    { fault: 'mac-drift', fixedBy: 'fix-stale-flannel-lease' },
    { fault: 'ip-forward-off', fixedBy: 'fix-forwarding' },
  ],
});
