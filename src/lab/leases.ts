/**
 * The flannel leases in the lab's etcd, through the API the lab's flannel release uses: v2 (keys
 * under /v2/keys, read with curl as flannel <= 0.17's client does over HTTP) or v3 (etcdctl).
 * Used by the faults, the heal and `lab status`; runbooks never see this module.
 */
import { shellQuote as q } from '../model/shell-quote.js';
import { FLANNEL_PREFIX } from './node-files.js';
import { nodeExec } from './node-process.js';
import { ETCD_CLIENT } from './pki.js';
import type { LabState } from './state.js';

export interface Lease {
  /** Full key, e.g. /coreos.com/network/subnets/10.100.3.0-24. */
  key: string;
  /** The subnet key's last part, e.g. 10.100.3.0-24. */
  subnet: string;
  value: string;
  publicIp: string;
  vtepMac: string;
  /** v3 create/mod revisions, or v2 createdIndex/modifiedIndex: the proof that a key was not touched. */
  created: string;
  modified: string;
}

export const SUBNETS = `${FLANNEL_PREFIX}/subnets`;

/** The node that talks to etcd for the lab: the first etcd member. */
function etcdNode(state: LabState): string {
  const n = state.topology.nodes.find((x) => x.roles.includes('etcd'));
  if (!n) throw new Error('the lab has no etcd node');
  return n.name;
}

const firstEndpoint = (state: LabState): string => state.topology.etcdEndpoints.split(',')[0] ?? '';
/** etcd-tls: the etcd node's client cert (kubeadm's healthcheck-client), as etcdctl flags. */
export const etcdctlTlsFlags = (state: LabState): string =>
  state.flavour.etcdTls ? ` --cacert=${ETCD_CLIENT.cacert} --cert=${ETCD_CLIENT.cert} --key=${ETCD_CLIENT.key}` : '';
const v3 = (state: LabState): string => `ETCDCTL_API=3 etcdctl${etcdctlTlsFlags(state)} --endpoints=${state.topology.etcdEndpoints} --command-timeout=5s`;
/** curl against the v2 API, with the client cert under etcd-tls. */
const curl = (state: LabState): string =>
  `curl -sS --max-time 5${state.flavour.etcdTls ? ` --cacert ${ETCD_CLIENT.cacert} --cert ${ETCD_CLIENT.cert} --key ${ETCD_CLIENT.key}` : ''}`;

async function sh(state: LabState, cmd: string): Promise<string> {
  const r = await nodeExec(state, etcdNode(state), `set -e\n${cmd}`, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`etcd: ${cmd.split('\n')[0]}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

function parsed(key: string, value: string, created: string, modified: string): Lease {
  let attrs: { PublicIP?: unknown; BackendData?: { VtepMAC?: unknown } } = {};
  try {
    attrs = JSON.parse(value) as typeof attrs;
  } catch {
    // not JSON: a lease someone wrote by hand; publicIp stays empty
  }
  return {
    key, subnet: key.split('/').pop() ?? '', value, created, modified,
    publicIp: typeof attrs.PublicIP === 'string' ? attrs.PublicIP : '',
    vtepMac: typeof attrs.BackendData?.VtepMAC === 'string' ? attrs.BackendData.VtepMAC : '',
  };
}

export async function listLeases(state: LabState): Promise<Lease[]> {
  if (state.flavour.etcdApi === 'v2') {
    const out = await sh(state, `${curl(state)} ${q(`${firstEndpoint(state)}/v2/keys${SUBNETS}?recursive=true`)}`);
    const doc = JSON.parse(out) as { errorCode?: number; node?: { nodes?: { key: string; value?: string; createdIndex: number; modifiedIndex: number }[] } };
    if (doc.errorCode === 100) return [];
    return (doc.node?.nodes ?? []).map((n) => parsed(n.key, n.value ?? '', String(n.createdIndex), String(n.modifiedIndex)));
  }
  const out = await sh(state, `${v3(state)} get --prefix ${SUBNETS}/ -w json`);
  const doc = JSON.parse(out) as { kvs?: { key: string; value: string; create_revision: number; mod_revision: number }[] };
  const b64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');
  return (doc.kvs ?? []).map((kv) => parsed(b64(kv.key), b64(kv.value), String(kv.create_revision), String(kv.mod_revision)));
}

/** Writes a lease as flanneld does: with a 24 h TTL (v2) or a 24 h etcd lease (v3). */
export async function putLease(state: LabState, key: string, value: string): Promise<void> {
  if (state.flavour.etcdApi === 'v2') {
    await sh(state, `${curl(state)} -f -X PUT ${q(`${firstEndpoint(state)}/v2/keys${key}`)} --data-urlencode ${q(`value=${value}`)} -d ttl=86400 >/dev/null`);
    return;
  }
  await sh(state, `L=$(${v3(state)} lease grant 86400 | awk '{print $2}')\n${v3(state)} put --lease="$L" ${q(key)} ${q(value)} >/dev/null`);
}

export async function deleteLease(state: LabState, key: string): Promise<void> {
  if (state.flavour.etcdApi === 'v2') {
    await sh(state, `${curl(state)} -X DELETE ${q(`${firstEndpoint(state)}/v2/keys${key}`)} >/dev/null`);
    return;
  }
  await sh(state, `${v3(state)} del ${q(key)} >/dev/null`);
}

/** Writes flannel's network config where the lab's flannel release reads it. */
export async function putConfig(state: LabState, config: string): Promise<void> {
  const key = `${FLANNEL_PREFIX}/config`;
  if (state.flavour.etcdApi === 'v2') {
    await sh(state, `${curl(state)} -f -X PUT ${q(`${firstEndpoint(state)}/v2/keys${key}`)} --data-urlencode ${q(`value=${config}`)} >/dev/null`);
    return;
  }
  await sh(state, `${v3(state)} put ${q(key)} ${q(config)} >/dev/null`);
}

/** FLANNEL_SUBNET (e.g. 10.100.3.65/26) → its lease key's subnet part (10.100.3.64-26). */
export function subnetKey(flannelSubnet: string): string {
  const [addr = '', lenText = '24'] = flannelSubnet.trim().split('/');
  const len = Number(lenText);
  const ip = addr.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
  const net = len === 0 ? 0 : (ip & (~0 << (32 - len))) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}-${len}`;
}
