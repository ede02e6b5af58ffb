/**
 * The one interface between the engine and the machines it changes. The engine never knows
 * whether it talks to ssh2 or to a local shell.
 */
import type { ConnectionKind } from '../model/types.js';
import type { AskPassphrase } from './identities.js';
import type { SshConfigResolver } from './ssh-config.js';

export interface ExecOptions {
  /** Hard deadline for this command; on expiry the channel is closed and outcome is 'timeout'. */
  timeoutMs?: number;
  /** Written to the command's stdin, then stdin is closed. Never logged. */
  stdin?: string;
  /**
   * Stdin stays open until this settles, then is closed: a long-lived command that ends at EOF on
   * its input (the host lock) is released without another command.
   */
  holdInput?: Promise<unknown>;
  /** Run through `sudo -n` (or sudo -S with the become password on stdin). */
  become?: boolean;
  /** Aborting closes the channel; outcome becomes 'interrupted'. */
  signal?: AbortSignal;
  /** Per-stream cap; the tail is kept. Default 1 MiB. */
  maxOutputBytes?: number;
  /** Sees stdout as it arrives, for long-lived commands that report progress (the host lock). */
  onStdout?: (chunk: Buffer) => void;
  /**
   * Sent with the command as the environment variable RUNBOOK_COMMAND_ID (an sshd that does not
   * AcceptEnv it drops it silently), so a host's own logs can name the command the audit trail
   * recorded before sending it.
   */
  commandId?: string;
  /** The kill a timeout or abort sends on its own, announced and reported like any command (the audit trail). */
  onKill?: KillReport;
}

/** Hooks around the kill command a transport sends to stop a timed-out or interrupted command. */
export interface KillReport {
  /** Awaited before the kill is sent (the audit makes its record durable); resolves to the id to send it with. */
  starting(command: string): Promise<string | undefined>;
  /** `problem`: why the kill could not be confirmed, if it could not. */
  ended(outcome: { problem?: string; durationMs: number }): void;
}

/** Per hop, unless the flag or ssh config's ConnectTimeout says otherwise. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** The environment variable that carries ExecOptions.commandId to the host. */
export const COMMAND_ID_ENV = 'RUNBOOK_COMMAND_ID';

/**
 * - exit: the command exited with `code`.
 * - signal: the remote process died of `signal`.
 * - timeout: our deadline fired and we closed the channel; the command may have done part of its work.
 * - lost: the channel or connection went away without an exit status: the outcome is UNKNOWN.
 * - interrupted: the operator aborted it (second Ctrl-C).
 */
export type ExecOutcome = 'exit' | 'signal' | 'timeout' | 'lost' | 'interrupted';

export interface ExecResult {
  outcome: ExecOutcome;
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** True when the stream exceeded maxOutputBytes and only its tail was kept. */
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  durationMs: number;
  /** Human-readable reason when outcome is not 'exit'. */
  reason?: string;
}

/** Why a connection could not be made. Every kind maps to a one-line, actionable message. */
export type ConnectErrorKind =
  | 'unknown-host-key'
  | 'changed-host-key'
  | 'revoked-host-key'
  | 'auth'
  | 'timeout'
  | 'refused'
  | 'unreachable'
  | 'passphrase'
  | 'config'
  | 'other';

export class ConnectError extends Error {
  constructor(
    readonly host: string,
    readonly kind: ConnectErrorKind,
    message: string,
    /** What the operator should do, e.g. the exact ssh-keyscan line to trust a key. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ConnectError';
  }
}

export interface Connection {
  readonly host: string;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  close(): Promise<void>;
}

/** Everything needed to reach one host; built from the inventory plus ssh config. */
export interface ConnectTarget {
  name: string;
  address: string;
  port: number;
  user: string;
  connection: ConnectionKind;
  identityFile?: string;
  knownHostsFile?: string;
  /** OpenSSH ProxyJump syntax: [user@]host[:port][,...] — names may be inventory hosts. */
  proxyJump?: string;
  become?: boolean;
  becomePassword?: string;
  /** The inventory's become password source is unavailable: connecting is refused with this reason. */
  becomePasswordError?: string;
}

export interface TransportOptions {
  connectTimeoutMs: number;
  /** Record unknown host keys (OpenSSH accept-new). A changed key is still refused. */
  acceptNew: boolean;
  /** Where accept-new writes, default ~/.ssh/known_hosts. */
  knownHostsWriteFile?: string;
  keepaliveIntervalMs: number;
  /** Concurrent exec channels per connection (OpenSSH MaxSessions default is 10). */
  maxSessions: number;
}

/** What createTransport is given; every kind's transport gets all of it and uses what applies. */
export interface CreateTransportOptions extends Partial<TransportOptions> {
  /** Asked once per encrypted key file (the CLI wires a TTY prompt; absent without a TTY). */
  askPassphrase?: AskPassphrase;
  /** From --ask-become-pass; a target's own becomePassword wins. Fed to sudo on stdin only. */
  becomePassword?: string;
  /** ProxyJump hop names that are inventory hosts resolve to their targets. */
  resolveHost?: (name: string) => ConnectTarget | undefined;
  /** ssh-agent socket; default $SSH_AUTH_SOCK; '' disables the agent. */
  agent?: string;
  /** Whose ~/.ssh is used (default: the current user's home). */
  homeDir?: string;
  /** Replaces the ssh config lookup (tests, or callers that resolved it already). */
  sshConfig?: SshConfigResolver;
}

export interface Transport {
  connect(target: ConnectTarget): Promise<Connection>;
  /**
   * Reads (and, asking once per file, unlocks) every key these targets will use, so passphrase
   * prompts happen up front, one at a time, before any live output. Problems surface at connect.
   */
  prepare(targets: ConnectTarget[]): Promise<void>;
  /** Closes every connection (including shared bastion connections). */
  closeAll(): Promise<void>;
}
