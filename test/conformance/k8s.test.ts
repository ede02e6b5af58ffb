/**
 * Conformance of the k8s stack's stand-ins with the real programs (flannel-io/cni-plugin
 * flannel.go and flannel_linux.go; flannel pkg/subnet/kube/kube.go; the Kubernetes API
 * conventions and the eviction subresource, pkg/registry/core/pod/storage/eviction.go; containerd's
 * sandbox teardown). Each test states a fact of the real program and checks it from outside, calling
 * the flannel CNI plugin with the CNI protocol as containerd does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labExec, labUp, type LabInfo } from '../../src/lab/index.js';

/** RB_TEST_LAB lets two checkouts run this file side by side. */
const NAME = process.env.RB_TEST_LAB ?? 'ck8';
let info: LabInfo;
const cache = mkdtempSync(join(tmpdir(), `rb-${NAME}-kubectl-`));

beforeAll(async () => {
  info = await labUp({ name: NAME, stack: 'k8s', workers: 1 });
});
afterAll(async () => {
  await labDown(NAME);
  rmSync(cache, { recursive: true, force: true });
});

async function sh(node: string, cmd: string): Promise<string> {
  const r = await labExec(NAME, node, cmd);
  expect(r.code, `${node}: ${cmd}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

/** The flannel plugin called as containerd calls it; `conf` is a jq filter over the list's first plugin. */
async function flannel(command: 'ADD' | 'DEL', id: string, opts: { conf?: string; subnetFile?: string } = {}): Promise<{ code: number; out: Record<string, unknown> }> {
  const r = await labExec(
    NAME,
    'a',
    `ip netns add ${id} 2>/dev/null
     jq -c '.plugins[0] + {name: .name, cniVersion: .cniVersion} ${opts.subnetFile ? `+ {subnetFile: "${opts.subnetFile}"}` : ''} ${opts.conf ?? ''}' /etc/cni/net.d/10-flannel.conflist |
     CNI_COMMAND=${command} CNI_CONTAINERID=${id} CNI_NETNS=/var/run/netns/${id} CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin:/usr/lib/cni /opt/cni/bin/flannel`,
  );
  return { code: r.code, out: r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : {} };
}

describe('flannel CNI plugin', () => {
  it('fails with loadFlannelSubnetEnv when subnet.env is absent or lacks a key', async () => {
    expect(await flannel('ADD', 'c1', { subnetFile: '/run/flannel/none.env' })).toMatchObject({
      code: 1,
      out: { code: 999, msg: 'loadFlannelSubnetEnv failed: open /run/flannel/none.env: no such file or directory' },
    });
    await sh('a', "grep -v '^FLANNEL_MTU=' /run/flannel/subnet.env > /run/flannel/partial.env");
    expect((await flannel('ADD', 'c2', { subnetFile: '/run/flannel/partial.env' })).out.msg).toBe('loadFlannelSubnetEnv failed: /run/flannel/partial.env is missing FLANNEL_MTU');
  });

  it('delegates to bridge with the conf doCmdAdd builds, saved for DEL; DEL releases the address', async () => {
    const add = await flannel('ADD', 'c3');
    expect(add.code).toBe(0);
    const saved = JSON.parse(await sh('a', 'cat /var/lib/cni/flannel/c3')) as Record<string, unknown>;
    expect(saved).toEqual({
      hairpinMode: true,
      isDefaultGateway: true,
      name: 'cbr0',
      type: 'bridge',
      ipMasq: false, // FLANNEL_IPMASQ=true: flanneld masquerades, so the bridge does not
      mtu: 1450,
      isGateway: true,
      cniVersion: '0.3.1',
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24' }]], routes: [{ dst: '10.244.0.0/16' }] },
    });
    const ip = (add.out.ips as { address: string }[])[0]?.address.split('/')[0] ?? '';
    // Whole entries: the node's real pods have files there too, named by 64-hex ids and addresses.
    const entries = async (dir: string): Promise<string[]> => (await sh('a', `ls ${dir}`)).split('\n');
    expect(await entries('/var/lib/cni/networks/cbr0')).toContain(ip);
    expect((await flannel('DEL', 'c3')).code).toBe(0);
    expect(await entries('/var/lib/cni/networks/cbr0')).not.toContain(ip);
    expect(await entries('/var/lib/cni/flannel')).not.toContain('c3');
  });

  it('refuses a delegate that sets ipam or name itself', async () => {
    expect((await flannel('ADD', 'c4', { conf: '| .delegate.ipam = {}' })).out.msg).toBe("'delegate' dictionary must not have 'ipam' field, it'll be set by flannel");
    expect((await flannel('ADD', 'c5', { conf: '| .delegate.name = "x"' })).out.msg).toBe("'delegate' dictionary must not have 'name' field, it'll be set by flannel");
  });
});

describe('flanneld (kube subnet manager)', () => {
  const rv = (): string => {
    const r = spawnSync('kubectl', ['--cache-dir', cache, 'get', 'node', 'a', '-o', 'jsonpath={.metadata.resourceVersion}'], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: info.kubeconfig } });
    return r.stdout;
  };

  it('patches its node only when an annotation differs (AcquireLease), so a plain restart writes nothing', async () => {
    const before = rv();
    await sh('a', 'systemctl restart flanneld');
    expect(rv()).toBe(before);
  });

  it('exits 1 without br_netfilter, as main.go does in iptables mode, and starts once the module is back', async () => {
    // The module is kernel-wide: only node a's view of /proc/sys/net/bridge goes.
    await sh('a', 'mount -t tmpfs -o ro,size=0 tmpfs /proc/sys/net/bridge');
    try {
      const r = await labExec(NAME, 'a', 'systemctl restart flanneld');
      expect(r.code).not.toBe(0);
      expect(await sh('a', 'grep -c "flanneld: Failed to check br_netfilter: stat /proc/sys/net/bridge/bridge-nf-call-iptables: no such file or directory$" /run/lab/log/flanneld.log')).not.toBe('0');
    } finally {
      await sh('a', 'umount /proc/sys/net/bridge; systemctl reset-failed flanneld; systemctl restart flanneld');
    }
    expect(await sh('a', 'systemctl is-active flanneld')).toBe('active');
  });

  it('reads the subnet from node.spec.podCIDR, and writes subnet.env by rename (a new inode)', async () => {
    const inode = await sh('a', 'stat -c %i /run/flannel/subnet.env');
    await sh('a', 'systemctl restart flanneld');
    expect(await sh('a', 'stat -c %i /run/flannel/subnet.env')).not.toBe(inode);
    expect(await sh('a', '. /run/flannel/subnet.env; echo $FLANNEL_SUBNET')).toBe('10.244.1.1/24');
  });
});

describe('the API and the kubelet/containerd pair', () => {
  const kubectl = (args: string[], input?: string): { code: number; stdout: string; stderr: string } => {
    const r = spawnSync('kubectl', ['--cache-dir', cache, ...args], { encoding: 'utf8', input, env: { ...process.env, KUBECONFIG: info.kubeconfig } });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.trim() };
  };
  const podOn = (): { name: string; uid: string; ip: string } => {
    const r = kubectl(['get', 'pods', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.metadata.uid} {.status.podIP} {.status.phase}{"\\n"}{end}']);
    const [name = '', uid = '', ip = ''] = (r.stdout.split('\n').find((l) => l.endsWith(' Running')) ?? '').split(' ');
    return { name, uid, ip };
  };
  async function until(what: string, test: () => Promise<boolean> | boolean): Promise<void> {
    const end = Date.now() + 30_000;
    while (!(await test())) {
      if (Date.now() > end) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  it("an eviction a budget forbids is 429 TooManyRequests with eviction.go's message and DisruptionBudget cause", () => {
    const pod = podOn();
    const pdb = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'all' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'probe' } } } };
    expect(kubectl(['create', '--validate=false', '-f', '-'], JSON.stringify(pdb)).code).toBe(0);
    const eviction = JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod.name, namespace: 'default' } });
    const r = kubectl(['create', '--raw', `/api/v1/namespaces/default/pods/${pod.name}/eviction`, '-f', '-'], eviction);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error from server (TooManyRequests): Cannot evict pod as it would violate the pod's disruption budget.");
    expect(kubectl(['delete', 'pdb', 'all']).code).toBe(0);
  });

  it("a deleted pod's sandbox is torn down through CNI DEL (its address released, its netns gone), and the ReplicaSet's new pod gets a sandbox of its own", async () => {
    const pod = podOn();
    const netns = await sh('a', `awk '$4 == "${pod.uid}" {print $3}' /run/lab/pods`);
    expect(netns).toMatch(/^cni-/);
    expect(await sh('a', 'ls /var/lib/cni/networks/cbr0')).toContain(pod.ip);
    expect(kubectl(['delete', 'pod', pod.name]).code).toBe(0);
    await until('the sandbox gone', async () => !(await sh('a', 'ls /var/run/netns; ls /var/lib/cni/networks/cbr0')).split(/\s+/).some((f) => f === netns || f === pod.ip));
    await until('a new pod running', () => podOn().uid !== '' && podOn().uid !== pod.uid);
    expect(podOn().name).toMatch(/^probe-[a-z0-9]{5}$/);
  });
});
