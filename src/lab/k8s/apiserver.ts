/**
 * The lab's Kubernetes API: the part of core/v1, policy (v1 and v1beta1) and apps/v1 that kubectl
 * needs for `get`, `annotate`, `label`, `patch`, `cordon`, `drain` and `delete pod`, and that the
 * lab's flanneld, kubelet and controllers need, with the API conventions kubectl relies on:
 * discovery documents (resources.ts), lists carrying the store's resourceVersion, label and field
 * selectors, `metav1.Status` errors, merge and strategic-merge patch (patch.ts), resourceVersion
 * and uid preconditions (409 when stale), the status subresource (spec kept, as
 * nodeStatusStrategy does), the eviction subresource with PodDisruptionBudgets (disruption.ts),
 * and Table output for plain `kubectl get` (table.ts). One bearer token, no RBAC. docs/lab.md
 * lists what it does not serve.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mergePatch, PatchError, strategicMergePatch, isObject, type Json, type JsonObject } from './patch.js';
import { fieldsMatch, matches, parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.js';
import { metadata, type Store } from './store.js';
import { apiGroups, groupVersion, RESOURCE_NAMES, RESOURCES, resourceList, type Resource } from './resources.js';
import { evictionVerdict, pdbStatus } from './disruption.js';
import { printed, toTable, wantsTable } from './table.js';

export const API_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-lab', platform: 'linux/amd64' };

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: JsonObject,
  ) {
    super(message);
  }
}

const notFound = (resource: Resource, name: string): ApiError => new ApiError(404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource });
const noSuchPath = (): ApiError => new ApiError(404, 'NotFound', 'the server could not find the requested resource');
const conflict = (resource: Resource, name: string, why: string): ApiError => new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${resource} "${name}": ${why}`, { name, kind: resource });

const PATCH_TYPES = ['application/merge-patch+json', 'application/strategic-merge-patch+json'];

export interface ApiOptions {
  store: Store;
  token: string;
  /** host:port clients reach this server at (the APIVersions document names it). */
  address: string;
}

/** A parsed resource path: /api/v1|/apis/GROUP/VERSION [/namespaces/NS] /RESOURCE [/NAME [/SUB]]. */
interface Target {
  resource: Resource;
  version: string;
  namespace?: string;
  name?: string;
  sub?: string;
}

function parsePath(path: string): Target | undefined {
  const m = /^\/(?:api\/(v1)|apis\/([a-z0-9.]+)\/(v1|v1beta1))(?:\/namespaces\/([a-z0-9-]+))?\/([a-z]+)(?:\/([a-z0-9.-]+)(?:\/([a-z]+))?)?$/.exec(path);
  if (!m) return undefined;
  const group = m[2] ?? '';
  const version = m[1] ?? m[3] ?? '';
  const resource = RESOURCE_NAMES.find((r) => r === m[5] && RESOURCES[r].group === group && RESOURCES[r].versions.includes(version));
  if (!resource) return undefined;
  const def = RESOURCES[resource];
  // Cluster-scoped resources have no /namespaces/x/ path; a namespaced object needs one.
  if (!def.namespaced && m[4]) return undefined;
  if (def.namespaced && m[6] && !m[4]) return undefined;
  if (m[7] && !def.subresources[m[7]]) return undefined;
  return { resource, version, ...(m[4] ? { namespace: m[4] } : {}), ...(m[6] ? { name: m[6] } : {}), ...(m[7] ? { sub: m[7] } : {}) };
}

function send(res: ServerResponse, code: number, body: Json): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, e: ApiError): void {
  send(res, e.code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: e.message, reason: e.reason, ...(e.details ? { details: e.details } : {}), code: e.code });
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
}

function parseJson(body: string, what: string): JsonObject {
  let doc: Json;
  try {
    doc = JSON.parse(body) as Json;
  } catch (err) {
    throw new ApiError(400, 'BadRequest', `error decoding ${what}: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new ApiError(400, 'BadRequest', `error decoding ${what}: not a JSON object`);
  return doc;
}

function discovery(path: string, address: string): Json | undefined {
  const groups = apiGroups().map((g) => ({
    name: g.name,
    versions: g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${g.name}/${g.versions[0] ?? ''}`, version: g.versions[0] ?? '' },
  }));
  if (path === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: address }] };
  if (path === '/apis') return { kind: 'APIGroupList', apiVersion: 'v1', groups };
  if (path === '/version') return API_VERSION;
  const g = /^\/apis\/([a-z0-9.]+)$/.exec(path);
  if (g) {
    const group = groups.find((x) => x.name === g[1]);
    return group ? { kind: 'APIGroup', apiVersion: 'v1', ...group } : undefined;
  }
  const v = /^\/(?:api\/(v1)|apis\/([a-z0-9.]+)\/([a-z0-9]+))$/.exec(path);
  if (!v) return undefined;
  const group = v[2] ?? '';
  const version = v[1] ?? v[3] ?? '';
  const resources = resourceList(group, version);
  return resources ? { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersion(group, version), resources } : undefined;
}

const withKind = (t: Target, o: JsonObject): JsonObject => ({ kind: RESOURCES[t.resource].kind, apiVersion: groupVersion(RESOURCES[t.resource].group, t.version), ...o });

/** A PDB as served: its spec with the status the disruption controller would have written. */
function served(store: Store, t: Target, o: JsonObject): JsonObject {
  if (t.resource !== 'poddisruptionbudgets') return withKind(t, o);
  const ns = String(metadata(o).namespace);
  return withKind(t, { ...o, status: { ...pdbStatus(o, store.list('pods', ns), (owner) => replicasOf(store, ns, owner)), disruptedPods: {} } });
}

function replicasOf(store: Store, namespace: string, owner: JsonObject): number | undefined {
  if (owner.kind !== 'ReplicaSet') return undefined;
  const rs = store.get('replicasets', namespace, String(owner.name));
  const replicas = rs && isObject(rs.spec) ? rs.spec.replicas : undefined;
  return typeof replicas === 'number' ? replicas : undefined;
}

function list(store: Store, t: Target, query: URLSearchParams, table: boolean): Json {
  const def = RESOURCES[t.resource];
  const labels = parseLabelSelector(query.get('labelSelector') ?? '');
  const fields = parseFieldSelector(query.get('fieldSelector') ?? '', ['metadata.name', ...(def.namespaced ? ['metadata.namespace'] : []), ...Object.keys(def.fields)]);
  const read = (o: JsonObject) => (field: string): string => {
    if (field === 'metadata.name') return String(metadata(o).name);
    if (field === 'metadata.namespace') return String(metadata(o).namespace);
    return def.fields[field]?.(o) ?? '';
  };
  const items = store
    .list(t.resource, t.namespace)
    .filter((o) => matches(labels, (metadata(o).labels ?? {}) as Record<string, unknown>) && fieldsMatch(fields, read(o)))
    .map((o) => served(store, t, o));
  if (table && printed(t.resource)) return toTable(t.resource, items, store.resourceVersion);
  return { kind: `${def.kind}List`, apiVersion: groupVersion(def.group, t.version), metadata: { resourceVersion: store.resourceVersion }, items: items.map(({ kind: _k, apiVersion: _a, ...o }) => o) };
}

function invalid(t: Target, name: string, field: string, message: string, reason: string): never {
  const kind = RESOURCES[t.resource].kind;
  throw new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${field}: ${message}`, { name, kind, causes: [{ reason, message, field }] });
}

/** Applies a patch, enforcing what the apiserver's validation and strategies enforce on these fields. */
function patch(store: Store, t: Target & { name: string }, contentType: string, body: string): JsonObject {
  const current = store.get(t.resource, t.namespace ?? '', t.name);
  if (!current) throw notFound(t.resource, t.name);
  const type = contentType.split(';')[0]?.trim() ?? '';
  if (!PATCH_TYPES.includes(type)) {
    throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`);
  }
  const doc = parseJson(body, 'patch');
  let next: Json;
  try {
    next = type === PATCH_TYPES[0] ? mergePatch(current, doc) : strategicMergePatch(current, doc);
  } catch (err) {
    if (err instanceof PatchError) throw new ApiError(400, 'BadRequest', err.message);
    throw err;
  }
  if (!isObject(next)) throw new ApiError(400, 'BadRequest', 'the patched object is not an object');
  const was = metadata(current);
  const now = metadata(next);
  // A resourceVersion in the patch is a precondition (optimistic concurrency).
  if (now.resourceVersion !== undefined && now.resourceVersion !== was.resourceVersion) {
    throw conflict(t.resource, t.name, 'the object has been modified; please apply your changes to the latest version and try again');
  }
  if (now.name !== was.name || now.namespace !== was.namespace) {
    throw new ApiError(400, 'BadRequest', `the name of the object (${String(now.name)}) does not match the name on the URL (${t.name})`);
  }
  for (const field of ['uid', 'creationTimestamp'] as const) {
    if (now[field] !== was[field]) invalid(t, t.name, `metadata.${field}`, `Invalid value: ${JSON.stringify(now[field] ?? '')}: field is immutable`, 'FieldValueInvalid');
  }
  // The status subresource changes status and metadata, never spec (nodeStatusStrategy, podStatusStrategy).
  if (t.sub === 'status') next.spec = current.spec ?? {};
  else if (t.resource === 'nodes') checkNodeSpec(t, current, next);
  return store.replace(t.resource, next);
}

/** ValidateNodeUpdate: podCIDR may only go from "" to a value (k8s pkg/apis/core/validation). */
function checkNodeSpec(t: Target & { name: string }, current: JsonObject, next: JsonObject): void {
  const was = isObject(current.spec) ? current.spec.podCIDR : undefined;
  const now = isObject(next.spec) ? next.spec.podCIDR : undefined;
  if (was && now !== was) invalid(t, t.name, 'spec.podCIDR', 'Forbidden: node updates may not change podCIDR except from "" to valid', 'FieldValueForbidden');
  if (isObject(next.spec) && next.spec.unschedulable !== undefined && typeof next.spec.unschedulable !== 'boolean') {
    invalid(t, t.name, 'spec.unschedulable', `Invalid value: ${JSON.stringify(next.spec.unschedulable)}: must be a boolean`, 'FieldValueInvalid');
  }
}

/**
 * The body of a POST must be JSON; no Content-Type means the first type served, JSON
 * (NegotiateInputSerializerForMediaType; `kubectl create --raw` sends none). kubectl 1.32's typed
 * generators (`kubectl create pdb`) send protobuf, which the lab does not decode: they get the
 * apiserver's 415 for an unknown type.
 */
function jsonBody(contentType: string, body: string, what: string): JsonObject {
  const type = contentType.split(';')[0]?.trim() ?? '';
  if (type !== 'application/json' && type !== '') {
    throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json`);
  }
  return parseJson(body, what);
}

/** POST to a collection: the object's namespace is the URL's, a name or generateName is required. */
function create(store: Store, t: Target, doc: JsonObject): JsonObject {
  const def = RESOURCES[t.resource];
  const m = metadata(doc);
  const name = typeof m.name === 'string' ? m.name : '';
  if (doc.kind !== undefined && doc.kind !== def.kind) throw new ApiError(400, 'BadRequest', `the API version in the data (${String(doc.apiVersion)}) does not match the expected API version (${groupVersion(def.group, t.version)})`);
  if (m.namespace !== undefined && m.namespace !== t.namespace) {
    throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
  }
  if (!name && typeof m.generateName !== 'string') invalid(t, '', 'metadata.name', 'Required value: name or generateName is required', 'FieldValueRequired');
  if (name && store.get(t.resource, t.namespace ?? '', name)) {
    throw new ApiError(409, 'AlreadyExists', `${t.resource} "${name}" already exists`, { name, kind: t.resource });
  }
  if (t.resource === 'poddisruptionbudgets') checkPdbSpec(t, name || String(m.generateName), isObject(doc.spec) ? doc.spec : {});
  // What the registries' PrepareForCreate reset: no status from the client (a new pod is Pending),
  // and no uid, resourceVersion or timestamps of the client's (the store stamps its own).
  const { kind: _k, apiVersion: _a, status: _s, ...rest } = doc;
  const { uid: _u, resourceVersion: _r, creationTimestamp: _c, deletionTimestamp: _d, ...meta } = m;
  const fresh: JsonObject = { ...rest, metadata: { ...meta, ...(t.namespace ? { namespace: t.namespace } : {}) } };
  if (t.resource === 'pods') fresh.status = { phase: 'Pending', qosClass: 'BestEffort' };
  return store.create(t.resource, fresh);
}

/** ValidatePodDisruptionBudgetSpec: one of minAvailable/maxUnavailable, each a count or a percent. */
function checkPdbSpec(t: Target, name: string, spec: JsonObject): void {
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) {
    invalid(t, name, 'spec', `Invalid value: ${JSON.stringify(spec)}: minAvailable and maxUnavailable cannot be both set`, 'FieldValueInvalid');
  }
  for (const field of ['minAvailable', 'maxUnavailable'] as const) {
    const v = spec[field];
    if (v === undefined) continue;
    if (typeof v === 'number' ? !Number.isInteger(v) || v < 0 : typeof v !== 'string' || !/^[0-9]+%$/.test(v) || Number(v.slice(0, -1)) > 100) {
      invalid(t, name, `spec.${field}`, `Invalid value: ${JSON.stringify(v)}: must be a non-negative integer or a percentage between 0% and 100%`, 'FieldValueInvalid');
    }
  }
}

/**
 * metav1.Preconditions of a DeleteOptions (kubectl sends them in the body, DELETE's query may carry
 * gracePeriodSeconds): a uid or resourceVersion that is not the object's is a 409.
 */
function checkPreconditions(t: Target & { name: string }, current: JsonObject, options: JsonObject): void {
  const pre = isObject(options.preconditions) ? options.preconditions : {};
  const m = metadata(current);
  if (pre.uid !== undefined && pre.uid !== null && pre.uid !== m.uid) {
    throw conflict(t.resource, t.name, `Precondition failed: UID in precondition: ${String(pre.uid)}, UID in object meta: ${String(m.uid)}`);
  }
  if (pre.resourceVersion !== undefined && pre.resourceVersion !== null && pre.resourceVersion !== m.resourceVersion) {
    throw conflict(t.resource, t.name, `Precondition failed: ResourceVersion in precondition: ${String(pre.resourceVersion)}, ResourceVersion in object meta: ${String(m.resourceVersion)}`);
  }
  const grace = options.gracePeriodSeconds;
  if (grace !== undefined && grace !== null && (typeof grace !== 'number' || grace < 0)) {
    throw new ApiError(400, 'BadRequest', `invalid gracePeriodSeconds ${JSON.stringify(grace)}`);
  }
}

/** DELETE of one object: removed at once (the lab has no graceful termination), returned as it was. */
function remove(store: Store, t: Target & { name: string }, query: URLSearchParams, body: string): JsonObject {
  const current = store.get(t.resource, t.namespace ?? '', t.name);
  if (!current) throw notFound(t.resource, t.name);
  const options = body.trim() ? parseJson(body, 'DeleteOptions') : {};
  const grace = query.get('gracePeriodSeconds');
  checkPreconditions(t, current, grace === null ? options : { ...options, gracePeriodSeconds: Number(grace) });
  store.delete(t.resource, t.namespace ?? '', t.name);
  return current;
}

/** POST pods/NAME/eviction (eviction.go Create): the pod deleted unless its one PDB allows no disruption. */
function evict(store: Store, t: Target & { name: string; namespace: string }, eviction: JsonObject): JsonObject {
  if (eviction.kind !== 'Eviction' || !['policy/v1', 'policy/v1beta1'].includes(String(eviction.apiVersion))) {
    throw new ApiError(400, 'BadRequest', `the body is not a policy/v1 or policy/v1beta1 Eviction (kind ${JSON.stringify(eviction.kind)}, apiVersion ${JSON.stringify(eviction.apiVersion)})`);
  }
  const em = metadata(eviction);
  if (em.name !== t.name) throw new ApiError(400, 'BadRequest', `name in URL does not match name in Eviction object`);
  if (em.namespace !== undefined && em.namespace !== t.namespace) throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
  const pod = store.get('pods', t.namespace, t.name);
  if (!pod) throw notFound('pods', t.name);
  const options = isObject(eviction.deleteOptions) ? eviction.deleteOptions : {};
  checkPreconditions(t, pod, options);
  const pdbs = store.list('poddisruptionbudgets', t.namespace);
  const verdict = evictionVerdict(pod, pdbs, (pdb) => pdbStatus(pdb, store.list('pods', t.namespace), (owner) => replicasOf(store, t.namespace, owner)));
  if ('internal' in verdict) throw new ApiError(500, 'InternalError', verdict.internal);
  if ('tooMany' in verdict) {
    throw new ApiError(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", { causes: [{ reason: 'DisruptionBudget', message: verdict.tooMany }] });
  }
  store.delete('pods', t.namespace, t.name);
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
}

/** POST pods/NAME/binding (the scheduler's bind): spec.nodeName set once, PodScheduled True. */
function bind(store: Store, t: Target & { name: string; namespace: string }, binding: JsonObject): JsonObject {
  const target = isObject(binding.target) ? binding.target : {};
  const pod = store.get('pods', t.namespace, t.name);
  if (!pod) throw notFound('pods', t.name);
  const spec = isObject(pod.spec) ? pod.spec : {};
  if (typeof target.name !== 'string' || target.name === '') invalid(t, t.name, 'target.name', 'Required value', 'FieldValueRequired');
  if (spec.nodeName) throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on pods/binding "${t.name}": pod ${t.name} is already assigned to node "${String(spec.nodeName)}"`, { name: t.name, kind: 'pods/binding' });
  const status = isObject(pod.status) ? pod.status : {};
  const conditions = (Array.isArray(status.conditions) ? status.conditions : []).filter((c) => !(isObject(c) && c.type === 'PodScheduled'));
  store.replace('pods', { ...pod, spec: { ...spec, nodeName: target.name }, status: { ...status, conditions: [...conditions, { type: 'PodScheduled', status: 'True' }] } });
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
}

/** The request handler (http.createServer / https.createServer). */
export function apiHandler(opts: ApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void serve(opts, req, res).catch((err: unknown) => {
      if (err instanceof ApiError) sendError(res, err);
      else if (err instanceof SelectorError) sendError(res, new ApiError(400, 'BadRequest', err.message));
      else sendError(res, new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`));
    });
  };
}

const notServed = (req: IncomingMessage, t: Target): ApiError => new ApiError(405, 'MethodNotAllowed', `the lab API does not serve ${req.method ?? '?'} on ${t.resource}${t.sub ? `/${t.sub}` : ''}`);

async function serve(opts: ApiOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://lab');
  const path = url.pathname.replace(/\/$/, '') || '/';
  // What system:public-info-viewer lets anyone read.
  if (['/healthz', '/livez', '/readyz'].includes(path)) {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
    return;
  }
  if (path !== '/version' && req.headers.authorization !== `Bearer ${opts.token}`) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
  const body = await readBody(req);
  const doc = req.method === 'GET' ? discovery(path, opts.address) : undefined;
  if (doc !== undefined) return send(res, 200, doc);
  const t = parsePath(path);
  if (!t) throw noSuchPath();
  if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') {
    throw new ApiError(405, 'MethodNotAllowed', 'the lab API does not serve watches; poll with list instead');
  }
  const verbs = RESOURCES[t.resource].verbs;
  const store = opts.store;
  const type = req.headers['content-type'] ?? '';
  if (t.name === undefined) {
    if (req.method === 'GET') return send(res, 200, list(store, t, url.searchParams, wantsTable(req.headers.accept)));
    // A create names its namespace; POST /api/v1/pods is not a path.
    if (req.method === 'POST' && verbs.includes('create') && (t.namespace || !RESOURCES[t.resource].namespaced)) return send(res, 201, served(store, t, create(store, t, jsonBody(type, body, 'object'))));
    throw notServed(req, t);
  }
  const named = { ...t, name: t.name };
  if (t.sub === 'eviction' || t.sub === 'binding') {
    if (req.method !== 'POST' || t.namespace === undefined) throw notServed(req, t);
    const at = { ...named, namespace: t.namespace };
    const doc = jsonBody(type, body, t.sub === 'eviction' ? 'Eviction' : 'Binding');
    return send(res, 201, t.sub === 'eviction' ? evict(store, at, doc) : bind(store, at, doc));
  }
  if (req.method === 'GET') {
    const o = store.get(t.resource, t.namespace ?? '', t.name);
    if (!o) throw notFound(t.resource, t.name);
    return send(res, 200, wantsTable(req.headers.accept) && printed(t.resource) ? toTable(t.resource, [served(store, t, o)], store.resourceVersion) : served(store, t, o));
  }
  if (req.method === 'PATCH' && verbs.includes('patch')) return send(res, 200, withKind(t, patch(store, named, type, body)));
  if (req.method === 'DELETE' && verbs.includes('delete') && !t.sub) return send(res, 200, served(store, t, remove(store, named, url.searchParams, body)));
  throw notServed(req, t);
}
