/**
 * Appends sealed records to an audit file: under the file lock, find the chain tip, write one
 * line, fsync, then move the head sidecar forward. Everything is synchronous so that a record is
 * on disk before the listener returns, and so before the engine starts the next command.
 * A record appended with `durable: false` is written (so a killed process keeps it) but not
 * fsynced: the next durable append, flush() or close() makes it durable and moves the head past it.
 */
import { closeSync, constants, existsSync, fstatSync, fsync, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../model/errors.js';
import { acquireLock } from './audit-lock.js';
import { readTail } from './audit-lines.js';
import { checkAuditDir, headPathOf, lockPathOf } from './audit-path.js';
import { GENESIS_HASH, sealRecord, type AuditBody, type AuditRecord } from './audit-record.js';

export interface AuditHead {
  seq: number;
  hash: string;
  time: string;
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
}

// O_NOFOLLOW: a link at the path (planted before the trail existed, or swapped in for it) would
// send the records, or the head, into whatever file it names.
const APPEND = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
const REPLACE = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

function openTrail(file: string): number {
  try {
    return openSync(file, APPEND, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOOP') throw err;
    throw new UserError({
      message: `audit file ${file} is a symbolic link, which could send the records into another file`,
      hint: 'remove the link, or name the file itself with --audit-file or RUNBOOK_AUDIT_FILE',
    });
  }
}

export class AuditWriter {
  private fd: number;
  private ino: number;
  /** The tip this process last wrote, valid while the file still has the size it left it at. */
  private cached?: { size: number; seq: number; hash: string };
  /** The last record written but not yet fsynced. */
  private unsynced?: AuditHead;
  /** Records this writer has written, and how many of them an fsync has covered (seqs restart in a rotated file). */
  private written = 0;
  private synced = 0;
  private headSeq = 0;
  private inflight?: Promise<void>;
  private failure?: Error;

  constructor(
    readonly file: string,
    private readonly lockTimeoutMs?: number,
  ) {
    const dir = dirname(file);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    checkAuditDir(file);
    const existed = existsSync(file);
    this.fd = openTrail(file);
    this.ino = fstatSync(this.fd).ino;
    // A new file must survive a crash too, not only its contents.
    if (!existed) fsyncPath(dir);
  }

  append(body: AuditBody, opts: { durable?: boolean } = {}): AuditRecord {
    if (this.failure) throw this.failure;
    const release = acquireLock(lockPathOf(this.file), { timeoutMs: this.lockTimeoutMs });
    try {
      this.reopenIfReplaced();
      const size = fstatSync(this.fd).size;
      let tip = { seq: 0, hash: GENESIS_HASH };
      let endsMidLine = false;
      if (this.cached && this.cached.size === size) tip = this.cached;
      else {
        const tail = readTail(this.fd);
        if (tail.last) tip = { seq: tail.last.seq, hash: tail.last.hash };
        endsMidLine = tail.endsMidLine;
      }
      const { record, line } = sealRecord(body, tip.seq + 1, tip.hash);
      // After a torn write, end the fragment's line and chain from the last whole record.
      const buf = Buffer.from(`${endsMidLine ? '\n' : ''}${line}\n`, 'utf8');
      writeAll(this.fd, buf);
      this.cached = { size: size + buf.length, seq: record.seq, hash: record.hash };
      this.unsynced = { seq: record.seq, hash: record.hash, time: record.time };
      this.written++;
      if (opts.durable !== false) this.sync();
      return record;
    } finally {
      release();
    }
  }

  /**
   * Resolves once every record written so far is fsynced, without blocking the event loop: one
   * fsync (on the thread pool) covers the records of every caller that waits meanwhile.
   */
  async flush(): Promise<void> {
    const target = this.written;
    while (this.synced < target) {
      if (this.failure) throw this.failure;
      if (!this.inflight) this.inflight = this.syncInBackground();
      await this.inflight;
    }
    if (this.failure) throw this.failure;
  }

  close(): void {
    if (this.failure) {
      if (this.fd >= 0 && !this.inflight) closeSync(this.fd);
      this.fd = -1;
      throw this.failure;
    }
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    try {
      if (this.unsynced) {
        fsyncSync(fd);
        this.moveHead();
      }
    } finally {
      // A background fsync still holds the descriptor: close it when that one is done.
      if (this.inflight) void this.inflight.finally(() => closeSync(fd));
      else closeSync(fd);
    }
  }

  private syncInBackground(): Promise<void> {
    const fd = this.fd;
    const upTo = this.written;
    const ino = this.ino;
    const head = this.unsynced;
    this.unsynced = undefined;
    return new Promise<void>((resolve) => {
      fsync(fd, (err) => {
        this.inflight = undefined;
        if (err) {
          // Sticky: records after a failed fsync may never reach the disk, so nothing more is appended.
          this.failure = err;
        } else {
          this.synced = Math.max(this.synced, upTo);
          // After a rotation the head file belongs to the new log: an old head would claim a truncation.
          if (head && ino === this.ino) this.writeHeadQuietly(head);
        }
        resolve();
      });
    });
  }

  private moveHead(): void {
    const head = this.unsynced;
    this.unsynced = undefined;
    if (head) this.writeHeadQuietly(head);
  }

  /** Never moves the head back (a background fsync may finish after a newer synchronous one). */
  private writeHeadQuietly(head: AuditHead): void {
    if (head.seq <= this.headSeq) return;
    this.headSeq = head.seq;
    try {
      this.writeHead(head);
    } catch {
      // The record is already durable; a head that lags only weakens the truncation check,
      // which verify reports, so it must not fail the command that was just recorded.
    }
  }

  /** fsync covers every record written before it, then the head may name the last of them. */
  private sync(): void {
    fsyncSync(this.fd);
    this.synced = this.written;
    this.moveHead();
  }

  /** Someone moved the file away (rotation): start writing to the file at the path again. */
  private reopenIfReplaced(): void {
    let ino: number | undefined;
    try {
      // lstat: a link put in the trail's place is a replacement too, which openTrail refuses.
      ino = lstatSync(this.file).ino;
    } catch {
      ino = undefined;
    }
    if (ino === this.ino) return;
    // Records written to the old file become durable there; the head now follows the new file.
    const old = this.fd;
    if (this.unsynced) fsyncSync(old);
    this.unsynced = undefined;
    this.synced = this.written;
    this.headSeq = 0;
    if (this.inflight) void this.inflight.finally(() => closeSync(old));
    else closeSync(old);
    const existed = ino !== undefined;
    this.fd = -1;
    try {
      this.fd = openTrail(this.file);
    } catch (err) {
      // Sticky, like a failed fsync: the old descriptor is closed and there is no new one.
      this.failure = err as Error;
      throw err;
    }
    this.ino = fstatSync(this.fd).ino;
    this.cached = undefined;
    if (!existed) fsyncPath(dirname(this.file));
  }

  /**
   * Written after the record is durable, so the head never names a record the file lacks. Not
   * fsynced: it survives a killed process as it is; after a power loss it may lag or be lost,
   * which verify reports as a warning, and skipping it halves the cost of an append.
   */
  private writeHead(head: AuditHead): void {
    const headPath = headPathOf(this.file);
    const tmp = `${headPath}.tmp-${process.pid}`;
    const fd = openSync(tmp, REPLACE, 0o600);
    try {
      writeAll(fd, Buffer.from(`${JSON.stringify(head)}\n`, 'utf8'));
    } finally {
      closeSync(fd);
    }
    // rename replaces a link at headPath itself, never the file it names.
    renameSync(tmp, headPath);
  }
}
