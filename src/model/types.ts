/**
 * The loaded, validated model the engine works from. Loaders (runbook-load, inventory-load,
 * ansible-inventory) produce these; nothing downstream sees raw YAML.
 */
import type { SourcePos } from './errors.js';

/** A shell command template, with where it came from so template errors can name file:line:col. */
export interface CommandTemplate {
  text: string;
  pos: SourcePos;
  /** Where each `{{ }}` placeholder sits, in order, when it could be located (for precise error positions). */
  placeholderPos?: SourcePos[];
}

export interface Expectation {
  /** Exact stdout (trailing newline ignored) or a regex. */
  kind: 'equals' | 'regex';
  value: string;
}

export interface Step {
  name: string;
  pos: SourcePos;
  /** Read-only. Passes on exit 0 (and `expect`, when given). */
  check: CommandTemplate;
  expect?: Expectation;
  /** Run in order; stops at the first failure. Empty: a check-only step (diagnose). */
  fix: CommandTemplate[];
  /** Defaults to the check. */
  verify?: CommandTemplate;
  timeoutMs?: number;
  continueOnFailure: boolean;
  become?: boolean;
  /** Runs on the controller through the local transport, once per target host with its vars (never through sudo). */
  local?: boolean;
  /** The fix disrupts the node's pods: the Kubernetes node is drained around it (engine/node-drain.ts). */
  disruptive?: boolean;
  /** Programs the step's commands run (the runbook's and the step's own): checked on the host before the check. */
  needs: string[];
  // Fleet control
  when?: CommandTemplate;
  on?: string;
  once: boolean;
  register?: string;
  json: boolean;
  notify: string[];
  /** The runbook that fixes what this check-only step finds (named in the recap's next commands). */
  fixedBy?: string;
  /** The check's exit code for "broken, and the fix must not run here": the step fails, no fix is proposed or run. */
  refuseExit?: number;
  /** How `apply --plan` compares the check with the plan's (default: exit code and output). */
  drift?: Drift;
  /** Files the fix may change: captured before and after it, and shown as a diff. */
  files: StepFile[];
  /** Read-only commands that capture other state the fix changes (iptables-save, sysctl …). */
  snapshot: CommandTemplate[];
  /** Prints what the step's one file would become: a dry run shows it as a diff. */
  preview?: CommandTemplate;
  /** What `runbook undo` runs after restoring the files (with the captured snapshots in $BEFORE_n). */
  undo?: CommandTemplate;
  /** Why the fix has no undo. */
  noUndo?: string;
  /** A watchdog on the host reverts the fix after this long unless the controller confirms (confirm.ts). */
  confirmMs?: number;
}

export interface StepFile {
  path: CommandTemplate;
  /** Only digests are kept and shown: the content is never stored or displayed. */
  sensitive: boolean;
}

/** Every command template of a step, in the order they can run: what is rendered and analysed. */
export function stepTemplates(step: Step): CommandTemplate[] {
  return [step.check, ...step.fix, ...(step.verify ? [step.verify] : []), ...step.files.map((f) => f.path), ...step.snapshot, ...(step.preview ? [step.preview] : []), ...(step.undo ? [step.undo] : [])];
}

/** What of a check must be as planned for a saved plan's fix to run: exit code, + whole output, or + the regex's matches. */
export type Drift = { kind: 'exit' | 'output' } | { kind: 'regex'; value: string };

export interface VarDef {
  /** For a secret whose env var/file is missing: an UnavailableSecret (secrets.ts); rendering it is an error. */
  value: unknown;
  secret: boolean;
}

export interface Runbook {
  name: string;
  description: string;
  file: string;
  /** sha256 of the file's bytes, for the audit trail. */
  hash: string;
  vars: Record<string, VarDef>;
  steps: Step[];
  handlers: Step[];
  /** Default targets (a host pattern) when apply gets no --hosts, and where the runbook says so. */
  hosts?: { pattern: string; pos: SourcePos };
  serial?: number | string;
  maxFailures?: number | string;
  become?: boolean;
}

/**
 * The one definition of how runbook can reach a host: each connection kind with its help text
 * (shown in the inventory schema). The inventory accepts exactly these, and the transport layer
 * has one transport per kind (src/transport/registry.ts, a Record<ConnectionKind, ...>), so a
 * kind added here without a transport does not compile.
 */
export const CONNECTION_HELP = {
  ssh: 'default',
  local: 'run on this machine',
} as const;

export type ConnectionKind = keyof typeof CONNECTION_HELP;
export const CONNECTION_KINDS = Object.keys(CONNECTION_HELP) as [ConnectionKind, ...ConnectionKind[]];
/** Used where the inventory names no connection. */
export const DEFAULT_CONNECTION: ConnectionKind = 'ssh';

export function isConnectionKind(name: string): name is ConnectionKind {
  return Object.hasOwn(CONNECTION_HELP, name);
}

export interface Host {
  name: string;
  address: string;
  port: number;
  user: string;
  /** Group names, most general first; `all` is implied and not listed. */
  groups: string[];
  /** Resolved vars: group vars (by depth) < host vars. Runbook and --var layers are added by the template. */
  vars: Record<string, unknown>;
  /** Names of vars whose values are secret (masked in every output). */
  secretVars: string[];
  connection: ConnectionKind;
  identityFile?: string;
  knownHostsFile?: string;
  proxyJump?: string;
  become?: boolean;
  becomePassword?: string;
  /** Set instead of becomePassword when its secret source is missing (env unset, file unreadable): refuse to connect with this reason. */
  becomePasswordError?: string;
  /** Fields the inventory left unset and the loader filled with a default (user: current user, port: 22, address: name); ssh config may override these. */
  defaulted?: Array<'user' | 'port' | 'address'>;
  /** The Kubernetes node this host is, when it came from a cluster (inventory `kubernetes:`): what a disruptive step drains. */
  kubeNode?: KubeNodeRef;
  /** Where the host was defined, for error messages. */
  pos?: SourcePos;
}

/** A node and the kubectl settings that reach its cluster (absent: kubectl's own choice). */
export interface KubeNodeRef {
  name: string;
  kubeconfig?: string;
  context?: string;
}

export interface Group {
  name: string;
  /** Every member, including members of child groups (transitively). */
  hosts: string[];
  children: string[];
  vars: Record<string, unknown>;
}

export interface Inventory {
  file: string;
  /** In definition order. */
  hosts: Host[];
  groups: Map<string, Group>;
}
