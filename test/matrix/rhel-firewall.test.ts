/** RHEL's stock FORWARD: ACCEPT policy, the pod network accepted, REJECT last. A REJECT ahead of the accepts is reported, never deleted. */
import { matrixSuite } from './matrix.js';

matrixSuite({
  profiles: ['rhel-firewall'],
  unusual: ['forward-drop'],
  faults: [
    { fault: 'forward-reject', fixedBy: 'fix-forwarding', refuses: /REJECT/ },
    { fault: 'ip-forward-off', fixedBy: 'fix-forwarding' },
  ],
});
