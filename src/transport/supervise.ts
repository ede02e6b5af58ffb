/**
 * Turns one running command (an ssh2 exec channel or a local child process) into an ExecResult,
 * with the same rules for both transports: bounded output, hard deadline, abort, and the rule
 * that a command which went away without an exit status has an UNKNOWN outcome ('lost').
 */
import type { ExecOptions, ExecOutcome, ExecResult } from './types.js';
import { TailBuffer } from './tail-buffer.js';
import type { SudoFeeder } from './become.js';

export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

export interface CommandHandle {
  stdout: NodeJS.ReadableStream;
  stderr: NodeJS.ReadableStream;
  write(data: string): void;
  endInput(): void;
  /** Stop the command now (kill signal / close channel). Must be idempotent. */
  stop(): void;
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

export function supervise(handle: CommandHandle, opts: ExecOptions, feeder?: SudoFeeder): Supervised {
  const started = Date.now();
  const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const out = new TailBuffer(max);
  const err = new TailBuffer(max);
  let exit: { code: number | null; signal: string | null } | undefined;
  let forced: { outcome: ExecOutcome; reason: string } | undefined;
  let settle!: (r: ExecResult) => void;
  let settled = false;
  const result = new Promise<ExecResult>((resolve) => (settle = resolve));

  const finish = (): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    if (feeder) err.push(feeder.flush());
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
    forced = { outcome, reason };
    handle.stop();
    // Don't wait for the far side to acknowledge: a hung host must not hold up the caller.
    finish();
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
    handle.endInput();
  };
  if (feeder) {
    handle.stderr.on('data', (c: Buffer) => {
      const rest = feeder.filter(c, (s) => handle.write(s), sendInput, () => handle.endInput());
      if (rest.length) err.push(rest);
    });
  } else {
    handle.stderr.on('data', (c: Buffer) => err.push(c));
    sendInput();
  }

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
