/**
 * `connection: local`: the same Connection interface on this machine, through `/bin/sh -c`.
 * Used to run on the node itself, and by the engine's unit tests.
 */
import { spawn } from 'node:child_process';
import type { Connection, ExecOptions, ExecResult } from './types.js';
import { supervise } from './supervise.js';
import { planBecome } from './become.js';

export class LocalConnection implements Connection {
  constructor(
    readonly host: string,
    private readonly become: { always: boolean; password?: string } = { always: false },
  ) {}

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const plan = (opts.become ?? this.become.always) ? planBecome(command, this.become.password) : { command };
    // Own process group, so a timeout or abort kills the whole pipeline, not just the shell.
    const child = spawn('/bin/sh', ['-c', plan.command], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const sup = supervise(
      {
        stdout: child.stdout,
        stderr: child.stderr,
        write: (s) => child.stdin.write(s),
        endInput: () => child.stdin.end(),
        stop: () => {
          try {
            if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        },
      },
      opts,
      plan.feeder,
    );
    // A command that doesn't read its stdin makes our write fail with EPIPE: not an error.
    child.stdin.on('error', () => undefined);
    child.on('exit', (code, signal) => sup.exited(code, signal));
    child.on('close', () => sup.closed());
    child.on('error', (e) => sup.lost(`could not start /bin/sh: ${e.message}`));
    return sup.result;
  }

  async close(): Promise<void> {}
}
