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
  return r.exitCode === null ? 'abnormal' : String(r.exitCode);
}

export function formatRunList(runs: RunSummary[]): string {
  const rows = [['RUN', 'STARTED', 'OPERATOR', 'RUNBOOK', 'MODE', 'HOSTS', 'EXIT', 'OUTCOMES']];
  for (const r of runs) {
    rows.push([r.runId, r.time, r.operator, r.runbook, r.undoes ? `undo ${r.undoes}` : r.resumes ? `resume ${r.resumes}` : r.mode, String(r.hosts.length), exitOf(r), counts(r.counts)].map(printable));
  }
  return textTable(rows);
}

export function formatRunDetail(r: RunDetail): string {
  const head = [
    `run ${r.runId}: ${r.runbook} (${r.mode}) by ${r.operator}`,
    `started ${r.time}${r.endTime ? `, ended ${r.endTime}` : ', ended abnormally: no run-end record (the controller was killed, or the run is still going)'}`,
    `exit ${exitOf(r)}${r.aborted ? ', aborted' : ''}${r.stopReason ? `: ${r.stopReason}` : ''}; ${counts(r.counts)}`,
    `runbook sha256 ${r.runbookHash}`,
    ...(r.undoes ? [`undoes run ${r.undoes}`] : []),
    ...(r.resumes ? [`resumes run ${r.resumes}`] : []),
    ...(r.resumedBy.length ? [`resumed by run ${r.resumedBy.join(', run ')}`] : []),
    ...(r.undoneBy.length ? [`undone by run ${r.undoneBy.join(', run ')}`] : []),
    ...(r.plan ? [`plan ${r.plan.id} (${r.plan.file}), ${r.plan.approvers.length ? `approved by ${r.plan.approvers.join(', ')}` : 'no approvals counted'}`] : []),
  ].map(printable);
  const rows = [['HOST', 'STEP', 'STATUS', 'REASON']];
  for (const h of r.perHost) {
    if (h.steps.length === 0) rows.push([h.host, '-', 'no result', '']);
    for (const s of h.steps) rows.push([h.host, s.step, s.status, s.reason ?? ''].map(printable));
  }
  return `${head.join('\n')}\n\n${textTable(rows)}${unfinishedText(r)}`;
}

/** What the controller was running when it stopped, and what to check on each such host. */
function unfinishedText(r: RunDetail): string {
  if (r.unfinished.length === 0) return '';
  const rows = [['HOST', 'STEP', 'PHASE', 'COMMAND']];
  for (const u of r.unfinished) rows.push([u.host, u.step, u.phase, u.command.split('\n')[0]!].map(printable));
  const hosts = [...new Set(r.unfinished.filter((u) => u.phase !== 'lock' && u.phase !== 'unlock').map((u) => u.host))];
  const advice = hosts.map((h) =>
    printable(`  ${h}: a command may have run there, all of it, part of it, or none. Read the host's state before anything else: \`runbook apply ${r.runbook} --hosts ${h} --dry-run\` runs only the checks.`),
  );
  const locks = r.unfinished.some((u) => u.phase === 'lock' || u.phase === 'unlock') ? ['  (an unfinished lock or unlock changed nothing: the lock ends with its connection)'] : [];
  return `\n\nunknown: the controller stopped while these ran (sent, outcome never received):\n${textTable(rows)}\n${[...advice, ...locks].join('\n')}`;
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
