/** flannel >= 0.18: v3 keyspace, flannel's own FORWARD rules (policy DROP is harmless), upstream docker options. */
import { matrixSuite } from './matrix.js';

matrixSuite({
  profiles: ['flannel-modern'],
  unusual: ['flanneld-restarted', { name: 'FORWARD policy DROP beside FLANNEL-FWD', setup: 'iptables -P FORWARD DROP' }],
  faults: [
    { fault: 'ip-forward-off', fixedBy: 'fix-forwarding' },
    { fault: 'forward-reject', fixedBy: 'fix-forwarding', refuses: /REJECT/ },
    { fault: 'docker-before-flannel', fixedBy: 'fix-flannel-docker-order' },
    { fault: 'stale-lease', fixedBy: 'fix-stale-flannel-lease' },
    { fault: 'mac-drift', fixedBy: 'fix-stale-flannel-lease' },
  ],
});
