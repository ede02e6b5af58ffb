/**
 * `lab up --stack k8s`: pods set up by the real CNI plugins through the flannel CNI stand-in,
 * flanneld in kube subnet manager mode, and the lab's Kubernetes API driven by the real kubectl.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { labExec, labProbe } from '../../src/lab/index.js';
import { k8sLab, OLD_KUBECTL, until } from './k8s-support.js';

const lab = k8sLab('k8');
const L = lab.name;
const run = lab.run;

/** The two real clients: the machine's kubectl, and Debian's 1.20. */
const CLIENTS = [
  { name: "the machine's kubectl (1.32)", bin: 'kubectl' },
  { name: "Debian's kubectl 1.20", bin: OLD_KUBECTL },
];

const kubectl = (...args: string[]): ReturnType<typeof run> => run('kubectl', args);

function json<T>(...args: string[]): T {
  const r = kubectl(...args, '-o', 'json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

const sh = lab.sh;

interface Node {
  metadata: { name: string; resourceVersion: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: { podCIDR: string; unschedulable?: boolean };
}
interface Pod {
  metadata: { name: string; namespace: string };
  spec: { nodeName: string };
  status: { phase: string; podIP?: string };
}
const node = (name: string): Node => json<Node>('get', 'node', name);

describe('--stack k8s', () => {
  it('comes up with every pod pair reachable over cni0 and flannel.1', async () => {
    expect(lab.info().nodes.map((n) => `${n.name}:${n.roles.join('+')}`)).toEqual(['m1:etcd+control-plane', 'a:worker', 'b:worker', 'c:worker']);
    const probe = await labProbe(L);
    expect(probe.pairs).toHaveLength(6);
    expect(probe.ok).toBe(true);
    // The pod sits behind the bridge the real bridge plugin made, on the node's podCIDR.
    expect(await sh('a', 'ip -4 -o addr show dev cni0 | awk \'{print $4}\'')).toBe('10.244.1.1/24');
    expect(await sh('a', 'cat /run/flannel/subnet.env')).toBe('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true');
    expect(await sh('a', 'ls /var/lib/cni/networks/cbr0')).toContain(probe.pods.find((p) => p.node === 'a')?.ip);
  });

  it('kubectl get nodes/pods -o json: roles, podCIDRs, flannel annotations, running pods', () => {
    const nodes = json<{ kind: string; items: Node[] }>('get', 'nodes');
    expect(nodes.items.map((n) => `${n.metadata.name} ${n.spec.podCIDR}`)).toEqual(['m1 10.244.0.0/24', 'a 10.244.1.0/24', 'b 10.244.2.0/24', 'c 10.244.3.0/24']);
    expect(nodes.items[0]?.metadata.labels).toHaveProperty('node-role.kubernetes.io/control-plane', '');
    expect(nodes.items[1]?.metadata.labels).toHaveProperty('node-role.kubernetes.io/worker', '');
    const a = nodes.items[1]?.metadata.annotations ?? {};
    expect(a['flannel.alpha.coreos.com/backend-type']).toBe('vxlan');
    expect(a['flannel.alpha.coreos.com/kube-subnet-manager']).toBe('true');
    expect(a['flannel.alpha.coreos.com/public-ip']).toBe(lab.info().nodes.find((n) => n.name === 'a')?.address);
    expect(a['flannel.alpha.coreos.com/backend-data']).toMatch(/^\{"VNI":1,"VtepMAC":"[0-9a-f:]{17}"\}$/);
    const pods = json<{ items: Pod[] }>('get', 'pods', '--all-namespaces');
    // flannel runs as the kube-flannel DaemonSet's pod on every node, on the host's network.
    expect(pods.items.map((p) => `${p.metadata.namespace}/${p.metadata.name.replace(/-[a-z0-9]{5}$/, '-xxxxx')} ${p.spec.nodeName} ${p.status.phase} ${p.status.podIP ?? ''}`)).toEqual([
      ...lab.info().nodes.map((n) => `kube-flannel/kube-flannel-ds-xxxxx ${n.name} Running ${n.address}`),
      'default/a-pod0 a Running 10.244.1.2',
      'default/b-pod0 b Running 10.244.2.2',
      'default/c-pod0 c Running 10.244.3.2',
    ]);
    expect(json<{ items: Node[] }>('get', 'nodes', '-l', 'node-role.kubernetes.io/worker').items.map((n) => n.metadata.name)).toEqual(['a', 'b', 'c']);
  });

  it('plain kubectl get prints the server-side Table: status, roles, readiness', () => {
    const nodes = kubectl('get', 'nodes').stdout.split('\n').map((l) => l.split(/\s+/).filter((c) => !/^(\d+[smhd])+$/.test(c)).join(' '));
    expect(nodes).toEqual(['NAME STATUS ROLES AGE VERSION', 'm1 Ready control-plane v1.32.0', 'a Ready worker v1.32.0', 'b Ready worker v1.32.0', 'c Ready worker v1.32.0', '']);
    expect(kubectl('get', 'pods', '-A', '-o', 'wide').stdout).toMatch(/^default\s+a-pod0\s+1\/1\s+Running\s+0\s+\S+\s+10\.244\.1\.2\s+a\s/m);
  });

  describe.each(CLIENTS)('$name', ({ bin }) => {
    const k = (...args: string[]): ReturnType<typeof run> => run(bin, args);

    it('is there', () => {
      expect(existsSync(bin) || bin === 'kubectl', `${bin} is missing: run scripts/ensure-deps.sh`).toBe(true);
    });

    it('annotate, label, patch (strategic merge and merge), cordon and uncordon change the node under a new resourceVersion', () => {
      const before = node('b').metadata.resourceVersion;
      expect(k('annotate', 'node', 'b', 'example.com/owner=ops').stdout).toBe('node/b annotated\n');
      expect(k('label', 'node', 'b', 'tier=edge').stdout).toBe('node/b labeled\n');
      expect(k('patch', 'node', 'b', '-p', '{"spec":{"taints":[{"key":"lab","effect":"NoSchedule"}]}}').code).toBe(0);
      expect(k('patch', 'node', 'b', '--type', 'merge', '-p', '{"spec":{"podCIDR":"10.244.2.0/24","unschedulable":false}}').code).toBe(0);
      expect(k('cordon', 'b').stdout).toBe('node/b cordoned\n');
      let b = node('b');
      expect(Number(b.metadata.resourceVersion)).toBeGreaterThan(Number(before));
      expect(b.metadata.annotations['example.com/owner']).toBe('ops');
      expect(b.metadata.labels.tier).toBe('edge');
      expect(b.spec).toMatchObject({ unschedulable: true, taints: [{ key: 'lab', effect: 'NoSchedule' }] });
      // Undone: `key-`, `$patch: delete` on a keyed list element, uncordon, null in a merge patch.
      expect(k('annotate', 'node', 'b', 'example.com/owner-').code).toBe(0);
      expect(k('label', 'node', 'b', 'tier-').code).toBe(0);
      expect(k('patch', 'node', 'b', '-p', '{"spec":{"taints":[{"key":"lab","$patch":"delete"}]}}').code).toBe(0);
      expect(k('uncordon', 'b').stdout).toBe('node/b uncordoned\n');
      expect(k('patch', 'node', 'b', '--type', 'merge', '-p', '{"spec":{"unschedulable":null}}').code).toBe(0);
      b = node('b');
      expect(b.metadata.annotations).not.toHaveProperty('example.com/owner');
      expect(b.metadata.labels).not.toHaveProperty('tier');
      expect(b.spec).toEqual({ podCIDR: '10.244.2.0/24', podCIDRs: ['10.244.2.0/24'] });
    });

    it('gets 404, 409 and 422 as the API conventions say, and reports them', () => {
      expect(k('get', 'node', 'zz')).toMatchObject({ code: 1, stderr: 'Error from server (NotFound): nodes "zz" not found' });
      expect(k('annotate', 'node', 'c', '--overwrite', '--resource-version=1', 'example.com/x=1')).toMatchObject({
        code: 1,
        stderr: 'Error from server (Conflict): Operation cannot be fulfilled on nodes "c": the object has been modified; please apply your changes to the latest version and try again',
      });
      const current = node('c').metadata.resourceVersion;
      expect(k('annotate', 'node', 'c', '--overwrite', `--resource-version=${current}`, 'example.com/x=1').code).toBe(0);
      expect(k('patch', 'node', 'c', '-p', '{"spec":{"podCIDR":"10.244.9.0/24"}}')).toMatchObject({
        code: 1,
        stderr: 'The Node "c" is invalid: spec.podCIDR: Forbidden: node updates may not change podCIDR except from "" to valid',
      });
    });
  });

  it('a restarted API server keeps its objects and their resourceVersions (its store stands in for etcd)', async () => {
    const before = json<{ metadata: { resourceVersion: string }; items: Node[] }>('get', 'nodes');
    await sh('m1', 'systemctl restart kube-apiserver');
    const after = json<{ metadata: { resourceVersion: string }; items: Node[] }>('get', 'nodes');
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after.items).toEqual(before.items);
  });

  it('a restarted flanneld keeps flannel.1 and its MAC; recreating the device reuses the annotated VtepMAC', async () => {
    const mac = await sh('a', 'cat /sys/class/net/flannel.1/address');
    const ifindex = await sh('a', 'cat /sys/class/net/flannel.1/ifindex');
    const annotated = (): string => node('a').metadata.annotations['flannel.alpha.coreos.com/backend-data'] ?? '';
    expect(annotated()).toBe(`{"VNI":1,"VtepMAC":"${mac}"}`);
    await sh('a', 'systemctl restart flanneld');
    expect(await sh('a', 'cat /sys/class/net/flannel.1/ifindex')).toBe(ifindex);
    expect(await sh('a', 'cat /sys/class/net/flannel.1/address')).toBe(mac);
    // A device deleted under it (an `ip link del`, a network restart): recreated with the stored MAC.
    await sh('a', 'systemctl stop flanneld; ip link del flannel.1; systemctl start flanneld');
    expect(await sh('a', 'cat /sys/class/net/flannel.1/ifindex')).not.toBe(ifindex);
    expect(await sh('a', 'cat /sys/class/net/flannel.1/address')).toBe(mac);
    expect(annotated()).toBe(`{"VNI":1,"VtepMAC":"${mac}"}`);
    await until('every pod pair reachable again', async () => (await labProbe(L)).ok, 20_000);
  });

  it('a cni0 whose address is not the subnet makes the real bridge plugin fail with its real error', async () => {
    await sh('c', 'ip addr flush dev cni0 && ip addr add 10.244.99.1/24 dev cni0');
    // As containerd calls the network's first plugin: the list's name and cniVersion injected.
    const add = await labExec(
      L,
      'c',
      [
        'ip netns add cni-test &&',
        "jq -c '.plugins[0] + {name: .name, cniVersion: .cniVersion}' /etc/cni/net.d/10-flannel.conflist |",
        `CNI_COMMAND=ADD CNI_CONTAINERID=${'ab'.repeat(32)} CNI_NETNS=/var/run/netns/cni-test CNI_IFNAME=eth0`,
        'CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=test" CNI_PATH=/opt/cni/bin:/usr/lib/cni /opt/cni/bin/flannel',
      ].join(' '),
    );
    expect(add.code).not.toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({
      code: 999,
      msg: 'failed to delegate add: failed to set bridge addr: "cni0" already has an IP address different from 10.244.3.1/24',
    });
    // The usual remedy's network half: delete cni0; the next sandbox gets it back on the subnet.
    await sh('c', `ip link del cni0; ip netns del cni-test; ip netns add cni-test
      jq -c '.plugins[0] + {name: .name, cniVersion: .cniVersion}' /etc/cni/net.d/10-flannel.conflist |
      CNI_COMMAND=ADD CNI_CONTAINERID=${'cd'.repeat(32)} CNI_NETNS=/var/run/netns/cni-test CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin:/usr/lib/cni /opt/cni/bin/flannel >/dev/null`);
    expect(await sh('c', "ip -4 -o addr show dev cni0 | awk '{print $4}'")).toBe('10.244.3.1/24');
  });
});
