/**
 * One apply at a time per host, whoever runs it and from wherever: a host-side `flock` on
 * /run/runbook.lock, held by one long-lived exec channel on the run's own SSH connection. The lock
 * lives exactly as long as that channel's shell, which waits for the end of its input: released
 * on purpose by closing the channel's stdin (no other command: a kill was one more session per
 * host on every apply), and released by itself when the controller dies (the
 * connection drops, sshd closes the pipes, the shell reads EOF and exits). /run is a tmpfs, so a
 * reboot clears it too. Only if the shell has not ended soon after its EOF (something between sshd
 * and it kept stdin open) is it killed by a short command: OpenSSH refuses channel signals for
 * root logins ("session signalling requires privilege separation").
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Connection, ExecResult, KillReport } from '../transport/types.js';
import { shellQuote } from '../model/shell-quote.js';
import type { HostPlan } from './plan.js';
import { oneLine } from './sanitize.js';
import { killReport, reportStepResult, startCommand, type CommandReport, type HostOutcome, type Reporting } from './step-report.js';
import type { RunControl } from './control.js';
import { CONFIRM_PREFIX } from './confirm.js';

export const HOST_LOCK_FILE = '/run/runbook.lock';

export interface HostLockOptions {
  /** How long to wait for another run's lock before refusing; 0 refuses at once. */
  waitMs: number;
  /** Written into the lock file for whoever is refused. Defaults to this process. */
  pid?: number;
  controller?: string;
  file?: string;
  /** Where confirm watchdogs live (confirm.ts); tests name their own. */
  watchdogs?: string;
}

/** The lock shell printed this: it holds the lock. */
const HELD = 'RUNBOOK-LOCK-HELD';
/** A refused lock shell printed one of these before what the lock file says. */
const BY_RUN = 'RUNBOOK-LOCK-BY-RUN';
const BY_UNKNOWN = 'RUNBOOK-LOCK-BY-UNKNOWN';
const EXIT_BUSY = 75;
const EXIT_NO_FLOCK = 76;
/** The lock is free, but an earlier run's confirm watchdog is still armed here. */
const EXIT_ARMED = 77;
const ARMED = 'RUNBOOK-WATCHDOG-ARMED';
/** How long a released lock command may take to end by itself, after its EOF and again after the kill. */
const RELEASE_GRACE_MS = 2000;

export interface HeldLock {
  release(): Promise<void>;
}

export type LockAttempt = { held: HeldLock } | { refused: string; result: ExecResult };

/**
 * The lock shell. It holds fd 9 while `read` (a builtin: no child inherits the lock) waits for
 * the end of its input, which comes when the run releases the lock or its connection is gone.
 */
export function lockCommand(info: string, waitMs: number, file = HOST_LOCK_FILE, nonce = randomBytes(8).toString('hex'), watchdogs = CONFIRM_PREFIX): string {
  const f = shellQuote(file);
  const wait = waitMs > 0 ? `-w ${Math.ceil(waitMs / 1000)}` : '-n';
  return [
    `command -v flock >/dev/null 2>&1 || { echo 'flock(1) is not installed' >&2; exit ${EXIT_NO_FLOCK}; }`,
    // A user who cannot write the lock file may still lock it read-only (flock needs no write access).
    // (Tested first: a failed redirection on `exec` ends a POSIX shell.)
    `if [ -w ${f} ] || { [ ! -e ${f} ] && [ -w ${shellQuote(file.replace(/\/[^/]*$/, '') || '/')} ]; }; then exec 9>>${f}; else exec 9<${f}; fi`,
    // Busy: the file names the last run that held the lock, and the shell that held it. Only if
    // that shell is alive and has this file open is the holder that run (dash may have moved fd 9
    // while it sleeps, so any fd); anyone may flock the file (any local user can), and then the
    // holder is unknown, and the file's text is only what it says.
    `flock ${wait} 9 || { h=$(cat ${f} 2>/dev/null); p=\${h##*shell }; case $p in '' | *[!0-9]*) p= ;; esac`,
    `  if [ -n "$p" ] && ls -l /proc/$p/fd 2>/dev/null | { while read -r l; do case \${l##* -> } in ${f}) exit 0 ;; esac; done; exit 1; }`,
    `  then printf '${BY_RUN} %s\\n' "\${h%shell *}"; else printf '${BY_UNKNOWN} %s\\n' "$h"; fi`,
    `  exit ${EXIT_BUSY}; }`,
    // An earlier run's confirm watchdog still armed (its controller died before confirming): it
    // will put back that run's fix later, under whatever this run does. Refused until it has
    // fired or been confirmed. Only a directory this user or root made counts (/tmp is anyone's).
    `for d in ${shellQuote(watchdogs)}*; do`,
    `  [ -d "$d" ] && [ ! -L "$d" ] && [ -e "$d/armed" ] || continue`,
    `  [ -O "$d" ] || [ "$(stat -c %u "$d" 2>/dev/null)" = 0 ] || continue`,
    `  t=$(head -c 20 "$d/armed" 2>/dev/null); case $t in '' | *[!0-9]*) t= ;; esac`,
    `  printf '${ARMED} %s %s\\n' "$d" "$t"; exit ${EXIT_ARMED}`,
    `done`,
    `printf '%s\\n' ${shellQuote(info)} 2>/dev/null > ${f} || true`,
    `echo "shell $$" 2>/dev/null >> ${f} || true`,
    // The nonce: the busy branch prints the lock file, which anyone may write, so the marker alone
    // could be forged into it; the nonce is new for every attempt.
    `echo ${HELD} $$ ${nonce}`,
    `while read -r _; do :; done`,
  ].join('\n');
}

export function holderInfo(operator: string, runId: string, opts: Pick<HostLockOptions, 'pid' | 'controller'> = {}, now = new Date()): string {
  return `${operator} (pid ${opts.pid ?? process.pid} on ${opts.controller ?? hostname()}, run ${runId}, since ${now.toISOString()})`;
}

/** How the lock's own commands are put on the record (step-report.ts startCommand, for one host and step). */
export type LockRecorder = (phase: 'lock' | 'unlock', command: string) => CommandReport;

/**
 * Takes the host's lock, or says who holds it. Never throws for a host problem. With `record`,
 * the lock command and the release's kill are recorded like any command: announced before they
 * are sent, their outcome when they end (the lock's when it is released).
 */
export async function acquireHostLock(
  conn: Connection,
  opts: HostLockOptions & { operator: string; runId: string; signal?: AbortSignal; become?: boolean; record?: LockRecorder; killReport?: () => KillReport },
): Promise<LockAttempt> {
  const nonce = randomBytes(8).toString('hex');
  const command = lockCommand(holderInfo(opts.operator, opts.runId, opts), opts.waitMs, opts.file, nonce, opts.watchdogs);
  const heldLine = new RegExp(`^${HELD} (\\d+) ${nonce}$`, 'm');
  const release = new AbortController();
  let endInput!: () => void;
  const inputEnds = new Promise<void>((resolve) => (endInput = resolve));
  const abortWith = (): void => release.abort();
  opts.signal?.addEventListener('abort', abortWith, { once: true });
  let seen = '';
  let onHeld!: () => void;
  const heldSignal = new Promise<'held'>((resolve) => (onHeld = () => resolve('held')));
  const locking = opts.record?.('lock', command);
  const running = conn.exec(command, {
    signal: release.signal,
    become: opts.become ?? false,
    maxOutputBytes: 4096,
    holdInput: inputEnds,
    ...(locking ? { commandId: locking.id } : {}),
    ...(opts.killReport ? { onKill: opts.killReport() } : {}),
    onStdout: (chunk) => {
      if (seen.length < 4096) seen += chunk.toString('utf8');
      if (heldLine.test(seen)) onHeld();
    },
  });
  const first = await Promise.race([heldSignal, running]);
  if (first === 'held') {
    const pid = heldLine.exec(seen)?.[1];
    return {
      held: {
        async release() {
          opts.signal?.removeEventListener('abort', abortWith);
          endInput();
          if (!(await endsWithin(running, RELEASE_GRACE_MS)) && pid) {
            // Still running after its EOF: end its process group (its read, its shell).
            const kill = `kill -TERM -${pid} 2>/dev/null || kill ${pid}`;
            const unlocking = opts.record?.('unlock', kill);
            const r = await conn
              .exec(kill, { timeoutMs: 5000, become: opts.become ?? false, ...(unlocking ? { commandId: unlocking.id } : {}), ...(opts.killReport ? { onKill: opts.killReport() } : {}) })
              .catch((err: unknown) => lostResult(err));
            unlocking?.ended(r);
          }
          // Aborting makes the transport kill the lock command: only when it did not end by itself.
          if (!(await endsWithin(running, RELEASE_GRACE_MS))) release.abort();
          locking?.ended(await running);
        },
      },
    };
  }
  opts.signal?.removeEventListener('abort', abortWith);
  endInput();
  const r = first;
  locking?.ended(r);
  const why =
    r.outcome === 'exit' && r.code === EXIT_BUSY
      ? busyReason(r.stdout, opts.file ?? HOST_LOCK_FILE)
      : r.outcome === 'exit' && r.code === EXIT_ARMED
        ? armedReason(r.stdout)
        : r.outcome === 'exit' && r.code === EXIT_NO_FLOCK
        ? `cannot take the host lock: flock(1) is not installed (install util-linux)`
        : `cannot take the host lock ${opts.file ?? HOST_LOCK_FILE}: ${r.reason ?? (r.stderr.trim() || `exit ${r.code}`)} (runbook needs write access to it: connect as root or use become)`;
  return { refused: oneLine(why), result: r };
}

/** Who holds the lock, as the refused lock shell found out; never a guess from the file alone. */
function busyReason(stdout: string, file: string): string {
  const said = stdout.replace(/\n$/, '');
  // What the file says is anyone's text (any local user can write it): bounded, unlike the advice around it.
  if (said.startsWith(`${BY_RUN} `)) {
    const info = oneLine(said.slice(BY_RUN.length + 1).trim(), 300);
    return `locked by ${info}: another runbook apply is working on this host (wait for it to finish; a lock whose run died is released by itself)`;
  }
  const content = oneLine((said.startsWith(`${BY_UNKNOWN} `) ? said.slice(BY_UNKNOWN.length + 1) : said).replace(/\n?shell \d+$/, '').trim(), 200);
  // Unknown, not "not runbook": a become holder's /proc is unreadable from a plain login, so it may be one.
  return `locked, holder unknown: no live runbook apply that this user can see holds it (the lock file says: ${content || 'nothing'}); find the holder on the host with fuser -v ${file}`;
}

/** An earlier run's watchdog is armed here: when it fires, and what to do meanwhile. */
function armedReason(stdout: string): string {
  const m = new RegExp(`^${ARMED} (\\S+) (\\d*)$`, 'm').exec(stdout);
  const dir = oneLine(m?.[1] ?? 'a watchdog', 200);
  const at = m?.[2] ? ` at ${new Date(Number(m[2]) * 1000).toISOString()}` : '';
  return `a confirm watchdog of an earlier run is armed here (${dir}): it will put that run's fix back${at}, under anything run now (wait until it has fired, then run again; to keep the fix instead, confirm it by hand: rm ${dir}/armed)`;
}

/** Whether the command ends within `ms`. */
async function endsWithin(running: Promise<ExecResult>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ended = await Promise.race([running.then(() => true), new Promise<false>((res) => (timer = setTimeout(() => res(false), ms)))]);
  clearTimeout(timer);
  return ended;
}

/** A transport that threw gives no exit status: the outcome is unknown. */
function lostResult(err: unknown): ExecResult {
  return { outcome: 'lost', code: null, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false, durationMs: 0, reason: err instanceof Error ? err.message : String(err) };
}

/**
 * Apply mode: takes the host's lock before any step runs. When it is refused, the host's steps
 * are reported (the first failed with the holder named, the rest blocked) and the outcome is
 * returned instead of a lock.
 */
export async function lockHost(
  conn: Connection,
  hp: Pick<HostPlan, 'host' | 'steps'>,
  ctx: Reporting & { control: Pick<RunControl, 'signal'> },
  opts: HostLockOptions & { operator: string },
): Promise<HeldLock | HostOutcome> {
  const host = hp.host.name;
  // A run that needs root on this host (become) takes the lock as root too.
  const become = hp.steps.some((ps) => ps.become);
  // The lock's records name the host's first step: the lock is taken for the whole run, before it.
  const step = hp.steps[0]?.name ?? '';
  const got = await acquireHostLock(conn, {
    ...opts,
    runId: ctx.runId,
    signal: ctx.control.signal,
    become,
    record: (phase, command) => startCommand(ctx, host, step, phase, command),
    killReport: () => killReport(ctx, host, step),
  });
  if ('held' in got) return got.held;
  const steps = hp.steps.map((ps, i) =>
    i === 0 ? reportStepResult(ctx, host, ps, 'failed', Date.now(), { reason: got.refused }) : reportStepResult(ctx, host, ps, 'blocked', Date.now(), { reason: 'blocked: the host is locked by another run' }),
  );
  return { host, reachable: true, locked: got.refused, steps };
}
