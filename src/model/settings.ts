/**
 * The settings files: defaults for the flags an operator would otherwise repeat on every command,
 * and (from the root-owned system file only) policies. Three files, each optional, later ones
 * winning key by key:
 *   /etc/runbook/config.yaml                                   system: defaults, and `policy:`
 *   $XDG_CONFIG_HOME/runbook/config.yaml (~/.config/runbook/…) the operator's own
 *   ./runbook.yaml                                             the project's (the current directory)
 * Environment variables and flags win over all of them. A file someone else could have written is
 * refused, not read: settings choose the inventory and the audit trail, so whoever writes them
 * chooses where commands go and where their record lands.
 */
import { lstatSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { UserError, type Problem, type SourcePos } from './errors.js';
import { expandHome, resolveSecret, UnavailableSecret } from './secrets.js';
import { SecretDefSchema } from './var-schema.js';
import { loadYamlFile, sortProblems, type YamlSource } from './yaml-source.js';
import { zodProblems } from './zod-problems.js';

export const SYSTEM_SETTINGS = '/etc/runbook/config.yaml';
export const PROJECT_SETTINGS = 'runbook.yaml';

const Secretish = z.union([z.string().min(1), SecretDefSchema]);

const NotifyTargetSchema = z.union([
  Secretish,
  z.strictObject({
    url: Secretish.describe('the webhook URL (a credential: masked everywhere)'),
    format: z.enum(['json', 'slack']).optional().describe('json (default) or slack (incoming-webhook shape)'),
  }),
]);

export const SettingsSchema = z
  .strictObject({
    inventory: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional().describe('inventory sources, as -i (relative: to this file)'),
    forks: z.int().min(1).optional().describe('hosts worked on at once, as --forks'),
    connect_timeout: z.int().min(1).optional().describe('connection timeout in seconds, as --connect-timeout'),
    audit_file: z.string().min(1).optional().describe('the audit trail, as --audit-file (relative: to this file)'),
    audit_syslog: z.string().min(1).optional().describe('also send audit records to this syslog server, as --audit-syslog (tcp://HOST:PORT)'),
    report_dir: z.string().min(1).optional().describe('write an HTML report of every apply run here (relative: to this file)'),
    notify: z.array(NotifyTargetSchema).optional().describe('webhooks told of run start, approval waits and run end, as --notify'),
    notify_secret: SecretDefSchema.optional().describe('HMAC key that signs notifications (else $RUNBOOK_NOTIFY_SECRET)'),
    policy: z
      .strictObject({
        require_approvals: z.int().min(1).optional().describe('apply only signed plans with this many approvals (as --require-approvals)'),
        allowed_signers: z.string().min(1).optional().describe('whose signatures count (ssh-keygen allowed-signers file)'),
      })
      .optional()
      .describe('only in /etc/runbook/config.yaml (root-owned): rules no flag can loosen'),
  })
  .describe('runbook settings (config.yaml, runbook.yaml)');

type Raw = z.infer<typeof SettingsSchema>;
export type SettingKey = keyof Raw;

/** Where a setting came from: a file position, an environment variable, or the built-in default. */
export type Origin = SourcePos | { env: string } | 'default';

export function describeOrigin(o: Origin): string {
  if (o === 'default') return 'default';
  if ('env' in o) return `$${o.env}`;
  return `${o.file}:${o.line}:${o.col}`;
}

export interface Setting<T> {
  value: T;
  from: Origin;
}

export interface NotifyTarget {
  /** Resolved; a secret (masked wherever it is shown). */
  url: string | UnavailableSecret;
  format: 'json' | 'slack';
}

export interface Settings {
  /** The files read, in order (missing ones are not listed). */
  files: string[];
  inventory?: Setting<string[]>;
  forks?: Setting<number>;
  connectTimeout?: Setting<number>;
  auditFile?: Setting<string>;
  auditSyslog?: Setting<string>;
  reportDir?: Setting<string>;
  notify?: Setting<NotifyTarget[]>;
  notifySecret?: Setting<string | UnavailableSecret>;
  requireApprovals?: Setting<number>;
  allowedSigners?: Setting<string>;
}

export interface SettingsPlaces {
  system?: string;
  user?: string;
  project?: string;
  /** The uid that must own the user and project files (the system file: root). */
  uid?: number;
}

/** The three files' places for this process: $XDG_CONFIG_HOME (absolute only, as XDG says), else ~/.config. */
export function settingsPlaces(cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): Required<SettingsPlaces> {
  const home = env.HOME || homedir();
  const xdg = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(home, '.config');
  return { system: SYSTEM_SETTINGS, user: join(xdg, 'runbook', 'config.yaml'), project: resolve(cwd, PROJECT_SETTINGS), uid: process.getuid?.() ?? 0 };
}

/**
 * A file that others may have written is refused: it would choose where commands go. A link
 * counts as its own owner's and its target's: both must be trusted, so nobody can point your
 * ./runbook.yaml at their file or theirs at yours. The system file's directory must be root's too,
 * or whoever can write it can remove the policy.
 */
function trustProblem(file: string, owner: number, ownerName: string, what = 'settings file'): Problem | undefined {
  const at = { file, line: 1, col: 1 };
  const link = lstatSync(file);
  const st = statSync(file);
  if (!st.isFile()) return { pos: at, message: `${what} is not a regular file`, hint: 'remove it or make it a file' };
  for (const [s, of] of [...(link.isSymbolicLink() ? [[link, 'link'] as const] : []), [st, what] as const]) {
    if (s.uid !== owner) return { pos: at, message: `${of === 'link' ? `${what} is a link owned by uid ${s.uid}` : `${what} is owned by uid ${s.uid}`}, not ${ownerName}, so runbook does not read it`, hint: 'check who wrote it, and replace it with a file of your own' };
  }
  if (st.mode & 0o022) return { pos: at, message: `${what} is writable by ${st.mode & 0o002 ? 'everyone' : 'its group'}, so runbook does not read it`, hint: `chmod go-w ${file}` };
  if (owner === 0) {
    const dir = statSync(dirname(file));
    if (dir.uid !== 0 || dir.mode & 0o022) return { pos: at, message: `${what}'s directory ${dirname(file)} is not root's alone (owner uid ${dir.uid}, mode ${(dir.mode & 0o777).toString(8)}), so its policy could be removed`, hint: `chown root ${dirname(file)} && chmod go-w ${dirname(file)}` };
  }
  return undefined;
}

/** Whether the file is there: only "no such file" is absence; anything else (EACCES) is a located problem. */
function presence(file: string): 'absent' | 'present' | Problem {
  try {
    statSync(file);
    return 'present';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'absent';
    return { pos: { file, line: 1, col: 1 }, message: `cannot read the settings file: ${code ?? (e as Error).message}`, hint: `runbook must be able to read it (a policy there applies to everyone): ask its owner to make it readable (chmod o+r ${file}, and o+x on its directory)` };
  }
}

/** Reads, checks and merges the settings files; every problem in them is one located line. */
export function loadSettings(places: SettingsPlaces = settingsPlaces(), env: NodeJS.ProcessEnv = process.env): Settings {
  const uid = places.uid ?? 0;
  const layers: { file: string; kind: 'system' | 'user' | 'project' }[] = [];
  if (places.system) layers.push({ file: places.system, kind: 'system' });
  if (places.user) layers.push({ file: places.user, kind: 'user' });
  // ~/.config/runbook/config.yaml run from ~/.config/runbook is one file, read once.
  if (places.project && places.project !== places.user) layers.push({ file: places.project, kind: 'project' });
  const settings: Settings = { files: [] };
  const problems: Problem[] = [];
  for (const { file, kind } of layers) {
    const there = presence(file);
    if (there === 'absent') continue;
    if (there !== 'present') {
      problems.push(there);
      continue;
    }
    const distrust = trustProblem(file, kind === 'system' ? 0 : uid, kind === 'system' ? 'root' : `you (uid ${uid})`);
    if (distrust) {
      problems.push(distrust);
      continue;
    }
    let src: YamlSource;
    try {
      src = loadYamlFile(file, 'settings file');
    } catch (e) {
      if (e instanceof UserError) throw e;
      problems.push({ pos: { file, line: 1, col: 1 }, message: `cannot read the settings file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, hint: `make it readable by you (chmod u+r ${file})` });
      continue;
    }
    if (src.value === null || src.value === undefined) {
      settings.files.push(file);
      continue;
    }
    const parsed = SettingsSchema.safeParse(src.value);
    if (!parsed.success || src.problems.length) {
      problems.push(...src.problems, ...(parsed.success ? [] : zodProblems(src, SettingsSchema, parsed.error.issues)));
      continue;
    }
    settings.files.push(file);
    apply(settings, parsed.data, src, kind, problems, env);
  }
  if (problems.length) throw new UserError(sortProblems(problems));
  return settings;
}

function apply(s: Settings, raw: Raw, src: YamlSource, kind: 'system' | 'user' | 'project', problems: Problem[], env: NodeJS.ProcessEnv): void {
  const base = dirname(src.file);
  const at = (key: SettingKey): SourcePos => src.posAt([key]);
  const path = (p: string): string => resolve(base, expandHome(p, env.HOME || homedir()));
  if (raw.inventory !== undefined) s.inventory = { value: (Array.isArray(raw.inventory) ? raw.inventory : [raw.inventory]).map(path), from: at('inventory') };
  if (raw.forks !== undefined) s.forks = { value: raw.forks, from: at('forks') };
  if (raw.connect_timeout !== undefined) s.connectTimeout = { value: raw.connect_timeout, from: at('connect_timeout') };
  if (raw.audit_file !== undefined) s.auditFile = { value: path(raw.audit_file), from: at('audit_file') };
  if (raw.audit_syslog !== undefined) s.auditSyslog = { value: raw.audit_syslog, from: at('audit_syslog') };
  if (raw.report_dir !== undefined) s.reportDir = { value: path(raw.report_dir), from: at('report_dir') };
  const secret = (v: string | Record<string, unknown>, pos: SourcePos): string | UnavailableSecret => (typeof v === 'string' ? v : resolveSecret(v, base, pos, env));
  if (raw.notify !== undefined) {
    s.notify = {
      value: raw.notify.map((t, i) => {
        const pos = src.posAt(['notify', i]);
        return typeof t === 'object' && 'url' in t ? { url: secret(t.url, pos), format: t.format ?? 'json' } : { url: secret(t, pos), format: 'json' };
      }),
      from: at('notify'),
    };
  }
  if (raw.notify_secret !== undefined) s.notifySecret = { value: secret(raw.notify_secret, at('notify_secret')), from: at('notify_secret') };
  if (raw.policy !== undefined) {
    if (kind !== 'system') {
      problems.push({ pos: src.posAt([], { key: 'policy' }), message: `policy: is read only from ${SYSTEM_SETTINGS}, which root owns`, hint: 'a policy anyone can edit binds nobody; ask an administrator to set it there, or remove it' });
      return;
    }
    if (raw.policy.require_approvals !== undefined) s.requireApprovals = { value: raw.policy.require_approvals, from: src.posAt(['policy', 'require_approvals']) };
    if (raw.policy.allowed_signers !== undefined) {
      const file = path(raw.policy.allowed_signers);
      const pos = src.posAt(['policy', 'allowed_signers']);
      // Whoever can write the signers file chooses whose approvals count: it must be root's alone.
      const there = presence(file);
      const distrust = there === 'present' ? trustProblem(file, 0, 'root', 'the allowed signers file') : there === 'absent' ? { pos, message: `policy.allowed_signers ${file} does not exist`, hint: 'create it (root-owned, ssh-keygen allowed-signers format)' } : there;
      if (distrust) problems.push({ ...distrust, pos });
      s.allowedSigners = { value: file, from: pos };
    }
    if (s.requireApprovals && !s.allowedSigners) problems.push({ pos: src.posAt(['policy']), message: 'policy.require_approvals needs policy.allowed_signers: whose signatures count', hint: 'name an ssh-keygen allowed-signers file that root owns' });
  }
}
