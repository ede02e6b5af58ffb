/**
 * `runbook audit verify`: walks an audit file and reports, one line each, every record that was
 * edited, deleted, reordered or truncated away, telling a torn last write (a crash) apart from
 * tampering. docs/audit.md states what each check can and cannot prove.
 */
import { readLines } from './audit-lines.js';
import { headPathOf } from './audit-path.js';
import { AFTER_RUN_KINDS, GENESIS_HASH, looksTorn, parseRecordLine } from './audit-record.js';
import { readHead } from './audit-writer.js';

export interface AuditProblem {
  /** 1-based line of the file the problem is on (the line after the last one for a truncation). */
  line: number;
  /** Errors mean tampering or damage; warnings are what a crash or a running apply leaves. */
  severity: 'error' | 'warning';
  message: string;
}

export interface AuditVerifyResult {
  file: string;
  lines: number;
  records: number;
  runs: number;
  /** The chain's last record, to copy elsewhere as an external anchor. */
  tip?: { seq: number; hash: string };
  problems: AuditProblem[];
  /** No errors (warnings allowed). */
  ok: boolean;
}

interface Entry {
  line: number;
  seq: number;
  prev: string;
  hash: string;
  intact: boolean;
  runId: string;
  kind: string;
  operator: string;
  time: string;
  /** run-end's own count of its run's records. */
  runRecords?: number;
  /** A command-start, or the outcome that ends one. */
  command?: { id: string; host?: string; step?: string; phase?: string; text?: string };
}

type Item = { record: Entry } | { bad: { line: number; text: string; terminated: boolean; json: boolean } };

/** A command as one short line for a problem message (the full text is in the record). */
function oneLineOf(text: string): string {
  const line = text.replace(/\s*\n\s*/g, ' ⏎ ');
  return line.length > 120 ? `${line.slice(0, 120)}…` : line;
}

function range(a: number, b: number): string {
  return a === b ? `#${a}` : `#${a}-#${b}`;
}

export interface VerifyOptions {
  /**
   * A chain tip recorded earlier somewhere the audit file's writer cannot reach (`SEQ:HASH`, as
   * printed by verify). The file must still hold that record unchanged: this catches truncation
   * and whole-chain rewrites that the head file, living beside the log, cannot.
   */
  anchor?: { seq: number; hash: string };
}

/** Parses `SEQ:HASH` as printed by `audit verify`; undefined when malformed. */
export function parseAnchor(text: string): { seq: number; hash: string } | undefined {
  const m = /^#?(\d+):([0-9a-f]{64})$/.exec(text.trim());
  return m ? { seq: Number(m[1]), hash: m[2]! } : undefined;
}

export function verifyAuditFile(file: string, opts: VerifyOptions = {}): AuditVerifyResult {
  const items: Item[] = [];
  let lines = 0;
  for (const l of readLines(file)) {
    lines = l.lineNo;
    const parsed = parseRecordLine(l.text);
    if (parsed.ok) {
      const r = parsed.record;
      items.push({
        record: {
          line: l.lineNo,
          seq: r.seq,
          prev: r.prev,
          hash: r.hash,
          intact: parsed.intact,
          runId: r.runId,
          kind: r.kind,
          operator: typeof r.operator === 'string' ? r.operator : '?',
          time: typeof r.time === 'string' ? r.time : '?',
          runRecords: r.kind === 'run-end' && typeof r.records === 'number' ? r.records : undefined,
          command:
            r.kind === 'command-start' ? { id: r.commandId, host: r.host, step: r.step, phase: r.phase, text: r.command } : r.kind === 'command' && r.commandId ? { id: r.commandId } : undefined,
        },
      });
    } else items.push({ bad: { line: l.lineNo, text: l.text, terminated: l.terminated, json: parsed.reason !== 'not-json' } });
  }

  const problems: AuditProblem[] = [];
  const error = (line: number, message: string): void => void problems.push({ line, severity: 'error', message });
  const warn = (line: number, message: string): void => void problems.push({ line, severity: 'warning', message });

  const bySeq = new Map<number, Entry>();
  for (const it of items) if ('record' in it && !bySeq.has(it.record.seq)) bySeq.set(it.record.seq, it.record);
  const records = items.filter((it): it is { record: Entry } => 'record' in it).map((it) => it.record);
  const maxSeq = records.reduce((m, r) => Math.max(m, r.seq), 0);

  let lastSeq = 0;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    if ('bad' in it) {
      const { line, text, terminated, json } = it.bad;
      const after = items[i + 1];
      const next = after && 'record' in after ? after.record : undefined;
      const tipHash = lastSeq === 0 ? GENESIS_HASH : bySeq.get(lastSeq)?.hash;
      // A torn write is benign only where the writer left it: at the very end, or right before
      // the record the next append chained from the last whole record.
      if (!json && looksTorn(text) && !terminated && !after) {
        warn(line, 'last record incomplete (crash during write); the chain up to it is intact');
      } else if (!json && looksTorn(text) && next && next.seq === lastSeq + 1 && next.prev === tipHash) {
        warn(line, `incomplete record (crash during write); the chain continues on line ${next.line}`);
      } else if (text === '') {
        error(line, 'blank line where a record should be');
      } else {
        error(line, json ? 'not a runbook audit record' : 'not a valid record (not JSON)');
      }
      continue;
    }
    const r = it.record;
    if (!r.intact) error(r.line, `record #${r.seq} was edited: its content does not match its hash`);
    const first = bySeq.get(r.seq)!;
    if (first !== r) {
      error(r.line, `record #${r.seq} appears twice (also line ${first.line})`);
      continue;
    }
    // Chain: prev must be the hash of the record numbered one lower, wherever it is.
    let missingBefore = 0;
    if (r.seq === 1) {
      if (r.prev !== GENESIS_HASH) error(r.line, 'record #1 does not start the chain (prev is not the genesis hash)');
    } else {
      const before = bySeq.get(r.seq - 1);
      if (!before) {
        let p = r.seq - 1;
        while (p > 0 && !bySeq.has(p)) p--;
        missingBefore = r.seq - 1 - p;
        error(r.line, `record${missingBefore > 1 ? 's' : ''} ${range(p + 1, r.seq - 1)} missing before this line (deleted)`);
      } else if (before.hash !== r.prev) {
        error(r.line, `chain broken: prev does not match record #${before.seq} on line ${before.line} (that record was altered or replaced)`);
      }
    }
    // Order: records must appear in seq order; a gap fully explained by a deletion is not reordering.
    if (r.seq !== lastSeq + 1 && !(r.seq > lastSeq + 1 && r.seq - 1 - missingBefore === lastSeq)) {
      error(r.line, `record #${r.seq} out of order (after record #${lastSeq})`);
    }
    lastSeq = Math.max(lastSeq, r.seq);
  }

  // Truncation of whole records at the end: only the head sidecar knows how far the chain went.
  const head = readHead(file);
  const endLine = lines + 1;
  if (head === 'bad') warn(endLine, `head file ${headPathOf(file)} is unreadable (power loss?): truncation of whole records at the end cannot be detected`);
  else if (head === undefined) {
    // The writer gives a new trail its head as it creates it: a trail without one (even an empty
    // one) had it deleted, which is how a cut tail hides.
    error(endLine, `no head file ${headPathOf(file)} next to a trail of ${records.length} records: it was deleted, so a truncation of the end cannot be ruled out (restore it, or check against an anchor kept elsewhere)`);
  } else if (head.seq > maxSeq) {
    error(endLine, `file truncated: it ends at record #${maxSeq} but record #${head.seq} was written (${head.seq - maxSeq} missing at the end)`);
  } else {
    const at = bySeq.get(head.seq);
    if (at && at.hash !== head.hash) error(at.line, `record #${head.seq} does not match the head file's hash (altered after it was written)`);
    // The writer moves the head past a run's end when it closes, under the lock and never back: a
    // run that ended after the head was written without it, by something other than runbook.
    const behind = records.filter((r) => r.seq > head.seq && r.kind === 'run-end');
    if (behind.length > 0) {
      const runIds = behind.map((r) => r.runId).join(', ');
      warn(
        behind[0]!.line,
        `records #${head.seq + 1}-#${maxSeq} come after the head file's record #${head.seq} and include the end of run${behind.length > 1 ? 's' : ''} ${runIds}: runbook moves the head past every run it ends, so they were appended by something else, or the machine lost power as the run closed (compare them with the hosts' logs of RUNBOOK_COMMAND_ID)`,
      );
    }
  }

  if (opts.anchor) {
    const at = bySeq.get(opts.anchor.seq);
    if (!at) error(endLine, `anchor record #${opts.anchor.seq} is not in the file (truncated or rewritten)`);
    else if (at.hash !== opts.anchor.hash) error(at.line, `record #${opts.anchor.seq} does not match the anchor's hash (the chain was rewritten)`);
    else {
      // The anchor vouches for nothing after it: a forged run appended there chains correctly.
      const after = new Map<string, Entry>();
      for (const r of records) if (r.seq > opts.anchor.seq && !after.has(r.runId)) after.set(r.runId, r);
      if (after.size > 0) {
        const list = [...after.values()].map((r) => `run ${r.runId} by ${r.operator} at ${r.time}`).join(', ');
        warn([...after.values()][0]!.line, `not covered by the anchor: ${list}; check them against the hosts' logs (RUNBOOK_COMMAND_ID)`);
      }
    }
  }

  // Runs: every run should end with a run-end that counts its records.
  const runs = new Map<string, { firstLine: number; count: number; end?: Entry }>();
  for (const r of records) {
    const run = runs.get(r.runId) ?? { firstLine: r.line, count: 0 };
    // Delivery reports may follow their run's end, so run-end does not count them.
    if (!AFTER_RUN_KINDS.includes(r.kind)) run.count++;
    if (r.kind === 'run-end') run.end = r;
    runs.set(r.runId, run);
  }
  // Commands announced but never reported back: sent (or about to be) when the controller stopped.
  const unfinished = new Map<string, Entry>();
  for (const r of records) {
    if (r.kind === 'command-start' && r.command) unfinished.set(r.command.id, r);
    else if (r.kind === 'command' && r.command) unfinished.delete(r.command.id);
  }
  const unfinishedOf = (runId: string): Entry[] => [...unfinished.values()].filter((r) => r.runId === runId);
  for (const r of unfinished.values()) {
    const c = r.command!;
    warn(r.line, `unknown: the controller stopped while it ran: run ${r.runId}, host ${c.host}, step "${c.step}", ${c.phase}: ${oneLineOf(c.text ?? '')}`);
  }
  for (const [runId, run] of runs) {
    const open = unfinishedOf(runId).length;
    if (!run.end) warn(run.firstLine, `run ${runId} has no run-end record: it ended abnormally (the controller was killed, or the run is still going)${open ? `; ${open} command${open > 1 ? 's' : ''} unfinished` : ''}`);
    else if (run.end.runRecords !== undefined && run.end.runRecords !== run.count) {
      error(run.end.line, `run ${runId} wrote ${run.end.runRecords} records but ${run.count} are in the file`);
    }
  }

  problems.sort((a, b) => a.line - b.line || (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
  const tipEntry = bySeq.get(maxSeq);
  return {
    file,
    lines,
    records: records.length,
    runs: runs.size,
    tip: tipEntry ? { seq: tipEntry.seq, hash: tipEntry.hash } : undefined,
    problems,
    ok: !problems.some((p) => p.severity === 'error'),
  };
}
