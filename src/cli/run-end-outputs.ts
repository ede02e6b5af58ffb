/**
 * What an apply leaves after its recap: the HTML report in the settings' report_dir, and the fate
 * of its notifications. Neither can fail the run: the hosts' work is done and recorded by then,
 * so a problem here is one line saying what did not happen.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildRunReport } from '../report/run-report.js';
import { reportHtml } from '../report/report-html.js';
import type { Notifier } from '../report/notify.js';
import type { AuditListener } from '../report/audit-listener.js';
import { parseSyslogUrl, type AuditSyslog } from '../report/audit-syslog.js';
import { UserError } from '../model/errors.js';
import { describeOrigin, type Settings } from '../model/settings.js';

/** At exit, how long pending notifications and syslog records may still take. */
export const NOTIFY_SETTLE_MS = 5000;

/** Writes `<dir>/<runId>.html` (private to the operator: it shows commands and output); one line saying where, or why not. */
export function writeReportTo(dir: string, auditFile: string, runId: string): string {
  const file = join(dir, `${runId}.html`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(file, reportHtml(buildRunReport(auditFile, runId)), { mode: 0o600 });
    return `report: ${file}`;
  } catch (e) {
    return `runbook: no report written to ${file}: ${(e as Error).message} (make report_dir writable, or run \`runbook report ${runId} --format html -o FILE\`)`;
  }
}

/** Waits (bounded) for pending notifications; one line per failure (those given up on at exit included). */
export async function notifierOutcome(notifier: Notifier): Promise<string[]> {
  const { failures } = await notifier.settle(NOTIFY_SETTLE_MS);
  const lines = failures.map((f) => `runbook: notification (${f.event}) to ${f.target} failed after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}: ${f.error} (recorded in the audit trail)`);
  return lines;
}

/** --audit-syslog, else the settings' audit_syslog: checked before the run, the error naming where it came from. */
export function syslogTarget(flag: string | undefined, settings: Settings): { host: string; port: number; url: string } | undefined {
  const url = flag ?? settings.auditSyslog?.value;
  if (url === undefined) return undefined;
  const t = parseSyslogUrl(url);
  if (!t) {
    const where = flag !== undefined ? '--audit-syslog' : `audit_syslog (${describeOrigin(settings.auditSyslog!.from)})`;
    throw new UserError({ message: `${where}: "${url}" is not tcp://HOST:PORT`, hint: 'e.g. tcp://logs.internal:601 (RFC 5424 over TCP, octet-counted)' });
  }
  return { ...t, url };
}

/** Closes the syslog copy (bounded wait); records what never reached it in the local trail, and says so. */
export async function syslogGap(syslog: AuditSyslog, target: { url: string }, runId: string, audit: AuditListener): Promise<string | undefined> {
  const gap = await syslog.close(NOTIFY_SETTLE_MS);
  if (!gap) return undefined;
  audit.noteDelivery(runId, { kind: 'syslog-gap', target: target.url, ...gap });
  return `runbook: ${gap.count} audit record${gap.count === 1 ? '' : 's'} (#${gap.firstSeq}-#${gap.lastSeq}) did not reach ${target.url}: ${gap.reason} (recorded in the local trail)`;
}
