/**
 * One run as the audit trail holds it, for `runbook report`: the trail verified first (a damaged
 * trail is reported as such, never shown as if it were whole), then the run's header, and per host
 * and step its outcome, its commands with their output tails, approvals and diffs. Everything here
 * came from hosts or runbooks and is hostile text: each format escapes it for where it lands.
 */
import type { StepStatus } from '../engine/events.js';
import { statusClass, type StatusClass } from '../engine/status.js';
import { verifyAuditFile } from './audit-verify.js';
import type { RecordedChange } from './audit-record.js';
import { findRunAcross, type CommandEntry, type RunDetail } from './history.js';

export const REPORT_VERSION = 1;

export interface ReportStep {
  step: string;
  status: StepStatus;
  class: StatusClass;
  reason?: string;
  durationMs?: number;
  commands: CommandEntry[];
  changes: RecordedChange[];
}

export interface RunReport {
  format: 'runbook-report';
  version: typeof REPORT_VERSION;
  /** The trail's own check, done before anything else is read. */
  trail: { file: string; intact: boolean; records: number; problems: string[] };
  run: Omit<RunDetail, 'perHost' | 'commands' | 'unfinished'>;
  hosts: { host: string; failed: boolean; steps: ReportStep[] }[];
  /** Commands sent whose outcome is not on the record (the controller stopped while they ran). */
  unfinished: RunDetail['unfinished'];
}

/** From one trail, or several (the shards of one run, or trails to look in): each is verified first. */
export function buildRunReport(auditFiles: string | string[], ref: string): RunReport {
  const found = findRunAcross(typeof auditFiles === 'string' ? [auditFiles] : auditFiles, ref);
  const checks = found.trails.map((file) => ({ file, verified: verifyAuditFile(file) }));
  const detail = found.run;
  const { perHost, commands, unfinished, ...run } = detail;
  const hosts = perHost.map((h) => ({
    host: h.host,
    failed: h.failed,
    steps: h.steps.map((s) => ({
      step: s.step,
      status: s.status,
      class: statusClass(s.status),
      ...(s.reason !== undefined ? { reason: s.reason } : {}),
      ...(s.durationMs !== undefined ? { durationMs: s.durationMs } : {}),
      // The host lock is the host's, not the step's it is filed under.
      commands: commands.filter((c) => c.host === h.host && c.step === s.step && c.phase !== 'lock' && c.phase !== 'unlock'),
      changes: (s.changes ?? []).filter((c) => c.diff !== undefined),
    })),
  }));
  return {
    format: 'runbook-report',
    version: REPORT_VERSION,
    trail: {
      file: found.trails.join(', '),
      intact: checks.every((c) => c.verified.ok),
      records: checks.reduce((n, c) => n + c.verified.records, 0),
      problems: checks.flatMap((c) => c.verified.problems.filter((p) => p.severity === 'error').map((p) => `${checks.length > 1 ? `${c.file} ` : ''}line ${p.line}: ${p.message}`)),
    },
    run,
    hosts,
    unfinished,
  };
}
