/** flannel >= 0.18 installed with the RHEL unit's docker options (DOCKER_NETWORK_OPTIONS in /run/flannel/docker). */
import { matrixSuite } from './matrix.js';

matrixSuite({
  profiles: ['flannel-modern', 'rhel-docker-opts'],
  unusual: ['flanneld-restarted'],
  faults: [{ fault: 'docker-before-flannel', fixedBy: 'fix-flannel-docker-order' }],
});
