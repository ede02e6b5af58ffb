/**
 * `runbook report --format html`: one self-contained file, readable offline and attachable to a
 * ticket. No script at all, no external asset: its Content-Security-Policy is `default-src 'none'`
 * with the one inline style allowed by its hash, so whatever a host sent can neither run nor load
 * anything. Every string is HTML-escaped, control characters shown. Hosts with identical results
 * share one row of the matrix, so 1,000 hosts stay readable; failures come first everywhere.
 */
import { createHash } from 'node:crypto';
import { neutralize } from '../engine/sanitize.js';
import type { StatusClass } from '../engine/status.js';
import { hostRanges } from './host-ranges.js';
import type { ReportStep, RunReport } from './run-report.js';

const esc = (s: string): string =>
  s
    .split('\n')
    .map(neutralize)
    .join('\n')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}
.green{background:#d9f2d9}.pending{background:#fff1c2}.failed{background:#f8d0d0}.not-done{background:#e6e6e6}
.damaged{background:#f8d0d0;padding:.5em;border:2px solid #a00}.intact{color:#060}
pre{background:#f6f6f6;padding:.4em;overflow-x:auto;margin:.2em 0}details{margin:.2em 0 .2em 1em}summary{cursor:pointer}
svg{display:block;margin:.2em 0}.legend span{display:inline-block;padding:0 .5em;margin-right:.3em;border:1px solid #ccc}
.ph-check{border-bottom:4px solid #6a9fd8}.ph-fix{border-bottom:4px solid #e08a2c}.ph-verify{border-bottom:4px solid #4caf50}.ph-capture{border-bottom:4px solid #b0b0b0}.ph-confirm{border-bottom:4px solid #9c27b0}`;
const CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/** The letter each status shows in a cell, beside its colour: the matrix reads without colour. */
const CLASS_LABEL: Record<StatusClass, string> = { green: 'done', pending: 'pending', failed: 'FAILED', 'not-done': 'not done' };
/** Rows of the matrix (host groups) and hosts with a timeline and command details, at most. */
const MAX_ROWS = 200;
const MAX_DETAILED_HOSTS = 50;
const PHASE_FILL: Record<string, string> = { check: '#6a9fd8', verify: '#4caf50', fix: '#e08a2c', capture: '#b0b0b0', confirm: '#9c27b0', kill: '#a00' };

const rank = (c: StatusClass): number => ({ failed: 0, 'not-done': 1, pending: 2, green: 3 })[c];
const worst = (steps: ReportStep[]): number => Math.min(4, ...steps.map((s) => rank(s.class)));

function header(r: RunReport): string {
  const run = r.run;
  const approvals = [...new Set(r.hosts.flatMap((h) => h.steps.flatMap((s) => s.commands.flatMap((c) => (c.approval ? [`${c.approval.by} (${c.approval.decision})`] : [])))))];
  const rows: [string, string][] = [
    ['runbook', `${run.runbook} (sha256 ${run.runbookHash})`],
    ['operator', run.operator],
    ['mode', `${run.mode}${run.undoes ? `, undoes run ${run.undoes}` : ''}${run.resumes ? `, resumes run ${run.resumes}` : ''}`],
    ...(run.plan ? ([['plan', `${run.plan.id}, signatures counted: ${run.plan.approvers.join(', ') || 'none'}`]] as [string, string][]) : []),
    ['started', run.time],
    ['ended', run.endTime ?? 'no end record: the controller stopped (killed, or still running)'],
    ['exit code', `${run.exitCode ?? 'none'}${run.aborted ? ', aborted' : ''}${run.stopReason ? `: ${run.stopReason}` : ''}`],
    ['approvals', approvals.length ? approvals.join(', ') : 'none asked'],
    ['outcomes', Object.entries(run.counts).map(([k, n]) => `${k}=${n}`).join(' ')],
  ];
  return `<table id="header">${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

function matrix(r: RunReport): string {
  const steps = [...new Set(r.hosts.flatMap((h) => h.steps.map((s) => s.step)))];
  // Hosts whose every step has the same status and reason share a row.
  const groups = new Map<string, { hosts: string[]; cells: (ReportStep | undefined)[] }>();
  for (const h of r.hosts) {
    const cells = steps.map((name) => h.steps.find((s) => s.step === name));
    const key = JSON.stringify(cells.map((c) => [c?.status, c?.reason]));
    const g = groups.get(key) ?? { hosts: [], cells };
    g.hosts.push(h.host);
    groups.set(key, g);
  }
  const sorted = [...groups.values()].sort((a, b) => worst(a.cells.filter((c) => c !== undefined)) - worst(b.cells.filter((c) => c !== undefined)));
  const shown = sorted.slice(0, MAX_ROWS);
  const head = `<tr><th>hosts</th>${steps.map((s) => `<th>${esc(s)}</th>`).join('')}</tr>`;
  const body = shown
    .map(
      (g) =>
        `<tr class="group"><th>${esc(hostRanges(g.hosts))}${g.hosts.length > 1 ? ` (${g.hosts.length} hosts)` : ''}</th>${g.cells
          .map((c) => (c ? `<td class="${c.class}" title="${esc(c.reason ?? '')}">${esc(c.status)} <small>${CLASS_LABEL[c.class]}</small></td>` : '<td>-</td>'))
          .join('')}</tr>`,
    )
    .join('');
  const more = sorted.length > shown.length ? `<p>${sorted.length - shown.length} more groups of hosts not drawn (the json report has them all).</p>` : '';
  return `<table id="matrix">${head}${body}</table>${more}`;
}

const legend = (): string =>
  `<p class="legend">${(Object.keys(CLASS_LABEL) as StatusClass[]).map((c) => `<span class="${c}">${CLASS_LABEL[c]}: ${{ green: 'ok, fixed, not applicable', pending: 'would fix, declined, waiting on a fix', failed: 'failed, unreachable, unknown, interrupted', 'not-done': 'blocked, not run' }[c]}</span>`).join('')}</p>`;

/** When each command ran on a host, as bars on one time axis (SVG attributes, not CSS: the CSP allows them). */
function timeline(r: RunReport, host: RunReport['hosts'][number]): string {
  const start = Date.parse(r.run.time);
  const end = r.run.endTime ? Date.parse(r.run.endTime) : Math.max(start + 1, ...host.steps.flatMap((s) => s.commands.map((c) => Date.parse(c.time))));
  const span = Math.max(1, end - start);
  const bars = host.steps.flatMap((s) =>
    s.commands.map((c) => {
      const to = Date.parse(c.time);
      const from = to - c.durationMs;
      const x = Math.max(0, ((from - start) / span) * 800);
      const w = Math.max(1, (c.durationMs / span) * 800);
      return `<rect x="${x.toFixed(1)}" y="2" width="${w.toFixed(1)}" height="14" fill="${PHASE_FILL[c.phase] ?? '#888'}"><title>${esc(`${s.step}: ${c.phase}, ${c.durationMs} ms${c.approval ? `, approved by ${c.approval.by}` : ''}`)}</title></rect>`;
    }),
  );
  return `<svg class="timeline" width="800" height="18" role="img" aria-label="${esc(`timeline of ${host.host}`)}">${bars.join('')}</svg>`;
}

function stepDetails(s: ReportStep): string {
  const commands = s.commands
    .map((c) => `<details><summary>${esc(`${c.phase}: ${c.command.split('\n')[0]!}`)} → ${esc(c.outcome === 'exit' ? `exit ${c.exitCode}` : c.outcome)}</summary><pre>${esc(c.command)}</pre>${c.tail ? `<pre>${esc(c.tail)}</pre>` : ''}</details>`)
    .join('');
  const diffs = s.changes.map((c) => `<details><summary>changed ${esc(c.target)}</summary><pre class="diff">${esc(c.diff ?? '')}</pre></details>`).join('');
  return `<details class="step ${s.class}"${s.class === 'failed' ? ' open' : ''}><summary>${esc(s.step)}: ${esc(s.status)}${s.reason ? ` — ${esc(s.reason)}` : ''}</summary>${commands}${diffs}</details>`;
}

export function reportHtml(r: RunReport): string {
  const hosts = [...r.hosts].sort((a, b) => worst(a.steps) - worst(b.steps));
  const detailed = hosts.slice(0, MAX_DETAILED_HOSTS);
  const trail = r.trail.intact
    ? `<p class="intact">Audit trail ${esc(r.trail.file)}: chain intact (${r.trail.records} records).</p>`
    : `<p class="damaged">Audit trail ${esc(r.trail.file)} is DAMAGED: what follows may be incomplete or altered. ${esc(r.trail.problems.slice(0, 5).join('; '))}</p>`;
  const perHost = detailed
    .map((h) => `<section class="host"><h3>${esc(h.host)}</h3>${timeline(r, h)}${h.steps.map(stepDetails).join('')}</section>`)
    .join('');
  const more = hosts.length > detailed.length ? `<p>${hosts.length - detailed.length} more hosts not detailed (failures come first; the json report has them all).</p>` : '';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${CSP}">
<title>${esc(`runbook report: ${r.run.runbook} ${r.run.runId}`)}</title><style>${STYLE}</style></head>
<body><h1>${esc(`runbook report: ${r.run.runbook}, ${r.run.mode}, run ${r.run.runId}`)}</h1>
${trail}${header(r)}<h2>Hosts × steps</h2>${legend()}${matrix(r)}<h2>Per host</h2><p class="legend">Timeline of the run, per host: ${['check', 'fix', 'verify', 'capture', 'confirm'].map((p) => `<span class="ph-${p}">${p}</span>`).join('')} (hover a bar for its step and duration)</p>${perHost}${more}
</body></html>
`;
}
