/**
 * The audit record format: one JSON object per line, sealed into a hash chain. Each record's
 * `hash` is sha256 over its canonical JSON (keys sorted, `hash` left out, `prev` included), and
 * its `prev` is the `hash` of the record with the previous `seq`. docs/audit.md describes it.
 */
import { createHash } from 'node:crypto';
import type { ApprovalDecision, FileState, RunEvent, RunPlanRef, StepStatus } from '../engine/events.js';

/**
 * What a fix changed, as the trail keeps it: targets, digests, a file's former state and the
 * masked, bounded diff (the content itself is only in the capture store).
 */
export interface RecordedChange {
  target: string;
  kind: 'file' | 'snapshot' | 'preview';
  before?: string;
  after?: string;
  beforeFile?: FileState;
  diff?: string;
}

/** A command record carries exactly what the engine's command event does, plus the runbook. */
type CommandEvent = Extract<RunEvent, { type: 'command' }>;
type CommandStartEvent = Extract<RunEvent, { type: 'command-start' }>;

/**
 * 2: every command is on the record before it is sent (`command-start`), and its outcome record
 * carries the same `commandId`. 3: the outcome record no longer repeats the command's text (its
 * start record holds it; at 1,000 hosts the copies were 40% of a trail). Version 1 and 2 trails
 * (whose outcome records carry the text) still read and verify.
 */
export const AUDIT_VERSION = 3;
const READABLE_VERSIONS: readonly number[] = [1, 2, 3];
/** What the first record of a file chains from. */
export const GENESIS_HASH = '0'.repeat(64);

interface RecordHeader {
  time: string;
  runId: string;
  operator: string;
}

export type AuditBody = RecordHeader &
  (
    | {
        kind: 'run-start';
        runbook: string;
        runbookFile: string;
        runbookHash: string;
        mode: 'dry-run' | 'apply';
        /** apply --plan: the plan applied (id, hash, file) and whose signatures were counted. */
        plan?: RunPlanRef;
        /** runbook undo: the run it undoes. */
        undoes?: string;
        /** runbook resume: the run it continues. */
        resumes?: string;
        /** The operator's vars, a secret's value masked (absent in runs recorded before resume). */
        vars?: Record<string, string>;
        hosts: string[];
        /** The hosts in `hosts` only because a once step runs there. */
        onceHosts?: string[];
        steps: string[];
        /** --no-drain: the disruptive steps whose nodes the run did not drain. */
        noDrain?: string[];
      }
    | ({ kind: 'command-start'; runbook: string; runbookHash: string } & Omit<CommandStartEvent, 'type' | 'time' | 'runId'>)
    // A version 1 record has no commandId; versions 1 and 2 repeat the command's text.
    | ({ kind: 'command'; runbook: string; runbookHash: string } & Omit<CommandEvent, 'type' | 'time' | 'runId' | 'commandId' | 'command'> & { commandId?: string; command?: string })
    | { kind: 'approval'; runbook: string; host: string; step: string; decision: ApprovalDecision; by: string }
    | {
        kind: 'step';
        runbook: string;
        host: string;
        step: string;
        stepIndex: number;
        status: StepStatus;
        reason?: string;
        /** What the fix changed (or a preview says it would): targets and content digests, no content. */
        changes?: RecordedChange[];
        /** A local step: it ran on the controller for this host. */
        local?: true;
        durationMs: number;
      }
    | { kind: 'connect'; runbook: string; host: string; ok: boolean; error?: string; durationMs: number }
    /**
     * A notification that could not be delivered (report/notify.ts), target masked. Written when
     * its retries are spent, which for the run's last notice is after its run-end: so it is not
     * one of the records run-end counts.
     */
    | { kind: 'notify'; event: 'run-start' | 'approval-wait' | 'run-end'; target: string; attempts: number; error: string }
    /** Records of this trail that never reached the --audit-syslog server (report/audit-syslog.ts); written at the run's close. */
    | { kind: 'syslog-gap'; target: string; count: number; firstSeq: number; lastSeq: number; reason: string }
    | {
        kind: 'run-end';
        runbook: string;
        runbookHash: string;
        exitCode: number;
        aborted: boolean;
        stopReason?: string;
        summary: Record<string, Partial<Record<StepStatus, number>>>;
        durationMs: number;
        /** Records this run wrote, this one included: lets verify notice a run's records going missing. */
        records: number;
      }
  );

export type AuditRecord = { v: number; seq: number } & AuditBody & { prev: string; hash: string };

/** Kinds a run may write after its run-end (delivery reports), so run-end's `records` does not count them. */
export const AFTER_RUN_KINDS: readonly string[] = ['notify', 'syslog-gap'];

/** Every record line of a readable version starts with one of these; a torn line is a prefix of some record. */
const PREFIXES = READABLE_VERSIONS.map((v) => `{"v":${v},"seq":`);

function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonical(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`).join(',')}}`;
}

export function recordHash(record: Record<string, unknown>): string {
  const { hash: _hash, ...rest } = record;
  return createHash('sha256').update(canonical(rest)).digest('hex');
}

/** Seals a body into a record that follows `prev` (seq, hash), and returns it with its line. */
export function sealRecord(body: AuditBody, seq: number, prev: string): { record: AuditRecord; line: string } {
  const unsealed = { v: AUDIT_VERSION, seq, ...body, prev };
  const hash = recordHash(unsealed);
  const record = { ...unsealed, hash } as AuditRecord;
  return { record, line: JSON.stringify(record) };
}

const HEX64 = /^[0-9a-f]{64}$/;

export type ParsedLine =
  | { ok: true; record: AuditRecord; intact: boolean }
  | { ok: false; reason: 'not-json' | 'not-a-record' };

/** Parses one line; `intact` is false when the content no longer matches its own hash (edited). */
export function parseRecordLine(line: string): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'not-json' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'not-a-record' };
  const r = value as Record<string, unknown>;
  if (
    typeof r.v !== 'number' ||
    !READABLE_VERSIONS.includes(r.v) ||
    typeof r.seq !== 'number' ||
    !Number.isSafeInteger(r.seq) ||
    r.seq < 1 ||
    typeof r.kind !== 'string' ||
    typeof r.runId !== 'string' ||
    typeof r.prev !== 'string' ||
    typeof r.hash !== 'string' ||
    !HEX64.test(r.prev) ||
    !HEX64.test(r.hash)
  ) {
    return { ok: false, reason: 'not-a-record' };
  }
  return { ok: true, record: r as unknown as AuditRecord, intact: recordHash(r) === r.hash };
}

/** True when `text` could be the start of a line the writer was cut off while writing. */
export function looksTorn(text: string): boolean {
  return text.length > 0 && PREFIXES.some((p) => text.startsWith(p) || p.startsWith(text));
}
