/** Turns zod issues into located, actionable problems: file:line:col, what is wrong, what to do. */
import type { z } from 'zod';
import type { Problem } from './errors.js';
import { didYouMean } from './suggest.js';
import type { PathSeg, YamlSource } from './yaml-source.js';

interface Def {
  type: string;
  shape?: Record<string, unknown>;
  element?: unknown;
  innerType?: unknown;
  options?: unknown[];
  valueType?: unknown;
  in?: unknown;
}
const defOf = (s: unknown): Def | undefined => (s as { _zod?: { def?: Def } } | undefined)?._zod?.def;

/** Sub-schemas reached by following `path` (several, through unions). */
function schemasAt(schema: unknown, path: readonly PathSeg[]): unknown[] {
  let current = [schema];
  for (const seg of path) {
    const next: unknown[] = [];
    for (const s of current.flatMap(unwrap)) {
      const d = defOf(s)!;
      if (d.type === 'object' && typeof seg === 'string' && d.shape && seg in d.shape) next.push(d.shape[seg]);
      else if (d.type === 'array' && typeof seg === 'number') next.push(d.element);
      else if (d.type === 'record') next.push(d.valueType);
    }
    current = next;
  }
  return current.flatMap(unwrap);
}

/** Strips optional/nullable/default/pipe wrappers and flattens unions. */
function unwrap(s: unknown): unknown[] {
  const d = defOf(s);
  if (!d) return [];
  if (['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch'].includes(d.type)) return unwrap(d.innerType);
  if (d.type === 'pipe') return unwrap(d.in);
  if (d.type === 'union') return (d.options ?? []).flatMap(unwrap);
  return [s];
}

function knownKeys(schema: unknown, path: readonly PathSeg[]): string[] {
  return schemasAt(schema, path).flatMap((s) => {
    const d = defOf(s)!;
    return d.type === 'object' && d.shape ? Object.keys(d.shape) : [];
  });
}

function describePath(path: readonly PathSeg[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function valueAt(root: unknown, path: readonly PathSeg[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

export function zodProblems(src: YamlSource, schema: z.ZodType, issues: readonly z.core.$ZodIssue[]): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((p): p is PathSeg => typeof p !== 'symbol');
    const where = path.length ? `${describePath(path)}: ` : '';
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, path);
      for (const key of issue.keys) {
        problems.push({
          pos: src.posAt(path, { key }),
          message: `unknown key "${key}"${path.length ? ` in ${describePath(path)}` : ''}`,
          hint: didYouMean(key, known) ?? (known.length ? `allowed keys: ${known.join(', ')}` : undefined),
        });
      }
      continue;
    }
    const missing = issue.code === 'invalid_type' && valueAt(src.value, path) === undefined && path.length > 0;
    if (missing) {
      const parent = path.slice(0, -1);
      problems.push({ pos: src.posAt(parent), message: `missing required key "${String(path.at(-1))}"${parent.length ? ` in ${describePath(parent)}` : ''}` });
      continue;
    }
    const message = issue.message.replace(/^Invalid input: /, '');
    problems.push({ pos: src.posAt(path), message: `${where}${message}` });
  }
  return problems;
}
