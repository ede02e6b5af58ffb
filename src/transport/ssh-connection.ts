/**
 * One live ssh2 connection to one host, shared by every command of a run. Exec channels are
 * limited by a semaphore (OpenSSH's MaxSessions, 10 by default); extra commands queue.
 */
import type { Client, ClientChannel } from 'ssh2';
import { COMMAND_ID_ENV, type Connection, type ExecOptions, type ExecResult, type KillReport } from './types.js';
import { Semaphore } from './semaphore.js';
import { supervise, type Supervised } from './supervise.js';
import { KILL_GRACE_MS, killCommand, planCommand, type Become, type StartWatcher } from './become.js';

/** OpenSSH answers an over-limit session with "administratively prohibited" (reason 1). */
const REFUSAL_RETRY_MS = 100;
const MAX_LONE_REFUSALS = 20;
/** How long a timeout or abort may take to kill the remote command before we give up on it. */

export class SshConnection implements Connection {
  private readonly sem: Semaphore;
  private readonly running = new Set<Supervised>();
  private lostReason: string | undefined;

  constructor(
    readonly host: string,
    private readonly client: Client,
    maxSessions: number,
    private readonly become: Become,
    private readonly onClose: () => void,
    /** Ends the client, unless other hosts tunnel through it (then the transport keeps it). */
    private readonly release: () => Promise<void>,
  ) {
    this.sem = new Semaphore(maxSessions);
    const gone = (why: string) => (): void => {
      this.lostReason ??= why;
      for (const s of this.running) s.lost(`connection to ${host} lost (${this.lostReason}): the outcome is unknown`);
      this.running.clear();
      this.onClose();
    };
    client.on('close', gone('connection closed'));
    client.on('error', (e: Error) => {
      this.lostReason ??= e.message;
    });
  }

  get alive(): boolean {
    return this.lostReason === undefined;
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const started = Date.now();
    const become = opts.become ?? this.become.always;
    const plan = planCommand(command, become, this.become.password);
    const notRun = (outcome: 'lost' | 'interrupted' | 'timeout', reason: string): ExecResult => ({
      outcome, code: null, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false,
      durationMs: Date.now() - started, reason,
    });

    // Waiting for a free channel counts against the command's deadline and is abortable.
    const deadline = opts.timeoutMs !== undefined && opts.timeoutMs > 0 ? started + opts.timeoutMs : undefined;
    const acquired = await raceAcquire(this.sem, opts.signal, deadline);
    if (acquired !== 'ok') {
      return acquired === 'aborted'
        ? notRun('interrupted', 'interrupted before it started')
        : notRun('timeout', `timed out after ${opts.timeoutMs} ms waiting for a free session; the command was not started`);
    }

    let released = false;
    const release = (): void => {
      if (!released) {
        released = true;
        this.sem.release();
      }
    };

    let opened: OpenedExec;
    let lone = 0;
    for (;;) {
      if (!this.alive) {
        release();
        return notRun('lost', `connection to ${this.host} is gone (${this.lostReason}); the command was not started`);
      }
      try {
        opened = await openExec(this.client, plan.command, opts.commandId);
        break;
      } catch (e) {
        const err = e as Error & { reason?: number };
        if (err.reason === undefined || !this.alive) {
          release();
          // The exec request itself failed or the connection dropped while asking: unknown.
          return notRun('lost', `could not start the command on ${this.host}: ${err.message}`);
        }
        // The server refused a new channel (its session limit is lower than ours, or other
        // clients share it): wait until one of ours closes, or back off when we hold none.
        if (this.sem.inUse > 1) {
          await this.sem.waitForRelease();
        } else if (++lone > MAX_LONE_REFUSALS) {
          release();
          return notRun('lost', `${this.host} refused to open a session channel: ${err.message}`);
        } else {
          await new Promise((r) => setTimeout(r, REFUSAL_RETRY_MS));
        }
        if (opts.signal?.aborted) {
          release();
          return notRun('interrupted', 'interrupted before it started');
        }
        if (deadline !== undefined && Date.now() >= deadline) {
          release();
          return notRun('timeout', `timed out after ${opts.timeoutMs} ms waiting for a free session; the command was not started`);
        }
      }
    }

    const { channel } = opened;
    const remaining = deadline !== undefined ? Math.max(1, deadline - Date.now()) : undefined;
    const sup = supervise(
      {
        stdout: channel,
        stderr: channel.stderr,
        write: (s) => channel.write(s),
        // A command that already ended has a finished (or destroyed) channel: end() would only
        // build an error to drop, a stack trace per command.
        endInput: () => {
          if (!channel.destroyed && !channel.writableFinished) channel.end();
        },
        stop: async () => {
          // Closing the channel alone leaves the process running: kill it first, then close.
          try {
            return await this.kill(plan.watcher, become, closed, opts.onKill);
          } finally {
            channel.close();
          }
        },
      },
      { ...opts, ...(remaining !== undefined ? { timeoutMs: remaining } : {}) },
      plan.watcher,
    );
    this.running.add(sup);
    opened.onExit((code, signal) => sup.exited(code, signal));
    let onClosed!: () => void;
    const closed = new Promise<void>((r) => (onClosed = r));
    channel.on('close', () => {
      onClosed();
      this.running.delete(sup);
      release();
      sup.closed();
    });
    const result = await sup.result;
    this.running.delete(sup);
    return result;
  }

  /**
   * Kills a stopped command's process group on the host, over a second channel, as the same user
   * (through sudo for become). Resolves with a note when the kill could not be confirmed.
   */
  private async kill(watcher: StartWatcher, become: boolean, closed: Promise<void>, report?: KillReport): Promise<string | undefined> {
    // Before sudo has the password, closing the channel is enough: sudo fails on stdin EOF.
    if (!watcher.mayStart) return undefined;
    const deadline = Date.now() + KILL_GRACE_MS;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((r) => (timer = setTimeout(() => r('expired'), KILL_GRACE_MS)));
    try {
      // The start marker arrives within a round trip of the channel opening.
      const pid = await Promise.race([watcher.started(), closed.then(() => 'closed' as const), expired]);
      if (pid === 'closed') return undefined;
      if (pid === 'expired') return `the command did not report its start within ${KILL_GRACE_MS} ms, so it may still be running on ${this.host}`;
      const why = await Promise.race([this.runKill(killCommand(pid), become, deadline, report), expired.then(() => `no answer from ${this.host} within ${KILL_GRACE_MS} ms`)]);
      return why === undefined ? undefined : `could not kill it on ${this.host} (${why}), so it may still be running`;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs the kill outside the session semaphore (the stopped command still holds its permit), retrying
   * while the server refuses a channel: its session slot stays taken until the process is gone.
   */
  private async runKill(command: string, become: boolean, deadline: number, report?: KillReport): Promise<string | undefined> {
    const started = Date.now();
    const id = await report?.starting(command);
    const problem = await this.sendKill(command, become, deadline, id);
    report?.ended({ ...(problem !== undefined ? { problem } : {}), durationMs: Date.now() - started });
    return problem;
  }

  private async sendKill(command: string, become: boolean, deadline: number, commandId: string | undefined): Promise<string | undefined> {
    const plan = planCommand(command, become, this.become.password);
    let opened: OpenedExec | undefined;
    while (!opened) {
      if (!this.alive) return `connection lost: ${this.lostReason}`;
      try {
        opened = await openExec(this.client, plan.command, commandId);
      } catch (e) {
        const err = e as Error & { reason?: number };
        if (err.reason === undefined || Date.now() + REFUSAL_RETRY_MS >= deadline) return err.message;
        await new Promise((r) => setTimeout(r, REFUSAL_RETRY_MS));
      }
    }
    const { channel } = opened;
    const sup = supervise(
      { stdout: channel, stderr: channel.stderr, write: (s) => channel.write(s), endInput: () => channel.end(), stop: () => void channel.close() },
      { timeoutMs: Math.max(1, deadline - Date.now()), maxOutputBytes: 4096 },
      plan.watcher,
    );
    opened.onExit((code, signal) => sup.exited(code, signal));
    channel.on('close', () => sup.closed());
    const r = await sup.result;
    if (r.outcome === 'exit' && r.code === 0) return undefined;
    return r.reason ?? (r.stderr.trim().split('\n').pop() || `exit code ${r.code}`);
  }

  async close(): Promise<void> {
    if (!this.alive) return;
    await this.release();
  }
}

interface OpenedExec {
  channel: ClientChannel;
  onExit(listener: (code: number | null, signal: string | null) => void): void;
}

/**
 * The exit status is caught inside the exec callback: a fast command's reply, output, exit status
 * and close can arrive in one read, so ssh2 emits 'exit' before an awaiting caller resumes, and
 * a listener attached after the await would miss it and report a finished command as lost.
 */
function openExec(client: Client, command: string, commandId: string | undefined): Promise<OpenedExec> {
  return new Promise((resolve, reject) => {
    try {
      const opened = (err: Error | undefined, ch: ClientChannel): void => {
        if (err) return reject(err);
        let status: [number | null, string | null] | undefined;
        let listener: ((code: number | null, signal: string | null) => void) | undefined;
        ch.on('exit', (code?: number | null, signal?: string) => {
          status = [code ?? null, signal ?? null];
          listener?.(...status);
        });
        resolve({
          channel: ch,
          onExit(fn) {
            listener = fn;
            if (status) fn(...status);
          },
        });
      };
      if (commandId) client.exec(command, { env: { [COMMAND_ID_ENV]: commandId } }, opened);
      else client.exec(command, opened);
    } catch (e) {
      reject(e as Error);
    }
  });
}

async function raceAcquire(sem: Semaphore, signal: AbortSignal | undefined, deadline: number | undefined): Promise<'ok' | 'aborted' | 'timeout'> {
  if (signal?.aborted) return 'aborted';
  return new Promise((resolve) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const end = (v: 'ok' | 'aborted' | 'timeout'): void => {
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onAbort = (): void => end('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    if (deadline !== undefined) timer = setTimeout(() => end('timeout'), Math.max(0, deadline - Date.now()));
    void sem.acquire().then(() => {
      if (done) sem.release(); // we gave up already: hand the permit on
      else end('ok');
    });
  });
}
