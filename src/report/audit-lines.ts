/**
 * Synchronous, memory-bounded reading of an audit file: forward line by line (verify, history) and
 * backward to its last sealed record (the writer, before each append).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parseRecordLine, type AuditRecord } from './audit-record.js';

export interface Line {
  /** 1-based. */
  lineNo: number;
  text: string;
  /** False only for a last line with no newline after it. */
  terminated: boolean;
}

const CHUNK = 1 << 20;

export function* readLines(file: string): Generator<Line> {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(CHUNK);
    let pending: Buffer[] = [];
    let lineNo = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(10, start);
        if (nl < 0 || nl >= n) break;
        pending.push(buf.subarray(start, nl));
        yield { lineNo: ++lineNo, text: Buffer.concat(pending).toString('utf8'), terminated: true };
        pending = [];
        start = nl + 1;
      }
      if (start < n) pending.push(Buffer.from(buf.subarray(start, n)));
    }
    if (pending.length > 0) yield { lineNo: ++lineNo, text: Buffer.concat(pending).toString('utf8'), terminated: false };
  } finally {
    closeSync(fd);
  }
}

export interface Tail {
  /**
   * The last line that parses as a record, if any. An edited one still counts: chaining from its
   * stored hash keeps verify's report to the edit itself instead of adding a duplicate seq.
   */
  last?: AuditRecord;
  size: number;
  /** The file ends mid-line (a torn write): the next append must start a new line first. */
  endsMidLine: boolean;
}

/** The last record, scanning back from the end of an open file in growing windows, that `wanted` accepts. */
function scanBack(fd: number, size: number, wanted: (r: AuditRecord) => boolean): AuditRecord | undefined {
  for (let window = 64 * 1024; ; window *= 4) {
    const from = Math.max(0, size - window);
    const buf = Buffer.alloc(size - from);
    readSync(fd, buf, 0, buf.length, from);
    const lines = buf.toString('utf8').split('\n');
    // The first piece of a window that does not start at 0 may be a partial line.
    const firstWhole = from === 0 ? 0 : 1;
    for (let i = lines.length - 1; i >= firstWhole; i--) {
      const parsed = lines[i] ? parseRecordLine(lines[i]!) : undefined;
      if (parsed?.ok && wanted(parsed.record)) return parsed.record;
    }
    if (from === 0) return undefined;
  }
}

/** The file's last record, and whether it ends mid-line (a torn write). */
export function readTail(fd: number): Tail {
  const size = fstatSync(fd).size;
  if (size === 0) return { size, endsMidLine: false };
  const lastByte = Buffer.alloc(1);
  readSync(fd, lastByte, 0, 1, size - 1);
  const endsMidLine = lastByte[0] !== 10;
  const last = scanBack(fd, size, () => true);
  return last ? { last, size, endsMidLine } : { size, endsMidLine };
}

/**
 * The record numbered `seq`, scanning back from the end (the writer's head lags its tip by a few
 * records at most, so this reads little); undefined when no line holds it.
 */
export function findRecord(fd: number, seq: number): AuditRecord | undefined {
  return scanBack(fd, fstatSync(fd).size, (r) => r.seq === seq);
}
