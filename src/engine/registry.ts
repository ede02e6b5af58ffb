/**
 * What steps left behind for later steps: registered values (per host, or shared by a `once`
 * step) and whether each step changed its host. A value or change that only a dry run's
 * would-fix produced is "pending": a step that reads it depends on a fix that did not happen.
 */
import type { StepStatus } from './events.js';

export type Change = 'changed' | 'unchanged' | 'pending';

interface Entry {
  /** Undefined when the step produced no value (it was itself pending). */
  value: unknown;
  pending: boolean;
}

export interface RegisteredValues {
  /** Values this host reads as `{{ name }}`: shared (once) values overlaid by its own. */
  own: Record<string, unknown>;
  /** Every host's values, for `{{ hosts.<name>.<var> }}`. */
  byHost: Map<string, Record<string, unknown>>;
  /** The run's target host names, for `{{ groups.<group>.<var> }}`. */
  targets: readonly string[];
}

export function changeOf(status: StepStatus): Change {
  if (status === 'fixed') return 'changed';
  if (status === 'would-fix' || status === 'depends-on-pending-fix') return 'pending';
  return 'unchanged';
}

export class Registry {
  private readonly perHost = new Map<string, Map<string, Entry>>();
  private readonly shared = new Map<string, Entry>();
  private readonly changes = new Map<string, Map<string, Change>>();
  private readonly sharedChanges = new Map<string, Change>();

  constructor(private readonly targets: readonly string[] = []) {}

  register(host: string, name: string, value: unknown, pending: boolean): void {
    let m = this.perHost.get(host);
    if (!m) this.perHost.set(host, (m = new Map()));
    m.set(name, { value, pending });
  }

  /** A once step's value: every host reads it as `{{ name }}`; it is also `hosts.<ranOn>.<name>`. */
  registerShared(ranOn: string, name: string, value: unknown, pending: boolean): void {
    this.shared.set(name, { value, pending });
    this.register(ranOn, name, value, pending);
  }

  private entry(host: string, name: string): Entry | undefined {
    return this.perHost.get(host)?.get(name) ?? this.shared.get(name);
  }

  /**
   * Whether a dotted path (`name...`, `hosts.<h>.<name>...` or `groups.<g>[.<name>...]`) read from
   * `host` reads a pending value. The registry knows no groups: a group path is pending when any
   * target's value of that name (any name, for the whole group) is.
   */
  isPending(host: string, path: readonly string[]): boolean {
    if (path[0] === 'hosts' && path.length >= 3) return this.perHost.get(path[1]!)?.get(path[2]!)?.pending ?? false;
    if (path[0] === 'groups') {
      const name = path[2];
      return this.targets.some((t) => [...(this.perHost.get(t) ?? [])].some(([k, e]) => e.pending && (name === undefined || k === name)));
    }
    return this.entry(host, path[0]!)?.pending ?? false;
  }

  values(host: string): RegisteredValues {
    const own: Record<string, unknown> = {};
    for (const [k, e] of this.shared) if (e.value !== undefined) own[k] = e.value;
    for (const [k, e] of this.perHost.get(host) ?? []) if (e.value !== undefined) own[k] = e.value;
    const byHost = new Map<string, Record<string, unknown>>();
    for (const [h, m] of this.perHost) {
      const rec: Record<string, unknown> = {};
      for (const [k, e] of m) if (e.value !== undefined) rec[k] = e.value;
      byHost.set(h, rec);
    }
    return { own, byHost, targets: this.targets };
  }

  recordChange(host: string, step: string, status: StepStatus): void {
    let m = this.changes.get(host);
    if (!m) this.changes.set(host, (m = new Map()));
    m.set(step, changeOf(status));
  }

  recordSharedChange(step: string, status: StepStatus): void {
    this.sharedChanges.set(step, changeOf(status));
  }

  /** Did `step` change `host` (a once step's change counts for every host)? A step that never ran did not. */
  change(host: string, step: string): Change {
    return this.changes.get(host)?.get(step) ?? this.sharedChanges.get(step) ?? 'unchanged';
  }
}

/**
 * How deep registered JSON may nest. Registered values come from hosts, and every reader of them
 * (templating, `when:`, JSON.stringify) recurses: 200,000 levels would overflow the controller's
 * stack. Real facts nest a handful of levels.
 */
export const MAX_REGISTERED_DEPTH = 64;

/** The deepest nesting of arrays and objects in JSON text, counted without recursion (strings skipped). */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if (c === ']' || c === '}') depth--;
  }
  return max;
}

/** Registered stdout: its text without the trailing newline, or parsed JSON (bounded: a host's output). */
export function registeredValue(stdout: string, json: boolean): { value: unknown } | { problem: string } {
  const text = stdout.replace(/\r?\n$/, '');
  if (!json) return { value: text };
  if (jsonDepth(text) > MAX_REGISTERED_DEPTH) return { problem: `JSON nested deeper than ${MAX_REGISTERED_DEPTH} levels (a host's output; refused)` };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    return { problem: `stdout is not JSON (${(err as Error).message})` };
  }
}
