/**
 * Server-side printing: the meta.k8s.io/v1 Table that plain `kubectl get` asks for (Accept
 * `application/json;as=Table;v=v1;g=meta.k8s.io`), with the columns of Kubernetes' own printers
 * (pkg/printers/internalversion/printers.go) for nodes, pods and PodDisruptionBudgets; `-o wide`
 * shows the priority-1 columns. The other resources answer a Table request with their plain JSON,
 * which kubectl's Accept header allows. Each row carries the object's metadata (includeObject=Metadata, the default). Pure.
 */
import { isObject, type Json, type JsonObject } from './patch.js';
import type { Resource } from './resources.js';

type Column = { name: string; type: string; format: string; description: string; priority: number };
const col = (name: string, type = 'string', priority = 0, format = ''): Column => ({ name, type, format, description: name, priority });

/** The resources with a printer. */
export type Printed = Extract<Resource, 'nodes' | 'pods' | 'poddisruptionbudgets'>;
export const printed = (r: Resource): r is Printed => r === 'nodes' || r === 'pods' || r === 'poddisruptionbudgets';

const COLUMNS: Record<Printed, Column[]> = {
  nodes: [col('Name', 'string', 0, 'name'), col('Status'), col('Roles'), col('Age'), col('Version'), col('Internal-IP', 'string', 1), col('External-IP', 'string', 1), col('OS-Image', 'string', 1), col('Kernel-Version', 'string', 1), col('Container-Runtime', 'string', 1)],
  pods: [col('Name', 'string', 0, 'name'), col('Ready'), col('Status'), col('Restarts', 'string'), col('Age'), col('IP', 'string', 1), col('Node', 'string', 1), col('Nominated Node', 'string', 1), col('Readiness Gates', 'string', 1)],
  poddisruptionbudgets: [col('Name', 'string', 0, 'name'), col('Min Available'), col('Max Unavailable'), col('Allowed Disruptions', 'integer'), col('Age')],
};

export const wantsTable = (accept: string | undefined): boolean => /as=Table/.test(accept ?? '');

const obj = (v: Json | undefined): JsonObject => (isObject(v) ? v : {});
const str = (v: Json | undefined, none = '<none>'): string => (typeof v === 'string' && v !== '' ? v : none);

/** duration.HumanDuration, as translateTimestampSince prints an age. */
export function humanAge(created: string, now = Date.now()): string {
  const s = Math.max(0, Math.floor((now - Date.parse(created)) / 1000));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

function nodeCells(n: JsonObject): Json[] {
  const meta = obj(n.metadata);
  const spec = obj(n.spec);
  const status = obj(n.status);
  const ready = (Array.isArray(status.conditions) ? status.conditions : []).map(obj).find((c) => c.type === 'Ready');
  const state = [ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown', ...(spec.unschedulable === true ? ['SchedulingDisabled'] : [])].join(',');
  const labels = obj(meta.labels);
  const roles = Object.keys(labels)
    .flatMap((k) => (k.startsWith('node-role.kubernetes.io/') ? [k.slice('node-role.kubernetes.io/'.length)] : k === 'kubernetes.io/role' ? [String(labels[k])] : []))
    .sort();
  const addr = (type: string): string => str((Array.isArray(status.addresses) ? status.addresses : []).map(obj).find((a) => a.type === type)?.address);
  const info = obj(status.nodeInfo);
  return [str(meta.name), state, roles.join(',') || '<none>', humanAge(str(meta.creationTimestamp, '')), str(info.kubeletVersion, ''), addr('InternalIP'), addr('ExternalIP'), str(info.osImage, '<unknown>'), str(info.kernelVersion, '<unknown>'), str(info.containerRuntimeVersion, '<unknown>')];
}

function podCells(p: JsonObject): Json[] {
  const meta = obj(p.metadata);
  const spec = obj(p.spec);
  const status = obj(p.status);
  const containers = Array.isArray(spec.containers) ? spec.containers.length : 0;
  const ready = (Array.isArray(status.conditions) ? status.conditions : []).map(obj).some((c) => c.type === 'Ready' && c.status === 'True');
  return [str(meta.name), `${ready ? containers : 0}/${containers}`, str(status.phase, 'Unknown'), '0', humanAge(str(meta.creationTimestamp, '')), str(status.podIP), str(spec.nodeName), '<none>', '<none>'];
}

function pdbCells(b: JsonObject): Json[] {
  const spec = obj(b.spec);
  const orNA = (v: Json | undefined): string => (v === undefined || v === null ? 'N/A' : String(v));
  return [str(obj(b.metadata).name), orNA(spec.minAvailable), orNA(spec.maxUnavailable), Number(obj(b.status).disruptionsAllowed ?? 0), humanAge(str(obj(b.metadata).creationTimestamp, ''))];
}

const CELLS: Record<Printed, (o: JsonObject) => Json[]> = { nodes: nodeCells, pods: podCells, poddisruptionbudgets: pdbCells };

export function toTable(resource: Printed, items: readonly JsonObject[], resourceVersion: string): JsonObject {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: COLUMNS[resource],
    rows: items.map((o) => ({
      cells: CELLS[resource](o),
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj(o.metadata) },
    })),
  };
}
