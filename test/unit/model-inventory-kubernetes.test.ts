/**
 * An inventory that names a cluster: its nodes, as a kubectl on the PATH lists them, become hosts.
 * The kubectl here is a script that records its arguments and prints what a test gives it, so what
 * the API sends (hostile too) and how kubectl fails are each one case.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { checkInventory, formatProblem, type Host, type Inventory } from '../../src/model/index.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-kinv-'));
const bin = join(dir, 'bin');
mkdirSync(bin);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The fake kubectl: prints `stdout` (and `stderr`), exits with `code`. */
function kubectl(out: { stdout?: string; stderr?: string; code?: number }): void {
  writeFileSync(join(dir, 'stdout'), out.stdout ?? '');
  writeFileSync(join(dir, 'stderr'), out.stderr ?? '');
  const script = `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/args\n/bin/cat ${dir}/stdout\n/bin/cat ${dir}/stderr >&2\nexit ${out.code ?? 0}\n`;
  writeFileSync(join(bin, 'kubectl'), script);
  chmodSync(join(bin, 'kubectl'), 0o755);
}
const argsSeen = (): string[] => readFileSync(join(dir, 'args'), 'utf8').trim().split('\n');

interface NodeSpec {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  addresses?: { type: string; address: string }[];
}
const list = (...nodes: NodeSpec[]): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: nodes.map((n) => ({ metadata: { name: n.name, labels: n.labels, annotations: n.annotations, uid: 'x' }, spec: { podCIDR: '10.244.0.0/24' }, status: { addresses: n.addresses } })),
  });
const CLUSTER = list(
  {
    name: 'm1',
    labels: { 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/hostname': 'm1', 'topology.kubernetes.io/zone': 'z1' },
    annotations: { 'flannel.alpha.coreos.com/public-ip': '10.0.0.10' },
    addresses: [{ type: 'InternalIP', address: '10.0.0.10' }, { type: 'Hostname', address: 'm1.lan' }],
  },
  { name: 'a', labels: { 'node-role.kubernetes.io/worker': '', 'topology.kubernetes.io/zone': 'z2' }, addresses: [{ type: 'InternalIP', address: '10.0.0.11' }, { type: 'ExternalIP', address: '203.0.113.11' }] },
);

let n = 0;
function load(yaml: string): { inventory?: Inventory; problems: string[]; file: string } {
  const file = join(dir, `inv${++n}.yaml`);
  writeFileSync(file, yaml);
  const r = checkInventory(file);
  return { ...(r.inventory && { inventory: r.inventory }), problems: r.problems.map(formatProblem), file };
}
const host = (inv: Inventory | undefined, name: string): Host => {
  const h = inv?.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no host ${name}`);
  return h;
};

beforeEach(() => {
  vi.stubEnv('PATH', bin);
});

describe('kubernetes: the nodes of a cluster as hosts', () => {
  it('makes each node a host: its InternalIP, groups from its roles and chosen labels, vars from labels and annotations, SSH settings as in any inventory', () => {
    kubectl({ stdout: CLUSTER });
    writeFileSync(join(dir, 'kubeconfig'), 'apiVersion: v1\n');
    const r = load(
      [
        'kubernetes:',
        '  kubeconfig: kubeconfig',
        '  context: prod',
        '  selector: kubernetes.io/os=linux',
        '  groups_from_labels: [topology.kubernetes.io/zone]',
        'defaults: { user: ops, port: 2222, identity_file: id_ed25519, vars: { lan_if: eth0 } }',
        'groups:',
        '  canary: { hosts: [a], vars: { tier: canary } }',
        'hosts:',
        '  a: { port: 22, vars: { extra: 1 } }',
        '  bastion: { address: 192.0.2.5 }',
        '',
      ].join('\n'),
    );
    expect(r.problems).toEqual([]);
    expect(argsSeen()).toEqual(['--kubeconfig', join(dir, 'kubeconfig'), '--context', 'prod', 'get', 'nodes', '--selector', 'kubernetes.io/os=linux', '--output', 'json', '--request-timeout=20s']);
    const inv = r.inventory!;
    expect(inv.hosts.map((h) => h.name)).toEqual(['m1', 'a', 'bastion']);
    expect(host(inv, 'm1')).toMatchObject({ address: '10.0.0.10', port: 2222, user: 'ops', identityFile: join(dir, 'id_ed25519'), groups: ['control-plane', 'zone_z1'] });
    expect(host(inv, 'a')).toMatchObject({ address: '10.0.0.11', port: 22, groups: ['canary', 'worker', 'zone_z2'] });
    expect(host(inv, 'bastion')).toMatchObject({ address: '192.0.2.5', groups: [] });
    expect(host(inv, 'm1').vars).toEqual({
      lan_if: 'eth0',
      k8s_labels: { 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/hostname': 'm1', 'topology.kubernetes.io/zone': 'z1' },
      k8s_label_kubernetes_io_hostname: 'm1',
      k8s_label_node_role_kubernetes_io_control_plane: '',
      k8s_label_topology_kubernetes_io_zone: 'z1',
      k8s_annotations: { 'flannel.alpha.coreos.com/public-ip': '10.0.0.10' },
      k8s_annotation_flannel_alpha_coreos_com_public_ip: '10.0.0.10',
      k8s_kubeconfig: join(dir, 'kubeconfig'),
      k8s_context: 'prod',
    });
    // The node a disruptive step drains, reached as the list was read.
    expect(host(inv, 'm1').kubeNode).toEqual({ name: 'm1', kubeconfig: join(dir, 'kubeconfig'), context: 'prod' });
    expect(host(inv, 'bastion').kubeNode).toBeUndefined();
    expect(host(inv, 'a').vars).toMatchObject({ extra: 1, tier: 'canary', k8s_annotations: {} });
    expect(inv.groups.get('worker')?.hosts).toEqual(['a']);
  });

  it('connects to the address type chosen, and says which node lacks it', () => {
    kubectl({ stdout: list({ name: 'm1', addresses: [{ type: 'InternalIP', address: '10.0.0.10' }, { type: 'Hostname', address: 'm1.lan' }] }) });
    expect(host(load('kubernetes: { address: Hostname }\n').inventory, 'm1').address).toBe('m1.lan');
    kubectl({ stdout: CLUSTER });
    const r = load('kubernetes:\n  address: ExternalIP\n');
    expect(r.problems).toEqual([`${r.file}:2:12: kubernetes: node "m1" has no ExternalIP address (it has InternalIP, Hostname) (choose another address: InternalIP, ExternalIP, Hostname, InternalDNS or ExternalDNS)`]);
  });

  it('keeps a label named "secret" a plain value, and gives no flat var to two keys that flatten alike', () => {
    kubectl({ stdout: list({ name: 'a', labels: { secret: 'true', 'x.y': '1', x_y: '2' }, addresses: [{ type: 'InternalIP', address: '10.0.0.11' }] }) });
    const a = host(load('kubernetes: {}\n').inventory, 'a');
    expect(a.secretVars).toEqual([]);
    expect(a.vars).toMatchObject({ k8s_labels: { secret: 'true', 'x.y': '1', x_y: '2' }, k8s_label_secret: 'true' });
    expect(a.vars).not.toHaveProperty('k8s_label_x_y');
  });

  it('refuses a host under hosts: that is no node and has no address (a typo), naming the close node', () => {
    kubectl({ stdout: CLUSTER });
    const r = load('kubernetes: {}\nhosts:\n  aa: { port: 22 }\n');
    expect(r.problems).toEqual([`${r.file}:3:3: host "aa" is not a node of the cluster and has no address (did you mean "a"?)`]);
  });

  it('needs hosts: or kubernetes:', () => {
    const r = load('defaults: { user: root }\n');
    expect(r.problems).toEqual([`${r.file}:1:1: missing required key "hosts" (list the hosts, or name a cluster under kubernetes: to take them from its nodes)`]);
  });
});

describe('kubernetes: what goes wrong, one line at the setting it is about', () => {
  it('kubectl missing', () => {
    vi.stubEnv('PATH', join(dir, 'nowhere'));
    const r = load('hosts: {}\nkubernetes: { context: prod }\n');
    expect(r.problems).toEqual([
      `${r.file}:2:1: kubernetes: kubectl is not installed here (not on the PATH): the node list comes from \`kubectl get nodes\` (install kubectl on this machine, or list the hosts under hosts: instead of naming a cluster)`,
    ]);
  });

  it('a kubeconfig that does not exist', () => {
    const r = load('kubernetes:\n  kubeconfig: nope.conf\n');
    expect(r.problems).toEqual([`${r.file}:2:15: kubernetes: kubeconfig ${join(dir, 'nope.conf')} does not exist (fix the path (a relative one is read from the inventory's directory), or leave it out to use kubectl's ($KUBECONFIG, ~/.kube/config))`]);
  });

  it('an unknown context', () => {
    kubectl({ stderr: 'Error in configuration: context was not found for specified context: prod\n', code: 1 });
    const r = load('kubernetes:\n  context: prod\n');
    expect(r.problems).toEqual([`${r.file}:2:12: kubernetes: kubectl get nodes failed: Error in configuration: context was not found for specified context: prod (name a context of the kubeconfig (kubectl config get-contexts lists them))`]);
  });

  it('an API server out of reach: kubectl\'s last line, not its klog lines, and the command to try', () => {
    kubectl({ stderr: 'E1203 12:57:01.669498    8457 memcache.go:265] "Unhandled Error" err="couldn\'t get"\nThe connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?\n', code: 1 });
    const r = load('kubernetes: { context: prod }\n');
    expect(r.problems).toEqual([
      `${r.file}:1:1: kubernetes: kubectl get nodes failed: The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port? (is the API server reachable from this machine? try: kubectl --context prod get nodes --output json --request-timeout=20s (or list the hosts under hosts:))`,
    ]);
  });

  it('no node matches the selector', () => {
    kubectl({ stdout: list() });
    const r = load('kubernetes:\n  selector: role=gpu\n');
    expect(r.problems).toEqual([`${r.file}:2:13: kubernetes: no node matches selector "role=gpu" (fix the selector (kubectl get nodes --show-labels shows the labels), or leave it out for every node)`]);
  });

  it('hostile output: not JSON, a name or an address that is no such thing, escape sequences in errors', () => {
    kubectl({ stdout: 'Warning: \u001b[31mpwned\n' });
    let r = load('kubernetes: {}\n');
    expect(r.problems).toEqual([`${r.file}:1:1: kubernetes: kubectl get nodes -o json printed something that is not JSON (check the kubectl on the PATH: kubectl get nodes --output json --request-timeout=20s)`]);
    kubectl({ stdout: list({ name: '-oProxyCommand=sh', addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] }) });
    r = load('kubernetes: {}\n');
    expect(r.problems).toEqual([`${r.file}:1:1: kubernetes: the node list from the API is not usable: items.0.metadata.name: not a usable host name (look at it with: kubectl get nodes --output json --request-timeout=20s)`]);
    kubectl({ stdout: list({ name: 'a', addresses: [{ type: 'InternalIP', address: '$(reboot)' }] }) });
    r = load('kubernetes: {}\n');
    expect(r.problems).toEqual([`${r.file}:1:1: kubernetes: node "a" has InternalIP "$(reboot)", which is not an IP address or DNS name (choose another address: InternalIP, ExternalIP, Hostname, InternalDNS or ExternalDNS)`]);
    kubectl({ stderr: 'error: \u001b]0;owned\u0007 forbidden\n', code: 1 });
    r = load('kubernetes: {}\n');
    expect(r.problems).toEqual([`${r.file}:1:1: kubernetes: kubectl get nodes failed: error: ^[]0;owned^G forbidden (the kubeconfig's user may not list nodes; try: kubectl get nodes --output json --request-timeout=20s)`]);
  });
});
