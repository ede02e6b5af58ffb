/**
 * Notifications: a listener that posts JSON to webhooks when a run starts, while an approval waits
 * on the operator, and when it ends. Delivery never blocks or slows the run: each post runs on its
 * own, retried with backoff on network errors, 429 and 5xx, and given up after a bound; at exit
 * the caller waits a bounded time for what is still pending. Failures are collected (never thrown)
 * for the recap and the audit trail.
 *
 * A webhook URL is a credential (a Slack URL is one): it is shown only as its origin and
 * `/********`. With a secret, each post is signed as Slack signs its requests:
 * X-Runbook-Timestamp and X-Runbook-Signature: v0=HMAC-SHA256(secret, "v0:<ts>:<body>").
 */
import { createHmac } from 'node:crypto';
import { isFailed, type RunEvent, type RunEventListener, type StepStatus } from '../engine/index.js';
import { MASK } from '../model/secrets.js';

export type NotifyFormat = 'json' | 'slack';

export interface NotifyTarget {
  url: string;
  format: NotifyFormat;
  /** Where it was given (`--notify #2`, `notify[0] (file:line:col)`): tells masked targets apart. */
  name?: string;
}

export type NotifyEvent = 'run-start' | 'approval-wait' | 'run-end';

/** A human answer is awaited: which step, on how many hosts, for how long so far. */
export interface ApprovalWait {
  step: string;
  host: string;
  hostsWaiting: number;
  waitedMs: number;
}

export interface NotifyFailure {
  runId: string;
  event: NotifyEvent;
  /** The target as it may be shown: origin and a mask. */
  target: string;
  attempts: number;
  error: string;
}

export interface NotifierOptions {
  targets: NotifyTarget[];
  secret?: string;
  /** Masks secrets in every payload (the run's redactor). */
  redact: (text: string) => string;
  /** Where the run's report will be (report_dir), named in the run-end notice. */
  reportPathFor?: (runId: string) => string;
  attempts?: number;
  backoffMs?: number;
  attemptTimeoutMs?: number;
  /** Told of each failure once its retries are spent. */
  onFailure?: (f: NotifyFailure) => void;
}

export interface Notifier {
  listener: RunEventListener;
  waiting(w: ApprovalWait): void;
  /** Waits at most `maxMs` for pending deliveries: every failure so far, and how many were still pending. */
  settle(maxMs: number): Promise<{ failures: NotifyFailure[]; pending: number }>;
}

/**
 * How a URL may be shown: the scheme, the last two labels of the host (some services put the
 * credential in the host name: `https://eo1a2b3c.m.pipedream.net`) and a mask: `https://…slack.com/********`.
 */
export function maskedUrl(url: string): string {
  try {
    const u = new URL(url);
    const labels = u.hostname.split('.');
    const ip = /^[\d.]+$/.test(u.hostname) || u.hostname.startsWith('[');
    const host = ip || labels.length <= 2 ? u.hostname : `…${labels.slice(-2).join('.')}`;
    return `${u.protocol}//${host}${u.port ? `:${u.port}` : ''}/${MASK}`;
  } catch {
    return MASK;
  }
}

const label = (t: NotifyTarget): string => `${t.name ? `${t.name} ` : ''}${maskedUrl(t.url)}`;

const DEFAULTS = { attempts: 4, backoffMs: 1000, attemptTimeoutMs: 5000 };

type Payload = Record<string, unknown> & { event: NotifyEvent };

/** Slack's mrkdwn control characters, escaped as Slack says: a step named `<!channel>` must not ping anyone. */
const slackEscape = (t: string): string => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function slackText(p: Payload): string {
  return slackEscape(slackLine(p));
}

function slackLine(p: Payload): string {
  const run = `runbook ${String(p.runbook)} (${String(p.mode)}, run ${String(p.runId)})`;
  if (p.event === 'run-start') return `${run} started by ${String(p.operator)} on ${String(p.hosts)} host(s)`;
  if (p.event === 'approval-wait') return `${run} waits for approval of "${String(p.step)}" on ${String(p.hostsWaiting)} host(s), for ${String(p.waitedSeconds)} s`;
  const counts = Object.entries(p.counts as Record<string, number>)
    .map(([s, n]) => `${s} ${n}`)
    .join(', ');
  return `${run} ended: exit ${String(p.exitCode)}${p.stopReason ? ` (${String(p.stopReason)})` : ''}; ${counts || 'no steps'}${p.report ? `; report: ${String(p.report)}` : ''}`;
}

/** Masks every string in a payload, deeply: host names and step names may hold anything. */
function masked(v: unknown, redact: (s: string) => string): unknown {
  if (typeof v === 'string') return redact(v);
  if (Array.isArray(v)) return v.map((x) => masked(x, redact));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, masked(x, redact)]));
  return v;
}

export function createNotifier(opts: NotifierOptions): Notifier {
  const o = { ...DEFAULTS, ...opts };
  /** Deliveries under way, with what to report if they are still going at exit. */
  const pending = new Map<Promise<void>, { target: NotifyTarget; event: NotifyEvent; attempts: number }>();
  const failures: NotifyFailure[] = [];
  // After settle(), nothing more is reported: the audit trail it goes to is closed.
  let settled = false;
  let run: { runId: string; runbook: string; mode: string } | undefined;

  async function deliver(target: NotifyTarget, event: NotifyEvent, body: string, progress: { attempts: number }): Promise<void> {
    let error = '';
    for (let attempt = 1; attempt <= o.attempts; attempt++) {
      progress.attempts = attempt;
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'runbook' };
      if (o.secret) {
        const ts = String(Math.floor(Date.now() / 1000));
        headers['x-runbook-timestamp'] = ts;
        headers['x-runbook-signature'] = `v0=${createHmac('sha256', o.secret).update(`v0:${ts}:${body}`).digest('hex')}`;
      }
      try {
        const res = await fetch(target.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(o.attemptTimeoutMs), redirect: 'manual' });
        await res.body?.cancel();
        if (res.ok) return;
        // A redirect is not followed (it would carry the payload elsewhere): final, like any 4xx.
        error = res.status >= 300 && res.status < 400 ? `HTTP ${res.status} (a redirect, not followed)` : `HTTP ${res.status}`;
        // Another try cannot fix a request the receiver refused (bad URL, bad signature).
        if (res.status < 500 && res.status !== 429) return fail(target, event, attempt, error);
      } catch (e) {
        // Never the URL: fetch's messages may quote it.
        // Several addresses tried (localhost: ::1 and 127.0.0.1) arrive as an AggregateError.
        const c = (e as { cause?: { code?: string; errors?: { code?: string }[] } }).cause;
        const cause = c?.code ?? c?.errors?.find((x) => x.code)?.code;
        error = (e as Error).name === 'TimeoutError' ? `no answer within ${o.attemptTimeoutMs / 1000}s` : cause ? `connection failed (${cause})` : 'connection failed';
      }
      if (attempt < o.attempts) await new Promise((r) => setTimeout(r, o.backoffMs * 2 ** (attempt - 1)).unref());
    }
    fail(target, event, o.attempts, error);
  }

  function fail(target: NotifyTarget, event: NotifyEvent, attempts: number, error: string): void {
    if (settled) return;
    const f = { runId: run?.runId ?? '', event, target: label(target), attempts, error };
    failures.push(f);
    try {
      o.onFailure?.(f);
    } catch {
      // Recording it failed too (the trail's own error stops the run where it is written): the
      // failure still reaches the recap, and a delivery never throws into the run.
    }
  }

  function send(p: Payload): void {
    const safe = masked(p, o.redact) as Payload;
    for (const t of o.targets) {
      const body = JSON.stringify(t.format === 'slack' ? { text: slackText(safe) } : safe);
      const progress = { target: t, event: p.event, attempts: 0 };
      const d = deliver(t, p.event, body, progress).finally(() => pending.delete(d));
      pending.set(d, progress);
    }
  }

  const listener: RunEventListener = (e: RunEvent) => {
    if (e.type === 'run-start') {
      run = { runId: e.runId, runbook: e.runbook, mode: e.mode };
      send({ event: 'run-start', time: e.time, ...run, operator: e.operator, hosts: e.hosts.length });
    } else if (e.type === 'run-end' && run) {
      const counts: Record<string, number> = {};
      for (const byStatus of Object.values(e.summary)) for (const [s, n] of Object.entries(byStatus)) counts[s] = (counts[s] ?? 0) + (n ?? 0);
      send({
        event: 'run-end',
        time: e.time,
        ...run,
        exitCode: e.exitCode,
        aborted: e.aborted,
        ...(e.stopReason ? { stopReason: e.stopReason } : {}),
        counts,
        hostsFailed: Object.entries(e.summary)
          .filter(([, byStatus]) => (Object.keys(byStatus) as StepStatus[]).some(isFailed))
          .map(([h]) => h),
        durationMs: e.durationMs,
        ...(o.reportPathFor ? { report: o.reportPathFor(e.runId) } : {}),
      });
    }
  };

  return {
    listener,
    waiting(w) {
      if (!run) return;
      send({ event: 'approval-wait', time: new Date().toISOString(), ...run, step: w.step, host: w.host, hostsWaiting: w.hostsWaiting, waitedSeconds: Math.round(w.waitedMs / 1000) });
    },
    async settle(maxMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...pending.keys()]), new Promise((r) => (timer = setTimeout(r, maxMs)))]);
      clearTimeout(timer);
      const given = [...pending.values()];
      for (const g of given) fail(g.target, g.event, g.attempts, `still undelivered after ${maxMs / 1000}s at exit; given up`);
      settled = true;
      return { failures: [...failures], pending: given.length };
    },
  };
}
