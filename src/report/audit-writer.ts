/**
 * Appends sealed records to an audit file: under the file lock, find the chain tip, write one
 * line, fsync, then move the head sidecar forward. Everything is synchronous so that a record is
 * on disk before the listener returns, and so before the engine starts the next command.
 * A record appended with `durable: false` is written (so a killed process keeps it) but not
 * fsynced: the next durable append or close() makes it durable and moves the head past it.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { acquireLock } from './audit-lock.js';
import { readTail } from './audit-lines.js';
import { headPathOf, lockPathOf } from './audit-path.js';
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

export class AuditWriter {
  private fd: number;
  private ino: number;
  /** The tip this process last wrote, valid while the file still has the size it left it at. */
  private cached?: { size: number; seq: number; hash: string };
  /** The last record written but not yet fsynced. */
  private unsynced?: AuditHead;

  constructor(
    readonly file: string,
    private readonly lockTimeoutMs?: number,
  ) {
    const dir = dirname(file);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const existed = existsSync(file);
    this.fd = openSync(file, 'a+', 0o600);
    this.ino = fstatSync(this.fd).ino;
    // A new file must survive a crash too, not only its contents.
    if (!existed) fsyncPath(dir);
  }

  append(body: AuditBody, opts: { durable?: boolean } = {}): AuditRecord {
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
      if (opts.durable !== false) this.sync();
      return record;
    } finally {
      release();
    }
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      if (this.unsynced) this.sync();
    } finally {
      closeSync(this.fd);
      this.fd = -1;
    }
  }

  /** fsync covers every record written before it, then the head may name the last of them. */
  private sync(): void {
    fsyncSync(this.fd);
    const head = this.unsynced;
    this.unsynced = undefined;
    if (!head) return;
    try {
      this.writeHead(head);
    } catch {
      // The record is already durable; a head that lags only weakens the truncation check,
      // which verify reports, so it must not fail the command that was just recorded.
    }
  }

  /** Someone moved the file away (rotation): start writing to the file at the path again. */
  private reopenIfReplaced(): void {
    let ino: number | undefined;
    try {
      ino = statSync(this.file).ino;
    } catch {
      ino = undefined;
    }
    if (ino === this.ino) return;
    // Records written to the old file become durable there; the head now follows the new file.
    if (this.unsynced) fsyncSync(this.fd);
    this.unsynced = undefined;
    closeSync(this.fd);
    const existed = ino !== undefined;
    this.fd = openSync(this.file, 'a+', 0o600);
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
    writeFileSync(tmp, `${JSON.stringify(head)}\n`, { mode: 0o600 });
    renameSync(tmp, headPath);
  }
}
