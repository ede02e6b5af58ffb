/** Finds and loads the inventory: native YAML, or Ansible sources (YAML, INI, directories), detected from the files. */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAnsibleSources, looksLikeAnsibleYaml } from './ansible-inventory.js';
import { UserError, type Problem } from './errors.js';
import { loadNativeInventory } from './inventory-native.js';
import type { Inventory } from './types.js';
import { parseYaml, readSourceFile } from './yaml-source.js';

export const DEFAULT_INVENTORY = 'inventory/default.yaml';
/** The example shipped with runbook: the incident's fleet, which is nobody's real fleet. */
const EXAMPLE_INVENTORY = fileURLToPath(new URL(`../../${DEFAULT_INVENTORY}`, import.meta.url));

export interface InventoryLocation {
  /** Sources in order (files or directories); several merge as Ansible merges several -i. */
  paths: string[];
  /** Where the paths came from, for error messages. */
  source: '-i' | '$RUNBOOK_INVENTORY' | 'settings' | 'default';
}

/**
 * `-i` (repeatable), else $RUNBOOK_INVENTORY (`:`-separated), else the settings files' `inventory`
 * (already resolved against its file), else inventory/default.yaml in `cwd`. The paths need not exist.
 */
export function resolveInventoryPath(opt: { inventory?: string | string[]; cwd?: string; env?: NodeJS.ProcessEnv; settings?: string[] } = {}): InventoryLocation {
  const cwd = opt.cwd ?? process.cwd();
  const env = opt.env ?? process.env;
  const given = typeof opt.inventory === 'string' ? [opt.inventory] : (opt.inventory ?? []);
  if (given.length) return { paths: given.map((p) => resolve(cwd, p)), source: '-i' };
  const fromEnv = (env.RUNBOOK_INVENTORY ?? '').split(':').filter(Boolean);
  if (fromEnv.length) return { paths: fromEnv.map((p) => resolve(cwd, p)), source: '$RUNBOOK_INVENTORY' };
  if (opt.settings?.length) return { paths: opt.settings, source: 'settings' };
  return { paths: [resolve(cwd, DEFAULT_INVENTORY)], source: 'default' };
}

/**
 * For commands that connect: the example inventory, found by default (in runbook's own directory),
 * is nobody's fleet, and a run against it only reports its five hosts unreachable. Named with -i,
 * it is used as asked; read-only commands (show, inventory) may show it.
 */
export function refuseExampleInventory(loc: InventoryLocation): void {
  const [path] = loc.paths;
  if (loc.source === 'default' && path !== undefined && existsSync(path) && existsSync(EXAMPLE_INVENTORY) && realpathSync(path) === realpathSync(EXAMPLE_INVENTORY)) {
    throw new UserError({
      message: `no inventory given, and ${path} is the example shipped with runbook (the incident's fleet on 198.18.0.0/24), not your fleet`,
      hint: 'pass -i FILE or set $RUNBOOK_INVENTORY; for the lab: -i .lab/inventory.yaml',
    });
  }
}

/**
 * Every problem in the inventory (empty when it is valid), plus the inventory when it is. A single
 * file in runbook's own YAML format loads as that; anything else is Ansible sources.
 */
export function checkInventory(paths: string | string[]): { inventory?: Inventory; problems: Problem[] } {
  const sources = typeof paths === 'string' ? [paths] : paths;
  const [only] = sources;
  if (sources.length === 1 && only !== undefined && statSync(only).isFile() && ['', '.yaml', '.yml', '.json'].includes(extname(only).toLowerCase())) {
    const src = parseYaml(readSourceFile(only, 'inventory'), only);
    const v = src.value;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && !looksLikeAnsibleYaml(v as Record<string, unknown>)) return loadNativeInventory(src);
  }
  return loadAnsibleSources(sources);
}

/** Loads and resolves an inventory; any problem is a UserError listing all of them. */
export function loadInventory(location: string | InventoryLocation): Inventory {
  const loc = typeof location === 'string' ? { paths: [location], source: '-i' as const } : location;
  for (const path of loc.paths) {
    if (existsSync(path)) continue;
    const hint =
      loc.source === 'default'
        ? 'pass -i FILE, set $RUNBOOK_INVENTORY, or create inventory/default.yaml'
        : loc.source === '$RUNBOOK_INVENTORY'
          ? 'fix $RUNBOOK_INVENTORY or pass -i FILE'
          : 'check the -i path';
    throw new UserError({ message: `inventory ${path} not found (from ${loc.source})`, hint });
  }
  const { inventory, problems } = checkInventory(loc.paths);
  if (problems.length || !inventory) throw new UserError(problems.length ? problems : { message: `cannot load inventory ${loc.paths.join(', ')}` });
  return inventory;
}
