/**
 * The lab API server's objects (resources.ts lists them), each with a metadata.resourceVersion
 * drawn from one counter, as etcd's revision is for the real apiserver (a list's resourceVersion
 * is the counter's current value). Every change is saved to a JSON file by rename, so a restarted
 * apiserver keeps its objects as the real one keeps them in etcd.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { isObject, type JsonObject } from './patch.js';
import { RESOURCE_NAMES, RESOURCES, type Resource } from './resources.js';

export type { Resource } from './resources.js';

export interface Snapshot {
  revision: number;
  objects: Partial<Record<Resource, JsonObject[]>>;
}

/** What the lab writes at `up`: the objects a kubeadm cluster has once its nodes joined. */
export type Seed = Partial<Record<Resource, JsonObject[]>>;

export const metadata = (o: JsonObject): JsonObject => (isObject(o.metadata) ? o.metadata : {});
const keyOf = (o: JsonObject): string => {
  const m = metadata(o);
  return `${typeof m.namespace === 'string' ? m.namespace : ''}/${String(m.name)}`;
};

/** names.SimpleNameGenerator: generateName plus 5 characters of utilrand's alphabet. */
const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
export const generatedName = (prefix: string): string => prefix + Array.from({ length: 5 }, () => ALPHABET[Math.floor(Math.random() * ALPHABET.length)]).join('');

export class Store {
  private revision: number;
  private readonly objects: Record<Resource, Map<string, JsonObject>>;

  constructor(
    private readonly file: string,
    snapshot: Snapshot,
  ) {
    this.revision = snapshot.revision;
    this.objects = Object.fromEntries(RESOURCE_NAMES.map((r) => [r, new Map((snapshot.objects[r] ?? []).map((o) => [keyOf(o), o]))])) as Record<Resource, Map<string, JsonObject>>;
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
    const store = new Store(file, { revision: 0, objects: {} });
    for (const r of RESOURCE_NAMES) for (const o of seed[r] ?? []) store.create(r, o);
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

  /**
   * Stores a new object: a uid (the seed's own, which its ownerReferences name; the API drops a
   * client's), creationTimestamp and resourceVersion (and generation 1 for the group resources,
   * whose controllers report observedGeneration), and a name made from metadata.generateName when it
   * has none. The caller has checked that the name is free.
   */
  create(resource: Resource, obj: JsonObject): JsonObject {
    const m = metadata(obj);
    let name = m.name;
    if (typeof name !== 'string' || name === '') {
      do name = generatedName(String(m.generateName));
      while (this.objects[resource].has(`${typeof m.namespace === 'string' ? m.namespace : ''}/${name}`));
    }
    const stamped: JsonObject = {
      ...obj,
      metadata: { ...m, name, uid: typeof m.uid === 'string' ? m.uid : randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), ...(RESOURCES[resource].group ? { generation: 1 } : {}), resourceVersion: String(++this.revision) },
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

  /** Removes an object; the deletion takes a revision of its own, as in etcd. */
  delete(resource: Resource, namespace: string, name: string): void {
    this.objects[resource].delete(`${namespace}/${name}`);
    this.revision++;
    this.save();
  }

  private save(): void {
    const snap: Snapshot = { revision: this.revision, objects: Object.fromEntries(RESOURCE_NAMES.map((r) => [r, this.list(r)])) };
    writeFileSync(`${this.file}.tmp`, JSON.stringify(snap));
    renameSync(`${this.file}.tmp`, this.file);
  }
}
