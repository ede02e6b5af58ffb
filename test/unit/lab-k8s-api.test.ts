/**
 * The k8s stack's pure parts: patches, selectors, flannel's annotations, disruption budgets,
 * scheduling, the controllers' decisions, and the API's answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, request, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergePatch, PatchError, strategicMergePatch, type JsonObject } from '../../src/lab/k8s/patch.js';
import { fieldsMatch, matches, parseFieldSelector, parseLabelSelector, SelectorError } from '../../src/lab/k8s/selectors.js';
import { backendData, remoteLeases, storedMac, wantedAnnotations } from '../../src/lab/k8s/flannel-leases.js';
import { apiHandler } from '../../src/lab/k8s/apiserver.js';
import { Store } from '../../src/lab/k8s/store.js';
import { humanAge, toTable } from '../../src/lab/k8s/table.js';
import { evictionVerdict, pdbStatus } from '../../src/lab/k8s/disruption.js';
import { feasible, pickNode } from '../../src/lab/k8s/scheduling.js';
import { reconcile } from '../../src/lab/k8s/controllers.js';

describe('patches', () => {
  const node: JsonObject = { metadata: { name: 'a', labels: { x: '1', y: '2' } }, spec: { taints: [{ key: 'k', effect: 'NoSchedule' }], podCIDRs: ['10.244.1.0/24'] } };

  it('merge patch: objects merge, null deletes, lists replace', () => {
    expect(mergePatch(node, { metadata: { labels: { x: null, z: '3' } }, spec: { taints: [{ key: 'j' }] } })).toEqual({
      metadata: { name: 'a', labels: { y: '2', z: '3' } },
      spec: { taints: [{ key: 'j' }], podCIDRs: ['10.244.1.0/24'] },
    });
  });

  it('strategic merge patch: keyed lists merge by key, $patch delete removes, an emptied list disappears, other lists replace', () => {
    const added = strategicMergePatch(node, { spec: { taints: [{ key: 'j', effect: 'NoExecute' }], podCIDRs: ['10.244.2.0/24'], '$setElementOrder/taints': [{ key: 'k' }, { key: 'j' }] } });
    expect(added).toEqual({ ...node, spec: { taints: [{ key: 'k', effect: 'NoSchedule' }, { key: 'j', effect: 'NoExecute' }], podCIDRs: ['10.244.2.0/24'] } });
    expect(strategicMergePatch(node, { spec: { taints: [{ key: 'k', $patch: 'delete' }] } })).toEqual({ ...node, spec: { podCIDRs: ['10.244.1.0/24'] } });
    expect(strategicMergePatch(node, { metadata: { labels: { $patch: 'replace', w: '0' } } })).toEqual({ ...node, metadata: { name: 'a', labels: { w: '0' } } });
  });

  it('strategic merge patch refuses what it does not implement', () => {
    expect(() => strategicMergePatch(node, { spec: { $retainKeys: ['taints'] } })).toThrow(PatchError);
    expect(() => strategicMergePatch(node, { spec: { taints: [{ effect: 'NoSchedule' }] } })).toThrow(/merge key "key"/);
  });
});

describe('label selectors', () => {
  it('equality and existence terms, and-ed', () => {
    const l = { 'node-role.kubernetes.io/worker': '', tier: 'edge' };
    expect(matches(parseLabelSelector('node-role.kubernetes.io/worker'), l)).toBe(true);
    expect(matches(parseLabelSelector('!node-role.kubernetes.io/control-plane,tier=edge'), l)).toBe(true);
    expect(matches(parseLabelSelector('tier!=edge'), l)).toBe(false);
    expect(matches(parseLabelSelector('tier==core'), l)).toBe(false);
    expect(() => parseLabelSelector('tier in (edge,core)')).toThrow(SelectorError);
  });
});

describe('field selectors', () => {
  it('equality and inequality on the fields a resource declares; another field is refused', () => {
    const read = (f: string): string => ({ 'spec.nodeName': 'a', 'metadata.name': 'p' })[f] ?? '';
    expect(fieldsMatch(parseFieldSelector('spec.nodeName=a', ['spec.nodeName']), read)).toBe(true);
    expect(fieldsMatch(parseFieldSelector('spec.nodeName==a,metadata.name!=p', ['spec.nodeName', 'metadata.name']), read)).toBe(false);
    expect(() => parseFieldSelector('spec.host=a', ['spec.nodeName'])).toThrow('field label not supported: spec.host');
  });
});

const owned = (kind: string, uid: string): JsonObject => ({ ownerReferences: [{ kind, name: uid, uid, controller: true }] });
const pod = (name: string, node: string, opts: { ready?: boolean; phase?: string; labels?: Record<string, string>; owner?: JsonObject } = {}): JsonObject => ({
  metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: opts.labels ?? { app: 'probe' }, ...(opts.owner ?? owned('ReplicaSet', 'rs1')) },
  spec: { nodeName: node },
  status: { phase: opts.phase ?? 'Running', conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
});
const pdb = (spec: JsonObject): JsonObject => ({ metadata: { name: 'budget', generation: 1 }, spec: { selector: { matchLabels: { app: 'probe' } }, ...spec } });

describe('disruption budgets (the disruption controller and the eviction handler)', () => {
  const pods = [pod('p1', 'a'), pod('p2', 'b'), pod('p3', 'c', { ready: false })];
  const replicas = (): number => 3;

  it('minAvailable as a number counts the matched pods; as a percent, the controllers\' replicas', () => {
    expect(pdbStatus(pdb({ minAvailable: 2 }), pods, replicas)).toEqual({ observedGeneration: 1, expectedPods: 3, desiredHealthy: 2, currentHealthy: 2, disruptionsAllowed: 0 });
    expect(pdbStatus(pdb({ minAvailable: '50%' }), pods, () => 4)).toMatchObject({ expectedPods: 4, desiredHealthy: 2, disruptionsAllowed: 0 });
    expect(pdbStatus(pdb({ minAvailable: 1 }), pods, replicas).disruptionsAllowed).toBe(1);
  });

  it('maxUnavailable rounds up against the expected scale; an unknown controller allows nothing', () => {
    expect(pdbStatus(pdb({ maxUnavailable: '34%' }), pods, replicas)).toMatchObject({ desiredHealthy: 1, disruptionsAllowed: 1 });
    expect(pdbStatus(pdb({ maxUnavailable: 1 }), pods, () => undefined).disruptionsAllowed).toBe(0);
  });

  it('eviction: 429 when no disruption is allowed, with the DisruptionBudget message; Pending pods and unmatched pods go', () => {
    const status = (b: JsonObject): ReturnType<typeof pdbStatus> => pdbStatus(b, pods, replicas);
    expect(evictionVerdict(pods[0] as JsonObject, [pdb({ minAvailable: 2 })], status)).toEqual({ allowed: false, tooMany: 'The disruption budget budget needs 2 healthy pods and has 2 currently' });
    expect(evictionVerdict(pod('p4', 'a', { phase: 'Pending' }), [pdb({ minAvailable: 2 })], status)).toEqual({ allowed: true });
    expect(evictionVerdict(pod('p5', 'a', { labels: { app: 'other' } }), [pdb({ minAvailable: 2 })], status)).toEqual({ allowed: true });
    // An empty selector matches nothing in the eviction handler.
    expect(evictionVerdict(pods[0] as JsonObject, [{ metadata: { name: 'all' }, spec: { selector: {}, minAvailable: 3 } }], status)).toEqual({ allowed: true });
    expect(evictionVerdict(pods[0] as JsonObject, [pdb({ minAvailable: 2 }), pdb({ minAvailable: 1 })], status)).toMatchObject({ internal: expect.stringContaining('more than one PodDisruptionBudget') });
  });
});

describe('scheduling and the controllers', () => {
  const node = (name: string, spec: JsonObject = {}): JsonObject => ({ metadata: { name }, spec, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
  const cp = node('m1', { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] });

  it('a cordoned or tainted node takes only pods that tolerate it; the least loaded node wins', () => {
    expect(feasible({ spec: {} }, node('a', { unschedulable: true }))).toBe(false);
    expect(feasible({ spec: {} }, cp)).toBe(false);
    expect(feasible({ spec: { tolerations: [{ operator: 'Exists', effect: 'NoSchedule' }] } }, cp)).toBe(true);
    expect(pickNode({ spec: {} }, [cp, node('a'), node('b'), node('c', { unschedulable: true })], [pod('p1', 'a')])).toBe('b');
    expect(pickNode({ spec: {} }, [cp], [])).toBeUndefined();
  });

  it('the ReplicaSet controller replaces a missing pod unbound, the scheduler binds unbound pods, the DaemonSet controller fills every node', () => {
    const rs: JsonObject = { metadata: { name: 'probe', namespace: 'default', uid: 'rs1' }, spec: { replicas: 2, template: { metadata: { labels: { app: 'probe' } }, spec: { containers: [] } } } };
    const ds: JsonObject = { metadata: { name: 'kube-flannel-ds', namespace: 'kube-flannel', uid: 'ds1' }, spec: { template: { metadata: { labels: { app: 'flannel' } }, spec: { hostNetwork: true, tolerations: [{ operator: 'Exists', effect: 'NoSchedule' }] } } } };
    const nodes = [cp, node('a', { unschedulable: true }), node('b')];
    const actions = reconcile({ nodes, pods: [pod('p1', 'b'), { ...pod('p2', ''), spec: {} }, pod('f1', 'm1', { owner: owned('DaemonSet', 'ds1') })], replicasets: [rs], daemonsets: [ds] });
    expect(actions).toEqual([
      // p1 and the unbound p2 make 2: nothing to create; the DaemonSet lacks a and b (a cordoned node too).
      { create: { namespace: 'kube-flannel', pod: expect.objectContaining({ metadata: expect.objectContaining({ generateName: 'kube-flannel-ds-' }), spec: expect.objectContaining({ nodeName: 'a' }) }) } },
      { create: { namespace: 'kube-flannel', pod: expect.objectContaining({ spec: expect.objectContaining({ nodeName: 'b' }) }) } },
      { bind: { namespace: 'default', name: 'p2', node: 'b' } },
    ]);
    const replaced = reconcile({ nodes, pods: [pod('p1', 'b')], replicasets: [rs], daemonsets: [] });
    expect(replaced).toEqual([{ create: { namespace: 'default', pod: { metadata: { generateName: 'probe-', namespace: 'default', labels: { app: 'probe' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'probe', uid: 'rs1', controller: true, blockOwnerDeletion: true }] }, spec: { containers: [] } } } }]);
  });
});

describe("flannel's kube subnet manager", () => {
  const n = (name: string, annotations: Record<string, string>, podCIDR = '10.244.1.0/24'): JsonObject => ({ metadata: { name, annotations }, spec: { podCIDR } });
  const managed = (mac: string, ip: string): Record<string, string> => ({
    'flannel.alpha.coreos.com/backend-data': backendData(1, mac),
    'flannel.alpha.coreos.com/backend-type': 'vxlan',
    'flannel.alpha.coreos.com/public-ip': ip,
    'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
  });

  it('reads the stored VtepMAC the way GetStoredMacAddresses does', () => {
    expect(storedMac(n('a', managed('0a:0b:0c:0d:0e:0f', '198.19.1.20')))).toBe('0a:0b:0c:0d:0e:0f');
    expect(storedMac(n('a', {}))).toBe('');
  });

  it('patches the annotations only when one differs, and public-ip-overwrite wins', () => {
    const a = managed('0a:0b:0c:0d:0e:0f', '198.19.1.20');
    expect(wantedAnnotations(n('a', a), '198.19.1.20', backendData(1, '0a:0b:0c:0d:0e:0f'))).toBeUndefined();
    expect(wantedAnnotations(n('a', a), '198.19.1.20', backendData(1, '0a:0b:0c:0d:0e:11'))).toEqual({ ...a, 'flannel.alpha.coreos.com/backend-data': backendData(1, '0a:0b:0c:0d:0e:11') });
    const over = { ...a, 'flannel.alpha.coreos.com/public-ip-overwrite': '198.18.1.20' };
    expect(wantedAnnotations(n('a', over), '198.19.1.20', backendData(1, '0a:0b:0c:0d:0e:0f'))?.['flannel.alpha.coreos.com/public-ip']).toBe('198.18.1.20');
  });

  it('turns every other managed vxlan node into a lease', () => {
    const nodes = [n('a', managed('0a:00:00:00:00:01', '198.19.1.20')), n('b', managed('0A:00:00:00:00:02', '198.19.1.21'), '10.244.2.0/24'), n('c', {}, '10.244.3.0/24')];
    expect(remoteLeases(nodes, 'a')).toEqual([{ node: 'b', subnet: '10.244.2.0/24', publicIp: '198.19.1.21', vtepMac: '0a:00:00:00:00:02' }]);
  });
});

describe('Table output (plain kubectl get)', () => {
  it("prints a node's status, roles and age as Kubernetes' printers do", () => {
    const created = new Date(Date.now() - 90_000).toISOString();
    const t = toTable('nodes', [{ metadata: { name: 'a', creationTimestamp: created, labels: { 'node-role.kubernetes.io/worker': '' } }, spec: { unschedulable: true }, status: { conditions: [{ type: 'Ready', status: 'True' }], nodeInfo: { kubeletVersion: 'v1.32.0' } } }], '7');
    expect(t).toMatchObject({ kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: '7' } });
    expect(((t.rows as JsonObject[])[0]?.cells as string[]).slice(0, 5)).toEqual(['a', 'Ready,SchedulingDisabled', 'worker', '90s', 'v1.32.0']);
  });

  it('ages read like duration.HumanDuration', () => {
    const ago = (s: number): string => humanAge(new Date(Date.now() - s * 1000).toISOString());
    expect([ago(5), ago(150), ago(3600), ago(5 * 3600 + 60), ago(30 * 3600), ago(72 * 3600)]).toEqual(['5s', '2m30s', '60m', '5h1m', '30h', '3d']);
  });
});

describe('the API', () => {
  let server: Server;
  let port = 0;
  const dir = mkdtempSync(join(tmpdir(), 'rb-k8s-api-'));
  beforeAll(async () => {
    const ready = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
    const byRs = { labels: { app: 'probe' }, ownerReferences: [{ kind: 'ReplicaSet', name: 'probe', uid: 'rs1', controller: true }] };
    writeFileSync(
      join(dir, 'seed.json'),
      JSON.stringify({
        nodes: [{ metadata: { name: 'a', labels: {} }, spec: { podCIDR: '10.244.1.0/24' } }],
        pods: [
          { metadata: { name: 'p1', namespace: 'default', ...byRs }, spec: { nodeName: 'a' }, status: ready },
          { metadata: { name: 'p2', namespace: 'default', ...byRs }, spec: { nodeName: 'b' }, status: ready },
        ],
        replicasets: [{ metadata: { name: 'probe', namespace: 'default', uid: 'rs1' }, spec: { replicas: 2 } }],
      }),
    );
    const store = Store.open(join(dir, 'data.json'), join(dir, 'seed.json'));
    server = createServer(apiHandler({ store, token: 't0k', address: '127.0.0.1:0' }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    port = typeof a === 'object' && a ? a.port : 0;
  });
  afterAll(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (method: string, path: string, body?: string, type = 'application/strategic-merge-patch+json', token = 't0k'): Promise<{ code: number; doc: JsonObject }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers: { Authorization: `Bearer ${token}`, 'Content-Type': type, ...(body === undefined ? {} : { 'Content-Length': Buffer.byteLength(body) }) } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, doc: JSON.parse(text) as JsonObject }));
      });
      req.on('error', reject);
      req.end(body);
    });

  it('serves discovery, lists with a resourceVersion, and Status errors', async () => {
    expect((await call('GET', '/api')).doc).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    expect((await call('GET', '/api/v1')).doc.kind).toBe('APIResourceList');
    expect((await call('GET', '/api/v1/nodes', undefined, '', 'wrong')).doc).toMatchObject({ kind: 'Status', code: 401, reason: 'Unauthorized' });
    expect((await call('GET', '/api/v1/nodes')).doc).toMatchObject({ kind: 'NodeList', metadata: { resourceVersion: '4' } });
    expect((await call('GET', '/api/v1/nodes/zz')).doc).toMatchObject({ code: 404, reason: 'NotFound', message: 'nodes "zz" not found', details: { name: 'zz', kind: 'nodes' } });
    expect((await call('DELETE', '/api/v1/nodes/a')).code).toBe(405);
    expect((await call('PATCH', '/api/v1/nodes/a', '[]', 'application/json-patch+json')).code).toBe(415);
  });

  it('patches under a new resourceVersion, refuses a stale one with 409, and keeps spec on the status subresource', async () => {
    const r = await call('PATCH', '/api/v1/nodes/a', JSON.stringify({ metadata: { labels: { tier: 'edge' } } }));
    expect(r.doc).toMatchObject({ kind: 'Node', metadata: { labels: { tier: 'edge' }, resourceVersion: '5' } });
    expect((await call('PATCH', '/api/v1/nodes/a', JSON.stringify({ metadata: { resourceVersion: '1', labels: { tier: 'core' } } }))).doc).toMatchObject({ code: 409, reason: 'Conflict' });
    const s = await call('PATCH', '/api/v1/nodes/a/status', JSON.stringify({ metadata: { annotations: { x: 'y' } }, spec: { unschedulable: true } }));
    expect(s.doc).toMatchObject({ metadata: { annotations: { x: 'y' }, resourceVersion: '6' }, spec: { podCIDR: '10.244.1.0/24' } });
    expect((s.doc.spec as JsonObject).unschedulable).toBeUndefined();
    expect((await call('PATCH', '/api/v1/nodes/a', JSON.stringify({ spec: { podCIDR: '10.244.2.0/24' } }))).doc).toMatchObject({ code: 422, reason: 'Invalid' });
  });

  it('serves the policy and apps groups, and the eviction subresource where kubectl drain looks for it', async () => {
    expect((await call('GET', '/apis')).doc.groups).toEqual([
      { name: 'policy', versions: [{ groupVersion: 'policy/v1', version: 'v1' }, { groupVersion: 'policy/v1beta1', version: 'v1beta1' }], preferredVersion: { groupVersion: 'policy/v1', version: 'v1' } },
      { name: 'apps', versions: [{ groupVersion: 'apps/v1', version: 'v1' }], preferredVersion: { groupVersion: 'apps/v1', version: 'v1' } },
    ]);
    expect((await call('GET', '/apis/policy')).doc).toMatchObject({ kind: 'APIGroup', name: 'policy' });
    expect((await call('GET', '/apis/policy/v1beta1')).doc).toMatchObject({ groupVersion: 'policy/v1beta1', resources: [{ name: 'poddisruptionbudgets', kind: 'PodDisruptionBudget' }] });
    expect((await call('GET', '/api/v1')).doc.resources).toContainEqual({ name: 'pods/eviction', singularName: '', namespaced: true, group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] });
    expect((await call('GET', '/apis/policy/v2')).code).toBe(404);
  });

  it('creates pods (generateName, 409 AlreadyExists, 415 for protobuf) and lists them by field', async () => {
    const made = await call('POST', '/api/v1/namespaces/default/pods', JSON.stringify({ metadata: { generateName: 'probe-', uid: 'mine' }, spec: { nodeName: 'b' }, status: { phase: 'Running' } }), 'application/json');
    expect(made.code).toBe(201);
    expect(made.doc).toMatchObject({ kind: 'Pod', metadata: { namespace: 'default' }, status: { phase: 'Pending' } });
    const m = made.doc.metadata as JsonObject;
    expect(m.name).toMatch(/^probe-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(m.uid).not.toBe('mine');
    expect((await call('POST', '/api/v1/namespaces/default/pods', JSON.stringify({ metadata: { name: 'p1' } }), 'application/json')).doc).toMatchObject({ code: 409, reason: 'AlreadyExists', message: 'pods "p1" already exists' });
    expect((await call('POST', '/api/v1/namespaces/default/pods', 'k8s\u0000', 'application/vnd.kubernetes.protobuf')).code).toBe(415);
    const onB = await call('GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Db');
    expect((onB.doc.items as JsonObject[]).map((p) => (p.metadata as JsonObject).name).sort()).toEqual(['p2', m.name].sort());
    expect((await call('GET', '/api/v1/pods?fieldSelector=spec.host%3Db')).doc).toMatchObject({ code: 400, message: 'field label not supported: spec.host' });
    expect((await call('DELETE', `/api/v1/namespaces/default/pods/${String(m.name)}`)).code).toBe(200);
  });

  it('evicts through a budget: 429 with the DisruptionBudget cause while it allows nothing, 201 and the pod gone once it does', async () => {
    const eviction = (name: string, apiVersion = 'policy/v1'): string => JSON.stringify({ kind: 'Eviction', apiVersion, metadata: { name, namespace: 'default' }, deleteOptions: {} });
    expect((await call('POST', '/apis/policy/v1/namespaces/default/poddisruptionbudgets', JSON.stringify({ metadata: { name: 'probe' }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'probe' } } } }), 'application/json')).code).toBe(201);
    expect((await call('GET', '/apis/policy/v1beta1/namespaces/default/poddisruptionbudgets/probe')).doc).toMatchObject({ apiVersion: 'policy/v1beta1', status: { desiredHealthy: 2, currentHealthy: 2, disruptionsAllowed: 0, expectedPods: 2 } });
    const refused = await call('POST', '/api/v1/namespaces/default/pods/p1/eviction', eviction('p1'), 'application/json');
    expect(refused).toEqual({
      code: 429,
      doc: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: "Cannot evict pod as it would violate the pod's disruption budget.", reason: 'TooManyRequests', details: { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget probe needs 2 healthy pods and has 2 currently' }] }, code: 429 },
    });
    expect((await call('POST', '/api/v1/namespaces/default/pods/p1/eviction', eviction('p2'), 'application/json')).code).toBe(400);
    expect((await call('POST', '/apis/policy/v1/namespaces/default/poddisruptionbudgets', JSON.stringify({ metadata: { name: 'probe' }, spec: {} }), 'application/json')).code).toBe(409);
    expect((await call('POST', '/apis/policy/v1/namespaces/default/poddisruptionbudgets', JSON.stringify({ metadata: { name: 'bad' }, spec: { minAvailable: 'half' } }), 'application/json')).doc).toMatchObject({ code: 422, reason: 'Invalid', details: { causes: [{ field: 'spec.minAvailable' }] } });
    expect((await call('POST', '/apis/policy/v1/namespaces/default/poddisruptionbudgets', JSON.stringify({ metadata: { name: 'bad' }, spec: { minAvailable: 1, maxUnavailable: 1 } }), 'application/json')).code).toBe(422);
    expect((await call('DELETE', '/apis/policy/v1/namespaces/default/poddisruptionbudgets/probe')).code).toBe(200);
    expect((await call('POST', '/api/v1/namespaces/default/pods/p1/eviction', eviction('p1', 'policy/v1beta1'), 'application/json')).doc).toMatchObject({ kind: 'Status', status: 'Success', code: 201 });
    expect((await call('GET', '/api/v1/namespaces/default/pods/p1')).code).toBe(404);
  });

  it('deletes with DeleteOptions preconditions (409 on a stale uid or resourceVersion) and binds a pod once', async () => {
    const p2 = (await call('GET', '/api/v1/namespaces/default/pods/p2')).doc.metadata as JsonObject;
    expect((await call('DELETE', '/api/v1/namespaces/default/pods/p2', JSON.stringify({ preconditions: { uid: 'other' } }), 'application/json')).doc).toMatchObject({
      code: 409,
      message: `Operation cannot be fulfilled on pods "p2": Precondition failed: UID in precondition: other, UID in object meta: ${String(p2.uid)}`,
    });
    expect((await call('DELETE', '/api/v1/namespaces/default/pods/p2', JSON.stringify({ preconditions: { resourceVersion: '1' } }), 'application/json')).code).toBe(409);
    const unbound = (await call('POST', '/api/v1/namespaces/default/pods', JSON.stringify({ metadata: { name: 'u' }, spec: {} }), 'application/json')).doc;
    expect(unbound.spec).toEqual({});
    const binding = JSON.stringify({ apiVersion: 'v1', kind: 'Binding', metadata: { name: 'u' }, target: { kind: 'Node', name: 'a' } });
    expect((await call('POST', '/api/v1/namespaces/default/pods/u/binding', binding, 'application/json')).code).toBe(201);
    expect((await call('POST', '/api/v1/namespaces/default/pods/u/binding', binding, 'application/json')).doc).toMatchObject({ code: 409, message: 'Operation cannot be fulfilled on pods/binding "u": pod u is already assigned to node "a"' });
    expect((await call('DELETE', '/api/v1/namespaces/default/pods/p2?gracePeriodSeconds=0', JSON.stringify({ preconditions: { uid: p2.uid, resourceVersion: p2.resourceVersion } }), 'application/json')).doc).toMatchObject({ kind: 'Pod', metadata: { name: 'p2' } });
    expect((await call('GET', '/api/v1/namespaces/default/pods/p2')).code).toBe(404);
  });
});
