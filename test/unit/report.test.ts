/**
 * runbook report from a real trail (runs on a host reached through the local transport) whose
 * host sent hostile text: markup, backticks that would close a fence, escape sequences, XML that
 * would close an element. Markdown keeps it inside code or escapes it; JUnit is well-formed XML
 * (xmllint) with it escaped; a damaged trail is reported as damaged, with exit 1.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateJunit } from '../fixtures/junit-schema.js';

const bin = resolve('bin/runbook.js');
const dir = mkdtempSync(join(tmpdir(), 'rb-report-'));
const audit = join(dir, 'state', 'audit.jsonl');
// printf's own escapes: \n newlines, \033 ESC; four backticks on a line of their own.
const HOSTILE = "printf '<script>alert(1)</script>\\n" + '````' + "\\n\\033[31mred\\033[0m ]]></failure> & \"q\"\\n'";
let runId = '';

function run(args: string[]) {
  const r = spawnSync('node', [bin, ...args], { encoding: 'utf8', cwd: dir, input: '', env: { ...process.env, RUNBOOK_AUDIT_FILE: audit, CI: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}

beforeAll(() => {
  writeFileSync(join(dir, 'inv.yaml'), 'hosts:\n  a: { connection: local }\n');
  writeFileSync(
    join(dir, 't.yaml'),
    `name: t\nsteps:\n  - name: hostile check\n    check: ${JSON.stringify(`${HOSTILE}; test -e ${dir}/done`)}\n    fix: touch ${dir}/done\n  - name: fails\n    check: ${JSON.stringify(`${HOSTILE}; false`)}\n`,
  );
  const r = run(['apply', './t.yaml', '-i', 'inv.yaml', '--yes', '--json']);
  expect(r.code, r.stderr).toBe(1);
  runId = JSON.parse(r.stdout.split('\n')[0]!).runId as string;
});

describe('runbook report', () => {
  it('markdown: what was found and changed, what still fails, and hostile output kept inert', () => {
    const r = run(['report', 'last']);
    expect(r.code, r.stderr).toBe(0);
    const md = r.stdout;
    expect(md).toContain(`# runbook report: t, apply, run ${runId}`);
    expect(md).toMatch(/chain intact \(\d+ records\)/);
    expect(md).toContain('## Still failing\n\n- ` a `, ` fails `: **failed**: check failed: exit code 1');
    expect(md).toContain('- ` hostile check `: **fixed** (approved: auto by');
    // The four backticks the host sent sit inside a five-backtick fence, the escape is shown.
    expect(md).toContain('    `````\n    <script>alert(1)</script>\n    ````\n    ^[[31mred^[[0m ]]></failure> & "q"\n    `````');
    expect(md).not.toContain('\u001b');
    expect(md).toContain(`runbook undo ${runId} --hosts a --dry-run`);
  });

  it('junit: one suite per host, failures with their reason, valid against schemas/junit.xsd with the hostile text escaped', () => {
    const file = join(dir, 'junit.xml');
    const r = run(['report', runId.slice(0, 18), '--format', 'junit', '-o', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(`runbook: report of run ${runId} written to ${file}`);
    const xml = readFileSync(file, 'utf8');
    const lint = validateJunit(file);
    expect(lint.status, lint.stderr).toBe(0);
    expect(lint.stderr).toContain('validates');
    // The schema can fail: the same report without a suite's required failures count does not validate.
    const broken = join(dir, 'junit-broken.xml');
    writeFileSync(broken, xml.replace(/ failures="\d+"(?= errors="0" skipped)/, ''));
    expect(validateJunit(broken).stderr).toMatch(/attribute 'failures' is required/);
    expect(xml).toContain('<testsuite name="a" hostname="a" tests="2" failures="1" errors="0" skipped="0"');
    expect(xml).toMatch(/<testcase name="fails" classname="t\.a" time="[\d.]+">\n {6}<failure type="failed" message="failed: check failed: exit code 1: [^"]*">/);
    expect(xml).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(xml).toContain(']]&gt;&lt;/failure&gt; &amp; &quot;q&quot;');
    expect(xml).not.toContain('\u001b');
  });

  it('several --audit-file: the run is found in the trail that has it; last is the newest of them', () => {
    const other = join(dir, 'other', 'audit.jsonl');
    writeFileSync(join(dir, 'ok.yaml'), 'name: ok\nsteps:\n  - name: fine\n    check: "true"\n');
    const later = run(['apply', './ok.yaml', '-i', 'inv.yaml', '--dry-run', '--json', '--audit-file', other]);
    expect(later.code, later.stderr).toBe(0);
    const laterId = JSON.parse(later.stdout.split('\n')[0]!).runId as string;
    const both = ['--audit-file', audit, '--audit-file', other];
    expect(JSON.parse(run(['report', 'last', '--format', 'json', ...both]).stdout).run.runId).toBe(laterId);
    const first = JSON.parse(run(['report', runId, '--format', 'json', ...both]).stdout);
    expect(first.run.runId).toBe(runId);
    expect(first.trail.file).toBe(audit);
    expect(run(['report', 'nosuchrun', ...both]).stderr).toBe(`no run nosuchrun in ${audit}, ${other} (run \`runbook history --audit-file FILE\` to list runs)`);
  });

  it('json: the report as data; a damaged trail is said to be, with exit 1', () => {
    const ok = JSON.parse(run(['report', 'last', '--format', 'json']).stdout);
    expect(ok).toMatchObject({ format: 'runbook-report', version: 1, trail: { intact: true }, run: { runId } });
    expect(ok.hosts[0].steps.map((s: { step: string; status: string }) => `${s.step}: ${s.status}`)).toEqual(['hostile check: fixed', 'fails: failed']);
    const lines = readFileSync(audit, 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes('"kind":"step"'));
    lines[i] = lines[i]!.replace('"status":"fixed"', '"status":"ok"');
    writeFileSync(audit, lines.join('\n'));
    const damaged = run(['report', 'last', '--format', 'json']);
    expect(damaged.code).toBe(1);
    expect(JSON.parse(damaged.stdout).trail).toMatchObject({ intact: false });
    const md = run(['report', 'last']);
    expect(md.stdout).toContain(`**Audit trail \` ${audit} \` is damaged**: what follows may be incomplete or altered.`);
  });
});
