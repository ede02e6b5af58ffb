/**
 * flannel's kube subnet manager, the pure part (flannel pkg/subnet/kube/kube.go): the annotations a
 * node's flanneld writes (AcquireLease), the VtepMAC it reuses on restart (GetStoredMacAddresses),
 * and the lease each other node's object stands for (nodeToLease), only for nodes flannel manages
 * (annotation kube-subnet-manager "true").
 */
import { isObject, type JsonObject } from './patch.js';

export const ANNOTATION_PREFIX = 'flannel.alpha.coreos.com';
export const ANNOTATIONS = {
  backendData: `${ANNOTATION_PREFIX}/backend-data`,
  backendType: `${ANNOTATION_PREFIX}/backend-type`,
  publicIp: `${ANNOTATION_PREFIX}/public-ip`,
  publicIpOverwrite: `${ANNOTATION_PREFIX}/public-ip-overwrite`,
  kubeSubnetManager: `${ANNOTATION_PREFIX}/kube-subnet-manager`,
} as const;

export interface RemoteLease {
  node: string;
  subnet: string;
  publicIp: string;
  vtepMac: string;
}

const annotationsOf = (node: JsonObject): Record<string, string> => {
  const m = isObject(node.metadata) ? node.metadata : {};
  return (isObject(m.annotations) ? m.annotations : {}) as Record<string, string>;
};

export const podCidrOf = (node: JsonObject): string => (isObject(node.spec) && typeof node.spec.podCIDR === 'string' ? node.spec.podCIDR : '');

/** vxlan's backend data as flannel marshals it: `{"VNI":1,"VtepMAC":"…"}`. */
export const backendData = (vni: number, mac: string): string => JSON.stringify({ VNI: vni, VtepMAC: mac });

/** The MAC in backend-data, parsed as flannel does (trim `"}`, split on `:"`), or "". */
export function storedMac(node: JsonObject): string {
  const data = annotationsOf(node)[ANNOTATIONS.backendData];
  if (!data) return '';
  const parts = data.replace(/^["}]+|["}]+$/g, '').split(':"');
  return parts.length === 2 ? (parts[1] ?? '') : '';
}

/**
 * The annotations to patch, or undefined when the node already carries them. public-ip-overwrite,
 * when set, wins over the detected address, as in AcquireLease.
 */
export function wantedAnnotations(node: JsonObject, publicIp: string, data: string): Record<string, string> | undefined {
  const a = annotationsOf(node);
  const overwrite = a[ANNOTATIONS.publicIpOverwrite] ?? '';
  const stale =
    a[ANNOTATIONS.backendData] !== data ||
    a[ANNOTATIONS.backendType] !== 'vxlan' ||
    a[ANNOTATIONS.publicIp] !== publicIp ||
    a[ANNOTATIONS.kubeSubnetManager] !== 'true' ||
    (overwrite !== '' && overwrite !== publicIp);
  if (!stale) return undefined;
  return {
    [ANNOTATIONS.backendType]: 'vxlan',
    [ANNOTATIONS.backendData]: data,
    [ANNOTATIONS.publicIp]: overwrite !== '' ? overwrite : publicIp,
    [ANNOTATIONS.kubeSubnetManager]: 'true',
  };
}

/** Every other managed vxlan node's lease (handleAddLeaseEvent + nodeToLease). */
export function remoteLeases(nodes: readonly JsonObject[], self: string): RemoteLease[] {
  const out: RemoteLease[] = [];
  for (const n of nodes) {
    const name = isObject(n.metadata) ? String(n.metadata.name) : '';
    const a = annotationsOf(n);
    if (name === self || a[ANNOTATIONS.kubeSubnetManager] !== 'true' || a[ANNOTATIONS.backendType] !== 'vxlan') continue;
    const subnet = podCidrOf(n);
    const publicIp = a[ANNOTATIONS.publicIp] ?? '';
    let vtepMac = '';
    try {
      const d = JSON.parse(a[ANNOTATIONS.backendData] ?? '') as { VtepMAC?: unknown };
      vtepMac = typeof d.VtepMAC === 'string' ? d.VtepMAC.toLowerCase() : '';
    } catch {
      // flannel logs "error decoding subnet lease JSON" and skips the node; so does the lab
    }
    if (subnet && /^\d+\.\d+\.\d+\.\d+$/.test(publicIp) && vtepMac) out.push({ node: name, subnet, publicIp, vtepMac });
  }
  return out;
}
