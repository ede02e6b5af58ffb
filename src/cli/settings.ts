/**
 * The settings files (model/settings.ts) as this process sees them: read once, on the first
 * command that needs them, so a broken file fails that command with its located error and never
 * `runbook --help`.
 */
import { loadSettings, settingsPlaces, type Settings } from '../model/settings.js';
import { resolveInventoryPath, type InventoryLocation } from '../model/inventory-load.js';
import { resolveAuditPath } from '../report/audit-path.js';

let loaded: Settings | undefined;

export function cliSettings(): Settings {
  return (loaded ??= loadSettings(settingsPlaces()));
}

/** -i, else $RUNBOOK_INVENTORY, else the settings' inventory, else the default. */
export function inventoryLocation(inventory: string[] | undefined): InventoryLocation {
  return resolveInventoryPath({ inventory, settings: cliSettings().inventory?.value });
}

/** --audit-file, else $RUNBOOK_AUDIT_FILE, else the settings' audit_file, else the XDG place. */
export function auditLocation(flag: string | undefined, notice?: (line: string) => void): string {
  return resolveAuditPath(flag, process.env, notice, cliSettings().auditFile?.value);
}
