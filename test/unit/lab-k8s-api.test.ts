/** The k8s stack's pure parts: patches, label selectors, flannel's annotations, and the API's answers. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, request, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergePatch, PatchError, strategicMergePatch, type JsonObject } from '../../src/lab/k8s/patch.js';
import { matches, parseLabelSelector, SelectorError } from '../../src/lab/k8s/selectors.js';
import { backendData, remoteLeases, storedMac, wantedAnnotations } from '../../src/lab/k8s/flannel-leases.js';
import { apiHandler } from '../../src/lab/k8s/apiserver.js';
import { Store } from '../../src/lab/k8s/store.js';
import { humanAge, toTable } from '../../src/lab/k8s/table.js';

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
    writeFileSync(join(dir, 'seed.json'), JSON.stringify({ nodes: [{ metadata: { name: 'a', labels: {} }, spec: { podCIDR: '10.244.1.0/24' } }], pods: [] }));
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
      const req = request({ host: '127.0.0.1', port, method, path, headers: { Authorization: `Bearer ${token}`, 'Content-Type': type } }, (res) => {
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
    expect((await call('GET', '/api/v1/nodes')).doc).toMatchObject({ kind: 'NodeList', metadata: { resourceVersion: '1' } });
    expect((await call('GET', '/api/v1/nodes/zz')).doc).toMatchObject({ code: 404, reason: 'NotFound', message: 'nodes "zz" not found', details: { name: 'zz', kind: 'nodes' } });
    expect((await call('DELETE', '/api/v1/nodes/a')).code).toBe(405);
    expect((await call('PATCH', '/api/v1/nodes/a', '[]', 'application/json-patch+json')).code).toBe(415);
  });

  it('patches under a new resourceVersion, refuses a stale one with 409, and keeps spec on the status subresource', async () => {
    const r = await call('PATCH', '/api/v1/nodes/a', JSON.stringify({ metadata: { labels: { tier: 'edge' } } }));
    expect(r.doc).toMatchObject({ kind: 'Node', metadata: { labels: { tier: 'edge' }, resourceVersion: '2' } });
    expect((await call('PATCH', '/api/v1/nodes/a', JSON.stringify({ metadata: { resourceVersion: '1', labels: { tier: 'core' } } }))).doc).toMatchObject({ code: 409, reason: 'Conflict' });
    const s = await call('PATCH', '/api/v1/nodes/a/status', JSON.stringify({ metadata: { annotations: { x: 'y' } }, spec: { unschedulable: true } }));
    expect(s.doc).toMatchObject({ metadata: { annotations: { x: 'y' }, resourceVersion: '3' }, spec: { podCIDR: '10.244.1.0/24' } });
    expect((s.doc.spec as JsonObject).unschedulable).toBeUndefined();
    expect((await call('PATCH', '/api/v1/nodes/a', JSON.stringify({ spec: { podCIDR: '10.244.2.0/24' } }))).doc).toMatchObject({ code: 422, reason: 'Invalid' });
  });
});
