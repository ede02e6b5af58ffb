/**
 * Command templating. `{{ path }}` substitutes a value shell-quoted, so any value reaches the
 * remote shell as one literal word; `{{ path | raw }}` substitutes it verbatim (for trusted
 * fragments such as option lists); `{{ path | json }}` substitutes its JSON text, quoted.
 *
 * Lookup, low → high: runbook vars < inventory group vars < host vars < registered values < --var.
 * Built-ins (not overridable): host.{name,address,port,user,groups}, inventory.hosts (list of
 * {name,address,groups}), hosts.<name>.<var> (another host's vars and registered values),
 * groups.<group> (during a run: the run's targets in that group and what they registered).
 */
import { UserError, type Problem } from './errors.js';
import { MASK, UnavailableSecret } from './secrets.js';
import { didYouMean } from './suggest.js';
import { shellQuote } from './shell-quote.js';
import type { CommandTemplate, Host, Inventory, Runbook } from './types.js';

const PLACEHOLDER = /\{\{(.*?)\}\}/gs;
const PATH = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;
const FILTERS = ['raw', 'json'] as const;
type Filter = (typeof FILTERS)[number];

/** Shared by every render of the same text (parse() keeps them): never changed after parsing. */
interface Placeholder {
  readonly start: number;
  readonly end: number;
  readonly path: readonly string[];
  readonly filters: readonly Filter[];
  readonly source: string;
}

type Parsed = { readonly placeholders: readonly Placeholder[] } | { readonly problem: string };

/**
 * Parsed templates by text: a run renders each of a runbook's few templates once per host, and
 * parsing it again for each of 1,000 hosts was a tenth of planning them. Bounded all the same:
 * `validate` and the fuzzers parse texts without end.
 */
const parsedTexts = new Map<string, Parsed>();
const PARSED_TEXTS_MAX = 1000;

function parse(text: string): Parsed {
  const known = parsedTexts.get(text);
  if (known) return known;
  const parsed = parseText(text);
  if (parsedTexts.size >= PARSED_TEXTS_MAX) parsedTexts.clear();
  parsedTexts.set(text, parsed);
  return parsed;
}

function parseText(text: string): Parsed {
  const placeholders: Placeholder[] = [];
  for (const m of text.matchAll(PLACEHOLDER)) {
    const [expr = '', ...filterParts] = m[1]!.split('|').map((s) => s.trim());
    if (!PATH.test(expr)) return { problem: `bad template expression "${m[0]}": expected {{ name }} or {{ a.b.c }}` };
    const filters: Filter[] = [];
    for (const f of filterParts) {
      if (!(FILTERS as readonly string[]).includes(f)) return { problem: `unknown template filter "${f}" in "${m[0]}"; filters are: ${FILTERS.join(', ')}` };
      filters.push(f as Filter);
    }
    placeholders.push({ start: m.index, end: m.index + m[0].length, path: expr.split('.'), filters, source: m[0] });
  }
  const rest = text.replace(PLACEHOLDER, '');
  if (rest.includes('{{')) return { problem: 'unclosed "{{" in command; to send a literal "{{", use a var holding it' };
  return { placeholders };
}

/** Syntax problems in a template (checked at load time, before any host is involved). */
export function templateProblems(t: CommandTemplate): Problem[] {
  const r = parse(t.text);
  return 'problem' in r ? [{ pos: t.pos, message: r.problem }] : [];
}

/**
 * Whether a `{{ }}` path reads what only exists at run time: a value a step registers (`names`),
 * another host's (`hosts.<host>.<name>`), or anything under `groups.`.
 */
export function readsRegistered(path: readonly string[], names: { has(name: string): boolean }): boolean {
  if (path[0] === 'groups') return true;
  if (path[0] === 'hosts') return path.length >= 3 && names.has(path[2]!);
  return path[0] !== 'host' && path[0] !== 'inventory' && names.has(path[0]!);
}

/** Dotted paths a template substitutes unquoted (`| raw`), in order. */
export function rawTemplatePaths(text: string): string[][] {
  const r = parse(text);
  return 'placeholders' in r ? r.placeholders.filter((p) => p.filters.includes('raw')).map((p) => [...p.path]) : [];
}

/** Dotted paths a template reads, in order (`{{ hosts.d.mac }}` → ["hosts", "d", "mac"]); lets the engine order steps that read registered values. */
export function templatePaths(text: string): string[][] {
  const r = parse(text);
  return 'placeholders' in r ? r.placeholders.map((p) => [...p.path]) : [];
}

export interface HostRef {
  name: string;
  address: string;
  groups: string[];
}

export interface TemplateContext {
  vars: Record<string, unknown>;
  /** Names in `vars` whose values are secret. */
  secretNames: Set<string>;
  /** Names in `vars` whose values came from the inventory (group or host vars): never substituted raw. */
  inventoryNames: Set<string>;
  host?: Host;
  inventory?: Inventory;
  /** Registered values per host name (the engine fills this as steps run); read through hosts.<name>.<var>. */
  registeredByHost: Map<string, Record<string, unknown>>;
  /** The run's target host names (inventory order), for groups.<group>; undefined outside a run. */
  targets?: readonly string[];
  /** For error messages. */
  where: { runbookFile?: string; step?: string; host?: string };
}

export interface BuildContextOptions {
  runbook?: Runbook;
  inventory?: Inventory;
  host?: Host;
  /** The operator's vars for this run (operator-vars.ts: environment, --var-file, --var); highest precedence. */
  cliVars?: Record<string, string>;
  /** Values registered on this host by earlier steps; the engine may also update ctx.vars directly. */
  registered?: Record<string, unknown>;
  registeredByHost?: Map<string, Record<string, unknown>>;
  /** The run's target host names: enables groups.<group>. */
  targets?: readonly string[];
}

export function buildTemplateContext(o: BuildContextOptions): TemplateContext {
  const vars: Record<string, unknown> = {};
  const secretNames = new Set<string>();
  const inventoryNames = new Set<string>();
  const layer = (values: Record<string, unknown>, isSecret: (k: string) => boolean, fromInventory = false): void => {
    for (const [k, v] of Object.entries(values)) {
      vars[k] = v;
      if (isSecret(k)) secretNames.add(k);
      else secretNames.delete(k);
      if (fromInventory) inventoryNames.add(k);
      else inventoryNames.delete(k);
    }
  };
  if (o.runbook) {
    const defs = o.runbook.vars;
    layer(Object.fromEntries(Object.entries(defs).map(([k, d]) => [k, d.value])), (k) => defs[k]!.secret);
  }
  if (o.host) {
    const s = new Set(o.host.secretVars);
    layer(o.host.vars, (k) => s.has(k), true);
  }
  if (o.registered) layer(o.registered, () => false);
  // Overriding a secret from the command line keeps it secret: the name, not the source, decides.
  if (o.cliVars) layer(o.cliVars, (k) => secretNames.has(k));
  return {
    vars,
    secretNames,
    inventoryNames,
    host: o.host,
    inventory: o.inventory,
    registeredByHost: o.registeredByHost ?? new Map(),
    ...(o.targets ? { targets: o.targets } : {}),
    where: { runbookFile: o.runbook?.file, host: o.host?.name },
  };
}

const hostRef = (h: Host): HostRef => ({ name: h.name, address: h.address, groups: h.groups });
const NOT_FOUND = Symbol('not found');

function lookup(ctx: TemplateContext, path: readonly string[]): { value: unknown; secret: boolean } | typeof NOT_FOUND {
  const [head, ...rest] = path as [string, ...string[]];
  let value: unknown;
  let secret = false;
  if (head === 'host') {
    if (!ctx.host) return NOT_FOUND;
    value = { ...hostRef(ctx.host), port: ctx.host.port, user: ctx.host.user };
  } else if (head === 'inventory') {
    if (!ctx.inventory) return NOT_FOUND;
    value = { hosts: ctx.inventory.hosts.map(hostRef), file: ctx.inventory.file };
  } else if (head === 'hosts') {
    const [name, key, ...deeper] = rest;
    const h = name === undefined ? undefined : ctx.inventory?.hosts.find((x) => x.name === name);
    if (!h || key === undefined) return NOT_FOUND;
    const registered = ctx.registeredByHost.get(h.name) ?? {};
    // Own properties only: {{ hosts.a.constructor }} is an undefined name, never Object's.
    if (Object.hasOwn(registered, key)) value = registered[key];
    else if (Object.hasOwn(h.vars, key)) {
      value = h.vars[key];
      secret = h.secretVars.includes(key);
    } else if (key === 'name' || key === 'address' || key === 'groups') value = hostRef(h)[key];
    else return NOT_FOUND;
    return walk(value, deeper, secret);
  } else if (head === 'groups') {
    const [group, key, ...deeper] = rest;
    const members = group === undefined ? undefined : groupTargets(ctx, group);
    if (!members) return NOT_FOUND;
    if (key === undefined) return { value: groupView(ctx, members), secret: false };
    return walk(key === 'hosts' ? members : registeredIn(ctx, members, key), deeper, false);
  } else {
    if (!Object.hasOwn(ctx.vars, head)) return NOT_FOUND;
    value = ctx.vars[head];
    secret = ctx.secretNames.has(head);
  }
  return walk(value, rest, secret);
}

/** The run's targets in `group` (`all`: every target), in inventory order; undefined outside a run or for a group the inventory lacks. */
function groupTargets(ctx: TemplateContext, group: string): string[] | undefined {
  if (!ctx.targets || !ctx.inventory || (group !== 'all' && !ctx.inventory.groups.has(group))) return undefined;
  const targets = new Set(ctx.targets);
  return ctx.inventory.hosts.filter((h) => targets.has(h.name) && (group === 'all' || h.groups.includes(group))).map((h) => h.name);
}

/** {host: value} for the members that registered `name` in this run; the others are absent. */
function registeredIn(ctx: TemplateContext, members: string[], name: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const h of members) {
    const r = ctx.registeredByHost.get(h);
    if (r && Object.prototype.hasOwnProperty.call(r, name) && r[name] !== undefined) out[h] = r[name];
  }
  return out;
}

/** `groups.<group>` as a whole: its members, and one {host: value} map per name any of them registered. */
function groupView(ctx: TemplateContext, members: string[]): Record<string, unknown> {
  const names = new Set(members.flatMap((h) => Object.keys(ctx.registeredByHost.get(h) ?? {})));
  names.delete('hosts');
  return { hosts: members, ...Object.fromEntries([...names].map((n) => [n, registeredIn(ctx, members, n)])) };
}

/** The value a dotted path names in the context (as `{{ }}` would see it), or undefined; for `when:` conditions. */
export function lookupValue(ctx: TemplateContext, path: string[]): unknown {
  const found = lookup(ctx, path);
  return found === NOT_FOUND || found.value instanceof UnavailableSecret ? undefined : found.value;
}

function walk(value: unknown, rest: string[], secret: boolean): { value: unknown; secret: boolean } | typeof NOT_FOUND {
  let v = value;
  for (const seg of rest) {
    if (v === null || typeof v !== 'object' || v instanceof UnavailableSecret) return NOT_FOUND;
    if (!Object.prototype.hasOwnProperty.call(v, seg)) return NOT_FOUND;
    v = (v as Record<string, unknown>)[seg];
  }
  return v === undefined ? NOT_FOUND : { value: v, secret };
}

function toText(v: unknown): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

export interface Rendered {
  /** What is sent to the host. */
  command: string;
  /** The same with every secret value replaced by ********: the approval prompt, `show`, the audit trail. */
  display: string;
  /**
   * Where a value is bulky (a shell library, a JSON blob), the display with it summarised as
   * `{{ lease_lib: 84 lines }}`: for the dry-run plan and the run's lines, which list many commands.
   * Absent when nothing was summarised.
   */
  brief?: string;
}

/** A substituted value longer than this (or of more lines) is summarised in displays. */
const BULKY_CHARS = 400;
const BULKY_LINES = 4;

/** The value as the brief display shows it: itself, or its name and size when bulky. */
function briefly(name: string, text: string): string {
  // Counted, not split: a 10 KB library substituted for each of 1,000 hosts made an array of its lines each time.
  let lines = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
  if (text.length <= BULKY_CHARS && lines <= BULKY_LINES) return text;
  return `{{ ${name}: ${lines > 1 ? `${lines} lines` : `${text.length} chars`} }}`;
}

function whereText(ctx: TemplateContext, step?: string): string {
  const s = step ?? ctx.where.step;
  return `${s ? ` in step "${s}"` : ''}${ctx.where.host ? ` for host ${ctx.where.host}` : ''}`;
}

/** A reference stays a reference only where it can resolve: an inventory host, an inventory group (or all). */
function referable(ctx: TemplateContext, path: readonly string[]): boolean {
  if (path[0] === 'hosts') return ctx.inventory?.hosts.some((h) => h.name === path[1]) ?? false;
  if (path[0] === 'groups') return path[1] === 'all' || (ctx.inventory?.groups.has(path[1] ?? '') ?? false);
  return true;
}

/** The registered name a path reads (readsRegistered): `n` of `n.x` and of `hosts.a.n`. */
const registeredName = (path: readonly string[]): string => (path[0] === 'hosts' ? path[2]! : path[0]!);

/** What to do about an undefined name (not hosts.* or groups.*): a close match, then where names come from. */
export function undefinedNameHint(path: readonly string[], candidates: Iterable<string>): string {
  const head = path[0]!;
  return [didYouMean(head, path.length === 1 ? candidates : []), `define it in the runbook's vars or the inventory, or pass --var ${head}=...`].filter(Boolean).join('; ');
}

/**
 * Step `step` reads `path` before any step has registered it: `registrar` (a later step, or this
 * one, whose value exists only once it has run) registers it, and no var of that name stands in.
 */
export function readTooEarly(step: string, path: readonly string[], registrar: string): Pick<Problem, 'message' | 'hint'> {
  const name = registeredName(path);
  const self = registrar === step;
  return {
    message: `step "${step}" reads ${path.join('.')} before any step registers it (${name} is registered by ${self ? `step "${step}" itself, once it has run` : `the later step "${registrar}"`})`,
    hint: `${self ? `read ${name} in a later step` : `move step "${registrar}" before step "${step}"`}: a step reads only what earlier steps registered`,
  };
}

export interface RenderOptions {
  step?: string;
  /**
   * Names registered at run time: a placeholder that reads one (readsRegistered) is kept as the
   * reference it is, `{{ name }}`, for a plan that renders it on the host's turn.
   */
  references?: ReadonlySet<string>;
  /**
   * Names that only this step or a later one registers (→ the first such step): a placeholder
   * that reads one and finds no var of that name is reported as read too early (readTooEarly).
   */
  registeredLater?: ReadonlyMap<string, string>;
  /** `validate` checks commands without the secrets' values: an unavailable secret renders masked. */
  unavailableSecretsOk?: boolean;
}

/** Renders a command template for one host. Throws a UserError naming file:line:col, step and host. */
export function renderCommand(t: CommandTemplate | string, ctx: TemplateContext, opts: RenderOptions = {}): Rendered {
  const tpl: CommandTemplate = typeof t === 'string' ? { text: t, pos: { file: ctx.where.runbookFile ?? '<command>', line: 1, col: 1 } } : t;
  const parsed = parse(tpl.text);
  if ('problem' in parsed) throw new UserError({ pos: tpl.pos, message: parsed.problem });
  let command = '';
  let display = '';
  let brief = '';
  let at = 0;
  for (const [i, p] of parsed.placeholders.entries()) {
    command += tpl.text.slice(at, p.start);
    display += tpl.text.slice(at, p.start);
    brief += tpl.text.slice(at, p.start);
    at = p.end;
    if (opts.references && readsRegistered(p.path, opts.references) && referable(ctx, p.path)) {
      command += p.source;
      display += p.source;
      brief += p.source;
      continue;
    }
    const found = lookup(ctx, p.path);
    const pos = tpl.placeholderPos?.[i] ?? tpl.pos;
    // A var the inventory sets, read at any depth ({{ cfg.cmd | raw }} reads the inventory's cfg).
    if (p.filters.includes('raw') && ctx.inventoryNames.has(p.path[0]!)) {
      throw new UserError({
        pos,
        host: ctx.where.host,
        message: `"${p.path[0]}" is substituted raw (unquoted) here${whereText(ctx, opts.step)}, and the inventory sets it: an inventory value would run as shell code`,
        hint: `rename or remove ${p.path[0]} in the inventory (raw values come from the runbook itself, or --var)`,
      });
    }
    if (found === NOT_FOUND) {
      const name = p.path.join('.');
      const registrar = p.path[0] !== 'groups' && opts.registeredLater && readsRegistered(p.path, opts.registeredLater) ? opts.registeredLater.get(registeredName(p.path)) : undefined;
      if (registrar !== undefined) throw new UserError({ pos, host: ctx.where.host, ...readTooEarly(opts.step ?? ctx.where.step ?? '?', p.path, registrar) });
      throw new UserError({
        pos,
        host: ctx.where.host,
        message: `undefined variable "${name}"${whereText(ctx, opts.step)}`,
        hint:
          p.path[0] === 'hosts'
            ? 'hosts.<name>.<var> needs an inventory host and one of its vars or registered values'
            : p.path[0] === 'groups'
              ? 'groups.<group>.<var> needs an inventory group (or all), and exists only while a run renders the step'
              : undefinedNameHint(p.path, Object.keys(ctx.vars)),
      });
    }
    if (found.value instanceof UnavailableSecret && opts.unavailableSecretsOk) {
      command += MASK;
      display += MASK;
      brief += MASK;
      continue;
    }
    if (found.value instanceof UnavailableSecret) {
      throw new UserError({
        pos: found.value.pos ?? pos,
        message: `secret "${p.path.join('.')}"${whereText(ctx, opts.step)} is unavailable: ${found.value.reason}`,
        hint: 'provide it before running',
      });
    }
    let text = p.filters.includes('json') ? JSON.stringify(found.value) : toText(found.value);
    if (!p.filters.includes('raw')) text = shellQuote(text);
    command += text;
    display += found.secret ? MASK : text;
    brief += found.secret ? MASK : briefly(p.path.join('.'), text);
  }
  command += tpl.text.slice(at);
  display += tpl.text.slice(at);
  brief += tpl.text.slice(at);
  // sshd and `sh -c` take the command as a C string: a NUL would silently cut it short there, and
  // the host would run a different command than the one approved.
  if (command.includes('\0')) {
    throw new UserError({
      pos: tpl.pos,
      message: `a value substituted into this command (step "${opts.step ?? ctx.where.step ?? '?'}", host ${ctx.where.host ?? '?'}) contains a NUL byte, which no remote command can receive`,
      hint: 'remove the NUL from the value; to send binary data, encode it (e.g. base64) and decode it on the host',
    });
  }
  return brief === display ? { command, display } : { command, display, brief };
}

/** Every secret value visible through the context (own and other hosts'), for createRedactor. */
export function contextSecrets(ctx: TemplateContext): unknown[] {
  const out: unknown[] = [...ctx.secretNames].map((k) => ctx.vars[k]);
  for (const h of ctx.inventory?.hosts ?? []) {
    for (const k of h.secretVars) out.push(h.vars[k]);
    if (h.becomePassword) out.push(h.becomePassword);
  }
  if (ctx.host?.becomePassword) out.push(ctx.host.becomePassword);
  return out;
}
