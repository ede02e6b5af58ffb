/**
 * Appends sealed records to an audit file: under the file lock, find the chain tip, write one
 * line, fsync, then move the head sidecar forward. Everything is synchronous so that a record is
 * on disk before the listener returns, and so before the engine starts the next command.
 * A record appended with `durable: false` is written (so a killed process keeps it) but not
 * fsynced: the next durable append, flush() or close() makes it durable and moves the head past it.
 * On opening, before any append, the writer checks the trail against its head, so that a cut trail
 * is refused instead of being chained on from the cut (which would hide the cut from verify).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, fstatSync, fsync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { ExitCode } from '../model/exit-codes.js';
import { UserError } from '../model/errors.js';
import { acquireLock } from './audit-lock.js';
import { findRecord, readTail } from './audit-lines.js';
import { checkAuditDir, headPathOf, lockPathOf } from './audit-path.js';
import { GENESIS_HASH, sealRecord, type AuditBody, type AuditRecord } from './audit-record.js';

export interface AuditHead {
  seq: number;
  hash: string;
  time: string;
}

/** The head file as written, 'bad' when it is there but unreadable (a power loss can leave it so), undefined when absent. */
export function readHead(file: string): AuditHead | 'bad' | undefined {
  const headPath = headPathOf(file);
  if (!existsSync(headPath)) return undefined;
  try {
    const h = JSON.parse(readFileSync(headPath, 'utf8')) as Partial<AuditHead>;
    if (typeof h.seq === 'number' && typeof h.hash === 'string') return h as AuditHead;
  } catch {
    // reported as 'bad' below
  }
  return 'bad';
}

/** How often, at most, a background fsync moves the head while a run goes on (moveHeadSoon()). */
const HEAD_EVERY_MS = 200;

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

/**
 * Gives a new trail its head (#0, the genesis hash): fsynced, and linked into place so that a head
 * already there, however it got there, is never replaced. From then on a trail
 * without its head was tampered with, even after a power loss (the caller fsyncs the directory).
 */
function createHead(file: string): void {
  const headPath = headPathOf(file);
  // O_EXCL under a fresh name: never opens a file, or follows a link, that someone planted.
  const tmp = `${headPath}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    const head: AuditHead = { seq: 0, hash: GENESIS_HASH, time: new Date().toISOString() };
    writeAll(fd, Buffer.from(`${JSON.stringify(head)}\n`, 'utf8'));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, headPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
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
  /** The last head this writer made durable (close() fsyncs the head it moved). */
  private durableHeadSeq = 0;
  private inflight?: Promise<void>;
  private failure?: Error;
  /** Set while this writer holds the trail's lock (see lock()). */
  private releaseLock?: () => void;
  /** A head waiting for its turn (see moveHeadSoon()), with the file it belongs to. */
  private pendingHead?: { head: AuditHead; ino: number };
  private headTimer?: NodeJS.Timeout;
  private headWrittenAt = 0;

  constructor(
    readonly file: string,
    private readonly lockTimeoutMs?: number,
  ) {
    const dir = dirname(file);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    checkAuditDir(file);
    // Under the lock, so that another writer never sees a new trail before its head exists.
    const release = acquireLock(lockPathOf(file), { timeoutMs: lockTimeoutMs });
    try {
      const existed = existsSync(file);
      this.fd = openTrail(file);
      this.ino = fstatSync(this.fd).ino;
      try {
        if (!existed) {
          createHead(file);
          // A new file must survive a crash too, not only its contents; so must its head.
          fsyncPath(dir);
        }
        this.checkAgainstHead();
      } catch (err) {
        closeSync(this.fd);
        this.fd = -1;
        throw err;
      }
    } finally {
      release();
    }
  }

  /**
   * The head names a record the writer fsynced (or #0 for a new trail). A trail that ends before
   * it, holds another record there, or has lost its head was cut or rewritten: appending would
   * chain on from the cut and move the head there, and verify would find nothing wrong.
   */
  private checkAgainstHead(): void {
    const tail = readTail(this.fd);
    const tip = tail.last ? { seq: tail.last.seq, hash: tail.last.hash } : { seq: 0, hash: GENESIS_HASH };
    const head = readHead(this.file);
    const refusal = (what: string): UserError =>
      new UserError(
        {
          message: `audit file ${this.file} ${what}`,
          hint: `run \`runbook audit verify ${this.file}\`, keep the damaged trail as evidence, and start a new one with --audit-file`,
        },
        ExitCode.FAILED,
      );
    // Unreadable: what a power loss can leave. Verify warns of it; someone who can write the head
    // can as well write a fitting one, so refusing here would stop operators and protect nothing.
    if (head === 'bad') return;
    if (head === undefined) {
      // Every trail this writer creates gets its head at once, so a missing one was deleted.
      throw refusal(`has no head file ${headPathOf(this.file)}: it was deleted, which is how a cut at the end of the trail hides`);
    }
    if (head.seq > tip.seq) throw refusal(`ends at record #${tip.seq} but its head file says record #${head.seq} was written: the trail was cut`);
    const at = head.seq === tip.seq ? tip : head.seq === 0 ? { hash: GENESIS_HASH } : findRecord(this.fd, head.seq);
    if (at?.hash !== head.hash) throw refusal(`does not hold its head file's record #${head.seq}: the trail was rewritten`);
  }

  append(body: AuditBody, opts: { durable?: boolean } = {}): AuditRecord {
    if (this.failure) throw this.failure;
    this.lock();
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
  }

  /**
   * Takes the trail's lock unless this writer holds it, and keeps it until the event loop's turn
   * ends. The hosts' events of one turn (a burst of replies read together) then share one lock:
   * taking it is a file created, read back and deleted, which per record cost seconds at 1,000
   * hosts. Another process waits at most one turn (milliseconds), as before for one record.
   */
  private lock(): void {
    if (this.releaseLock) return;
    this.releaseLock = acquireLock(lockPathOf(this.file), { timeoutMs: this.lockTimeoutMs });
    setImmediate(() => this.unlock());
  }

  private unlock(): void {
    const release = this.releaseLock;
    this.releaseLock = undefined;
    release?.();
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
    this.movePendingHead();
    const fd = this.fd;
    this.fd = -1;
    try {
      if (this.unsynced) {
        fsyncSync(fd);
        this.moveHead({ locked: false });
      }
      // Once per run: after a power loss the head still names the end of every run that closed,
      // so verify's check for runs appended behind the writer's back (see there) cannot misfire.
      if (this.headSeq > this.durableHeadSeq) {
        this.durableHeadSeq = this.headSeq;
        try {
          fsyncPath(headPathOf(this.file));
          fsyncPath(dirname(this.file));
        } catch {
          // As in writeHeadQuietly: the records are durable; a lagging head only weakens a check.
        }
      }
    } finally {
      this.unlock();
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
          if (head) this.moveHeadSoon(head, ino);
        }
        resolve();
      });
    });
  }

  /**
   * Moves the head after a background fsync, at most once per HEAD_EVERY_MS: moving it is a file
   * written and renamed, and with many hosts the fsyncs of group commit come every few
   * milliseconds. A run's end moves it at once (close()), so the head lags only while a run goes
   * on, by at most HEAD_EVERY_MS of fsynced records: after a SIGKILL, cutting only those goes
   * unnoticed (docs/audit.md says so).
   */
  private moveHeadSoon(head: AuditHead, ino: number): void {
    this.pendingHead = { head, ino };
    const wait = this.headWrittenAt + HEAD_EVERY_MS - Date.now();
    if (wait <= 0) this.movePendingHead();
    else this.headTimer ??= setTimeout(() => this.movePendingHead(), wait).unref();
  }

  private movePendingHead(): void {
    clearTimeout(this.headTimer);
    this.headTimer = undefined;
    const pending = this.pendingHead;
    this.pendingHead = undefined;
    // After a rotation the head file belongs to the new log: an old head would claim a truncation.
    if (!pending || pending.ino !== this.ino || this.fd < 0) return;
    this.headWrittenAt = Date.now();
    this.writeHeadQuietly(pending.head, { locked: false });
  }

  private moveHead(opts: { locked: boolean }): void {
    const head = this.unsynced;
    this.unsynced = undefined;
    if (head) this.writeHeadQuietly(head, opts);
  }

  /**
   * Never moves the head back: not past this writer's own newer head (a background fsync may
   * finish after a newer synchronous one), nor past another writer's, which is why it reads and
   * replaces the head under the lock. Otherwise a writer could put the head back behind a run
   * another one ended, and verify would take that run for one appended behind runbook's back.
   */
  private writeHeadQuietly(head: AuditHead, opts: { locked: boolean }): void {
    if (head.seq <= this.headSeq) return;
    this.headSeq = head.seq;
    try {
      if (!opts.locked) this.lock();
      const onDisk = readHead(this.file);
      if (onDisk !== 'bad' && onDisk !== undefined && onDisk.seq >= head.seq) return;
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
    this.moveHead({ locked: true });
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
    this.durableHeadSeq = 0;
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
    try {
      // Rotated with its head (the path has none): a new trail. A head left behind, or a file put
      // in the trail's place, is checked as at opening: a trail cut or removed mid-run stops the run.
      if (!existed && !existsSync(headPathOf(this.file))) {
        createHead(this.file);
        fsyncPath(dirname(this.file));
      }
      this.checkAgainstHead();
    } catch (err) {
      this.failure = err as Error;
      throw err;
    }
  }

  /**
   * Written after the record is durable, so the head never names a record the file lacks. Not
   * fsynced here (close() does, once per run): it survives a killed process as it is; after a power
   * loss it may lag or be unreadable, which verify reports as a warning, and skipping the fsync
   * halves the cost of an append. It cannot go missing: createHead made its name durable.
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
