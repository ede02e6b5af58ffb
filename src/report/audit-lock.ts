/**
 * A short-lived exclusive lock around "read the chain tip, append, update the head file", so that
 * runs by several operators can share one audit file. Node has no flock(), so the lock is a file
 * created with O_EXCL that names its holder; a holder that died (SIGKILL) is detected by PID on
 * the same machine, or by age anywhere (the lock is held for milliseconds, never for a whole run).
 */
import { closeSync, openSync, readFileSync, renameSync, statSync, unlinkSync, linkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { UserError } from '../model/errors.js';

/** A live holder keeps the lock for one append; anything this old was left by a dead process. */
const STALE_AFTER_MS = 30_000;

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function readHolder(lockPath: string): { content: string; mtimeMs: number } | undefined {
  try {
    const mtimeMs = statSync(lockPath).mtimeMs;
    return { content: readFileSync(lockPath, 'utf8'), mtimeMs };
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errno(err) === 'EPERM';
  }
}

function isStale(content: string, mtimeMs: number): boolean {
  if (Date.now() - mtimeMs > STALE_AFTER_MS) return true;
  const [pidText, host] = content.split(' ');
  const pid = Number(pidText);
  // Empty or garbled: the holder died between creating and writing it; give it a moment first.
  if (!Number.isSafeInteger(pid) || pid <= 0) return Date.now() - mtimeMs > 2_000;
  if (host !== hostname()) return false;
  // A lock naming our own PID is a leftover from an earlier process that had the same PID, or
  // another writer of this process holding it for the rest of a turn (AuditWriter.lock()): taking
  // it over is safe then, because every append is synchronous and re-reads the tip when the file's
  // size is not the one it left.
  return pid === process.pid || !pidAlive(pid);
}

/**
 * Removes a stale lock without removing a fresh one another process took in the meantime: move it
 * aside atomically, then check it is still the one judged stale; if not, put it back.
 */
function breakStale(lockPath: string, staleContent: string): void {
  const aside = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(lockPath, aside);
  } catch (err) {
    if (errno(err) === 'ENOENT') return;
    throw err;
  }
  let moved = '';
  try {
    moved = readFileSync(aside, 'utf8');
  } catch {
    // unreadable: treat as the stale one
    moved = staleContent;
  }
  if (moved !== staleContent) {
    try {
      linkSync(aside, lockPath);
    } catch {
      // Someone else took the lock in between; the displaced holder finishes its one append.
    }
  }
  unlinkSync(aside);
}

export interface LockOptions {
  timeoutMs?: number;
}

/** Takes the lock, waiting while another live process holds it; returns the release function. */
export function acquireLock(lockPath: string, opts: LockOptions = {}): () => void {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const mine = `${process.pid} ${hostname()} ${new Date().toISOString()} ${randomBytes(4).toString('hex')}\n`;
  let delay = 1;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(lockPath, 'wx', 0o600);
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err;
    }
    if (fd !== undefined) {
      try {
        writeSync(fd, mine);
      } finally {
        closeSync(fd);
      }
      return () => {
        // Only remove it if it is still ours (it could have been broken as stale after a long stall).
        if (readHolder(lockPath)?.content === mine) unlinkSync(lockPath);
      };
    }
    const holder = readHolder(lockPath);
    if (holder && isStale(holder.content, holder.mtimeMs)) {
      breakStale(lockPath, holder.content);
      continue;
    }
    if (Date.now() > deadline) {
      const [pid, host, since] = holder?.content.trim().split(' ') ?? [];
      throw new UserError(
        {
          message: `audit file lock ${lockPath} is held by pid ${pid ?? '?'} on ${host ?? '?'} since ${since ?? '?'}`,
          hint: 'if that process is gone, delete the lock file',
        },
        1,
      );
    }
    sleepSync(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 20);
  }
}
