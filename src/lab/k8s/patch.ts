/**
 * The two patch types the lab's Kubernetes API accepts for the fields the lab's objects carry. Pure.
 *
 * - JSON merge patch (RFC 7386, `application/merge-patch+json`): objects merge, `null` deletes a
 *   key, anything else (lists too) replaces.
 * - Strategic merge patch (`application/strategic-merge-patch+json`, kubectl's default): the same,
 *   except that the lists Kubernetes declares with a patch merge key merge element by element on
 *   that key (`MERGE_KEYS`), and the directives kubectl's two-way patches carry are honoured:
 *   `$patch: replace` on a map, `$patch: delete` on a keyed list element, and
 *   `$setElementOrder/<list>` (an ordering hint: the apiserver reorders; here it is read and dropped).
 *   `$retainKeys` and `$deleteFromPrimitiveList` are refused (no field the lab serves uses them).
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export class PatchError extends Error {}

export const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * Lists merged by key, by their path with list indices dropped (k8s.io/api core/v1 types.go
 * `patchMergeKey` tags of the fields the lab's nodes and pods carry).
 */
const MERGE_KEYS: Record<string, string> = {
  'spec.taints': 'key',
  'status.conditions': 'type',
  'status.addresses': 'type',
  'metadata.ownerReferences': 'uid',
};

export function strategicMergePatch(target: Json | undefined, patch: Json, path = ''): Json {
  if (!isObject(patch)) return patch;
  if (patch.$patch === 'replace') {
    const { $patch: _, ...rest } = patch;
    return strategicMergePatch(undefined, rest, path);
  }
  if (patch.$patch !== undefined) throw new PatchError(`unsupported $patch directive ${JSON.stringify(patch.$patch)} at ${path || 'the root'}`);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$')) throw new PatchError(`unsupported directive ${k} at ${path || 'the root'}`);
    const at = path ? `${path}.${k}` : k;
    if (v === null) delete out[k];
    else if (Array.isArray(v) && MERGE_KEYS[at]) {
      // These lists are `omitempty` in the Go types: emptied, they disappear from the object.
      const merged = mergeList(out[k], v, MERGE_KEYS[at], at);
      if (merged.length > 0) out[k] = merged;
      else delete out[k];
    }
    else out[k] = isObject(v) ? strategicMergePatch(out[k], v, at) : v;
  }
  return out;
}

function mergeList(target: Json | undefined, patch: Json[], key: string, path: string): Json[] {
  const out: Json[] = Array.isArray(target) ? [...target] : [];
  for (const el of patch) {
    if (!isObject(el) || el[key] === undefined) throw new PatchError(`${path}: every element of a strategic merge patch list needs its merge key "${key}"`);
    const at = out.findIndex((o) => isObject(o) && o[key] === el[key]);
    if (el.$patch === 'delete') {
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    if (at >= 0) out[at] = strategicMergePatch(out[at], el, path);
    else out.push(strategicMergePatch(undefined, el, path));
  }
  return out;
}
