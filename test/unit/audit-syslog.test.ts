/**
 * --audit-syslog against Debian's real rsyslogd on loopback: every record of the local trail
 * arrives whole, in order, as RFC 5424 over TCP; with the server down the run is not held up and
 * the gap is recorded in the local trail, which still verifies.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditSyslog, parseSyslogUrl } from '../../src/report/audit-syslog.js';
import type { AuditRecord } from '../../src/report/audit-record.js';

const bin = resolve('bin/runbook.js');
const dir = mkdtempSync(join(tmpdir(), 'rb-syslog-'));
const out = join(dir, 'received.log');
let rsyslog: ChildProcess | undefined;
let port = 0;

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => r(p));
    });
  });
}

beforeAll(async () => {
  port = await freePort();
  // Only what the test needs: no /dev/log input, no system files; records are up to ~24 KiB.
  writeFileSync(
    join(dir, 'rsyslog.conf'),
    [
      `global(workDirectory="${dir}" maxMessageSize="64k")`,
      'module(load="imtcp")',
      'template(name="msgonly" type="string" string="%msg%\\n")',
      'template(name="header" type="string" string="%pri% %hostname% %app-name% %msgid% %timereported:::date-rfc3339%\\n")',
      'ruleset(name="rb") {',
      `  action(type="omfile" file="${out}" template="msgonly")`,
      `  action(type="omfile" file="${out}.header" template="header")`,
      '}',
      `input(type="imtcp" address="127.0.0.1" port="${port}" ruleset="rb")`,
      '',
    ].join('\n'),
  );
  rsyslog = spawn('rsyslogd', ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  for (let i = 0; i < 100; i++) {
    const probe = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`]);
    if (probe.status === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  writeFileSync(join(dir, 'inv.yaml'), 'hosts:\n  a: { connection: local }\n');
  writeFileSync(join(dir, 't.yaml'), `name: t\nsteps:\n  - name: made\n    check: test -e ${dir}/made\n    fix: touch ${dir}/made\n  - name: says\n    check: "printf 'x%.0s' $(seq 1 3000); echo; true"\n`);
}, 30_000);

afterAll(() => rsyslog?.kill('SIGTERM'));

function run(args: string[], audit: string) {
  const r = spawnSync('node', [bin, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, RUNBOOK_AUDIT_FILE: audit, CI: '1', HOME: dir } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('--audit-syslog', () => {
  it('every record of the local trail reaches rsyslog whole and in order (RFC 5424, octet-counted over TCP)', async () => {
    const audit = join(dir, 'a', 'audit.jsonl');
    // Dry runs: an apply takes this machine's host lock, which parallel test files' applies share.
    const r = run(['apply', './t.yaml', '-i', 'inv.yaml', '--dry-run', '--audit-syslog', `tcp://127.0.0.1:${port}`], audit);
    expect(r.code, r.stderr).toBe(3);
    const local = readFileSync(audit, 'utf8').trim().split('\n');
    let got: string[] = [];
    for (let i = 0; i < 50 && got.length < local.length; i++) {
      await new Promise((res) => setTimeout(res, 100));
      got = existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n') : [];
    }
    expect(got.map((l) => JSON.parse(l))).toEqual(local.map((l) => JSON.parse(l)));
    // The header as rsyslog parsed it: local0.notice (133), this machine, runbook, MSGID audit, the record's own time.
    const first = JSON.parse(local[0]!) as { time: string };
    expect(readFileSync(`${out}.header`, 'utf8').split('\n')[0]).toBe(`133 ${hostname()} runbook audit ${first.time}`);
    expect(local.some((l) => l.length > 3000)).toBe(true);
    expect(r.stdout).not.toContain('did not reach');
  });

  it('with the server down the run is not held up; the gap is recorded in the local trail, which verifies', () => {
    const audit = join(dir, 'b', 'audit.jsonl');
    const t0 = Date.now();
    const r = run(['apply', './t.yaml', '-i', 'inv.yaml', '--dry-run', '--audit-syslog', 'tcp://127.0.0.1:1'], audit);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/^runbook: \d+ audit records \(#1-#\d+\) did not reach tcp:\/\/127\.0\.0\.1:1: \d+ not sent by exit \(last error: ECONNREFUSED\) \(recorded in the local trail\)$/m);
    const gap = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((x) => x.kind === 'syslog-gap');
    expect(gap).toMatchObject({ kind: 'syslog-gap', target: 'tcp://127.0.0.1:1', firstSeq: 1 });
    const v = spawnSync('node', [bin, 'audit', 'verify', audit], { encoding: 'utf8' });
    expect(v.status, v.stdout + v.stderr).toBe(0);
  });

  it('a server that stops reading: the socket is written only while it takes more, and what never reached the kernel is the gap', async () => {
    const held: Socket[] = [];
    const stalled = createServer((c) => {
      c.pause();
      held.push(c);
    });
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const sink = createAuditSyslog({ host: '127.0.0.1', port: (stalled.address() as AddressInfo).port });
      const big = 'x'.repeat(20_000);
      for (let seq = 1; seq <= 3000; seq++) sink.send({ v: 2, seq, time: '2026-12-03T00:00:00.000Z', runId: 'r', operator: 'o', kind: 'connect', runbook: 't', host: big, ok: false, durationMs: 1, prev: '', hash: '' } as AuditRecord);
      await new Promise((r) => setTimeout(r, 300));
      const gap = await sink.close(200);
      // Far more than the kernel's buffers hold (60 MB sent): most records never left the queue, and say so.
      expect(gap?.count).toBeGreaterThan(2000);
      expect(gap?.lastSeq).toBe(3000);
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      held.forEach((c) => c.destroy());
      stalled.close();
    }
  });

  it('a target that is not tcp://HOST:PORT is refused before anything runs', () => {
    expect(parseSyslogUrl('tcp://[::1]:514')).toEqual({ host: '::1', port: 514 });
    expect(parseSyslogUrl('udp://h:514')).toBeUndefined();
    const r = run(['apply', './t.yaml', '-i', 'inv.yaml', '--dry-run', '--audit-syslog', 'logs:514'], join(dir, 'c', 'audit.jsonl'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('--audit-syslog: "logs:514" is not tcp://HOST:PORT (e.g. tcp://logs.internal:601 (RFC 5424 over TCP, octet-counted))');
  });
});
