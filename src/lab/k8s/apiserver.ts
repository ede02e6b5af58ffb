/**
 * The lab's Kubernetes API: the part of core/v1 that kubectl needs for `get nodes|pods -o json`,
 * `annotate`, `label` and `patch` on nodes, and that the lab's flanneld and pod runner need, with the
 * API conventions kubectl relies on: discovery documents (/api, /api/v1, /apis, /version), lists
 * carrying the store's resourceVersion, `metav1.Status` errors (401, 404, 409, 415, 422, 405),
 * merge and strategic-merge patch (patch.ts), resourceVersion preconditions in a patch (409 when
 * stale), the status subresource (spec kept, as nodeStatusStrategy does), and Table output for
 * plain `kubectl get` (table.ts). One bearer token,
 * no RBAC. docs/lab.md lists what it does not serve.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mergePatch, PatchError, strategicMergePatch, isObject, type Json, type JsonObject } from './patch.js';
import { matches, parseLabelSelector, SelectorError } from './selectors.js';
import { metadata, type Resource, type Store } from './store.js';
import { toTable, wantsTable } from './table.js';

export const API_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-lab', platform: 'linux/amd64' };

const KIND: Record<Resource, string> = { nodes: 'Node', pods: 'Pod' };

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

const PATCH_TYPES = ['application/merge-patch+json', 'application/strategic-merge-patch+json'];

const RESOURCES: JsonObject[] = [
  { name: 'nodes', singularName: 'node', namespaced: false, kind: 'Node', verbs: ['get', 'list', 'patch'], shortNames: ['no'] },
  { name: 'nodes/status', singularName: '', namespaced: false, kind: 'Node', verbs: ['get', 'patch'] },
  { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list', 'patch'], shortNames: ['po'], categories: ['all'] },
  { name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get', 'patch'] },
];

export interface ApiOptions {
  store: Store;
  token: string;
  /** host:port clients reach this server at (the APIVersions document names it). */
  address: string;
}

/** A parsed resource path: /api/v1[/namespaces/NS]/RESOURCE[/NAME[/status]]. */
interface Target {
  resource: Resource;
  namespace?: string;
  name?: string;
  status: boolean;
}

function parsePath(path: string): Target | undefined {
  const m = /^\/api\/v1(?:\/namespaces\/([a-z0-9-]+))?\/(nodes|pods)(?:\/([a-z0-9.-]+)(\/status)?)?$/.exec(path);
  if (!m) return undefined;
  const resource = m[2] as Resource;
  // Nodes are cluster-scoped: /namespaces/x/nodes does not exist.
  if (resource === 'nodes' && m[1]) return undefined;
  return { resource, ...(m[1] ? { namespace: m[1] } : {}), ...(m[3] ? { name: m[3] } : {}), status: !!m[4] };
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

function discovery(path: string, address: string): Json | undefined {
  switch (path) {
    case '/api':
      return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: address }] };
    case '/api/v1':
      return { kind: 'APIResourceList', groupVersion: 'v1', resources: RESOURCES };
    case '/apis':
      return { kind: 'APIGroupList', apiVersion: 'v1', groups: [] };
    case '/version':
      return API_VERSION;
    default:
      return undefined;
  }
}

function list(store: Store, t: Target, query: URLSearchParams, table: boolean): Json {
  const selector = parseLabelSelector(query.get('labelSelector') ?? '');
  const items = store.list(t.resource, t.namespace).filter((o) => matches(selector, (metadata(o).labels ?? {}) as Record<string, unknown>));
  if (table) return toTable(t.resource, items, store.resourceVersion);
  return { kind: `${KIND[t.resource]}List`, apiVersion: 'v1', metadata: { resourceVersion: store.resourceVersion }, items };
}

const withKind = (resource: Resource, o: JsonObject): JsonObject => ({ kind: KIND[resource], apiVersion: 'v1', ...o });

/** Applies a patch, enforcing what the apiserver's validation and strategies enforce on these fields. */
function patch(store: Store, t: Target & { name: string }, contentType: string, body: string): JsonObject {
  const namespace = t.namespace ?? '';
  const current = store.get(t.resource, namespace, t.name);
  if (!current) throw notFound(t.resource, t.name);
  const type = contentType.split(';')[0]?.trim() ?? '';
  if (!PATCH_TYPES.includes(type)) {
    throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`);
  }
  let doc: Json;
  try {
    doc = JSON.parse(body) as Json;
  } catch (err) {
    throw new ApiError(400, 'BadRequest', `error decoding patch: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new ApiError(400, 'BadRequest', 'error decoding patch: the patch is not a JSON object');
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
    throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${t.resource} "${t.name}": the object has been modified; please apply your changes to the latest version and try again`, { name: t.name, kind: t.resource });
  }
  if (now.name !== was.name || now.namespace !== was.namespace) {
    throw new ApiError(400, 'BadRequest', `the name of the object (${String(now.name)}) does not match the name on the URL (${t.name})`);
  }
  for (const field of ['uid', 'creationTimestamp'] as const) {
    if (now[field] !== was[field]) invalid(t, `metadata.${field}`, `Invalid value: ${JSON.stringify(now[field] ?? '')}: field is immutable`, 'FieldValueInvalid');
  }
  // The status subresource changes status and metadata, never spec (nodeStatusStrategy, podStatusStrategy).
  if (t.status) next.spec = current.spec ?? {};
  else if (t.resource === 'nodes') checkNodeSpec(t, current, next);
  return store.replace(t.resource, next);
}

function invalid(t: Target & { name: string }, field: string, message: string, reason: string): never {
  throw new ApiError(422, 'Invalid', `${KIND[t.resource]} "${t.name}" is invalid: ${field}: ${message}`, {
    name: t.name,
    kind: KIND[t.resource],
    causes: [{ reason, message, field }],
  });
}

/** ValidateNodeUpdate: podCIDR may only go from "" to a value (k8s pkg/apis/core/validation). */
function checkNodeSpec(t: Target & { name: string }, current: JsonObject, next: JsonObject): void {
  const was = isObject(current.spec) ? current.spec.podCIDR : undefined;
  const now = isObject(next.spec) ? next.spec.podCIDR : undefined;
  if (was && now !== was) invalid(t, 'spec.podCIDR', 'Forbidden: node updates may not change podCIDR except from "" to valid', 'FieldValueForbidden');
  if (isObject(next.spec) && next.spec.unschedulable !== undefined && typeof next.spec.unschedulable !== 'boolean') {
    invalid(t, 'spec.unschedulable', `Invalid value: ${JSON.stringify(next.spec.unschedulable)}: must be a boolean`, 'FieldValueInvalid');
  }
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
  if (!t) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') {
    throw new ApiError(405, 'MethodNotAllowed', 'the lab API does not serve watches; poll with list instead');
  }
  if (t.name === undefined) {
    if (req.method !== 'GET') throw new ApiError(405, 'MethodNotAllowed', `the lab API does not serve ${req.method ?? '?'} on ${t.resource}`);
    return send(res, 200, list(opts.store, t, url.searchParams, wantsTable(req.headers.accept)));
  }
  const named = { ...t, name: t.name };
  // Pods are namespaced: /api/v1/pods/NAME does not exist.
  if (t.resource === 'pods' && t.namespace === undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  if (req.method === 'GET') {
    const o = opts.store.get(t.resource, t.namespace ?? '', t.name);
    if (!o) throw notFound(t.resource, t.name);
    return send(res, 200, wantsTable(req.headers.accept) ? toTable(t.resource, [o], opts.store.resourceVersion) : withKind(t.resource, o));
  }
  if (req.method === 'PATCH') return send(res, 200, withKind(t.resource, patch(opts.store, named, req.headers['content-type'] ?? '', body)));
  throw new ApiError(405, 'MethodNotAllowed', `the lab API does not serve ${req.method ?? '?'} on ${t.resource}`);
}
