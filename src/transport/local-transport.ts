/**
 * `connection: local`: the same Connection interface on this machine, through `/bin/sh -c`.
 * Used to run on the node itself, and by the engine's unit tests.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { COMMAND_ID_ENV, type Connection, type CreateTransportOptions, type ExecOptions, type ExecResult, type KillReport, type Transport } from './types.js';
import { supervise } from './supervise.js';
import { becomeOf, KILL_GRACE_MS, killCommand, planCommand, type Become } from './become.js';

/** Nothing to unlock or keep open: each host gets its own LocalConnection. */
export function createLocalTransport(opts: CreateTransportOptions): Transport {
  return {
    connect: async (target) => new LocalConnection(target.name, becomeOf(target, opts.becomePassword)),
    prepare: async () => undefined,
    closeAll: async () => undefined,
  };
}

export class LocalConnection implements Connection {
  constructor(
    readonly host: string,
    private readonly become: Become = { always: false },
  ) {}

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const become = opts.become ?? this.become.always;
    const plan = planCommand(command, become, this.become.password);
    // Own process group, so a timeout or abort kills the whole pipeline, not just the shell.
    const env = opts.commandId ? { ...process.env, [COMMAND_ID_ENV]: opts.commandId } : process.env;
    const child = spawn('/bin/sh', ['-c', plan.command], { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env });
    const exited = new Promise<'exited'>((r) => child.once('close', () => r('exited')));
    const sup = supervise(
      {
        stdout: child.stdout,
        stderr: child.stderr,
        write: (s) => child.stdin.write(s),
        endInput: () => child.stdin.end(),
        stop: async () => {
          try {
            // sudo with a pty (Debian's default use_pty) runs the command in its own session and
            // group, owned by root: kill that group before sudo, whose death would only hang it up.
            if (become && plan.watcher.mayStart) return await this.killStarted(plan.watcher.started(), exited, opts.onKill);
            return undefined;
          } finally {
            killGroup(child.pid);
          }
        },
      },
      opts,
      plan.watcher,
    );
    // A command that doesn't read its stdin makes our write fail with EPIPE: not an error.
    child.stdin.on('error', () => undefined);
    child.on('exit', (code, signal) => sup.exited(code, signal));
    child.on('close', () => sup.closed());
    child.on('error', (e) => sup.lost(`could not start /bin/sh: ${e.message}`));
    return sup.result;
  }

  private async killStarted(started: Promise<number>, exited: Promise<'exited'>, report?: KillReport): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((r) => (timer = setTimeout(() => r('expired'), KILL_GRACE_MS)));
    try {
      const pid = await Promise.race([started, exited, expired]);
      if (pid === 'exited') return undefined;
      if (pid === 'expired') return `the command did not report its start within ${KILL_GRACE_MS} ms, so it may still be running`;
      if (process.getuid?.() === 0) {
        killGroup(groupOf(pid));
        return undefined;
      }
      const command = killCommand(pid);
      const commandId = await report?.starting(command);
      const r = await this.exec(command, { become: true, timeoutMs: KILL_GRACE_MS, ...(commandId ? { commandId } : {}) });
      const problem = r.outcome === 'exit' && r.code === 0 ? undefined : `could not kill it (${r.reason ?? `exit code ${r.code}`}), so it may still be running`;
      report?.ended({ ...(problem !== undefined ? { problem } : {}), durationMs: r.durationMs });
      return problem;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {}
}

function killGroup(pgid: number | undefined): void {
  if (pgid === undefined || pgid <= 1) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** Field 5 of /proc/<pid>/stat, read after the parenthesised name (which may hold spaces). */
function groupOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    return Number.isInteger(pgid) ? pgid : undefined;
  } catch {
    return undefined;
  }
}
