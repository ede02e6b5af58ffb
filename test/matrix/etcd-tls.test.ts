/**
 * etcd as kubeadm runs it (https, client certs at /etc/kubernetes/pki/etcd, no etcdctl on the
 * workers) with the default flannel (v2 keyspace, read over https with flannel's client cert): the
 * faults whose diagnosis and repair read or write etcd.
 */
import { matrixSuite } from './matrix.js';

matrixSuite({
  profiles: ['etcd-tls'],
  unusual: ['flanneld-restarted'],
  faults: [
    { fault: 'stale-lease', fixedBy: 'fix-stale-flannel-lease' },
    { fault: 'mac-drift', fixedBy: 'fix-stale-flannel-lease' },
  ],
});
