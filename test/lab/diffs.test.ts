/**
 * Honest diffs on the lab: fix-forwarding's dry run shows what d's sysctl file would become (its
 * preview), and its apply shows what the fix changed in that file, in the runtime value and in
 * the filter tables, as --json carries it. The captured "before" is checked byte for byte against
 * the file read straight from d, and the audit trail holds the digests and what each command read.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labBreak } from '../../src/lab/index.js';
import { apply, BIN, describeRun, LAB, onNode, useLab } from './runbooks-support.js';
import { render } from '../chromium.js';
import { validateJunit } from '../fixtures/junit-schema.js';

const L = useLab();
const [RUNTIME, PERSISTED, FORWARD] = ['ip_forward is on at runtime', 'ip_forward is persisted', 'pod traffic is forwarded'];

describe('diffs', () => {
  it('a dry run previews the sysctl file; the apply shows the file, the runtime value and nothing for an untouched table', async () => {
    await labBreak(LAB, 'ip-forward-off', 'd');
    const original = await onNode('d', 'cat /etc/sysctl.conf');
    const dry = apply(L(), 'fix-forwarding', 'd', ['--dry-run']);
    expect(dry.code, describeRun(dry)).toBe(3);
    const preview = dry.results.d?.[PERSISTED]?.changes;
    expect(preview).toHaveLength(1);
    expect(preview![0]).toMatchObject({ kind: 'preview', target: '/etc/sysctl.d/99-sysctl.conf' });
    expect(preview![0]!.diff).toContain('\n-net.ipv4.ip_forward = 0\n+net.ipv4.ip_forward = 1');
    // A preview changes nothing.
    expect(await onNode('d', 'cat /etc/sysctl.conf')).toBe(original);

    const a = apply(L(), 'fix-forwarding', 'd', ['--yes']);
    expect(a.code, describeRun(a)).toBe(0);
    const [file] = a.results.d?.[PERSISTED]?.changes ?? [];
    expect(file).toMatchObject({ kind: 'file', target: '/etc/sysctl.d/99-sysctl.conf' });
    expect(file!.diff).toContain('\n-net.ipv4.ip_forward = 0\n+net.ipv4.ip_forward = 1');
    // The captured "before" is d's file as it was, byte for byte, kept by its digest.
    const before = readFileSync(join(L().scratch, 'captures', file!.before!));
    expect(before.toString()).toBe(`${original}\n`);
    expect(createHash('sha256').update(before).digest('hex')).toBe(file!.before);
    const [runtime] = a.results.d?.[RUNTIME]?.changes ?? [];
    expect(runtime).toMatchObject({ kind: 'snapshot', target: 'sysctl net.ipv4.ip_forward' });
    expect(runtime!.diff).toContain('-net.ipv4.ip_forward = 0\n+net.ipv4.ip_forward = 1');
    // The FORWARD step was ok: nothing captured, nothing shown.
    expect(a.results.d?.[FORWARD]?.changes).toBeUndefined();
    const trail = readFileSync(join(L().scratch, 'audit.jsonl'), 'utf8');
    expect(trail).toContain(`"changes":[{"target":"/etc/sysctl.d/99-sysctl.conf","kind":"file","before":"${file!.before}","after":"${file!.after}","beforeFile":{"exists":true,`);
    // Under --yes no preview runs (nobody would read it); each fixed step's "before" is a capture of
    // its own after the check, and its "after" is read in its verify's shell, which is recorded with
    // what it read first. The healthy step reads nothing.
    const sent = (step: string) => a.events.flatMap((e) => (e.type === 'command-start' && e.host === 'd' && e.step === step ? [e] : []));
    const readFirst = (step: string, what: string) => sent(step).filter((e) => e.command.endsWith(`\n# read first, in the same shell (runbook's capture): ${what}`)).map((e) => e.phase);
    // The host lock is recorded with the host's first step.
    expect(sent(RUNTIME).map((e) => e.phase)).toEqual(['lock', 'check', 'capture', 'fix', 'verify']);
    expect(readFirst(RUNTIME, 'sysctl net.ipv4.ip_forward')).toEqual(['verify']);
    expect(sent(PERSISTED).map((e) => e.phase)).toEqual(['check', 'capture', 'fix', 'fix', 'verify']);
    expect(readFirst(PERSISTED, '/etc/sysctl.d/99-sysctl.conf')).toEqual(['verify']);
    expect(sent(FORWARD).map((e) => e.phase)).toEqual(['check']);
  });

  it('the reports of a real 4-host apply: the note shows the fix and its diff, the HTML renders in Chromium, the JUnit is well-formed, the JSON has each host and step', async () => {
    await labBreak(LAB, 'ip-forward-off', 'd');
    const a = apply(L(), 'fix-forwarding', 'workers', ['--yes']);
    expect(a.code, describeRun(a)).toBe(0);
    const report = (format: string) => {
      const r = spawnSync('node', [BIN, 'report', 'last', '--format', format], { encoding: 'utf8', env: { ...process.env, RUNBOOK_AUDIT_FILE: join(L().scratch, 'audit.jsonl') } });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    const md = report('markdown');
    expect(md).toContain(`# runbook report: fix-forwarding, apply, run ${a.events[0]!.runId}`);
    expect(md).toContain('- ` ip_forward is persisted `: **fixed**');
    expect(md).toContain('    -net.ipv4.ip_forward = 0\n    +net.ipv4.ip_forward = 1');
    expect(md).toContain('## Still failing\n\nNothing');
    const xml = join(L().scratch, 'junit.xml');
    writeFileSync(xml, report('junit'));
    const lint = validateJunit(xml);
    expect(lint.status, lint.stderr).toBe(0);
    expect(readFileSync(xml, 'utf8')).toContain('<testsuite name="d" hostname="d" tests="3" failures="0" errors="0" skipped="0"');
    const json = JSON.parse(report('json'));
    expect(json.hosts.map((h: { host: string; steps: { status: string }[] }) => `${h.host}: ${h.steps.map((s) => s.status).join(' ')}`)).toEqual(['a: ok ok ok', 'b: ok ok ok', 'c: ok ok ok', 'd: fixed fixed ok']);
    // The HTML as Chromium renders it (its screenshot is the README's): a, b and c share a row.
    const html = join(L().scratch, 'report.html');
    writeFileSync(html, report('html'));
    const { dom, console } = render(html, 'report-lab.png', 1100);
    expect(console).toEqual([]);
    const rows = dom.match(/<tr class="group">.*?<\/tr>/g) ?? [];
    expect(rows.map((r) => /<th>(.*?)<\/th>/.exec(r)?.[1])).toEqual(['a, b, c (3 hosts)', 'd']);
    expect(dom).toContain('+net.ipv4.ip_forward = 1');
  });

  it('forward-drop: the filter table before and after, without packet counters', async () => {
    await labBreak(LAB, 'forward-drop', 'd');
    const a = apply(L(), 'fix-forwarding', 'd', ['--yes']);
    expect(a.code, describeRun(a)).toBe(0);
    const [table] = a.results.d?.[FORWARD]?.changes ?? [];
    expect(table).toMatchObject({ kind: 'snapshot', target: 'the filter table of each iptables backend, without counters' });
    expect(table!.diff).toMatch(/\n-:FORWARD DROP\n\+:FORWARD ACCEPT/);
    expect(table!.diff).not.toMatch(/\[\d+:\d+\]/);
  });
});
