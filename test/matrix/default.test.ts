/** The matrix on the default profile (the seed's node): every node fault. */
import { matrixSuite } from './matrix.js';

matrixSuite({
  profiles: [],
  unusual: ['flanneld-restarted'],
  faults: [
    { fault: 'ip-forward-off', fixedBy: 'fix-forwarding' },
    { fault: 'forward-drop', fixedBy: 'fix-forwarding' },
    { fault: 'forward-reject', fixedBy: 'fix-forwarding', refuses: /REJECT/ },
    { fault: 'docker-before-flannel', fixedBy: 'fix-flannel-docker-order' },
    { fault: 'stale-lease', fixedBy: 'fix-stale-flannel-lease' },
    { fault: 'mac-drift', fixedBy: 'fix-stale-flannel-lease' },
  ],
});
