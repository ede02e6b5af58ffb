/**
 * `--hosts` patterns with Ansible's semantics: terms separated by `,` (or `:`); plain terms are
 * unioned first, then `&term` intersections apply, then `!term` exclusions. A term is `all`/`*`,
 * a host or group name, a glob (`node-*`), a regex (`~^node-\d+$`), or a named set (`@failed`)
 * supplied by the caller. A term that matches nothing is an error, never a silent empty run.
 */
import { UserError, type Problem, type SourcePos } from './errors.js';
import { closeMatches } from './suggest.js';
import type { Host, Inventory } from './types.js';
import { globToRegExp } from './glob.js';

export interface SelectOptions {
  /** Host sets the caller resolves, e.g. `{ failed: [...] }` for `@failed` (from the audit log). */
  namedSets?: Record<string, readonly string[]>;
}

/** Terms of a pattern, split like Ansible: on commas, else on colons. */
export function splitPattern(pattern: string): string[] {
  const parts = pattern.includes(',') ? pattern.split(',') : pattern.split(':');
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

/** The inventory's names, made once per pattern: `--hosts` may list thousands of hosts, each a term. */
interface Names {
  allNames: string[];
  hostSet: Set<string>;
  groupNames: string[];
}

/** The hosts (by name) one term selects, or a problem saying why it selects none. */
function resolveTerm(term: string, inv: Inventory, opts: SelectOptions, { allNames, hostSet, groupNames }: Names): Set<string> | Problem {
  if (term === 'all' || term === '*') return new Set(allNames);
  if (term.startsWith('@')) {
    const set = opts.namedSets?.[term.slice(1)];
    if (!set) {
      const known = Object.keys(opts.namedSets ?? {}).map((k) => `@${k}`);
      return { message: `unknown host set "${term}"`, hint: known.length ? `known sets: ${known.join(', ')}` : 'no named host sets are available here' };
    }
    return new Set(set.filter((n) => hostSet.has(n)));
  }
  const matchNames = (test: (n: string) => boolean): Set<string> => {
    const out = new Set<string>();
    for (const g of groupNames) if (test(g)) for (const h of inv.groups.get(g)!.hosts) out.add(h);
    for (const h of allNames) if (test(h)) out.add(h);
    return out;
  };
  let found: Set<string>;
  if (term.startsWith('~')) {
    let re: RegExp;
    try {
      re = new RegExp(term.slice(1));
    } catch (err) {
      return { message: `bad regex in host pattern "${term}": ${(err as Error).message}` };
    }
    found = matchNames((n) => re.test(n));
  } else if (/[*?[]/.test(term)) {
    const re = globToRegExp(term, { classes: true });
    found = matchNames((n) => re.test(n));
  } else {
    // A name: its group's hosts and the host itself, looked up rather than matched against every name.
    found = new Set([...(inv.groups.get(term)?.hosts ?? []), ...(hostSet.has(term) ? [term] : [])]);
    if (found.size === 0 && inv.groups.has(term)) return { message: `group "${term}" has no hosts`, hint: `add hosts to it in ${inv.file}` };
  }
  if (found.size > 0) return found;
  const close = closeMatches(term.replace(/[*?[\]~]/g, ''), [...allNames, ...groupNames.filter((g) => g !== 'all')]);
  return {
    message: `host pattern "${term}" matches no host or group in ${inv.file}`,
    hint: close.length ? `did you mean ${close.map((c) => `"${c}"`).join(', ')}?` : 'run `runbook inventory` to see the hosts and groups',
  };
}

/** The hosts `pattern` selects, in inventory order. Throws a UserError if any term or the whole pattern selects nothing. */
export function selectHosts(inv: Inventory, pattern: string, opts: SelectOptions = {}): Host[] {
  const terms = splitPattern(pattern);
  if (terms.length === 0) throw new UserError({ message: 'empty host pattern', hint: 'use --hosts all, a group, or host names' });
  const regular = terms.filter((t) => !t.startsWith('!') && !t.startsWith('&'));
  const intersect = terms.filter((t) => t.startsWith('&')).map((t) => t.slice(1));
  const exclude = terms.filter((t) => t.startsWith('!')).map((t) => t.slice(1));

  const problems: Problem[] = [];
  const allNames = inv.hosts.map((h) => h.name);
  const names: Names = { allNames, hostSet: new Set(allNames), groupNames: [...inv.groups.keys()] };
  const resolve = (t: string): Set<string> => {
    const r = resolveTerm(t, inv, opts, names);
    if (r instanceof Set) return r;
    problems.push(r);
    return new Set();
  };
  // Only exclusions/intersections (e.g. `!d`) start from every host, as in Ansible.
  let selected = new Set<string>();
  for (const t of regular.length ? regular : ['all']) for (const h of resolve(t)) selected.add(h);
  for (const t of intersect) {
    const set = resolve(t);
    selected = new Set([...selected].filter((h) => set.has(h)));
  }
  for (const t of exclude) for (const h of resolve(t)) selected.delete(h);
  if (problems.length) throw new UserError(problems);
  if (selected.size === 0) throw new UserError({ message: `host pattern "${pattern}" selects no hosts`, hint: 'its intersections and exclusions remove every host' });
  return inv.hosts.filter((h) => selected.has(h.name));
}

/**
 * The hosts a runbook's own `hosts:` selects (its default targets); a problem with the pattern is
 * located at the runbook's `hosts:` line and says how to choose others. `select`: how to resolve it
 * (apply's resolves `@failed` too).
 */
export function selectRunbookHosts(inv: Inventory, hosts: { pattern: string; pos: SourcePos }, select: (inv: Inventory, pattern: string) => Host[] = selectHosts): Host[] {
  try {
    return select(inv, hosts.pattern);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    throw new UserError(err.problems.map((p) => ({ pos: hosts.pos, message: `hosts: ${p.message}`, hint: [p.hint, 'or pass --hosts PATTERN'].filter(Boolean).join('; ') })));
  }
}
