/**
 * Notifications against real HTTP receivers on loopback: what is posted and when, the Slack shape,
 * the signature (checked with the verifier docs/reports.md gives), masking, and delivery that never
 * holds the run up: a receiver that is down, one that answers 500, one that never answers.
 */
import { spawnSync, spawn } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotifier, maskedUrl } from '../../src/report/notify.js';
import { announceWaits } from '../../src/cli/approval-waits.js';
import type { RunEvent } from '../../src/engine/index.js';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver on 127.0.0.1 answering each request with `status` after `delayMs` (Infinity: never). */
function receiver(status = 200, delayMs = 0): Promise<{ server: Server; url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push({ path: req.url ?? '', headers: req.headers, body });
      if (delayMs === Infinity) return;
      setTimeout(() => res.writeHead(status).end(), delayMs);
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook/T0/SECRETPART`, got })));
}

/** The verifier docs/reports.md gives, as a receiver would write it. */
function verify(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const ts = String(headers['x-runbook-timestamp']);
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const want = `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;
  const got = String(headers['x-runbook-signature']);
  return got.length === want.length && timingSafeEqual(Buffer.from(got), Buffer.from(want));
}

const servers: Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

const start = (runId = 'r1'): RunEvent =>
  ({ type: 'run-start', time: '2026-12-03T00:00:00Z', runId, runbook: 'fix-forwarding', runbookFile: 'f', runbookHash: 'h', operator: 'op', mode: 'apply', hosts: ['a', 'b'], steps: ['s'] }) as unknown as RunEvent;
const end = (runId = 'r1'): RunEvent =>
  ({ type: 'run-end', time: '2026-12-03T00:00:01Z', runId, exitCode: 1, aborted: false, summary: { a: { fixed: 1 }, b: { failed: 1, ok: 2 } }, durationMs: 1000 }) as unknown as RunEvent;

describe('the notifier', () => {
  it('posts run start and run end as JSON, signed, with secrets masked and the report path named', async () => {
    const r = await receiver();
    servers.push(r.server);
    const n = createNotifier({ targets: [{ url: r.url, format: 'json' }], secret: 'k3y', redact: (t) => t.replaceAll('op', '********'), reportPathFor: (id) => `/reports/${id}.html` });
    n.listener(start());
    n.listener(end());
    expect((await n.settle(5000)).failures).toEqual([]);
    expect(r.got.map((g) => JSON.parse(g.body).event)).toEqual(['run-start', 'run-end']);
    expect(JSON.parse(r.got[0]!.body)).toMatchObject({ event: 'run-start', runId: 'r1', runbook: 'fix-forwarding', mode: 'apply', operator: '********', hosts: 2 });
    expect(JSON.parse(r.got[1]!.body)).toMatchObject({ event: 'run-end', exitCode: 1, counts: { fixed: 1, failed: 1, ok: 2 }, hostsFailed: ['b'], report: '/reports/r1.html' });
    for (const g of r.got) expect(verify('k3y', g.headers, g.body)).toBe(true);
    expect(verify('other', r.got[0]!.headers, r.got[0]!.body)).toBe(false);
    expect(verify('k3y', r.got[0]!.headers, r.got[0]!.body.replace('r1', 'r2'))).toBe(false);
  });

  it("slack: Slack's incoming-webhook shape, one line of text", async () => {
    const r = await receiver();
    servers.push(r.server);
    const n = createNotifier({ targets: [{ url: r.url, format: 'slack' }], redact: (t) => t });
    n.listener(start());
    n.waiting({ step: 'ip_forward is on', host: 'a', hostsWaiting: 3, waitedMs: 61_000 });
    n.listener(end());
    await n.settle(5000);
    expect(r.got.map((g) => JSON.parse(g.body))).toEqual([
      { text: 'runbook fix-forwarding (apply, run r1) started by op on 2 host(s)' },
      { text: 'runbook fix-forwarding (apply, run r1) waits for approval of "ip_forward is on" on 3 host(s), for 61 s' },
      { text: 'runbook fix-forwarding (apply, run r1) ended: exit 1; fixed 1, failed 1, ok 2' },
    ]);
  });

  it('a receiver answering 500 is retried with backoff, then given up, the URL masked in the failure', async () => {
    const r = await receiver(500);
    servers.push(r.server);
    const told: string[] = [];
    const n = createNotifier({ targets: [{ url: r.url, format: 'json' }], redact: (t) => t, attempts: 3, backoffMs: 20, onFailure: (f) => told.push(`${f.event} ${f.target} ${f.attempts} ${f.error}`) });
    n.listener(start());
    const { failures } = await n.settle(5000);
    expect(r.got).toHaveLength(3);
    expect(told).toEqual([`run-start http://127.0.0.1:${new URL(r.url).port}/******** 3 HTTP 500`]);
    expect(failures[0]).toMatchObject({ runId: 'r1', event: 'run-start', attempts: 3, error: 'HTTP 500' });
    expect(JSON.stringify(failures)).not.toContain('SECRETPART');
  });

  it('a receiver that is down: connection failures, retried and given up', async () => {
    const r = await receiver();
    await new Promise((done) => r.server.close(done));
    const n = createNotifier({ targets: [{ url: r.url, format: 'json' }], redact: (t) => t, attempts: 2, backoffMs: 10 });
    n.listener(start());
    const { failures } = await n.settle(5000);
    expect(failures).toEqual([{ runId: 'r1', event: 'run-start', target: maskedUrl(r.url), attempts: 2, error: 'connection failed (ECONNREFUSED)' }]);
  });

  it('a receiver that never answers holds nothing up: the listener returns at once, and exit waits only its bound', async () => {
    const r = await receiver(200, Infinity);
    servers.push(r.server);
    const n = createNotifier({ targets: [{ url: r.url, format: 'json' }], redact: (t) => t, attemptTimeoutMs: 60_000 });
    const t0 = performance.now();
    n.listener(start());
    expect(performance.now() - t0).toBeLessThan(50);
    const t1 = performance.now();
    const { failures, pending } = await n.settle(300);
    expect(performance.now() - t1).toBeLessThan(1000);
    expect(pending).toBe(1);
    expect(failures[0]?.error).toBe('still undelivered after 0.3s at exit; given up');
  });
});

describe('what is shown of a target', () => {
  it('a URL: scheme, the last two labels of its host, a mask; Slack text escaped', async () => {
    expect(maskedUrl('https://hooks.slack.com/services/T0/B0/xyz')).toBe('https://…slack.com/********');
    expect(maskedUrl('https://eo1a2b3c4d.m.pipedream.net/')).toBe('https://…pipedream.net/********');
    expect(maskedUrl('http://127.0.0.1:8080/hook/secret')).toBe('http://127.0.0.1:8080/********');
    const r = await receiver();
    servers.push(r.server);
    const n = createNotifier({ targets: [{ url: r.url, format: 'slack' }], redact: (t) => t });
    n.listener({ ...start(), runbook: '<!channel> & co' } as RunEvent);
    await n.settle(5000);
    expect(JSON.parse(r.got[0]!.body).text).toBe('runbook &lt;!channel&gt; &amp; co (apply, run r1) started by op on 2 host(s)');
  });
});

describe('approval waits', () => {
  it('are told when a prompt opens, with how many hosts wait on that step, then every interval while it stays open', async () => {
    const told: string[] = [];
    let answer: () => void = () => undefined;
    // One prompt at a time, as the interactive gate asks.
    let queue: Promise<unknown> = Promise.resolve();
    const gate = announceWaits(
      (prompter) => ({
        asks: true,
        decide: (req) => {
          const next = queue.then(async () => ({ decision: await prompter(req, new AbortController().signal), by: 'op' }));
          queue = next;
          return next;
        },
      }),
      () => new Promise((r) => (answer = () => r('yes'))),
      (w) => told.push(`${w.step} ${w.host} ${w.hostsWaiting}`),
      40,
    );
    const req = (host: string) => ({ host, step: 's', stepIndex: 0, reason: '', checkTail: '', checkOutput: '', commands: [] });
    const first = gate.decide(req('a'));
    const second = gate.decide(req('b'));
    await new Promise((r) => setTimeout(r, 100));
    answer();
    await first;
    await new Promise((r) => setTimeout(r, 10));
    answer();
    await second;
    // a's prompt: told at once (b already queued behind it), then again every 40 ms; b's prompt,
    // the same step's, answered before the interval, is not announced again.
    expect(told[0]).toBe('s a 2');
    expect(told.filter((t) => t === 's a 2').length).toBeGreaterThanOrEqual(2);
    expect(told.every((t) => t === 's a 2')).toBe(true);
  });
});

describe('runbook apply --notify', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-notify-'));
  const bin = resolve('bin/runbook.js');
  const audit = join(dir, 'audit.jsonl');
  beforeAll(() => {
    writeFileSync(join(dir, 'inv.yaml'), 'hosts:\n  a: { connection: local }\n');
    writeFileSync(join(dir, 't.yaml'), `name: t\nsteps:\n  - name: made\n    check: test -e ${dir}/made\n    fix: touch ${dir}/made\n`);
  });
  const run = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((done) => {
      const p = spawn('node', [bin, ...args], { cwd: dir, env: { ...process.env, RUNBOOK_AUDIT_FILE: audit, RUNBOOK_NOTIFY_SECRET: 's3cret', CI: '1', HOME: dir } });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      p.on('close', (code) => done({ code, stdout, stderr }));
    });

  it('posts the run start and end, signed; the webhook URL appears nowhere in the output or the trail', async () => {
    const r = await receiver();
    servers.push(r.server);
    // Dry runs: an apply takes this machine's host lock, which parallel test files' applies share.
    const res = await run(['apply', './t.yaml', '-i', 'inv.yaml', '--dry-run', '--notify', r.url, '--notify-format', 'json']);
    expect(res.code, res.stderr).toBe(3);
    expect(r.got.map((g) => JSON.parse(g.body).event)).toEqual(['run-start', 'run-end']);
    expect(r.got.every((g) => verify('s3cret', g.headers, g.body))).toBe(true);
    expect(JSON.parse(r.got[1]!.body)).toMatchObject({ runbook: 't', mode: 'dry-run', exitCode: 3, counts: { 'would-fix': 1 } });
    expect(`${res.stdout}${res.stderr}${readFileSync(audit, 'utf8')}`).not.toContain('SECRETPART');
  });

  it('a receiver that is down: the run ends as it would (bounded wait), the failure is in the recap and the trail, and the trail verifies', async () => {
    const r = await receiver();
    await new Promise((done) => r.server.close(done));
    const t0 = Date.now();
    const res = await run(['apply', './t.yaml', '-i', 'inv.yaml', '--dry-run', '--notify', r.url]);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(res.code, res.stderr).toBe(3);
    expect(res.stdout).toMatch(new RegExp(`runbook: notification \\(run-start\\) to --notify #1 http://127\\.0\\.0\\.1:\\d+/\\*{8} failed after \\d attempts?: (connection failed \\(ECONNREFUSED\\)|still undelivered after 5s at exit; given up) \\(recorded in the audit trail\\)`));
    const notes = readFileSync(audit, 'utf8').split('\n').filter((l) => l.includes('"kind":"notify"'));
    expect(notes.length).toBeGreaterThanOrEqual(1);
    expect(notes.join('\n')).not.toContain('SECRETPART');
    const v = spawnSync('node', [bin, 'audit', 'verify', audit], { encoding: 'utf8' });
    expect(v.status, v.stdout + v.stderr).toBe(0);
  });

  it('a URL that is not http(s) is refused before anything runs, masked', async () => {
    const res = await run(['apply', './t.yaml', '-i', 'inv.yaml', '--dry-run', '--notify', 'ftp://example.test/secretpath']);
    expect(res.code).toBe(2);
    expect(res.stderr.trim()).toBe('--notify #1: notify target ftp://example.test/******** is not http(s) (give an http:// or https:// webhook URL)');
  });
});
