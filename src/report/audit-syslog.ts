/**
 * `--audit-syslog tcp://HOST:PORT`: every audit record, as written to the local trail, also goes
 * to a syslog server as RFC 5424 over TCP, framed by octet counting (RFC 6587 3.4.1, what rsyslog's
 * imtcp and syslog-ng read), so a laptop's disk is no longer the only copy.
 *
 * It never holds the run up: records queue in memory (bounded) while the connection is made or
 * remade or the server reads slowly, and at the end the caller waits a bounded time for the queue
 * to drain. A record is handed to the socket only while it takes more (never an unbounded buffer
 * in Node), and one still in Node's buffer when the connection breaks is sent again on the next.
 * What never reached the kernel (dropped from a full queue, or not sent by exit) is returned as a
 * gap, which the caller records in the local trail. Plain TCP syslog has no acknowledgement: a
 * record the kernel accepted just before the connection broke may be lost without being counted
 * (the local trail still has it, and verify chains it).
 */
import { Socket } from 'node:net';
import { hostname } from 'node:os';
import type { AuditRecord } from './audit-record.js';

/** facility local0 (16) × 8 + severity notice (5): a change log, not an error. */
const PRI = 16 * 8 + 5;
const MAX_QUEUE = 10_000;
const RECONNECT_MS = [250, 500, 1000, 2000];

export interface SyslogGap {
  /** How many records never reached the socket, and the seq range they span. */
  count: number;
  firstSeq: number;
  lastSeq: number;
  reason: string;
}

export interface AuditSyslog {
  send(record: AuditRecord): void;
  /** Waits at most `maxMs` for the queue to drain, closes, and says what never went out. */
  close(maxMs: number): Promise<SyslogGap | undefined>;
}

/** `tcp://HOST:PORT`, or undefined when it is not one (the caller names where it came from). */
export function parseSyslogUrl(url: string): { host: string; port: number } | undefined {
  const m = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(url);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1]!.replace(/^\[|\]$/g, ''), port } : undefined;
}

/** One RFC 5424 message, octet-count framed. APP-NAME runbook, MSGID audit, MSG the record's JSON. */
export function syslogFrame(record: AuditRecord, host = hostname(), pid = process.pid): Buffer {
  // HOSTNAME is PRINTUSASCII without spaces, at most 255 (RFC 5424 6.2.4).
  const h = host.replace(/[^\x21-\x7e]/g, '').slice(0, 255) || '-';
  const msg = Buffer.from(`<${PRI}>1 ${record.time} ${h} runbook ${pid} audit - ${JSON.stringify(record)}`, 'utf8');
  return Buffer.concat([Buffer.from(`${msg.length} `), msg]);
}

export function createAuditSyslog(target: { host: string; port: number }, opts: { connectTimeoutMs?: number } = {}): AuditSyslog {
  /** Not yet handed to a socket. */
  const queue: AuditRecord[] = [];
  /** Handed to the socket, not yet to the kernel (Node's own buffer): sent again if the connection breaks first. */
  let inFlight: AuditRecord[] = [];
  let dropped: { count: number; firstSeq: number; lastSeq: number } | undefined;
  let socket: Socket | undefined;
  let connected = false;
  let waitingForDrain = false;
  let closing = false;
  let attempt = 0;
  let lastError = '';

  function connect(): void {
    if (closing) return;
    const s = new Socket();
    socket = s;
    s.setNoDelay(true);
    s.setTimeout(opts.connectTimeoutMs ?? 5000, () => s.destroy(new Error('connect timed out')));
    s.once('connect', () => {
      s.setTimeout(0);
      connected = true;
      attempt = 0;
      pump();
    });
    s.on('drain', () => {
      waitingForDrain = false;
      pump();
    });
    s.on('error', (e: NodeJS.ErrnoException) => (lastError = e.code ?? e.message));
    s.on('close', () => {
      connected = false;
      waitingForDrain = false;
      if (socket !== s) return;
      // What Node still held never reached the kernel: first in line for the next connection.
      queue.unshift(...inFlight);
      inFlight = [];
      if (closing) return;
      socket = undefined;
      const wait = RECONNECT_MS[Math.min(attempt++, RECONNECT_MS.length - 1)]!;
      setTimeout(connect, wait).unref();
    });
    s.unref();
    s.connect(target.port, target.host);
  }

  /** Writes while the socket takes more; a full socket waits for its drain (never an unbounded buffer). */
  function pump(): void {
    while (connected && socket && !waitingForDrain && queue.length) {
      const r = queue.shift()!;
      inFlight.push(r);
      const ok = socket.write(syslogFrame(r), (err) => {
        if (!err) inFlight = inFlight.filter((x) => x !== r);
      });
      if (!ok) waitingForDrain = true;
    }
  }

  return {
    send(record) {
      if (closing) return;
      if (queue.length + inFlight.length >= MAX_QUEUE && queue.length) {
        const old = queue.shift()!;
        dropped = dropped ? { count: dropped.count + 1, firstSeq: Math.min(dropped.firstSeq, old.seq), lastSeq: Math.max(dropped.lastSeq, old.seq) } : { count: 1, firstSeq: old.seq, lastSeq: old.seq };
      }
      queue.push(record);
      if (!socket) connect();
      else pump();
    },
    async close(maxMs) {
      const until = Date.now() + maxMs;
      // Connecting, reconnecting or writing: each gets the same bound.
      while ((queue.length || inFlight.length) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      closing = true;
      // end() waits for what Node still buffers to reach the kernel: bounded too, a dead peer never drains it.
      if (socket && connected) await Promise.race([new Promise<void>((r) => socket!.end(r)), new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())))]);
      socket?.destroy();
      const left = [...inFlight, ...queue];
      if (!left.length && !dropped) return undefined;
      const seqs = [...(dropped ? [dropped.firstSeq, dropped.lastSeq] : []), ...left.map((r) => r.seq)];
      const count = (dropped?.count ?? 0) + left.length;
      const why = dropped ? `${dropped.count} dropped from a full queue (${MAX_QUEUE}); ` : '';
      return { count, firstSeq: Math.min(...seqs), lastSeq: Math.max(...seqs), reason: `${why}${left.length} not sent by exit${lastError ? ` (last error: ${lastError})` : ''}` };
    },
  };
}
