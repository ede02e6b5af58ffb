/**
 * Loads Ansible inventories as operators already have them: INI or YAML, with groups, children,
 * vars, host ranges, and group_vars/ + host_vars/ beside the file. Connection settings come from
 * the usual ansible_* vars, which may be set at any level.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { Problem, SourcePos } from './errors.js';
import { finishInventory, newGroup, newHost, type ConnectionOf, type GroupDraft, type HostDraft, type InventoryDraft } from './inventory-build.js';
import { currentUser } from './inventory-native.js';
import { missingKnownHosts, resolvePath, resolveVarMap, UnavailableSecret } from './secrets.js';
import { didYouMean, orList } from './suggest.js';
import { CONNECTION_KINDS, DEFAULT_CONNECTION, isConnectionKind, type ConnectionKind, type Inventory } from './types.js';
import { parseSshArgs, refusedAnsibleVar, type SshArgs } from './ansible-vars.js';
import { iniValue, shlexSplit } from './python-literal.js';
import { parseYaml, readSourceFile, type YamlSource } from './yaml-source.js';

/** Vars Ansible itself treats as passwords; masked like `secret: true` vars. */
const SECRET_ANSIBLE_VARS = ['ansible_password', 'ansible_ssh_pass', 'ansible_become_password', 'ansible_become_pass'];
const MAX_RANGE = 10_000;

/**
 * Expands Ansible host ranges as its inventory plugins do (expand_hostname_range): the first
 * `[begin:end(:step)]` in the name, begin defaulting to 0, zero-padded when begin is, letters in
 * a-z then A-Z order, then the rest of the name again. A name without `[` is returned as is.
 */
export function expandHostRange(pattern: string): string[] | { error: string } {
  if (!pattern.includes('[')) return [pattern];
  const parts = pattern.replace('[', '|').replace(']', '|').split('|');
  if (parts.length !== 3) return { error: `bad host range in "${pattern}"; write name[01:10] or name[a:f]` };
  const [head, range, tail] = parts as [string, string, string];
  const bounds = range.split(':');
  if (bounds.length !== 2 && bounds.length !== 3) return { error: `bad host range [${range}]: a range is begin:end or begin:end:step` };
  const beg = bounds[0] || '0';
  const end = bounds[1]!;
  const stepText = bounds[2] ?? '1';
  if (!end) return { error: `bad host range [${range}]: the range has no end` };
  const width = beg.length > 1 && beg.startsWith('0') ? beg.length : 0;
  if (width && end.length !== width) return { error: `bad host range [${range}]: begin and end must have the same width when begin is zero-padded` };
  const step = /^\d+$/.test(stepText) ? Number(stepText) : NaN;
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const items: string[] = [];
  if (/^[a-zA-Z]$/.test(beg) && /^[a-zA-Z]$/.test(end)) {
    const [a, b] = [letters.indexOf(beg), letters.indexOf(end)];
    if (a > b || !(step >= 1)) return { error: `bad host range [${range}]: begin must come before end` };
    for (let i = a; i <= b; i += step) items.push(letters[i]!);
  } else if (/^\d+$/.test(beg) && /^\d+$/.test(end) && step >= 1) {
    const [a, b] = [Number(beg), Number(end)];
    // Ansible expands [9:1] to no hosts at all; that is never what was meant, so it is refused.
    if (a > b) return { error: `bad host range [${range}]` };
    if ((b - a) / step > MAX_RANGE) return { error: `bad host range [${range}]: more than ${MAX_RANGE} hosts` };
    for (let i = a; i <= b; i += step) items.push(String(i).padStart(width, '0'));
  } else return { error: `bad host range [${range}]; use numbers or single letters, e.g. node[01:10]` };
  const out: string[] = [];
  for (const i of items) {
    const names = expandHostRange(`${head}${i}${tail}`);
    if (!Array.isArray(names)) return names;
    out.push(...names);
  }
  return out;
}

/** Ansible's host[:port] split (parse_address): the port comes off only a valid host name or address. */
function splitPort(pattern: string): { name: string; port?: number } {
  const m = /^\[(.+)\]:(\d+)$/.exec(pattern) ?? /^((?:[^:[\]]|\[[^\]]*\])*):(\d+)$/.exec(pattern);
  if (!m) return { name: pattern };
  const label = String.raw`(?:[\p{L}\p{N}_]|\[[^\]]*\])(?:[\p{L}\p{N}_-]|\[[^\]]*\])*(?<![_-])`;
  const valid = new RegExp(`^${label}(?:\\.${label})*$`, 'u').test(m[1]!) || /^[0-9a-fA-F:.[\]]+$/.test(m[1]!);
  return valid ? { name: m[1]!, port: Number(m[2]) } : { name: pattern };
}

function truthy(v: unknown): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  return ['yes', 'on', 'true', '1', 'y', 't'].includes(String(v).toLowerCase());
}

class DraftBuilder {
  readonly draft: InventoryDraft;
  readonly problems: Problem[] = [];
  /** The YAML group bodies already read, per group name. */
  readonly seen = new Map<string, Set<unknown>>();
  constructor(file: string) {
    // Ansible's inventory always has `ungrouped`, under `all`, even when empty.
    this.draft = { file, hosts: new Map(), groups: new Map([['all', { ...newGroup('all'), children: ['ungrouped'] }], ['ungrouped', newGroup('ungrouped')]]) };
  }
  group(name: string, pos?: SourcePos): GroupDraft {
    let g = this.draft.groups.get(name);
    if (!g) this.draft.groups.set(name, (g = newGroup(name, pos)));
    return g;
  }
  host(name: string, pos?: SourcePos): HostDraft {
    let h = this.draft.hosts.get(name);
    if (!h) this.draft.hosts.set(name, (h = newHost(name, pos)));
    return h;
  }
  /** Adds hosts (after range expansion) to `group`; returns them. A `host:port` port is set only on a new host, as Ansible's add_host does. */
  addHosts(pattern: string, group: string, pos: SourcePos, port?: number): HostDraft[] {
    const names = expandHostRange(pattern);
    if (!Array.isArray(names)) {
      this.problems.push({ pos, message: names.error });
      return [];
    }
    return names.map((n) => {
      if (port !== undefined && !this.draft.hosts.has(n)) this.host(n, pos).vars.ansible_port = port;
      const h = this.host(n, pos);
      if (group !== 'all' && group !== 'ungrouped') this.group(group, pos).hosts.push(n);
      return h;
    });
  }
}

/**
 * Ansible's INI plugin, line by line: `#`/`;` lines are comments; `[name]`, `[name:children]`,
 * `[name:vars]` open sections; host lines are split like a shell (quotes, `#` comments) and each
 * `key=value` is a Python literal; a `:vars` line is `key=value` split at the first `=`, its whole
 * value (quotes and any `# text` included) read as a Python literal, so `x="a"` is `a` there too.
 */
function parseIni(text: string, file: string, b: DraftBuilder): void {
  let section = { group: 'ungrouped', kind: 'hosts' as 'hosts' | 'children' | 'vars' };
  // As in Ansible: [g:vars] and a child in [p:children] need g declared ([g] or [g:children],
  // in this file or an earlier source), before or after; a child's links wait for its declaration.
  const pending = new Map<string, { pos: SourcePos; kind: 'vars' | 'children'; parents: string[] }>();
  const declare = (name: string): void => {
    const waiting = pending.get(name);
    if (!waiting) return;
    pending.delete(name);
    if (waiting.kind === 'vars') return;
    b.group(name, waiting.pos);
    for (const parent of waiting.parents) {
      b.group(parent).children.push(name);
      if (pending.get(parent)?.kind === 'children') declare(parent);
    }
  };
  text.split(/\r?\n/).forEach((line, idx) => {
    const pos = (col = 1): SourcePos => ({ file, line: idx + 1, col });
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) return;
    const col = line.length - line.trimStart().length + 1;
    const header = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$/.exec(t);
    if (header) {
      const [, name, kind = 'hosts'] = header as unknown as [string, string, string | undefined];
      if (!['hosts', 'children', 'vars'].includes(kind)) {
        b.problems.push({ pos: pos(col), message: `bad section header ${t}`, hint: didYouMean(kind, ['children', 'vars']) ?? 'use [group], [group:children] or [group:vars]' });
        section = { group: '\0invalid', kind: 'vars' };
        return;
      }
      section = { group: name, kind: kind as 'hosts' | 'children' | 'vars' };
      if (!b.draft.groups.has(name) && kind === 'vars' && !pending.has(name)) pending.set(name, { pos: pos(col), kind: 'vars', parents: [] });
      b.group(name, pos(col));
      if (kind !== 'vars') declare(name);
      return;
    }
    if (t.startsWith('[') && (t.endsWith(']') || !t.includes(']'))) {
      b.problems.push({ pos: pos(col), message: `bad section header ${t}`, hint: 'use [group], [group:children] or [group:vars] on a line of its own, without spaces; a comment after it starts with #' });
      section = { group: '\0invalid', kind: 'vars' };
      return;
    }
    if (section.group === '\0invalid') return;
    if (section.kind === 'vars') {
      const eq = t.indexOf('=');
      if (eq <= 0) {
        b.problems.push({ pos: pos(col), message: `expected key=value in [${section.group}:vars], got "${t}"` });
        return;
      }
      b.group(section.group).vars[t.slice(0, eq).trim()] = iniValue(t.slice(eq + 1).trim());
      return;
    }
    if (section.kind === 'children') {
      const child = /^([^:\]\s]+)\s*(?:#.*)?$/.exec(t)?.[1];
      if (!child) {
        b.problems.push({ pos: pos(col), message: `expected a group name in [${section.group}:children], got "${t}"` });
        return;
      }
      const waiting = pending.get(child);
      if (b.draft.groups.has(child) && waiting?.kind !== 'children') b.group(section.group).children.push(child);
      else if (waiting) waiting.parents.push(section.group);
      else pending.set(child, { pos: pos(col), kind: 'children', parents: [section.group] });
      return;
    }
    const words = shlexSplit(line);
    if (!Array.isArray(words)) {
      b.problems.push({ pos: pos(words.col), message: `cannot split the host line: ${words.error}`, hint: 'close the quote, or escape it with a backslash' });
      return;
    }
    if (words.length === 0) return;
    const { name, port } = splitPort(words[0]!.word);
    if (name.trim().endsWith(':') && port === undefined) {
      b.problems.push({ pos: pos(words[0]!.col), message: `host "${name}" ends in ":", which Ansible reserves for a port`, hint: 'write host:PORT, or drop the ":"' });
      return;
    }
    const vars: Record<string, unknown> = {};
    for (const w of words.slice(1)) {
      const eq = w.word.indexOf('=');
      if (eq < 0) {
        b.problems.push({ pos: pos(w.col), message: `expected key=value after host "${name}", got "${w.word}"`, hint: 'one host per line; vars as key=value' });
        continue;
      }
      vars[w.word.slice(0, eq)] = iniValue(w.word.slice(eq + 1));
    }
    for (const h of b.addHosts(name, section.group, pos(words[0]!.col), port)) Object.assign(h.vars, vars);
  });
  const [name, undeclared] = [...pending][0] ?? [];
  if (name !== undefined && undeclared) {
    b.problems.push(
      undeclared.kind === 'vars'
        ? { pos: undeclared.pos, message: `[${name}:vars] is for a group this inventory never declares`, hint: `declare it with a [${name}] or [${name}:children] section, as Ansible requires` }
        : { pos: undeclared.pos, message: `[${undeclared.parents.at(-1)}:children] names group "${name}", which this inventory never declares`, hint: `add a [${name}] or [${name}:children] section, as Ansible requires` },
    );
  }
}

const GROUP_KEYS = ['hosts', 'children', 'vars'];

/** A `!vault` value, located at its var, so that a runbook using it is told where it is. */
function locateSecrets(src: YamlSource, vars: Record<string, unknown>, path: (string | number)[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v instanceof UnavailableSecret && !v.pos ? new UnavailableSecret(v.reason, src.posAt([...path, k])) : v]));
}

function parseYamlGroup(src: YamlSource, b: DraftBuilder, name: string, value: unknown, path: (string | number)[], seen: Map<string, Set<unknown>>): void {
  b.group(name, src.posAt(path.slice(0, -1), { key: name }));
  if (value === null || value === undefined) return;
  if (typeof value !== 'object' || Array.isArray(value)) {
    b.problems.push({ pos: src.posAt(path), message: `group "${name}" must be a mapping with hosts, children and vars` });
    return;
  }
  // Ansible reads a group's body wherever it is listed; the same body again (a YAML alias) adds nothing.
  let bodies = seen.get(name);
  if (!bodies) seen.set(name, (bodies = new Set()));
  if (bodies.has(value)) return;
  bodies.add(value);
  const g = value as Record<string, unknown>;
  for (const k of Object.keys(g)) {
    if (!GROUP_KEYS.includes(k)) b.problems.push({ pos: src.posAt(path, { key: k }), message: `unknown key "${k}" in group "${name}"`, hint: didYouMean(k, GROUP_KEYS) ?? 'allowed keys: hosts, children, vars' });
  }
  const mapping = (key: string): Record<string, unknown> | undefined => {
    const v = g[key];
    if (v === undefined || v === null) return undefined;
    // As in Ansible, `hosts: web1` is one host (a string stands for a mapping with that one key).
    if (typeof v === 'string') return { [v]: null };
    if (typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    b.problems.push({ pos: src.posAt([...path, key]), message: `"${key}" of group "${name}" must be a mapping`, hint: key === 'hosts' ? 'write hosts as `name:` entries, one per line' : undefined });
    return undefined;
  };
  const vars = mapping('vars');
  if (vars) Object.assign(b.group(name).vars, locateSecrets(src, vars, [...path, 'vars']));
  for (const [h, hv] of Object.entries(mapping('hosts') ?? {})) {
    const hostPath = [...path, 'hosts', h];
    const { name: pattern, port } = splitPort(h);
    const hosts = b.addHosts(pattern, name, src.posAt([...path, 'hosts'], { key: h }), port);
    if (hv === null || hv === undefined) continue;
    if (typeof hv !== 'object' || Array.isArray(hv)) {
      b.problems.push({ pos: src.posAt(hostPath), message: `vars of host "${h}" must be a mapping` });
      continue;
    }
    for (const host of hosts) Object.assign(host.vars, locateSecrets(src, hv as Record<string, unknown>, hostPath));
  }
  for (const [c, cv] of Object.entries(mapping('children') ?? {})) {
    parseYamlGroup(src, b, c, cv, [...path, 'children', c], seen);
    if (!b.group(name).children.includes(c)) b.group(name).children.push(c);
  }
}

/** Ansible's yaml plugin takes these extensions, and files without one (which the ini plugin gets if they are no YAML inventory). */
const YAML_EXTS = ['', '.yml', '.yaml', '.json'];

/**
 * Files Ansible skips inside an inventory directory (manager.py IGNORED): hidden files, the var
 * directories, and the default INVENTORY_IGNORE_EXTS (REJECT_EXTS plus .orig, .ini, .cfg, .retry).
 */
const IGNORED_IN_DIR = /^\.|^host_vars$|^group_vars$|^vars_plugins$|(?:\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.ini|\.cfg|\.retry)$/;

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The vars files for `name` in a group_vars/ or host_vars/ directory, as Ansible's find_vars_files
 * finds them: the first of name, name.yml, name.yaml, name.json; when that is a directory, every
 * file in it (recursively, sorted, skipping hidden and `~` files) with one of those extensions or none.
 */
function varFiles(dir: string, name: string): string[] {
  for (const ext of YAML_EXTS) {
    const p = join(dir, name + ext);
    if (!existsSync(p)) continue;
    if (!statSync(p).isDirectory()) return [p];
    const out: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d).sort(byCodePoint)) {
        if (e.startsWith('.') || e.endsWith('~')) continue;
        const full = join(d, e);
        const isDir = statSync(full).isDirectory();
        if (isDir && extname(e) === '') walk(full);
        else if (!isDir && YAML_EXTS.includes(extname(e))) out.push(full);
      }
    };
    walk(p);
    return out;
  }
  return [];
}

/** group_vars/ and host_vars/ beside each source (in it, for a directory), in source order. */
function applyVarDirs(b: DraftBuilder, sources: string[]): void {
  const layer = (dir: string, name: string, target: { fileVars: Record<string, unknown>[]; secretVars: Set<string> }): void => {
    const vars: Record<string, unknown> = {};
    target.fileVars.push(vars);
    // Ansible skips names that are absolute paths (chroot-style hosts).
    if (name.startsWith('/') || !existsSync(dir) || !statSync(dir).isDirectory()) return;
    for (const f of varFiles(dir, name)) {
      const text = readSourceFile(f, 'vars file');
      // A whole encrypted file hides even which vars it sets, so they cannot be masked one by one.
      if (text.startsWith('$ANSIBLE_VAULT;')) {
        b.problems.push({ pos: { file: f, line: 1, col: 1 }, message: 'this vars file is ansible-vault encrypted, and runbook does not decrypt vault', hint: 'move it out of the var directories and give runbook the values it needs as `NAME: { secret: true, env: VAR }` or `NAME: { secret: true, file: PATH }` in a plain vars file' });
        continue;
      }
      const src = parseYaml(text, f, '1.1');
      if (src.problems.length) {
        b.problems.push(...src.problems);
        continue;
      }
      if (src.value === null || src.value === undefined) continue;
      if (typeof src.value !== 'object' || Array.isArray(src.value)) {
        b.problems.push({ pos: src.posAt([]), message: `${basename(dir)} file must be a mapping of var names to values` });
        continue;
      }
      const r = resolveVarMap(src.value as Record<string, unknown>, dirname(f), (n) => src.posAt([n]));
      for (const [k, v] of Object.entries(r.values)) {
        vars[k] = v;
        if (r.secrets.has(k)) target.secretVars.add(k);
      }
    }
  };
  for (const source of sources) {
    const base = statSync(source).isDirectory() ? source : dirname(source);
    for (const g of b.draft.groups.values()) layer(join(base, 'group_vars'), g.name, g);
    for (const h of b.draft.hosts.values()) layer(join(base, 'host_vars'), h.name, h);
  }
}


function markSecrets(target: { vars: Record<string, unknown>; fileVars: Record<string, unknown>[]; secretVars: Set<string> }): void {
  for (const [k, v] of Object.entries(Object.assign({}, target.vars, ...target.fileVars))) if (SECRET_ANSIBLE_VARS.includes(k) || v instanceof UnavailableSecret) target.secretVars.add(k);
}

/** ansible_connection names for one of our kinds besides the kind's own name. */
const ANSIBLE_CONNECTION_ALIASES = new Map<string, ConnectionKind>([
  ['smart', 'ssh'],
  ['paramiko', 'ssh'],
]);

function ansibleConnection(file: string, problems: Problem[]): ConnectionOf {
  const baseDir = dirname(file);
  const reportedKnownHosts = new Set<string>();
  // A var set for a group would be reported for each of its hosts: once, at the first, is enough.
  const reported = new Set<string>();
  const report = (h: HostDraft, p: { message: string; hint?: string }): void => {
    if (reported.has(p.message)) return;
    reported.add(p.message);
    problems.push({ pos: h.pos, message: `host "${h.name}": ${p.message}`, ...(p.hint !== undefined && { hint: p.hint }) });
  };
  return (h, vars) => {
    for (const [k, v] of Object.entries(vars)) {
      if (!k.startsWith('ansible_') || v === undefined || v === null) continue;
      const refused = refusedAnsibleVar(k, v);
      if (refused) report(h, refused);
    }
    const str = (...keys: string[]): string | undefined => {
      for (const k of keys) if (vars[k] !== undefined && vars[k] !== null) return String(vars[k]);
      return undefined;
    };
    const defaulted: Array<'user' | 'port' | 'address'> = [];
    const address = str('ansible_host', 'ansible_ssh_host') ?? (defaulted.push('address'), h.name);
    const portText = str('ansible_port', 'ansible_ssh_port');
    let port = 22;
    if (portText === undefined) defaulted.push('port');
    else if (/^\d+$/.test(portText) && Number(portText) >= 1 && Number(portText) <= 65535) port = Number(portText);
    else problems.push({ pos: h.pos, message: `host "${h.name}": ansible_port "${portText}" is not a port number` });
    const user = str('ansible_user', 'ansible_ssh_user') ?? (defaulted.push('user'), currentUser());
    const conn = str('ansible_connection') ?? DEFAULT_CONNECTION;
    const connection = isConnectionKind(conn) ? conn : ANSIBLE_CONNECTION_ALIASES.get(conn);
    if (connection === undefined) problems.push({ pos: h.pos, message: `host "${h.name}": ansible_connection "${conn}" is not supported`, hint: `runbook connects with ${orList(CONNECTION_KINDS)}` });
    const key = str('ansible_ssh_private_key_file', 'ansible_private_key_file');
    const ssh: SshArgs = {};
    for (const name of ['ansible_ssh_common_args', 'ansible_ssh_extra_args']) {
      const text = str(name);
      if (text === undefined) continue;
      const parsed = parseSshArgs(name, text);
      if ('message' in parsed) report(h, parsed);
      else Object.assign(ssh, parsed);
    }
    const knownHostsFile = ssh.knownHostsFile === undefined ? undefined : resolvePath(ssh.knownHostsFile, baseDir);
    // Once per file, at the first host that uses it: a group var names it for many hosts.
    if (knownHostsFile !== undefined && !reportedKnownHosts.has(knownHostsFile)) {
      reportedKnownHosts.add(knownHostsFile);
      const p = missingKnownHosts(knownHostsFile, `the ssh args of host "${h.name}"`, h.pos);
      if (p) problems.push(p);
    }
    const become = truthy(vars.ansible_become);
    const pw = vars.ansible_become_password ?? vars.ansible_become_pass;
    return {
      address,
      port,
      user,
      connection: connection ?? DEFAULT_CONNECTION,
      ...(key !== undefined && { identityFile: resolvePath(key, baseDir) }),
      ...(knownHostsFile !== undefined && { knownHostsFile }),
      ...(ssh.proxyJump !== undefined && { proxyJump: ssh.proxyJump }),
      ...(become !== undefined && { become }),
      ...(pw instanceof UnavailableSecret ? { becomePasswordError: `ansible_become_password: ${pw.reason}` } : pw !== undefined && pw !== null ? { becomePassword: String(pw) } : {}),
      ...(defaulted.length && { defaulted }),
    };
  };
}

/** One inventory file, read by the plugin Ansible would use: yaml when it is a YAML inventory, else ini. */
function parseFile(file: string, b: DraftBuilder): void {
  const ext = extname(file).toLowerCase();
  if (ext === '.toml') {
    b.problems.push({ pos: { file, line: 1, col: 1 }, message: 'TOML inventories are not supported', hint: 'convert it to YAML or INI (ansible-inventory -i FILE --list -y prints it as YAML)' });
    return;
  }
  const text = readSourceFile(file, 'inventory');
  if (YAML_EXTS.includes(ext)) {
    const src = parseYaml(text, file, '1.1');
    const value = src.value;
    const isMap = value !== null && typeof value === 'object' && !Array.isArray(value);
    if (isMap && 'plugin' in value) {
      b.problems.push({ pos: src.posAt(['plugin'], { key: 'plugin' }), message: 'inventory plugin configurations are not supported', hint: 'export the hosts with: ansible-inventory -i FILE --list -y > hosts.yml' });
      return;
    }
    // An extension-less file that is no YAML mapping is INI, as Ansible's ini plugin takes what yaml declines.
    if (ext !== '' || (src.problems.length === 0 && isMap)) {
      b.problems.push(...src.problems);
      if (src.problems.length === 0 && value !== null && value !== undefined && !isMap) b.problems.push({ pos: src.posAt([]), message: 'a YAML inventory must be a mapping of group names', hint: 'start with `all:` and put hosts under `hosts:`' });
      if (isMap) for (const [name, body] of Object.entries(value)) parseYamlGroup(src, b, name, body, [name], b.seen);
      return;
    }
  }
  parseIni(text, file, b);
}

/** A source: a file, or a directory whose entries are sources (sorted, minus the ignored ones). */
function parseSource(source: string, b: DraftBuilder, skipped: string[]): void {
  if (!statSync(source).isDirectory()) return parseFile(source, b);
  for (const e of readdirSync(source).sort(byCodePoint)) {
    if (IGNORED_IN_DIR.test(e)) {
      if (/\.(?:ini|cfg)$/.test(e)) skipped.push(join(source, e));
      continue;
    }
    parseSource(join(source, e), b, skipped);
  }
}

/**
 * Ansible inventory sources (files or directories) merged in order into one inventory, as
 * Ansible's InventoryManager merges several -i: a host or group seen again gains members and vars.
 */
export function loadAnsibleSources(sources: string[]): { inventory?: Inventory; problems: Problem[] } {
  const b = new DraftBuilder(sources.join(', '));
  const skipped: string[] = [];
  for (const source of sources) parseSource(source, b, skipped);
  if (b.problems.length === 0) applyVarDirs(b, sources);
  if (b.draft.hosts.size === 0 && skipped.length) {
    const dir = dirname(skipped[0]!);
    b.problems.push({ message: `inventory directory ${dir} has no hosts: ${basename(skipped[0]!)} is skipped in directories, as Ansible does`, hint: `use -i ${skipped[0]}` });
  }
  for (const g of b.draft.groups.values()) {
    markSecrets(g);
    // Ansible takes ansible_group_priority out of the group's vars as int(value); it is no var.
    const p = g.vars.ansible_group_priority;
    if (p === undefined) continue;
    delete g.vars.ansible_group_priority;
    if ((typeof p === 'number' && Number.isInteger(p)) || (typeof p === 'string' && /^\s*[+-]?\d+\s*$/.test(p))) g.priority = Number(p);
    else b.problems.push({ pos: g.pos, message: `group "${g.name}": ansible_group_priority "${String(p)}" is not a whole number` });
  }
  for (const h of b.draft.hosts.values()) markSecrets(h);
  const grouped = new Set([...b.draft.groups.values()].flatMap((g) => g.hosts));
  for (const h of b.draft.hosts.values()) if (!grouped.has(h.name)) b.group('ungrouped').hosts.push(h.name);
  if (b.problems.length) return { problems: b.problems };
  const problems: Problem[] = [];
  const r = finishInventory(b.draft, ansibleConnection(sources[0]!, problems));
  return problems.length || r.problems.length ? { problems: [...r.problems, ...problems] } : r;
}

/** True when a parsed YAML mapping looks like an Ansible inventory (top-level keys are groups). */
export function looksLikeAnsibleYaml(value: Record<string, unknown>): boolean {
  const keys = Object.keys(value);
  if (keys.length === 0 || keys.every((k) => ['defaults', 'groups', 'hosts'].includes(k))) return false;
  return Object.values(value).every(
    (v) => v === null || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).some((k) => GROUP_KEYS.includes(k))),
  );
}
