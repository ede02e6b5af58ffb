/**
 * Where runbooks come from, highest priority first: each `--runbooks DIR`, ./runbooks in the
 * current directory, and the runbooks shipped with the package. A name found in an earlier
 * directory shadows the same name in a later one.
 */
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError, type Problem } from './errors.js';
import { loadRunbookFile, runbookNameOf } from './runbook-load.js';
import { closeMatches } from './suggest.js';
import type { Runbook } from './types.js';

/** The package's runbooks/: two levels up from this module in both src/model and dist/model. */
export const BUILTIN_RUNBOOK_DIR = fileURLToPath(new URL('../../runbooks/', import.meta.url));

export interface RunbookDirsOptions {
  /** From `--runbooks DIR` (repeatable). */
  runbookDirs?: readonly string[];
  cwd?: string;
}

export interface RunbookDir {
  dir: string;
  source: 'option' | 'cwd' | 'builtin';
}

export function runbookDirs(o: RunbookDirsOptions = {}): RunbookDir[] {
  const cwd = o.cwd ?? process.cwd();
  const dirs: RunbookDir[] = [
    ...(o.runbookDirs ?? []).map((d) => ({ dir: resolve(cwd, d), source: 'option' as const })),
    { dir: resolve(cwd, 'runbooks'), source: 'cwd' },
    { dir: resolve(BUILTIN_RUNBOOK_DIR), source: 'builtin' },
  ];
  // ./runbooks in the package's own checkout is the built-in directory: label it so.
  const builtinReal = existsSync(BUILTIN_RUNBOOK_DIR) ? realpathSync(BUILTIN_RUNBOOK_DIR) : undefined;
  for (const d of dirs) if (d.source === 'cwd' && existsSync(d.dir) && realpathSync(d.dir) === builtinReal) d.source = 'builtin';
  const seen = new Set<string>();
  const out: RunbookDir[] = [];
  for (const d of dirs) {
    if (!existsSync(d.dir)) {
      if (d.source === 'option') throw new UserError({ message: `runbook directory ${d.dir} not found`, hint: 'check the --runbooks path' });
      continue;
    }
    const real = realpathSync(d.dir);
    if (seen.has(real)) continue;
    seen.add(real);
    out.push(d);
  }
  return out;
}

export interface RunbookEntry {
  name: string;
  file: string;
  source: RunbookDir['source'];
  /** Set when an earlier directory has a runbook of the same name. */
  shadowedBy?: string;
}

const isRunbookFile = (f: string) => ['.yaml', '.yml'].includes(extname(f)) && !f.startsWith('.');

/** Every runbook file in the search path, including shadowed ones (marked). */
export function listRunbookFiles(o: RunbookDirsOptions = {}): RunbookEntry[] {
  const byName = new Map<string, string>();
  const out: RunbookEntry[] = [];
  for (const d of runbookDirs(o)) {
    for (const f of readdirSync(d.dir).filter(isRunbookFile).sort()) {
      const name = runbookNameOf(f);
      const file = join(d.dir, f);
      const first = byName.get(name);
      out.push({ name, file, source: d.source, ...(first && { shadowedBy: first }) });
      if (!first) byName.set(name, file);
    }
  }
  return out;
}

/** What to tell someone who named a runbook that is not there. */
function unknownRunbookHint(name: string, names: string[]): string {
  const close = closeMatches(name, names);
  return close.length ? `did you mean ${close.map((c) => `"${c}"`).join(', ')}?` : 'run `runbook list` to see the available runbooks';
}

/** The file of runbook `name`; an unknown name is a UserError listing close matches. */
export function findRunbook(name: string, o: RunbookDirsOptions = {}): string {
  const entries = listRunbookFiles(o).filter((e) => !e.shadowedBy);
  const hit = entries.find((e) => e.name === name);
  if (hit) return hit.file;
  throw new UserError({ message: `no runbook named "${name}"`, hint: unknownRunbookHint(name, entries.map((e) => e.name)) });
}

/** Each `fixed_by` must name a runbook in the search path: the recap tells the operator to run it. */
export function fixedByProblems(runbook: Runbook, o: RunbookDirsOptions = {}): Problem[] {
  const names = [...new Set(listRunbookFiles(o).map((e) => e.name))];
  return [...runbook.steps, ...runbook.handlers]
    .filter((s) => s.fixedBy !== undefined && !names.includes(s.fixedBy))
    .map((s) => ({ pos: s.pos, message: `step "${s.name}": fixed_by names no runbook "${s.fixedBy!}"`, hint: unknownRunbookHint(s.fixedBy!, names) }));
}

/**
 * A runbook by name (searched as above) or by path (anything with a / or a .yaml/.yml ending).
 * `notice` hears when the file found by name shadows the built-in runbook of that name: a
 * ./runbooks/fix-forwarding.yaml in the current directory must never stand in for the shipped one
 * unannounced.
 */
export function loadRunbook(nameOrPath: string, o: RunbookDirsOptions & { notice?: (line: string) => void } = {}): Runbook {
  const looksLikePath = nameOrPath.includes('/') || /\.ya?ml$/.test(nameOrPath);
  const file = looksLikePath ? resolve(o.cwd ?? process.cwd(), nameOrPath) : findRunbook(nameOrPath, o);
  if (!looksLikePath && o.notice) {
    const builtin = listRunbookFiles(o).find((e) => e.name === nameOrPath && e.source === 'builtin' && e.shadowedBy === file);
    if (builtin) o.notice(`runbook: using ${file}, which shadows the built-in runbook ${nameOrPath} (run \`runbook list\` to see both)`);
  }
  return loadRunbookFile(file);
}
