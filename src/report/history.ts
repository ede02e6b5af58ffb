/**
 * Past runs, read back from the audit file: the list for `runbook history`, one run's per-host,
 * per-step outcome for `runbook history RUN`, and the hosts `--hosts @failed` means.
 * Lines that are not records are skipped here; `runbook audit verify` is what judges them.
 */
import { existsSync, realpathSync } from 'node:fs';
import type { ApprovalDecision, RunPlanRef, StepStatus } from '../engine/events.js';
import { isFailed, statusesOf } from '../engine/status.js';
import type { StepOutcome } from '../engine/step-report.js';
import { UserError } from '../model/errors.js';
import { worstExitCode } from '../model/exit-codes.js';
import { readLines } from './audit-lines.js';
import { parseRecordLine, type AuditRecord, type RecordedChange } from './audit-record.js';

/** Statuses that put a host in `@failed` (engine/status.ts): it did not end up healthy and someone should look again. */
const FAILED_STATUSES = statusesOf('failed');

/** A step's outcome as the trail recorded it (the engine's, with how long it took). */
export interface RecordedStep extends StepOutcome {
  durationMs?: number;
  /** What its fix changed (digests, a file's former state). */
  changes?: RecordedChange[];
}

/** A host of a past run: its recorded steps, and whether it belongs in `@failed`. */
export interface RecordedHost {
  host: string;
  steps: RecordedStep[];
  failed: boolean;
}

export interface CommandEntry {
  time: string;
  host: string;
  step: string;
  phase: string;
  command: string;
  outcome: string;
  exitCode: number | null;
  durationMs: number;
  approval?: { decision: ApprovalDecision; by: string };
  /** The last lines of its output, masked (absent in version 1 trails). */
  tail?: string;
}

export interface RunSummary {
  runId: string;
  time: string;
  endTime?: string;
  operator: string;
  runbook: string;
  /** The runbook file as the run loaded it ('' before its run-start record is read). */
  runbookFile: string;
  runbookHash: string;
  mode: 'dry-run' | 'apply' | 'unknown';
  /** apply --plan: the saved plan it applied, and whose approvals it counted. */
  plan?: RunPlanRef;
  /** runbook undo: the run it undid. */
  undoes?: string;
  /** runbook resume: the run it continued. */
  resumes?: string;
  /** The operator's vars as recorded (a secret's value masked); absent in runs recorded before resume. */
  vars?: Record<string, string>;
  hosts: string[];
  /** The hosts in `hosts` only because a once step ran there (not targets). */
  onceHosts?: string[];
  /** Step outcomes over all hosts. */
  counts: Partial<Record<StepStatus, number>>;
  /** null when the run has no run-end record (killed, or still running). */
  exitCode: number | null;
  aborted: boolean;
  stopReason?: string;
}

/** A command announced on the record (command-start) whose outcome never was: the controller stopped while it ran. */
export interface UnfinishedCommand {
  time: string;
  commandId: string;
  host: string;
  step: string;
  phase: string;
  command: string;
}

export interface RunDetail extends RunSummary {
  /** The runs that resume this one, and those that undo it. */
  resumedBy: string[];
  undoneBy: string[];
  perHost: RecordedHost[];
  commands: CommandEntry[];
  unfinished: UnfinishedCommand[];
}

interface Acc {
  run: RunSummary;
  steps: Map<string, Map<string, RecordedStep>>;
  connectErrors: Map<string, string>;
  /** Last command per host+step, for steps whose result never got recorded. */
  lastCommand: Map<string, Map<string, CommandEntry>>;
  endSummary?: Record<string, Partial<Record<StepStatus, number>>>;
  commands: CommandEntry[];
  /** Commands announced and not (yet) reported back, by commandId. */
  started: Map<string, UnfinishedCommand>;
}

function nested<V>(m: Map<string, Map<string, V>>, k: string): Map<string, V> {
  let inner = m.get(k);
  if (!inner) m.set(k, (inner = new Map()));
  return inner;
}

function newAcc(r: AuditRecord): Acc {
  return {
    run: {
      runId: r.runId,
      time: r.time,
      operator: r.operator,
      runbook: 'runbook' in r ? r.runbook : '',
      runbookFile: '',
      runbookHash: 'runbookHash' in r ? r.runbookHash : '',
      mode: 'unknown',
      hosts: [],
      counts: {},
      exitCode: null,
      aborted: false,
    },
    steps: new Map(),
    connectErrors: new Map(),
    lastCommand: new Map(),
    commands: [],
    started: new Map(),
  };
}

function add(acc: Acc, r: AuditRecord, keepCommands: boolean): void {
  switch (r.kind) {
    case 'run-start':
      Object.assign(acc.run, { time: r.time, runbook: r.runbook, runbookFile: r.runbookFile, runbookHash: r.runbookHash, mode: r.mode, hosts: r.hosts, ...(r.plan ? { plan: r.plan } : {}), ...(r.undoes ? { undoes: r.undoes } : {}) });
      Object.assign(acc.run, { ...(r.resumes ? { resumes: r.resumes } : {}), ...(r.vars ? { vars: r.vars } : {}), ...(r.onceHosts ? { onceHosts: r.onceHosts } : {}) });
      break;
    case 'command-start':
      acc.started.set(r.commandId, { time: r.time, commandId: r.commandId, host: r.host, step: r.step, phase: r.phase, command: r.command });
      if (!acc.run.hosts.includes(r.host)) acc.run.hosts.push(r.host);
      break;
    case 'command': {
      // Version 3 outcome records name their command by id only; the start record holds the text.
      const started = r.commandId ? acc.started.get(r.commandId) : undefined;
      if (r.commandId) acc.started.delete(r.commandId);
      const c: CommandEntry = {
        time: r.time,
        host: r.host,
        step: r.step,
        phase: r.phase,
        command: r.command ?? started?.command ?? '',
        outcome: r.outcome,
        exitCode: r.exitCode,
        durationMs: r.durationMs,
        approval: r.approval,
        ...(r.output?.tail ? { tail: r.output.tail } : {}),
      };
      nested(acc.lastCommand, r.host).set(r.step, c);
      if (keepCommands) acc.commands.push(c);
      if (!acc.run.hosts.includes(r.host)) acc.run.hosts.push(r.host);
      break;
    }
    case 'step':
      nested(acc.steps, r.host).set(r.step, { step: r.step, status: r.status, reason: r.reason, durationMs: r.durationMs, ...(r.changes ? { changes: r.changes } : {}) });
      if (!acc.run.hosts.includes(r.host)) acc.run.hosts.push(r.host);
      break;
    case 'connect':
      if (!r.ok) acc.connectErrors.set(r.host, r.error ?? 'connection failed');
      if (!acc.run.hosts.includes(r.host)) acc.run.hosts.push(r.host);
      break;
    case 'run-end':
      Object.assign(acc.run, { endTime: r.time, exitCode: r.exitCode, aborted: r.aborted, stopReason: r.stopReason });
      acc.endSummary = r.summary;
      break;
    case 'approval':
      break;
  }
}

function finish(acc: Acc): RunDetail {
  const unfinished = [...acc.started.values()];
  const perHost: RecordedHost[] = acc.run.hosts.map((host) => {
    const steps = [...(acc.steps.get(host)?.values() ?? [])];
    // A command sent with no outcome: it may have changed the host, or not. (An unfinished lock
    // changes nothing: its shell ends with the connection.)
    for (const u of unfinished) {
      // A capture only reads; like the lock, it cannot have changed the host.
      if (u.host !== host || u.phase === 'lock' || u.phase === 'unlock' || u.phase === 'capture' || steps.some((s) => s.step === u.step)) continue;
      steps.push({ step: u.step, status: 'unknown', reason: `unknown: the controller stopped while it ran (${u.phase}: ${u.command.split('\n')[0]})` });
    }
    // A command with no step result: the controller stopped before judging it.
    for (const [step, c] of acc.lastCommand.get(host) ?? []) {
      if (steps.some((s) => s.step === step)) continue;
      steps.push({
        step,
        status: c.outcome === 'interrupted' ? 'interrupted' : 'unknown',
        reason: `no result recorded; last command: ${c.phase}, ${c.outcome}${c.exitCode === null ? '' : ` ${c.exitCode}`}`,
      });
    }
    const connectError = acc.connectErrors.get(host);
    if (connectError && steps.length === 0) steps.push({ step: '(connect)', status: 'unreachable', reason: connectError });
    const summary = acc.endSummary?.[host] ?? {};
    const failed =
      steps.some((s) => isFailed(s.status)) || FAILED_STATUSES.some((st) => (summary[st] ?? 0) > 0);
    return { host, steps, failed };
  });
  const counts: Partial<Record<StepStatus, number>> = {};
  const tally = (status: StepStatus, n: number): void => void (counts[status] = (counts[status] ?? 0) + n);
  if (acc.endSummary) {
    for (const byStatus of Object.values(acc.endSummary))
      for (const [st, n] of Object.entries(byStatus)) tally(st as StepStatus, n ?? 0);
  } else for (const h of perHost) for (const s of h.steps) tally(s.status, 1);
  return { ...acc.run, counts, resumedBy: [], undoneBy: [], perHost, commands: acc.commands, unfinished };
}

/** Every run in the file, oldest first (by where its first record is). */
function collect(file: string, keepCommands: boolean, only?: (runId: string) => boolean): RunDetail[] {
  if (!existsSync(file)) return [];
  const accs = new Map<string, Acc>();
  for (const { text } of readLines(file)) {
    const parsed = parseRecordLine(text);
    if (!parsed.ok) continue;
    const r = parsed.record;
    if (only && !only(r.runId)) continue;
    let acc = accs.get(r.runId);
    if (!acc) accs.set(r.runId, (acc = newAcc(r)));
    add(acc, r, keepCommands);
  }
  return [...accs.values()].map(finish);
}

export function listRuns(auditFile: string): RunSummary[] {
  return collect(auditFile, false).map(({ perHost: _p, commands: _c, unfinished: _u, resumedBy: _r, undoneBy: _ub, ...summary }) => summary);
}

/**
 * One run by id, unique id prefix, or `last` (the newest run that passes `last`'s filter, e.g. the
 * newest apply); a UserError naming the choices otherwise.
 */
export function findRun(auditFile: string, idOrPrefix: string, last?: { accept: (run: RunSummary) => boolean; what: string }): RunDetail {
  if (idOrPrefix === 'last') {
    const run = collect(auditFile, false).filter((r) => last?.accept(r) ?? true).at(-1);
    if (!run) throw new UserError({ message: `no ${last?.what ?? 'run'} in ${auditFile}`, hint: 'run `runbook history` to list runs' });
    idOrPrefix = run.runId;
  }
  const ids = new Set<string>();
  // Which runs resume or undo which (a dry run of an undo undoes nothing): history shows a run's chain both ways.
  const later: { runId: string; resumes?: string; undoes?: string }[] = [];
  for (const { text } of readLinesIfAny(auditFile)) {
    const parsed = parseRecordLine(text);
    if (!parsed.ok) continue;
    if (parsed.record.runId.startsWith(idOrPrefix)) ids.add(parsed.record.runId);
    const r = parsed.record;
    if (r.kind === 'run-start' && (r.resumes || r.undoes)) later.push({ runId: r.runId, ...(r.resumes ? { resumes: r.resumes } : {}), ...(r.undoes && r.mode === 'apply' ? { undoes: r.undoes } : {}) });
  }
  if (ids.size === 0) {
    throw new UserError({ message: `no run ${idOrPrefix} in ${auditFile}`, hint: 'run `runbook history` to list runs' });
  }
  if (ids.size > 1) {
    const some = [...ids].slice(0, 5).join(', ');
    throw new UserError({ message: `run id prefix ${idOrPrefix} is ambiguous: ${some}${ids.size > 5 ? ', …' : ''}`, hint: 'give more characters' });
  }
  const id = [...ids][0]!;
  const run = collect(auditFile, true, (runId) => runId === id)[0]!;
  return { ...run, resumedBy: later.filter((r) => r.resumes === id).map((r) => r.runId), undoneBy: later.filter((r) => r.undoes === id).map((r) => r.runId) };
}

function readLinesIfAny(file: string): Iterable<{ text: string }> {
  return existsSync(file) ? readLines(file) : [];
}

/** `@failed`: the hosts that need another look after a run, and the run they come from. */
export interface FailedSet {
  run: RunSummary;
  hosts: string[];
}

/**
 * Hosts that failed, were unreachable or whose outcome is unknown (or interrupted) in the last
 * apply of `runbookName` (a dry run changes nothing, so it does not replace what an apply left to
 * retry; with no apply on record, the last dry run), in that run's host order. Undefined when the
 * runbook has no run on record.
 */
/**
 * One run's summaries from several trails (shards of one run, each with its own --audit-file)
 * as one: its hosts and counts together, the earliest start, the latest end, the worst exit code.
 * A shard still running (no run-end) leaves the merged run without one too.
 */
function mergeSummaries<T extends RunSummary>(parts: T[]): T {
  const [first, ...rest] = [...parts].sort((a, b) => Date.parse(a.time) - Date.parse(b.time)) as [T, ...T[]];
  const counts: Partial<Record<StepStatus, number>> = { ...first.counts };
  for (const p of rest) for (const [s, n] of Object.entries(p.counts) as [StepStatus, number][]) counts[s] = (counts[s] ?? 0) + n;
  const ended = parts.every((p) => p.exitCode !== null);
  const ends = parts.map((p) => p.endTime).filter((t): t is string => t !== undefined);
  return {
    ...first,
    hosts: [...new Set(parts.flatMap((p) => p.hosts))],
    counts,
    exitCode: ended ? worstExitCode(parts.map((p) => p.exitCode!)) : null,
    aborted: parts.some((p) => p.aborted),
    ...(ended && ends.length ? { endTime: ends.reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a)) } : { endTime: undefined }),
    stopReason: parts.map((p) => p.stopReason).find((r) => r !== undefined),
  };
}

/** Runs of several trails, newest last; a run id found in more than one (its shards) is one run. */
/** The trails named, each once: the same file given twice (another path, a link) would count its runs twice. */
function distinctTrails(auditFiles: string[]): string[] {
  const seen = new Map<string, string>();
  for (const f of auditFiles) {
    const key = existsSync(f) ? realpathSync(f) : f;
    if (!seen.has(key)) seen.set(key, f);
  }
  return [...seen.values()];
}

/** Parts of one run must be parts of the same run: same runbook file content and mode, no host twice. */
function checkParts(runId: string, parts: { file: string; run: RunDetail }[]): void {
  const [first] = parts;
  for (const p of parts.slice(1)) {
    for (const k of ['runbookHash', 'mode'] as const) {
      if (p.run[k] !== first!.run[k]) throw new UserError({ message: `run ${runId} is recorded differently in ${first!.file} and ${p.file} (${k} ${first!.run[k]} and ${p.run[k]}): these are not shards of one run`, hint: 'give the trails of one run only' });
    }
  }
  const seen = new Map<string, string>();
  for (const p of parts) {
    for (const h of p.run.perHost) {
      const other = seen.get(h.host);
      if (other) throw new UserError({ message: `run ${runId} has host ${h.host} in both ${other} and ${p.file}: shards of one run share no host`, hint: 'were the shards run with different N, or the same shard twice? give the trails of one run only' });
      seen.set(h.host, p.file);
    }
  }
}

export function listRunsAcross(given: string[]): RunSummary[] {
  const auditFiles = distinctTrails(given);
  if (auditFiles.length === 1) return listRuns(auditFiles[0]!);
  const byId = new Map<string, RunSummary[]>();
  for (const f of auditFiles) for (const r of listRuns(f)) byId.set(r.runId, [...(byId.get(r.runId) ?? []), r]);
  return [...byId.values()].map(mergeSummaries).sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
}

/**
 * One run from several trails: for `last`, the newest run of them all; an id or a prefix is
 * looked for in each, and the trails that have it (the run's shards) merge into one view.
 * Returns the trails it came from, which the report verifies.
 */
export function findRunAcross(given: string[], idOrPrefix: string): { run: RunDetail; trails: string[] } {
  const auditFiles = distinctTrails(given);
  if (auditFiles.length === 1) return { run: findRun(auditFiles[0]!, idOrPrefix), trails: auditFiles };
  let ref = idOrPrefix;
  if (ref === 'last') {
    const newest = listRunsAcross(auditFiles).at(-1);
    if (!newest) throw new UserError({ message: `no run in ${auditFiles.join(', ')}`, hint: 'run `runbook history --audit-file FILE` to list runs' });
    ref = newest.runId;
  }
  const found: { file: string; run: RunDetail }[] = [];
  for (const file of auditFiles) {
    try {
      found.push({ file, run: findRun(file, ref) });
    } catch (e) {
      if (!(e instanceof UserError) || !e.message.startsWith(`no run ${ref} in`)) throw e;
    }
  }
  if (!found.length) throw new UserError({ message: `no run ${ref} in ${auditFiles.join(', ')}`, hint: 'run `runbook history --audit-file FILE` to list runs' });
  const ids = [...new Set(found.map((f) => f.run.runId))];
  if (ids.length > 1) throw new UserError({ message: `run id prefix ${ref} is ambiguous: ${ids.slice(0, 5).join(', ')}`, hint: 'give more characters' });
  checkParts(ids[0]!, found);
  const parts = found.map((f) => f.run);
  const merged = mergeSummaries(parts);
  const run: RunDetail = {
    ...merged,
    resumedBy: [...new Set(parts.flatMap((p) => p.resumedBy))],
    undoneBy: [...new Set(parts.flatMap((p) => p.undoneBy))],
    perHost: parts.flatMap((p) => p.perHost),
    commands: parts.flatMap((p) => p.commands).sort((a, b) => Date.parse(a.time) - Date.parse(b.time)),
    unfinished: parts.flatMap((p) => p.unfinished),
  };
  return { run, trails: found.map((f) => f.file) };
}

export function lastFailedSet(auditFile: string, runbookName: string): FailedSet | undefined {
  const runs = collect(auditFile, false).filter((r) => r.runbook === runbookName);
  const applies = runs.filter((r) => r.mode === 'apply');
  const run = (applies.length ? applies : runs).at(-1);
  if (!run) return undefined;
  const { perHost, commands: _c, unfinished: _u, resumedBy: _r, undoneBy: _ub, ...summary } = run;
  return { run: summary, hosts: perHost.filter((h) => h.failed).map((h) => h.host) };
}

/** `runbook history` filters; `limit` keeps the newest runs (0: all). */
export interface RunFilter {
  operator?: string;
  runbook?: string;
  host?: string;
  since?: Date;
  limit?: number;
}

/** The runs that pass every filter, oldest first, and how many more the limit left out. */
export function filterRuns(runs: RunSummary[], f: RunFilter): { runs: RunSummary[]; leftOut: number } {
  const kept = runs.filter(
    (r) =>
      (f.operator === undefined || r.operator === f.operator) &&
      (f.runbook === undefined || r.runbook === f.runbook) &&
      (f.host === undefined || r.hosts.includes(f.host)) &&
      (f.since === undefined || Date.parse(r.time) >= f.since.getTime()),
  );
  const limit = f.limit ?? 0;
  return limit > 0 && kept.length > limit ? { runs: kept.slice(-limit), leftOut: kept.length - limit } : { runs: kept, leftOut: 0 };
}
