/**
 * flanneld stand-in in kube subnet manager mode, as kube-flannel.yml runs flannel 0.26
 * (`--ip-masq --kube-subnet-mgr`, NODE_NAME from the pod's environment, net-conf.json from the
 * kube-flannel-cfg ConfigMap). Its unit runs `node dist/lab/k8s/bin/flanneld.js`.
 *  - Without br_netfilter (no /proc/sys/net/bridge/bridge-nf-call-iptables) it exits 1, as main.go does.
 *  - The subnet is node.spec.podCIDR; flanneld fails if it is unset or outside the network.
 *  - flannel.1 is kept if it exists (so its MAC stays); else it is created with the VtepMAC
 *    stored in the node's backend-data annotation (GetStoredMacAddresses), so a restarted
 *    flanneld keeps its identity even when the device is gone.
 *  - The annotations (backend-data, backend-type, public-ip, kube-subnet-manager) are patched
 *    with a strategic merge patch on nodes/NAME/status when they differ (AcquireLease).
 *  - subnet.env is written by rename; FLANNEL-FWD and FLANNEL-POSTRTG rules are ensured every 5 s.
 *  - Every other managed node's lease becomes route, neighbour and fdb entries on flannel.1,
 *    kept current by listing nodes every second (real flannel watches through an informer).
 * Flags: --kube-api-url= --iface= --net-config-path= --ip-masq= --kube-subnet-mgr=true (the only mode
 * it stands in for, on its command line as on a real node's, where runbooks read it); env NODE_NAME.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { KubeClient } from '../client.js';
import { isObject, type JsonObject } from '../patch.js';
import { backendData, podCidrOf, remoteLeases, storedMac, wantedAnnotations, type RemoteLease } from '../flannel-leases.js';
import { flags } from './flags.js';

const exec = promisify(execFile);
const BR_NETFILTER = '/proc/sys/net/bridge/bridge-nf-call-iptables';
const f = flags(process.argv.slice(2), ['kube-api-url', 'iface', 'net-config-path', 'ip-masq', 'kube-subnet-mgr']);
const nodeName = process.env.NODE_NAME ?? '';
const log = (m: string): void => void process.stdout.write(`${new Date().toISOString()} flanneld: ${m}\n`);
function die(m: string): never {
  log(m);
  process.exit(1);
}
if (f['kube-subnet-mgr'] !== 'true') die('only --kube-subnet-mgr=true is stood in for (etcd mode is the docker stack\'s flanneld)');
if (!nodeName) die('NODE_NAME is not set (kube-flannel.yml sets it from spec.nodeName)');

const ip2int = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const int2ip = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
const contains = (net: string, sub: string): boolean => {
  const [na = '', nl = '32'] = net.split('/');
  const [sa = '', sl = '32'] = sub.split('/');
  const size = 2 ** (32 - Number(nl));
  return Number(sl) >= Number(nl) && Math.floor(ip2int(sa) / size) === Math.floor(ip2int(na) / size);
};

async function sh(cmd: string, args: string[], input?: string): Promise<string> {
  const p = exec(cmd, args);
  if (input !== undefined) p.child.stdin?.end(input);
  return (await p).stdout;
}

async function main(): Promise<void> {
  const conf = JSON.parse(readFileSync(f['net-config-path'], 'utf8')) as { Network?: string; EnableNFTables?: boolean; Backend?: { Type?: string; VNI?: number; Port?: number } };
  const network = conf.Network ?? die(`${f['net-config-path']} has no Network`);
  if (conf.Backend?.Type !== 'vxlan') die(`backend type ${conf.Backend?.Type ?? '(none)'} is not supported by the lab (vxlan only)`);
  // main.go: in iptables mode flannel refuses to start without br_netfilter (kubeadm >= 1.30 no longer checks it).
  if (!conf.EnableNFTables && !existsSync(BR_NETFILTER)) die(`Failed to check br_netfilter: stat ${BR_NETFILTER}: no such file or directory`);
  const vni = conf.Backend.VNI ?? 1;
  const port = conf.Backend.Port ?? 8472;
  const kube = new KubeClient(f['kube-api-url']);

  // AcquireLease polls for the node for 30 s before giving up.
  let node: JsonObject | undefined;
  for (let i = 0; i < 30 && !node; i++) {
    node = await kube.get(`/api/v1/nodes/${nodeName}`).catch((err: Error) => (log(`Failed to get node "${nodeName}": ${err.message}`), undefined));
    if (!node) await new Promise((r) => setTimeout(r, 1000));
  }
  if (!node) die(`timeout contacting kube-api, failed to patch node "${nodeName}"`);
  const podCidr = podCidrOf(node);
  if (!podCidr) die(`node "${nodeName}" pod cidr not assigned`);
  if (!contains(network, podCidr)) die(`subnet "${network}" specified in the flannel net config doesn't contain "${podCidr}" PodCIDR of the "${nodeName}" node`);

  const addr = (await sh('ip', ['-4', '-o', 'addr', 'show', 'dev', f.iface])).match(/inet (\d+\.\d+\.\d+\.\d+)/)?.[1] ?? die(`no IPv4 address on ${f.iface}`);
  const lanMtu = Number(readFileSync(`/sys/class/net/${f.iface}/mtu`, 'utf8'));
  if (!existsSync('/sys/class/net/flannel.1')) {
    const mac = storedMac(node);
    if (mac) log(`Interface flannel.${vni} mac address set to: ${mac}`);
    await sh('ip', ['link', 'add', `flannel.${vni}`, ...(mac ? ['address', mac] : []), 'type', 'vxlan', 'id', String(vni), 'local', addr, 'dev', f.iface, 'dstport', String(port), 'nolearning']);
  } else log(`Using existing VXLAN device: flannel.${vni}`);
  await sh('ip', ['link', 'set', `flannel.${vni}`, 'mtu', String(lanMtu - 50), 'up']);
  const mac = readFileSync(`/sys/class/net/flannel.${vni}/address`, 'utf8').trim();

  const wanted = wantedAnnotations(node, addr, backendData(vni, mac));
  if (wanted) await kube.patch(`/api/v1/nodes/${nodeName}/status`, { metadata: { annotations: wanted } });

  const [base = ''] = podCidr.split('/');
  const subnetLen = podCidr.split('/')[1] ?? '24';
  writeFileSync('/run/flannel/.subnet.env.tmp', `FLANNEL_NETWORK=${network}\nFLANNEL_SUBNET=${int2ip(ip2int(base) + 1)}/${subnetLen}\nFLANNEL_MTU=${lanMtu - 50}\nFLANNEL_IPMASQ=${f['ip-masq']}\n`);
  renameSync('/run/flannel/.subnet.env.tmp', '/run/flannel/subnet.env');
  await sh('ip', ['addr', 'replace', `${base}/32`, 'dev', `flannel.${vni}`]);

  const rules = iptablesRules(network, podCidr, f['ip-masq'] === 'true');
  await ensureRules(rules);
  setInterval(() => void ensureRules(rules), 5000);

  await sh('ip', ['route', 'flush', 'dev', `flannel.${vni}`]);
  const programmed = new Map<string, RemoteLease>();
  const sync = async (): Promise<void> => {
    const list = await kube.get('/api/v1/nodes');
    const items = Array.isArray(list.items) ? list.items.filter(isObject) : [];
    const leases = new Map(remoteLeases(items, nodeName).map((l) => [l.subnet, l]));
    let ipBatch = '';
    let fdbBatch = '';
    for (const [subnet, old] of programmed) {
      const now = leases.get(subnet);
      if (now && now.vtepMac === old.vtepMac && now.publicIp === old.publicIp) continue;
      fdbBatch += `fdb del ${old.vtepMac} dev flannel.${vni} dst ${old.publicIp} self\n`;
      if (!now) ipBatch += `route del ${subnet} dev flannel.${vni}\nneigh del ${subnet.split('/')[0] ?? ''} dev flannel.${vni}\n`;
      programmed.delete(subnet);
    }
    for (const [subnet, l] of leases) {
      if (programmed.has(subnet)) continue;
      const gw = subnet.split('/')[0] ?? '';
      ipBatch += `neigh replace ${gw} lladdr ${l.vtepMac} dev flannel.${vni} nud permanent\nroute replace ${subnet} via ${gw} dev flannel.${vni} onlink\n`;
      fdbBatch += `fdb append ${l.vtepMac} dev flannel.${vni} dst ${l.publicIp} self permanent\n`;
      programmed.set(subnet, l);
      log(`Handling lease for ${l.node}: subnet ${subnet}, PublicIP ${l.publicIp}, VtepMAC ${l.vtepMac}`);
    }
    if (fdbBatch) await sh('bridge', ['-force', '-batch', '-'], fdbBatch).catch(() => undefined);
    if (ipBatch) await sh('ip', ['-force', '-batch', '-'], ipBatch).catch(() => undefined);
  };
  await sync();
  log(`subnet ${podCidr}, VtepMAC ${mac}, PublicIP ${addr}; following the node objects`);
  if (process.env.NOTIFY_FILE) writeFileSync(process.env.NOTIFY_FILE, '');
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    await sync().catch((err: Error) => log(`cannot list nodes: ${err.message}`));
  }
}

/** flannel 0.26's rules (pkg/trafficmngr/iptables): the FLANNEL-FWD accepts, and with --ip-masq FLANNEL-POSTRTG. */
function iptablesRules(network: string, podCidr: string, masq: boolean): string[][] {
  const fwd = ['-m', 'comment', '--comment', 'flanneld forward'];
  const m = ['-m', 'comment', '--comment', 'flanneld masq'];
  return [
    ...(masq
      ? [
          ['nat', 'POSTROUTING', ...m, '-j', 'FLANNEL-POSTRTG'],
          ['nat', 'FLANNEL-POSTRTG', '-m', 'mark', '--mark', '0x4000/0x4000', ...m, '-j', 'RETURN'],
          ['nat', 'FLANNEL-POSTRTG', '-s', podCidr, '-d', network, ...m, '-j', 'RETURN'],
          ['nat', 'FLANNEL-POSTRTG', '-s', network, '-d', podCidr, ...m, '-j', 'RETURN'],
          ['nat', 'FLANNEL-POSTRTG', '!', '-s', network, '-d', podCidr, ...m, '-j', 'RETURN'],
          ['nat', 'FLANNEL-POSTRTG', '-s', network, '!', '-d', '224.0.0.0/4', ...m, '-j', 'MASQUERADE', '--random-fully'],
          ['nat', 'FLANNEL-POSTRTG', '!', '-s', network, '-d', network, ...m, '-j', 'MASQUERADE', '--random-fully'],
        ]
      : []),
    ['filter', 'FORWARD', ...fwd, '-j', 'FLANNEL-FWD'],
    ['filter', 'FLANNEL-FWD', '-s', network, ...fwd, '-j', 'ACCEPT'],
    ['filter', 'FLANNEL-FWD', '-d', network, ...fwd, '-j', 'ACCEPT'],
  ];
}

/** ensureIPTables: nothing if every rule exists; else delete those present and append all in order. */
async function ensureRules(rules: string[][]): Promise<void> {
  const check = await Promise.all(rules.map(([t = '', c = '', ...a]) => sh('iptables', ['-w', '-t', t, '-C', c, ...a]).then(() => true, () => false)));
  if (check.every(Boolean)) return;
  // The chains first (CreateIP4Chain), so the jumps into them can be added.
  for (const [t = '', c = ''] of rules) if (c.startsWith('FLANNEL-')) await sh('iptables', ['-w', '-t', t, '-N', c]).catch(() => undefined);
  for (const [t = '', c = '', ...a] of rules) {
    await sh('iptables', ['-w', '-t', t, '-D', c, ...a]).catch(() => undefined);
    await sh('iptables', ['-w', '-t', t, '-A', c, ...a]).catch((err: Error) => log(`cannot add iptables rule: ${err.message.split('\n')[0] ?? ''}`));
  }
}

main().catch((err: unknown) => die(err instanceof Error ? err.message : String(err)));
