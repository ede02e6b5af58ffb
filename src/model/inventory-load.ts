/** Finds and loads the inventory: native YAML, Ansible YAML or Ansible INI, detected from the file. */
import { existsSync, realpathSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAnsibleIni, loadAnsibleYaml, looksLikeAnsibleYaml } from './ansible-inventory.js';
import { UserError, type Problem } from './errors.js';
import { loadNativeInventory } from './inventory-native.js';
import type { Inventory } from './types.js';
import { parseYaml, readSourceFile } from './yaml-source.js';

export const DEFAULT_INVENTORY = 'inventory/default.yaml';
/** The example shipped with runbook: the incident's fleet, which is nobody's real fleet. */
const EXAMPLE_INVENTORY = fileURLToPath(new URL(`../../${DEFAULT_INVENTORY}`, import.meta.url));

export interface InventoryLocation {
  path: string;
  /** Where the path came from, for error messages. */
  source: '-i' | '$RUNBOOK_INVENTORY' | 'default';
}

/** `-i FILE`, else $RUNBOOK_INVENTORY, else inventory/default.yaml in `cwd`. The file need not exist. */
export function resolveInventoryPath(opt: { inventory?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): InventoryLocation {
  const cwd = opt.cwd ?? process.cwd();
  const env = opt.env ?? process.env;
  if (opt.inventory) return { path: resolve(cwd, opt.inventory), source: '-i' };
  if (env.RUNBOOK_INVENTORY) return { path: resolve(cwd, env.RUNBOOK_INVENTORY), source: '$RUNBOOK_INVENTORY' };
  return { path: resolve(cwd, DEFAULT_INVENTORY), source: 'default' };
}

/**
 * For commands that connect: the example inventory, found by default (in runbook's own directory),
 * is nobody's fleet, and a run against it only reports its five hosts unreachable. Named with -i,
 * it is used as asked; read-only commands (show, inventory) may show it.
 */
export function refuseExampleInventory(loc: InventoryLocation): void {
  if (loc.source === 'default' && existsSync(loc.path) && existsSync(EXAMPLE_INVENTORY) && realpathSync(loc.path) === realpathSync(EXAMPLE_INVENTORY)) {
    throw new UserError({
      message: `no inventory given, and ${loc.path} is the example shipped with runbook (the incident's fleet on 198.18.0.0/24), not your fleet`,
      hint: 'pass -i FILE or set $RUNBOOK_INVENTORY; for the lab: -i .lab/inventory.yaml',
    });
  }
}

/** Every problem in the inventory file (empty when it is valid), plus the inventory when it is. */
export function checkInventory(file: string): { inventory?: Inventory; problems: Problem[] } {
  const text = readSourceFile(file, 'inventory');
  const ext = extname(file).toLowerCase();
  if (ext === '.ini' || ext === '.cfg') return loadAnsibleIni(text, file);
  const src = parseYaml(text, file);
  const isYamlName = ['.yaml', '.yml', '.json'].includes(ext);
  const isMap = src.value !== null && typeof src.value === 'object' && !Array.isArray(src.value);
  // An extension-less Ansible inventory (`hosts`) is INI unless it reads as a YAML mapping.
  if (!isYamlName && (src.problems.length > 0 || !isMap) && /^\s*\[[^\]]+\]\s*$/m.test(text)) return loadAnsibleIni(text, file);
  if (!isYamlName && !isMap && src.problems.length === 0 && typeof src.value === 'string') return loadAnsibleIni(text, file);
  if (src.value === undefined) return { problems: src.problems };
  if (isMap && looksLikeAnsibleYaml(src.value as Record<string, unknown>)) return loadAnsibleYaml(src);
  return loadNativeInventory(src);
}

/** Loads and resolves an inventory; any problem is a UserError listing all of them. */
export function loadInventory(location: string | InventoryLocation): Inventory {
  const loc = typeof location === 'string' ? { path: location, source: '-i' as const } : location;
  if (!existsSync(loc.path)) {
    const hint =
      loc.source === 'default'
        ? 'pass -i FILE, set $RUNBOOK_INVENTORY, or create inventory/default.yaml'
        : loc.source === '$RUNBOOK_INVENTORY'
          ? 'fix $RUNBOOK_INVENTORY or pass -i FILE'
          : 'check the -i path';
    throw new UserError({ message: `inventory ${loc.path} not found (from ${loc.source})`, hint });
  }
  const { inventory, problems } = checkInventory(loc.path);
  if (problems.length || !inventory) throw new UserError(problems.length ? problems : { message: `cannot load inventory ${loc.path}` });
  return inventory;
}
