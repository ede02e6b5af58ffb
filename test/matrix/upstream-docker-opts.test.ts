/** Docker options in upstream mk-docker-opts.sh's default place: DOCKER_OPTS in /run/docker_opts.env. */
import { matrixSuite } from './matrix.js';

matrixSuite({
  profiles: ['upstream-docker-opts'],
  unusual: ['flanneld-restarted'],
  faults: [{ fault: 'docker-before-flannel', fixedBy: 'fix-flannel-docker-order' }],
});
