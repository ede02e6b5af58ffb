/**
 * The HTML report in real headless Chromium: a run whose host sent script tags, forged markup and
 * escape sequences renders with nothing executed (no script element in the DOM, no console
 * message, CSP violations included), and a 500-host run stays a short table: hosts with identical
 * results share a row, failures first. Screenshots land in test-artifacts/.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportHtml } from '../../src/report/report-html.js';
import type { ReportStep, RunReport } from '../../src/report/run-report.js';
import { render } from '../chromium.js';

const bin = resolve('bin/runbook.js');
const dir = mkdtempSync(join(tmpdir(), 'rb-html-'));

describe('runbook report --format html in Chromium', () => {
  it('hostile host output stays text: no script runs, nothing is requested, no console message', () => {
    const audit = join(dir, 'state', 'audit.jsonl');
    writeFileSync(join(dir, 'inv.yaml'), 'hosts:\n  a: { connection: local }\n');
    const hostile = `printf '<script>document.title="owned"</script><img src=x onerror=alert(1)></details></pre><a href="https://example.com/x">x</a>\\033[31mred\\n'; false`;
    writeFileSync(join(dir, 't.yaml'), `name: t\nsteps:\n  - name: "<b>forged</b> step"\n    check: ${JSON.stringify(hostile)}\n`);
    const env = { ...process.env, RUNBOOK_AUDIT_FILE: audit, CI: '1' };
    expect(spawnSync('node', [bin, 'apply', './t.yaml', '-i', 'inv.yaml', '--yes'], { cwd: dir, env, encoding: 'utf8' }).status).toBe(1);
    const file = join(dir, 'hostile.html');
    const r = spawnSync('node', [bin, 'report', 'last', '--format', 'html', '-o', file], { cwd: dir, env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'sha256-`);
    const { dom, console } = render(file, 'report-hostile.png');
    expect(console).toEqual([]);
    // Elements as the browser built them: none that runs or loads anything, no attribute that would.
    const tags = (dom.match(/<[a-zA-Z][^>]*>/g) ?? []).map((t) => t.replace(/"[^"]*"/g, '""'));
    expect(tags.filter((t) => /^<(script|img|a|iframe|link|object|embed)\b/i.test(t) || /\s(src|href|on\w+)=/i.test(t))).toEqual([]);
    expect(dom).toContain('&lt;script&gt;document.title="owned"&lt;/script&gt;');
    expect(dom).toContain('<title>runbook report: t ');
    expect(dom).toContain('&lt;b&gt;forged&lt;/b&gt; step');
    expect(dom).toContain('^[[31mred');
    expect(dom.match(/<tr class="group">/g)).toHaveLength(1);
    expect(dom).toContain('<td class="failed"');
  });

  it('500 hosts: identical results share a row, failures first, each host still named', () => {
    const step = (name: string, status: ReportStep['status'], cls: ReportStep['class'], reason?: string): ReportStep => ({ step: name, status, class: cls, ...(reason ? { reason } : {}), durationMs: 20, commands: [], changes: [] });
    const hosts = Array.from({ length: 500 }, (_, i) => {
      const host = `node${String(i + 1).padStart(3, '0')}`;
      const broken = i % 100 === 7;
      return { host, failed: broken, steps: [step('ip_forward', broken ? 'fixed' : 'ok', 'green'), step('forwarded', broken ? 'failed' : 'ok', broken ? 'failed' : 'green', broken ? 'blocked by rule FORWARD 1' : undefined)] };
    });
    const report: RunReport = {
      format: 'runbook-report',
      version: 1,
      trail: { file: '/var/lib/runbook/audit.jsonl', intact: true, records: 4000, problems: [] },
      run: { runId: '20261203T100000Z-abcdef', time: '2026-12-03T10:00:00.000Z', endTime: '2026-12-03T10:00:30.000Z', operator: 'alice', runbook: 'fix-forwarding', runbookFile: '/x', runbookHash: 'a'.repeat(64), mode: 'apply', hosts: hosts.map((h) => h.host), counts: { ok: 990, fixed: 5, failed: 5 }, exitCode: 1, aborted: false, resumedBy: [], undoneBy: [] },
      hosts,
      unfinished: [],
    };
    const file = join(dir, 'fleet.html');
    writeFileSync(file, reportHtml(report));
    const { dom, console } = render(file, 'report-500-hosts.png', 1000);
    expect(console).toEqual([]);
    const rows = dom.match(/<tr class="group">.*?<\/tr>/g) ?? [];
    expect(rows).toHaveLength(2);
    expect(rows[0]).toContain('node008, node108, node208, node308, node408 (5 hosts)');
    expect(rows[0]).toContain('<td class="failed"');
    expect(rows[1]).toContain('node[001:007], node[009:107]');
    expect(rows[1]).toContain('(495 hosts)');
    // Failed hosts are detailed first, the rest summed up.
    expect(dom.indexOf('<h3>node008</h3>')).toBeLessThan(dom.indexOf('<h3>node001</h3>'));
    expect(dom).toContain('450 more hosts not detailed');
  });
});
