/**
 * Turns one running command (an ssh2 exec channel or a local child process) into an ExecResult,
 * with the same rules for both transports: bounded output, hard deadline, abort, and the rule
 * that a command which went away without an exit status has an UNKNOWN outcome ('lost').
 */
import type { ExecOptions, ExecOutcome, ExecResult } from './types.js';
import { TailBuffer } from './tail-buffer.js';
import type { StartWatcher } from './become.js';

export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

export interface CommandHandle {
  stdout: NodeJS.ReadableStream;
  stderr: NodeJS.ReadableStream;
  write(data: string): void;
  endInput(): void;
  /**
   * Kill the command and everything it started, then close the channel. Must settle within a
   * bounded time; may resolve with a note for the reason (e.g. that the kill is unconfirmed).
   */
  stop(): void | Promise<string | undefined>;
}

export interface Supervised {
  result: Promise<ExecResult>;
  /** Report the exit status. */
  exited(code: number | null, signal: string | null): void;
  /** Both streams and the channel/process are closed: settle now. */
  closed(): void;
  /** The channel or its connection went away: outcome unknown. */
  lost(reason: string): void;
}

export function supervise(handle: CommandHandle, opts: ExecOptions, watcher: StartWatcher): Supervised {
  const started = Date.now();
  const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const out = new TailBuffer(max);
  const err = new TailBuffer(max);
  let exit: { code: number | null; signal: string | null } | undefined;
  let forced: { outcome: ExecOutcome; reason: string } | undefined;
  let settle!: (r: ExecResult) => void;
  let settled = false;
  let stopping = false;
  const result = new Promise<ExecResult>((resolve) => (settle = resolve));

  const finish = (): void => {
    if (settled || stopping) return;
    settled = true;
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    err.push(watcher.flush());
    let outcome: ExecOutcome;
    let reason: string | undefined;
    if (forced) {
      ({ outcome, reason } = forced);
    } else if (exit && exit.code !== null) {
      outcome = 'exit';
    } else if (exit && exit.signal) {
      outcome = 'signal';
      reason = `killed by ${exit.signal}`;
    } else {
      outcome = 'lost';
      reason = 'the channel closed without an exit status: the outcome is unknown';
    }
    settle({
      outcome,
      code: outcome === 'exit' ? (exit?.code ?? null) : null,
      signal: outcome === 'signal' ? (exit?.signal ?? null) : null,
      stdout: out.toString(),
      stderr: err.toString(),
      stdoutTruncated: out.truncated,
      stderrTruncated: err.truncated,
      durationMs: Date.now() - started,
      ...(reason !== undefined ? { reason } : {}),
    });
  };

  const force = (outcome: ExecOutcome, reason: string): void => {
    if (settled || forced) return;
    const f = (forced = { outcome, reason });
    // The result waits for the kill (bounded by the handle), so a caller that exits right after
    // an abort does not take the kill with it.
    stopping = true;
    void Promise.resolve()
      .then(async () => (await handle.stop()) as string | undefined)
      .then(
        (note) => {
          if (note) f.reason += `; ${note}`;
        },
        () => undefined,
      )
      .finally(() => {
        stopping = false;
        finish();
      });
  };

  const onAbort = (): void => force('interrupted', 'interrupted by the operator');
  const timer = opts.timeoutMs !== undefined && opts.timeoutMs > 0
    ? setTimeout(() => force('timeout', `timed out after ${opts.timeoutMs} ms; the command was stopped and may have done part of its work`), opts.timeoutMs)
    : undefined;
  if (opts.signal?.aborted) queueMicrotask(onAbort);
  else opts.signal?.addEventListener('abort', onAbort, { once: true });

  handle.stdout.on('data', (c: Buffer) => {
    out.push(c);
    opts.onStdout?.(c);
  });
  const sendInput = (): void => {
    if (opts.stdin !== undefined && opts.stdin !== '') handle.write(opts.stdin);
    const end = (): void => handle.endInput();
    if (opts.holdInput) void opts.holdInput.then(end, end);
    else end();
  };
  handle.stderr.on('data', (c: Buffer) => {
    const rest = watcher.filter(c, (s) => handle.write(s), watcher.holdsInput ? sendInput : () => undefined, () => handle.endInput());
    if (rest.length) err.push(rest);
  });
  if (!watcher.holdsInput) sendInput();

  return {
    result,
    exited(code, signal) {
      exit = { code, signal };
    },
    closed: finish,
    lost(reason) {
      if (!exit) forced ??= { outcome: 'lost', reason };
      finish();
    },
  };
}
