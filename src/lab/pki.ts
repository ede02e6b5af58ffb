/**
 * The etcd-tls profile's certificates, as kubeadm lays them out (kubeadm's pki constants): one etcd
 * CA; on each etcd node /etc/kubernetes/pki/etcd/{ca.crt,ca.key,server.crt,server.key,
 * healthcheck-client.crt,healthcheck-client.key}; on each worker flannel's own client certificate
 * /etc/kubernetes/pki/flannel/{ca.crt,client.crt,client.key} (what a flannel install with etcd TLS
 * mounts from a secret). Generated with openssl on the host at `lab up`, into the runtime dir (removed
 * by `lab down`), then copied into each node's etc-upper. RSA 2048 and the usages kubeadm gives
 * them: the server cert serverAuth+clientAuth with SANs for the node's addresses, 127.0.0.1 and
 * localhost; the client certs clientAuth only.
 */
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { nodeDir, runtimeDir } from './paths.js';
import { runOk } from './proc.js';
import type { LabState } from './state.js';
import type { NodeSpec } from './topology.js';

export const ETCD_PKI = '/etc/kubernetes/pki/etcd';
export const FLANNEL_PKI = '/etc/kubernetes/pki/flannel';
/** The client cert the lab's own code (leases, waitEtcd, heal, status) and the inventory's etcdctl use on etcd nodes. */
export const ETCD_CLIENT = { cacert: `${ETCD_PKI}/ca.crt`, cert: `${ETCD_PKI}/healthcheck-client.crt`, key: `${ETCD_PKI}/healthcheck-client.key` };
export const FLANNEL_CLIENT = { cacert: `${FLANNEL_PKI}/ca.crt`, cert: `${FLANNEL_PKI}/client.crt`, key: `${FLANNEL_PKI}/client.key` };

const pkiDir = (lab: string): string => join(runtimeDir(lab), 'pki');
const DAYS = '3650';

async function leaf(dir: string, base: string, subject: string, ext: string): Promise<void> {
  const key = join(dir, `${base}.key`);
  const csr = join(dir, `${base}.csr`);
  const extFile = join(dir, `${base}.ext`);
  await writeFile(extFile, ext);
  await runOk('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', subject]);
  await runOk('openssl', ['x509', '-req', '-in', csr, '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', DAYS, '-sha256', '-extfile', extFile, '-out', join(dir, `${base}.crt`)]);
}

/** Generates the CA and every certificate the lab's nodes need. */
export async function generatePki(state: LabState): Promise<void> {
  const dir = pkiDir(state.name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await runOk('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-days', DAYS, '-sha256',
    '-subj', '/CN=etcd-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign',
  ]);
  const client = 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n';
  const jobs: (() => Promise<void>)[] = [];
  for (const n of state.topology.nodes.filter((x) => x.roles.includes('etcd'))) {
    const sans = [...new Set([n.ip, ...(n.mgmtIp ? [n.mgmtIp] : []), '127.0.0.1'])].map((ip) => `IP:${ip}`);
    const ext = `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:${n.name},DNS:localhost,${sans.join(',')}\n`;
    jobs.push(() => leaf(dir, `${n.name}-server`, `/CN=${n.name}`, ext));
    jobs.push(() => leaf(dir, `${n.name}-healthcheck-client`, '/O=system:masters/CN=kube-etcd-healthcheck-client', client));
  }
  jobs.push(() => leaf(dir, 'flannel-client', '/CN=flannel', client));
  await pLimit(2).map(jobs, (j) => j());
}

/** Copies a node's certificates into its etc-upper (keys 0600, as kubeadm writes them). */
export async function installNodePki(state: LabState, node: NodeSpec): Promise<void> {
  const from = pkiDir(state.name);
  const etc = join(nodeDir(state.name, node.name), 'etc-upper');
  const put = async (src: string, dest: string, mode: number): Promise<void> => {
    const to = join(etc, dest.replace(/^\/etc\//, ''));
    await copyFile(join(from, src), to);
    await chmod(to, mode);
  };
  if (node.roles.includes('etcd')) {
    await mkdir(join(etc, 'kubernetes/pki/etcd'), { recursive: true });
    await put('ca.crt', `${ETCD_PKI}/ca.crt`, 0o644);
    await put('ca.key', `${ETCD_PKI}/ca.key`, 0o600);
    await put(`${node.name}-server.crt`, `${ETCD_PKI}/server.crt`, 0o644);
    await put(`${node.name}-server.key`, `${ETCD_PKI}/server.key`, 0o600);
    await put(`${node.name}-healthcheck-client.crt`, ETCD_CLIENT.cert, 0o644);
    await put(`${node.name}-healthcheck-client.key`, ETCD_CLIENT.key, 0o600);
  }
  if (node.services.includes('flanneld')) {
    await mkdir(join(etc, 'kubernetes/pki/flannel'), { recursive: true });
    await put('ca.crt', FLANNEL_CLIENT.cacert, 0o644);
    await put('flannel-client.crt', FLANNEL_CLIENT.cert, 0o644);
    await put('flannel-client.key', FLANNEL_CLIENT.key, 0o600);
  }
}
