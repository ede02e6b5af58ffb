/** Plain-text rendering of `runbook history` and `runbook history RUN`. */
import type { AuditVerifyResult } from './audit-verify.js';
import type { RunDetail, RunSummary } from './history.js';
import { textTable } from './text-table.js';

/** Audit text came from hosts and runbooks: never let it drive the operator's terminal. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function counts(c: RunSummary['counts']): string {
  const parts = Object.entries(c)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([st, n]) => `${st}=${n}`);
  return parts.length ? parts.join(' ') : '-';
}

function exitOf(r: RunSummary): string {
  return r.exitCode === null ? 'no end' : String(r.exitCode);
}

export function formatRunList(runs: RunSummary[]): string {
  const rows = [['RUN', 'STARTED', 'OPERATOR', 'RUNBOOK', 'MODE', 'HOSTS', 'EXIT', 'OUTCOMES']];
  for (const r of runs) {
    rows.push([r.runId, r.time, r.operator, r.runbook, r.mode, String(r.hosts.length), exitOf(r), counts(r.counts)].map(printable));
  }
  return textTable(rows);
}

export function formatRunDetail(r: RunDetail): string {
  const head = [
    `run ${r.runId}: ${r.runbook} (${r.mode}) by ${r.operator}`,
    `started ${r.time}${r.endTime ? `, ended ${r.endTime}` : ', no run-end record (killed, or still running)'}`,
    `exit ${exitOf(r)}${r.aborted ? ', aborted' : ''}${r.stopReason ? `: ${r.stopReason}` : ''}; ${counts(r.counts)}`,
    `runbook sha256 ${r.runbookHash}`,
  ].map(printable);
  const rows = [['HOST', 'STEP', 'STATUS', 'REASON']];
  for (const h of r.perHost) {
    if (h.steps.length === 0) rows.push([h.host, '-', 'no result', '']);
    for (const s of h.steps) rows.push([h.host, s.step, s.status, s.reason ?? ''].map(printable));
  }
  return `${head.join('\n')}\n\n${textTable(rows)}`;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

export function formatVerify(v: AuditVerifyResult): string {
  const lines = v.problems.map((p) => printable(`${v.file}:${p.line}: ${p.severity}: ${p.message}`));
  const errors = v.problems.filter((p) => p.severity === 'error').length;
  const tip = v.tip ? `; anchor ${v.tip.seq}:${v.tip.hash}` : '';
  lines.push(
    errors === 0
      ? `${v.file}: chain intact: ${plural(v.records, 'record')}, ${plural(v.runs, 'run')}${tip}`
      : `${v.file}: ${errors} problem${errors > 1 ? 's' : ''} found in ${v.records} records`,
  );
  return lines.join('\n');
}
