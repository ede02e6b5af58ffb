/**
 * Running one timed process: wall time from spawn to exit, and the CPU seconds and peak RSS the
 * kernel accounts to it (GNU time reads wait4's rusage, which includes every descendant it reaped:
 * for pssh and ansible that is all their ssh processes).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Measured {
  wallS: number;
  cpuS: number;
  /** Peak resident set of the largest single process in the tree, MB. */
  rssMB: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

const TIME = '/usr/bin/time';

export function measure(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'rb-bench-time-'));
  const out = join(dir, 'rusage');
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(TIME, ['-f', '%U %S %M', '-o', out, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const so: Buffer[] = [];
    const se: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => so.push(d));
    child.stderr.on('data', (d: Buffer) => se.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallS = Number(process.hrtime.bigint() - started) / 1e9;
      try {
        // GNU time writes "Command exited with non-zero status N" first when the command failed.
        const last = readFileSync(out, 'utf8').trim().split('\n').pop() ?? '';
        const [u, s, m] = last.split(' ').map(Number);
        resolve({ wallS, cpuS: (u ?? NaN) + (s ?? NaN), rssMB: (m ?? NaN) / 1024, code, stdout: Buffer.concat(so).toString(), stderr: Buffer.concat(se).toString() });
      } catch (e) {
        reject(e as Error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/**
 * CPU seconds the whole machine has spent busy since boot (/proc/stat: user, nice, system, irq,
 * softirq, steal). Read around a run, it is what every process cost: the tool, and on the lab's
 * side each host's sshd and shells. On a machine the run saturates, wall time follows it.
 */
export function machineCpuS(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / TICKS_PER_S;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  /** (max − min) / median: how far apart the rounds were. */
  spread: number;
}

export function summarize(xs: number[]): Summary {
  const m = median(xs);
  const min = Math.min(...xs);
  const max = Math.max(...xs);
  return { n: xs.length, median: m, min, max, spread: xs.length > 1 && m > 0 ? (max - min) / m : 0 };
}
