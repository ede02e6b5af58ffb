/**
 * Profile non-root: SSH as an unprivileged user, every command through sudo (the inventory's
 * become), and a login PATH without /usr/sbin or /sbin. The runbooks' tools (sysctl, iptables,
 * ip) are found only through sudo's secure_path, and their host lock and probes run as root.
 */
import { matrixSuite } from './matrix.js';

matrixSuite({
  profiles: ['non-root'],
  unusual: ['flanneld-restarted'],
  faults: [
    { fault: 'ip-forward-off', fixedBy: 'fix-forwarding' },
    { fault: 'docker-before-flannel', fixedBy: 'fix-flannel-docker-order' },
  ],
});
