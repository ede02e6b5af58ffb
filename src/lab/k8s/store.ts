/**
 * The lab API server's objects: nodes (cluster-scoped) and pods (namespaced), each with a
 * metadata.resourceVersion drawn from one counter, as etcd's revision is for the real apiserver
 * (a list's resourceVersion is the counter's current value). Every change is saved to a JSON file
 * by rename, so a restarted apiserver keeps its objects as the real one keeps them in etcd.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { isObject, type JsonObject } from './patch.js';

export type Resource = 'nodes' | 'pods';

export interface Snapshot {
  revision: number;
  nodes: JsonObject[];
  pods: JsonObject[];
}

/** What the lab writes at `up`: the objects a kubeadm cluster has once its nodes joined. */
export interface Seed {
  nodes: JsonObject[];
  pods: JsonObject[];
}

export const metadata = (o: JsonObject): JsonObject => (isObject(o.metadata) ? o.metadata : {});
const keyOf = (o: JsonObject): string => {
  const m = metadata(o);
  return `${typeof m.namespace === 'string' ? m.namespace : ''}/${String(m.name)}`;
};

export class Store {
  private revision: number;
  private readonly objects: Record<Resource, Map<string, JsonObject>>;

  constructor(
    private readonly file: string,
    snapshot: Snapshot,
  ) {
    this.revision = snapshot.revision;
    this.objects = {
      nodes: new Map(snapshot.nodes.map((o) => [keyOf(o), o])),
      pods: new Map(snapshot.pods.map((o) => [keyOf(o), o])),
    };
  }

  /** The saved objects if there are any (a restart), else the seed stamped as newly created. */
  static open(file: string, seedFile: string): Store {
    let saved: string | undefined;
    try {
      saved = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // A file that does not parse is an error, never a silent return to the seed.
    if (saved !== undefined) return new Store(file, JSON.parse(saved) as Snapshot);
    const seed = JSON.parse(readFileSync(seedFile, 'utf8')) as Seed;
    const store = new Store(file, { revision: 0, nodes: [], pods: [] });
    for (const o of seed.nodes) store.create('nodes', o);
    for (const o of seed.pods) store.create('pods', o);
    return store;
  }

  get resourceVersion(): string {
    return String(this.revision);
  }

  get(resource: Resource, namespace: string, name: string): JsonObject | undefined {
    return this.objects[resource].get(`${namespace}/${name}`);
  }

  list(resource: Resource, namespace?: string): JsonObject[] {
    return [...this.objects[resource].values()].filter((o) => namespace === undefined || metadata(o).namespace === namespace);
  }

  create(resource: Resource, obj: JsonObject): JsonObject {
    const stamped: JsonObject = {
      ...obj,
      metadata: { ...metadata(obj), uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), resourceVersion: String(++this.revision) },
    };
    this.objects[resource].set(keyOf(stamped), stamped);
    this.save();
    return stamped;
  }

  /** Stores `obj` (already validated against the current one) under a new resourceVersion. */
  replace(resource: Resource, obj: JsonObject): JsonObject {
    const stored: JsonObject = { ...obj, metadata: { ...metadata(obj), resourceVersion: String(++this.revision) } };
    this.objects[resource].set(keyOf(stored), stored);
    this.save();
    return stored;
  }

  private save(): void {
    const snap: Snapshot = { revision: this.revision, nodes: this.list('nodes'), pods: this.list('pods') };
    writeFileSync(`${this.file}.tmp`, JSON.stringify(snap));
    renameSync(`${this.file}.tmp`, this.file);
  }
}
