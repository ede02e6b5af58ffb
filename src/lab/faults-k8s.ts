/**
 * The k8s stack's own faults, made the way they happen on a kubeadm node running flannel's kube
 * subnet manager (docs/lab.md, "Faults of the k8s stack", says how each shows and is fixed by
 * hand), and `healK8s`, which undoes them with those fixes so tests can share one lab.
 */
import type { Snapshot } from './k8s/store.js';
import { randomBytes, randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { exec, waitFor } from './fault-exec.js';
import { MODULES_LOAD, POD_NETWORK } from './k8s-stack.js';
import { LAN_MTU } from './network.js';
import { hasFilterTable } from './firewall.js';
import { ANNOTATION_PREFIX } from './k8s/flannel-leases.js';
import { isObject, type JsonObject } from './k8s/patch.js';
import type { FaultDef } from './fault-def.js';
import type { LabState } from './state.js';
import type { NodeSpec } from './topology.js';

/** A fault of the k8s stack only, on a worker (d by default, as the Docker-era faults). */
const k8sFault = (name: string, description: string, signature: string): FaultDef => ({
  name, description, signature, role: 'worker', ha: false, defaultNode: 'd', stack: 'k8s',
  notOn: 'it needs --stack k8s (the docker stack has no cni0, node objects or kube-mode flanneld)',
});

export const K8S_FAULTS: FaultDef[] = [
  k8sFault(
    'cni0-stale',
    "the node object deleted and re-registered: a new podCIDR; flanneld restarted writes it to subnet.env; the node's pods recreated; cni0 keeps the old address",
    'no running pod on the node: the bridge plugin fails "cni0" already has an IP address different from <new subnet>',
  ),
  k8sFault(
    'node-recreated',
    "the node's flannel backend-data annotation restored from before the machine was rebuilt: a VtepMAC flannel.1 no longer has; the other nodes program it",
    'every pair with the node: vxlan frames to it carry a MAC flannel.1 does not own',
  ),
  k8sFault(
    'no-br-netfilter',
    'a reboot without br_netfilter loaded (/proc/sys/net/bridge hidden in the node): flanneld exits "Failed to check br_netfilter", no subnet.env',
    'no running pod on the node: the flannel CNI plugin fails loadFlannelSubnetEnv',
  ),
  k8sFault(
    'vxlan-blocked',
    "the node's firewall drops UDP 8472 (iptables -I INPUT -p udp --dport 8472 -j DROP), as firewalld does until the port is opened",
    'every pair with the node',
  ),
  k8sFault(
    'mtu-mismatch',
    "the node's eth0 MTU lowered to 1400 under a running overlay: flannel.1 and the pods keep 1450, so full-size vxlan frames to the node are dropped",
    'every pair with the node fails the full-size ICMP check; TCP (small packets) still works',
  ),
  k8sFault(
    'iptables-split',
    "iptables-legacy -P FORWARD DROP while flannel's accepts are in iptables-nft (the node's iptables): both tables see every packet",
    "every pair with the node; `iptables -S FORWARD` (nft) shows only accepts",
  ),
];

const STALE_MTU = 1400;
const VXLAN_DROP = 'INPUT -p udp --dport 8472 -j DROP';
const SA = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The lab API's objects as the stand-in stores them on the control plane (its "etcd"). */
const API_DATA = '/run/lab/kube-apiserver.json';
/** Where kubelet asks containerd for a pod's sandbox: one file per pod uid (src/lab/sh/containerd). */
const CRI_REQUESTS = '/run/containerd/cri';

/**
 * kubelet's StopPodSandbox for every pod of the node, containerd stopped: the pod's processes
 * killed, the CNI DEL through the conflist's plugin (flannel → bridge → host-local releases the
 * address), the network namespace removed. The lab's containerd is ready only once its pods run,
 * so a start still retrying them (a fault's) holds the unit; systemd would cancel that job, here
 * its main process is ended so the start fails and the stop goes through.
 */
const STOP_SANDBOXES = `if [ "$(systemctl is-active containerd)" = activating ]; then
  kill -TERM -- "-$(systemctl show -p MainPID --value containerd)" 2> /dev/null || true
  while [ "$(systemctl is-active containerd)" = activating ]; do sleep 0.2; done
fi
systemctl stop containerd
list=$(ls /etc/cni/net.d/*.conflist | head -1)
conf=$(jq -c '.plugins[0] + {name: .name, cniVersion: .cniVersion}' "$list")
while read -r pod ip ns _; do
  [ -n "$pod" ] || continue
  pids=$(ip netns pids "$ns" 2> /dev/null || true)
  [ -z "$pids" ] || kill $pids
  cid=$(head -1 "/var/lib/cni/networks/$(jq -r .name "$list")/$ip" 2> /dev/null || true)
  [ -z "$cid" ] || CNI_COMMAND=DEL CNI_CONTAINERID=$cid CNI_NETNS=/var/run/netns/$ns CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin:/usr/lib/cni /opt/cni/bin/flannel <<< "$conf" > /dev/null
  ip netns del "$ns" 2> /dev/null || true
done < /run/lab/pods
: > /run/lab/pods`;

/** containerd (Type=notify) is ready only once every pod runs, so a start that will keep failing goes to the background. */
const START_IN_BACKGROUND = (unit: string): string => `setsid systemctl start ${unit} < /dev/null > /dev/null 2>&1 &`;

const controlPlaneNode = (state: LabState): string => state.topology.nodes.find((n) => n.roles.includes('control-plane'))?.name ?? 'm1';

async function logShows(state: LabState, node: string, unit: string, text: string): Promise<boolean> {
  return (await exec(state, node, `grep -c -F -e ${JSON.stringify(text)} /run/lab/log/${unit}.log || true`)).trim() !== '0';
}

/**
 * The node deleted and registered again, as `kubectl delete node` and a kubelet restart (or a
 * kubeadm reset and join) leave it: a new uid, no flannel annotations, and the next free /24
 * from nodeipam. Done in the API's storage with the API stopped, as etcd would hold it; the pods
 * bound to it come back Pending. Returns the new podCIDR.
 */
async function reRegisterNode(state: LabState, node: string): Promise<string> {
  const cp = controlPlaneNode(state);
  await exec(state, cp, 'systemctl stop kube-apiserver');
  try {
    // The API's storage (k8s/store.ts Snapshot): every resource's objects under one revision counter.
    const snap = JSON.parse(await exec(state, cp, `cat ${API_DATA}`)) as Snapshot;
    const nodes = snap.objects.nodes ?? [];
    const pods = snap.objects.pods ?? [];
    const spec = (o: JsonObject): JsonObject => (isObject(o.spec) ? o.spec : {});
    const meta = (o: JsonObject): JsonObject => (isObject(o.metadata) ? o.metadata : {});
    const used = new Set(nodes.map((n) => String(spec(n).podCIDR)));
    const [a, b] = POD_NETWORK.split('.');
    const free = Array.from({ length: 256 }, (_, i) => `${a}.${b}.${i}.0/24`).find((c) => !used.has(c));
    if (!free) throw new Error(`no free /24 left in ${POD_NETWORK}`);
    snap.objects.nodes = nodes.map((n) => {
      const m = meta(n);
      if (m.name !== node) return n;
      const annotations = Object.fromEntries(Object.entries(isObject(m.annotations) ? m.annotations : {}).filter(([k]) => !k.startsWith(`${ANNOTATION_PREFIX}/`)));
      return {
        ...n,
        metadata: { ...m, annotations, uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), resourceVersion: String(++snap.revision) },
        spec: { ...spec(n), podCIDR: free, podCIDRs: [free] },
      };
    });
    snap.objects.pods = pods.map((p) => (spec(p).nodeName === node ? { ...p, metadata: { ...meta(p), resourceVersion: String(++snap.revision) }, status: { phase: 'Pending' } } : p));
    await exec(state, cp, `cat > ${API_DATA}.tmp <<'JSON'\n${JSON.stringify(snap)}\nJSON\nmv ${API_DATA}.tmp ${API_DATA}`);
    return free;
  } finally {
    await exec(state, cp, 'systemctl start kube-apiserver');
  }
}

async function cni0Stale(state: LabState, node: string): Promise<void> {
  // The node's pods go with the old node object: their sandboxes first, so that kubelet, which
  // reports what containerd runs, has nothing running to report for them once they are Pending.
  await exec(state, node, STOP_SANDBOXES);
  const cidr = await reRegisterNode(state, node);
  const subnet = cidr.replace(/\.0\/24$/, '.1/24');
  // flannel's pod restarts and takes the new podCIDR; cni0 keeps the old address.
  await exec(state, node, `systemctl restart flanneld\n${START_IN_BACKGROUND('containerd')}`);
  await waitFor(`${node}'s pods to fail on the stale cni0`, 20_000, () => logShows(state, node, 'containerd', `already has an IP address different from ${subnet}`));
}

async function nodeRecreated(state: LabState, node: string): Promise<void> {
  const b = randomBytes(5).toString('hex').match(/../g) ?? [];
  const stale = `02:${b.join(':')}`;
  const patch = JSON.stringify({ metadata: { annotations: { [`${ANNOTATION_PREFIX}/backend-data`]: JSON.stringify({ VNI: 1, VtepMAC: stale }) } } });
  await exec(state, controlPlaneNode(state), `curl -sS -f -o /dev/null --max-time 5 --cacert ${SA}/ca.crt -H "Authorization: Bearer $(cat ${SA}/token)" \\
  -H 'Content-Type: application/strategic-merge-patch+json' -X PATCH "https://127.0.0.1:6443/api/v1/nodes/${node}" --data-binary @- <<'JSON'\n${patch}\nJSON`);
  const gw = (await exec(state, node, '. /run/flannel/subnet.env; echo "${FLANNEL_SUBNET%.*}.0"')).trim();
  await pLimit(16).map(otherWorkers(state, node), (n) =>
    waitFor(`${n.name} to program the stale VtepMAC`, 15_000, async () => (await exec(state, n.name, `ip neigh show ${gw} dev flannel.1`)).includes(stale)),
  );
}

async function noBrNetfilter(state: LabState, node: string): Promise<void> {
  // A reboot: the pods, flannel.1, cni0 and /run go; the module is not loaded again: no
  // modules-load.d file names it any more (containerd, unlike docker, never loads it). The module
  // is kernel-wide, so only this node's view hides it.
  await exec(state, node, `${STOP_SANDBOXES}
systemctl stop flanneld
ip link del cni0 2> /dev/null || true
ip link del flannel.1
rm -f /run/flannel/subnet.env ${MODULES_LOAD.path}
mount -t tmpfs -o ro,size=0 tmpfs /proc/sys/net/bridge
${START_IN_BACKGROUND('flanneld')}
${START_IN_BACKGROUND('containerd')}`);
  await waitFor(`flanneld on ${node} to fail`, 20_000, () => logShows(state, node, 'flanneld', 'Failed to check br_netfilter'));
  await waitFor(`${node}'s pods to fail without subnet.env`, 20_000, () => logShows(state, node, 'containerd', 'loadFlannelSubnetEnv failed'));
}

const otherWorkers = (state: LabState, node: string): NodeSpec[] => state.topology.nodes.filter((n) => n.roles.includes('worker') && n.name !== node);

/** Injects one of K8S_FAULTS on `node` (a worker of a k8s-stack lab). */
export async function breakK8s(state: LabState, fault: string, node: string): Promise<void> {
  switch (fault) {
    case 'cni0-stale':
      return cni0Stale(state, node);
    case 'node-recreated':
      return nodeRecreated(state, node);
    case 'no-br-netfilter':
      return noBrNetfilter(state, node);
    case 'vxlan-blocked':
      await exec(state, node, `iptables -I ${VXLAN_DROP}`);
      return;
    case 'mtu-mismatch':
      await exec(state, node, `ip link set eth0 mtu ${STALE_MTU}`);
      return;
    case 'iptables-split':
      await exec(state, node, 'iptables-legacy -P FORWARD DROP');
      return;
  }
  throw new Error(`no k8s fault ${fault}`);
}

/**
 * Undoes K8S_FAULTS on every worker with the operator's fixes: UDP 8472 allowed, eth0 back to the
 * LAN's MTU, iptables-legacy's FORWARD policy ACCEPT where it has a filter table (setting it
 * would create one), br_netfilter "loaded" again (the hiding
 * mount gone) and named in modules-load.d again when no file is there, flanneld restarted (so it
 * re-patches a stale annotation and writes subnet.env), and where cni0 does not hold the node's
 * subnet: the pods stopped, cni0 deleted, the pods recreated. The shared Docker-era fixes (ip_forward, FORWARD) are labHeal's.
 */
export async function healK8s(state: LabState): Promise<void> {
  const ws = state.topology.nodes.filter((n) => n.roles.includes('worker'));
  await pLimit(16).map(ws, async (n) => {
    await exec(state, n.name, `while iptables -D ${VXLAN_DROP} 2> /dev/null; do :; done
ip link set eth0 mtu ${LAN_MTU}
! ${hasFilterTable('iptables-legacy')} || iptables-legacy -P FORWARD ACCEPT
! mountpoint -q /proc/sys/net/bridge || umount /proc/sys/net/bridge
[ -e ${MODULES_LOAD.path} ] || printf '${MODULES_LOAD.text.replace(/\n/g, '\\n')}' > ${MODULES_LOAD.path}
systemctl reset-failed flanneld 2> /dev/null || true
systemctl restart flanneld
. /run/flannel/subnet.env
set -- $(ip -4 -o addr show dev cni0 2> /dev/null)
if [ -n "\${4:-}" ] && [ "$4" != "$FLANNEL_SUBNET" ]; then
  ${STOP_SANDBOXES.replace(/\n/g, '\n  ')}
  ip link del cni0
fi
# A containerd that is not running its pods (stopped above, or failed) starts again; one still
# retrying them (after no-br-netfilter) succeeds on its own now that subnet.env is back.
case $(systemctl is-active containerd) in active | activating) ;; *) ${START_IN_BACKGROUND('containerd')} ;; esac`);
    // containerd is up long before the sandboxes kubelet asks for are: wait for each of them
    // (a request file per pod uid, listed in /run/lab/pods with that uid once it runs).
    await waitFor(`containerd on ${n.name} to run its pods`, 60_000, async () =>
      (await exec(state, n.name, `[ "$(systemctl is-active containerd)" = active ] || { echo wait; exit 0; }
for f in ${CRI_REQUESTS}/*; do [ -e "$f" ] || continue; grep -q " \${f##*/} " /run/lab/pods || { echo wait; exit 0; }; done; echo ok`)).trim() === 'ok',
    );
  });
}
