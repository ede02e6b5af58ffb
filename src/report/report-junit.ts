/**
 * `runbook report --format junit`: one testsuite per host, one testcase per step, for CI to render.
 * A step whose status class is failed (failed, unreachable, unknown, interrupted) is a failure
 * with its reason; a pending one (would fix, declined, waiting on a fix) and a not-done one
 * (blocked, not run) are skipped, with why. Host text is escaped for XML, and characters XML 1.0
 * cannot carry at all are shown instead (docs/reports.md names the schema it follows).
 */
import { neutralize } from '../engine/sanitize.js';
import type { ReportStep, RunReport } from './run-report.js';

/** XML-escaped, with control characters shown (XML 1.0 forbids most of them outright). */
function xml(s: string): string {
  const shown = s
    .split('\n')
    .map((l) => neutralize(l.replace(/\t/g, '    ')))
    .join('\n');
  return shown.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const seconds = (ms: number | undefined): string => ((ms ?? 0) / 1000).toFixed(3);

function testcase(s: ReportStep, classname: string): string {
  const head = `    <testcase name="${xml(s.step)}" classname="${xml(classname)}" time="${seconds(s.durationMs)}"`;
  const message = xml(`${s.status}${s.reason ? `: ${s.reason}` : ''}`);
  const tail = s.commands.filter((c) => c.tail).at(-1)?.tail;
  if (s.class === 'failed') return `${head}>\n      <failure type="${s.status}" message="${message}">${tail ? xml(tail) : ''}</failure>\n    </testcase>`;
  if (s.class === 'pending' || s.class === 'not-done') return `${head}>\n      <skipped type="${s.status}" message="${message}"/>\n    </testcase>`;
  return `${head}/>`;
}

export function reportJunit(r: RunReport): string {
  const run = r.run;
  const all = r.hosts.flatMap((h) => h.steps);
  const count = (steps: ReportStep[], c: ReportStep['class'] | ReportStep['class'][]) => steps.filter((s) => (Array.isArray(c) ? c : [c]).includes(s.class)).length;
  const total = all.reduce((t, s) => t + (s.durationMs ?? 0), 0);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xml(`runbook ${run.runbook} ${run.mode} ${run.runId}`)}" tests="${all.length}" failures="${count(all, 'failed')}" errors="0" time="${seconds(total)}">`,
  ];
  for (const h of r.hosts) {
    const steps = h.steps;
    lines.push(
      `  <testsuite name="${xml(h.host)}" hostname="${xml(h.host)}" tests="${steps.length}" failures="${count(steps, 'failed')}" errors="0" skipped="${count(steps, ['pending', 'not-done'])}" time="${seconds(steps.reduce((t, s) => t + (s.durationMs ?? 0), 0))}" timestamp="${xml(run.time)}">`,
      '    <properties>',
      ...[
        ['runbook', run.runbook],
        ['runbook.sha256', run.runbookHash],
        ['run', run.runId],
        ['mode', run.mode],
        ['operator', run.operator],
        ['audit.intact', String(r.trail.intact)],
      ].map(([k, v]) => `      <property name="${xml(k!)}" value="${xml(v!)}"/>`),
      '    </properties>',
      ...steps.map((s) => testcase(s, `${run.runbook}.${h.host}`)),
      '  </testsuite>',
    );
  }
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}
