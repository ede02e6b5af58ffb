/**
 * `runbook report --format markdown`: an incident note to paste into a ticket. What was found,
 * what was changed where (commands and diffs), what still fails, and the commands to verify or
 * undo. Host text may hold anything (backticks, markup, escapes): it goes into code spans and
 * fences longer than any backtick run in it, or is escaped, and control characters are shown.
 */
import { neutralize } from '../engine/sanitize.js';
import { shellQuote } from '../model/shell-quote.js';
import type { ReportStep, RunReport } from './run-report.js';

/** One line of plain text: control characters shown, markdown syntax escaped (a list or heading marker only where it starts the text). */
function text(s: string): string {
  return neutralize(s.replace(/\n/g, ' '))
    .replace(/([\\`*_[\]<>|~])/g, '\\$1')
    .replace(/^([#+-]|\d+\.)/, '\\$1');
}

/** Inline code that no backtick in `s` can close. */
function code(s: string): string {
  const line = neutralize(s.replace(/\n/g, ' '));
  const longest = Math.max(0, ...[...line.matchAll(/`+/g)].map((m) => m[0].length));
  const tick = '`'.repeat(longest + 1);
  return `${tick} ${line} ${tick}`;
}

/** A fenced block that no line of `s` can close; each line's control characters shown. */
function fence(s: string, lang = ''): string[] {
  const lines = s.replace(/\n$/, '').split('\n').map(neutralize);
  const longest = Math.max(2, ...lines.map((l) => (/^\s*(`+)/.exec(l)?.[1]?.length ?? 0)));
  const f = '`'.repeat(longest + 1);
  return [`${f}${lang}`, ...lines, f];
}

/** A command's first line, and how many more it has (whole in the trail and the json report). */
function commandLine(command: string): string {
  const lines = command.split('\n');
  return lines.length > 1 ? `${code(lines[0]!)} (+${lines.length - 1} lines)` : code(command);
}

function outcome(c: ReportStep['commands'][number]): string {
  return c.outcome === 'exit' ? `exit ${c.exitCode}` : c.outcome;
}

function stepLines(s: ReportStep): string[] {
  const approval = s.commands.find((c) => c.approval)?.approval;
  const out = [`- ${code(s.step)}: **${s.status}**${s.reason ? `: ${text(s.reason)}` : ''}${approval ? ` (approved: ${text(approval.decision)} by ${text(approval.by)})` : ''}`];
  for (const c of s.commands) {
    out.push(`  - ${text(c.phase)}: ${commandLine(c.command)} → ${text(outcome(c))}`);
    if (c.tail) out.push(...fence(c.tail).map((l) => `    ${l}`));
  }
  for (const ch of s.changes) out.push(`  - changed ${code(ch.target)}:`, ...fence(ch.diff ?? '', 'diff').map((l) => `    ${l}`));
  return out;
}

export function reportMarkdown(r: RunReport): string {
  const run = r.run;
  const hostsWith = (pred: (s: ReportStep) => boolean) => r.hosts.filter((h) => h.steps.some(pred)).map((h) => h.host);
  const failing = r.hosts.flatMap((h) => h.steps.filter((s) => s.class === 'failed').map((s) => ({ host: h.host, s })));
  const fixedOn = hostsWith((s) => s.status === 'fixed');
  const lines = [
    `# runbook report: ${text(run.runbook)}, ${text(run.mode)}, run ${text(run.runId)}`,
    '',
    r.trail.intact
      ? `Audit trail ${code(r.trail.file)}: chain intact (${r.trail.records} records).`
      : `**Audit trail ${code(r.trail.file)} is damaged**: what follows may be incomplete or altered. ${r.trail.problems.slice(0, 5).map(text).join('; ')}`,
    '',
    '| | |',
    '|---|---|',
    `| runbook | ${text(run.runbook)} (sha256 ${text(run.runbookHash.slice(0, 12))}) |`,
    `| operator | ${text(run.operator)} |`,
    `| mode | ${text(run.mode)}${run.undoes ? `, undoes run ${text(run.undoes)}` : ''}${run.resumes ? `, resumes run ${text(run.resumes)}` : ''} |`,
    ...(run.plan ? [`| plan | ${text(run.plan.id)}, approved by ${run.plan.approvers.length ? run.plan.approvers.map(text).join(', ') : 'nobody counted'} |`] : []),
    `| started | ${text(run.time)} |`,
    `| ended | ${run.endTime ? text(run.endTime) : 'no end record: the controller stopped (killed, or still running)'} |`,
    `| exit | ${run.exitCode ?? 'none'}${run.aborted ? ', aborted' : ''}${run.stopReason ? `: ${text(run.stopReason)}` : ''} |`,
    `| outcomes | ${Object.entries(run.counts).map(([k, n]) => `${text(k)}=${n}`).join(' ')} |`,
    '',
    '## Still failing',
    '',
    ...(failing.length ? failing.map(({ host, s }) => `- ${code(host)}, ${code(s.step)}: **${s.status}**${s.reason ? `: ${text(s.reason)}` : ''}`) : ['Nothing: no step failed, was unreachable or ended unknown.']),
    ...(r.unfinished.length ? ['', `${r.unfinished.length} command(s) were sent with no outcome on the record: ${r.unfinished.map((u) => `${code(u.host)} ${code(u.step)}`).join(', ')}.`] : []),
    '',
    '## What was found and changed',
  ];
  for (const h of r.hosts) lines.push('', `### ${code(h.host)}`, '', ...h.steps.flatMap(stepLines));
  const name = shellQuote(run.runbook);
  const all = r.hosts.map((h) => h.host).join(',');
  lines.push(
    '',
    '## Verify or undo',
    '',
    ...fence(
      [
        `runbook apply ${name} --hosts ${shellQuote(all)} --dry-run   # nothing left to fix?`,
        ...(fixedOn.length && run.mode === 'apply' ? [`runbook undo ${shellQuote(run.runId)} --hosts ${shellQuote(fixedOn.join(','))} --dry-run   # what an undo would put back`] : []),
        `runbook history ${shellQuote(run.runId)}`,
      ].join('\n'),
      'sh',
    ),
  );
  return `${lines.join('\n')}\n`;
}
