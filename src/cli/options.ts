/** Option parsers shared by the commands. */
import { InvalidArgumentError } from 'commander';

/** A parser for a count flag (`--workers`, `--forks`, …): a whole number ≥ `min` (1 unless said). */
export function wholeNumber(flag: string, min = 1): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${flag} needs a whole number ≥ ${min}, got "${value}"`);
    return n;
  };
}

/** A repeatable option: `--var a=1 --var b=2` → ['a=1', 'b=2']. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** -i for every command that reads the inventory: repeatable, the sources merging in order as Ansible's do. */
export const INVENTORY_OPTION = [
  '-i, --inventory <path>',
  'inventory file or directory, repeatable (default: $RUNBOOK_INVENTORY, `:`-separated, else inventory in the settings, else inventory/default.yaml)',
  collect,
] as const;
