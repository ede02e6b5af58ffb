/**
 * How a command is sent to a host: optionally through sudo (`become`), and always with a start
 * marker that reports the pid of the process running it, so a timeout or abort can kill it.
 *
 * Why the pid: closing an exec channel does not stop the remote process (sshd only detaches it),
 * and the SSH "signal" request does not work for us: ssh2 silently drops it once stdin is closed,
 * OpenSSH refuses it for root logins ("session signalling requires privilege separation"), and
 * for sudo commands it runs as the login user, who cannot signal root's processes.
 *
 * become without a password: `sudo -n` (never prompts; fails at once if a password is needed).
 * With a password: sudo reads it from stdin (`-S`), never from argv, so it cannot show up in `ps`
 * on the host or in our logs. The password is written only when sudo actually prompts, recognised
 * by a per-command random prompt string; otherwise (NOPASSWD, cached credentials) it would land
 * on the command's stdin. The start marker also tells us when sudo is done and the caller's own
 * stdin may follow. Both markers are removed from stderr.
 */
import { randomBytes } from 'node:crypto';
import { shellQuote } from '../model/shell-quote.js';
import type { ConnectTarget } from './types.js';

/** A connection's become settings: sudo for every command or only when asked, with which password. */
export interface Become {
  always: boolean;
  password?: string;
}

/** The target's own become password wins over the run's (--ask-become-pass). */
export function becomeOf(target: ConnectTarget, runPassword: string | undefined): Become {
  return { always: target.become === true, password: target.becomePassword ?? runPassword };
}

export interface CommandPlan {
  command: string;
  /** Filters the markers out of stderr, answers sudo's prompt, learns the pid. */
  watcher: StartWatcher;
}

/**
 * Without become the marker is printed by the login shell itself, which then runs the command:
 * no extra process or exec. sshd made that shell a session and process group leader, so its pid
 * is the group to kill. Under sudo, a /bin/sh prints the marker and execs the command's shell.
 */
export function planCommand(command: string, become: boolean, becomePassword: string | undefined): CommandPlan {
  const nonce = randomBytes(8).toString('hex');
  const started = `[runbook-started-${nonce}:`;
  const mark = `printf '%s%s]' ${shellQuote(started)} "$$" >&2`;
  if (!become) return { command: `${mark}\n${command}`, watcher: new StartWatcher(started) };
  const inner = `${mark}; exec /bin/sh -c ${shellQuote(command)}`;
  if (becomePassword === undefined) {
    return { command: `sudo -n -- /bin/sh -c ${shellQuote(inner)}`, watcher: new StartWatcher(started) };
  }
  const prompt = `[runbook-sudo-${nonce}]`;
  return {
    command: `sudo -S -p ${shellQuote(prompt)} -- /bin/sh -c ${shellQuote(inner)}`,
    watcher: new StartWatcher(started, { prompt, password: becomePassword }),
  };
}

/** How long an interrupted command's kill may take, after which its fate is reported as unknown. */
export const KILL_GRACE_MS = 5000;

/**
 * POSIX sh, builtins only (dash's kill knows no `--`): SIGKILL the process group of `pid` (the
 * command's, or the sshd session's when sudo runs without a pty: then sudo and the login shell go
 * with it). The group is field 5 of /proc/<pid>/stat, after the parenthesised name. A pid that is
 * gone has nothing left to kill; without /proc, the pid alone is killed.
 */
export function killCommand(pid: number): string {
  return [
    `if [ -r /proc/${pid}/stat ]; then read -r s < /proc/${pid}/stat || exit 0; s=\${s##*) }; set -- $s; [ "$3" -gt 1 ] && kill -9 -"$3"`,
    `elif [ ! -d /proc/self ]; then kill -9 ${pid}; fi`,
  ].join('\n');
}

/** Watches stderr until the command starts; answers sudo's prompt once. */
export class StartWatcher {
  private pending = '';
  private answered = false;
  /** The pid that printed the start marker, once it has. */
  pid: number | undefined;
  private readonly waiters: ((pid: number) => void)[] = [];

  constructor(
    private readonly startedMarker: string,
    private readonly sudo?: { prompt: string; password: string },
  ) {}

  /** Stdin must wait for the start marker: until then it belongs to sudo. */
  get holdsInput(): boolean {
    return this.sudo !== undefined;
  }

  /** The password has been sent, so the command may start any moment (or has started). */
  get mayStart(): boolean {
    return this.sudo === undefined || this.answered || this.pid !== undefined;
  }

  /** Resolves with the pid when the command reports its start (never, if it does not). */
  started(): Promise<number> {
    return this.pid !== undefined ? Promise.resolve(this.pid) : new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Feed a stderr chunk. Returns the part of it that belongs to the real stderr, and calls
   * `write` with the password when sudo prompts, `onStart` when the command runs.
   */
  filter(chunk: Buffer, write: (s: string) => void, onStart: () => void, giveUp: () => void): Buffer {
    if (this.pid !== undefined) return chunk;
    this.pending += chunk.toString('latin1');
    let idx: number;
    const prompt = this.sudo?.prompt;
    while (prompt !== undefined && (idx = this.pending.indexOf(prompt)) !== -1) {
      this.pending = this.pending.slice(0, idx) + this.pending.slice(idx + prompt.length);
      if (this.answered) {
        // Wrong password: sudo asks again. Don't loop; closing stdin makes sudo fail.
        giveUp();
      } else {
        this.answered = true;
        write(`${this.sudo!.password}\n`);
      }
    }
    const marker = findMarker(this.pending, this.startedMarker);
    if (marker === undefined || 'partialAt' in marker) {
      // Keep a possible partial marker back; release the rest (sudo's own messages, and forged
      // prefixes that turned out not to be markers: holding those would let the host fill our memory).
      const keep = Math.max(prompt?.length ?? 0, this.startedMarker.length + MAX_PID_DIGITS + 1);
      const from = marker !== undefined ? marker.partialAt : Math.max(0, this.pending.length - keep);
      const out = this.pending.slice(0, from);
      this.pending = this.pending.slice(from);
      return Buffer.from(out, 'latin1');
    }
    const out = this.pending.slice(0, marker.at) + this.pending.slice(marker.end);
    this.pending = '';
    this.pid = marker.pid;
    for (const w of this.waiters.splice(0)) w(marker.pid);
    onStart();
    return Buffer.from(out, 'latin1');
  }

  /** What is still held back when the stream ends (e.g. sudo's error before the command started). */
  flush(): Buffer {
    const out = this.sudo ? this.pending.split(this.sudo.prompt).join('') : this.pending;
    this.pending = '';
    return Buffer.from(out, 'latin1');
  }
}

/** More than any pid (Linux caps them at 2^22): a longer run of digits is not a marker. */
const MAX_PID_DIGITS = 10;

/**
 * The first start marker in `s`: the prefix, the pid's digits, `]`. The login shell's rc files
 * run before the marker and can print the prefix too, so anything else after it is output, not a
 * marker. `partialAt`: a marker may be beginning there (the stream ends inside it).
 */
function findMarker(s: string, prefix: string): { at: number; end: number; pid: number } | { partialAt: number } | undefined {
  for (let at = s.indexOf(prefix); at !== -1; at = s.indexOf(prefix, at + 1)) {
    const rest = s.slice(at + prefix.length, at + prefix.length + MAX_PID_DIGITS + 1);
    const m = /^(\d+)\]/.exec(rest);
    if (m) return { at, end: at + prefix.length + m[0].length, pid: Number(m[1]) };
    // Only digits, fewer than the slice holds: the stream ends inside a marker; wait for the rest.
    if (/^\d*$/.test(rest) && rest.length <= MAX_PID_DIGITS) return { partialAt: at };
  }
  return undefined;
}
