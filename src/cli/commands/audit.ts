/** `runbook audit verify [FILE]`, `runbook history [RUN]` and `runbook report [RUN]`: reading the audit trail back. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ExitCode } from '../../model/exit-codes.js';
import { parseDuration } from '../../model/duration.js';
import { collect, wholeNumber } from '../options.js';

interface HistoryOptions {
  auditFile?: string[];
  operator?: string;
  runbook?: string;
  host?: string;
  since?: Date;
  limit?: number;
  json?: boolean;
}

/**
 * `--since`: a duration back from now with its unit ("90m", "2h", "3d": a bare number is refused,
 * as "2026" could be a year) or an ISO date (UTC midnight) or date-time (UTC unless it says).
 */
function parseSince(value: string): Date {
  const days = /^(\d+(?:\.\d+)?)d$/.exec(value);
  const ms = days ? Number(days[1]) * 86_400_000 : /\d(ms|s|m|h)$/.test(value) ? parseDuration(value) : undefined;
  if (ms !== undefined) return new Date(Date.now() - ms);
  const iso = /^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?)?$/.exec(value);
  const at = iso ? Date.parse(iso[1] && !iso[4] ? `${value}Z` : value) : NaN;
  if (Number.isNaN(at)) throw new InvalidArgumentError(`--since needs a duration such as "2h" or "3d", or a date such as 2026-12-01, got "${value}"`);
  return new Date(at);
}

const auditFileHelp = 'audit file (default: $RUNBOOK_AUDIT_FILE, else audit_file in the settings, else $XDG_STATE_HOME/runbook/audit.jsonl, else ~/.local/state/runbook/audit.jsonl)';

export function register(program: Command): void {
  const audit = program.command('audit').description('Check the audit trail (audit verify)');

  audit
    .command('verify')
    .description('Check the audit file\'s hash chain: exit 0 intact, 1 tampered or damaged, 2 usage error')
    .argument('[file]', auditFileHelp)
    .option('--audit-file <path>', auditFileHelp)
    .option('--anchor <seq:hash>', 'also require this record, as printed by an earlier verify and kept elsewhere')
    .option('--json', 'print the result as one JSON object')
    .action(async (file: string | undefined, opts: { auditFile?: string; anchor?: string; json?: boolean }) => {
      const { existsSync } = await import('node:fs');
      const { auditLocation } = await import('../settings.js');
      const { parseAnchor, verifyAuditFile } = await import('../../report/audit-verify.js');
      const { formatVerify } = await import('../../report/history-format.js');
      const { UserError } = await import('../../model/errors.js');
      const path = auditLocation(file ?? opts.auditFile, (line) => process.stderr.write(`${line}\n`));
      if (!existsSync(path)) {
        throw new UserError({ message: `audit file ${path} does not exist`, hint: 'give the file to check, or set RUNBOOK_AUDIT_FILE' });
      }
      const anchor = opts.anchor === undefined ? undefined : parseAnchor(opts.anchor);
      if (opts.anchor !== undefined && !anchor) {
        throw new UserError({ message: `--anchor ${opts.anchor} is not SEQ:HASH`, hint: 'copy it from the last line of an earlier `runbook audit verify`' });
      }
      const result = verifyAuditFile(path, { anchor });
      process.stdout.write(`${opts.json ? JSON.stringify(result) : formatVerify(result)}\n`);
      process.exitCode = result.ok ? ExitCode.OK : ExitCode.FAILED;
    });

  program
    .command('history')
    .description('List past runs, or show one run\'s outcome per host and step')
    .argument('[run]', 'run id or a unique prefix of one')
    .option('--audit-file <path>', `${auditFileHelp}; repeatable: the trails are read as one, and a run in several (its shards) is one run`, collect)
    .option('--operator <name>', 'only runs by this operator')
    .option('--runbook <name>', 'only runs of this runbook')
    .option('--host <name>', 'only runs that targeted this host')
    .option('--since <when>', 'only runs started since then: a duration back from now ("2h", "90m") or a date ("2026-12-01", ISO 8601)', parseSince)
    .option('--limit <n>', 'the newest N runs; 0 for all (default: 20, and all with --json)', wholeNumber('--limit', 0))
    .option('--json', 'print JSON instead of a table (the same as --format json)')
    .addOption(new Option('--format <format>', 'table or json (for scripts)').choices(['table', 'json']))
    .action(async (run: string | undefined, o: HistoryOptions & { format?: 'table' | 'json' }) => {
      const opts = { ...o, json: o.json || o.format === 'json' };
      const { auditLocation } = await import('../settings.js');
      const { filterRuns, findRunAcross, listRunsAcross } = await import('../../report/history.js');
      const { formatRunDetail, formatRunList } = await import('../../report/history-format.js');
      const trails = opts.auditFile?.length ? opts.auditFile.map((f) => auditLocation(f)) : [auditLocation(undefined, (line) => process.stderr.write(`${line}\n`))];
      const path = trails.join(', ');
      if (run !== undefined) {
        const detail = findRunAcross(trails, run).run;
        process.stdout.write(`${opts.json ? JSON.stringify(detail) : formatRunDetail(detail)}\n`);
        return;
      }
      const all = listRunsAcross(trails);
      // A script reading --json gets every run it asked for; a person, the newest screenful.
      const { runs, leftOut } = filterRuns(all, { ...opts, limit: opts.limit ?? (opts.json ? 0 : 20) });
      if (opts.json) return void process.stdout.write(`${JSON.stringify(runs)}\n`);
      if (all.length === 0) return void process.stdout.write(`no runs recorded in ${path}\n`);
      if (runs.length === 0) return void process.stdout.write(`no run in ${path} matches these filters (${all.length} runs recorded)\n`);
      process.stdout.write(`${formatRunList(runs)}\n`);
      if (leftOut) process.stdout.write(`(${leftOut} older run${leftOut === 1 ? '' : 's'} not shown: --limit 0 shows all)\n`);
    });

  program
    .command('report')
    .description('A report of one run from the audit trail, its chain verified first: markdown (an incident note), html (self-contained), junit (for CI) or json')
    .argument('[run]', 'run id, a unique prefix of one, or last', 'last')
    .addOption(new Option('--format <format>', 'markdown, html, junit or json').choices(['markdown', 'html', 'junit', 'json']).default('markdown'))
    .option('-o, --output <file>', 'write it there instead of stdout')
    .option('--audit-file <path>', `${auditFileHelp}; repeatable: the run is looked for in each (last: the newest of them), and a run found in several (its shards) is shown as one`, collect)
    .action(async (run: string, opts: { format: 'markdown' | 'html' | 'junit' | 'json'; output?: string; auditFile?: string[] }) => {
      const { auditLocation } = await import('../settings.js');
      const { buildRunReport } = await import('../../report/run-report.js');
      const trails = opts.auditFile?.length ? opts.auditFile.map((f) => auditLocation(f)) : [auditLocation(undefined, (line) => process.stderr.write(`${line}\n`))];
      const report = buildRunReport(trails, run);
      const text =
        opts.format === 'json'
          ? `${JSON.stringify(report)}\n`
          : opts.format === 'junit'
            ? (await import('../../report/report-junit.js')).reportJunit(report)
            : opts.format === 'html'
              ? (await import('../../report/report-html.js')).reportHtml(report)
              : (await import('../../report/report-markdown.js')).reportMarkdown(report);
      if (opts.output === undefined) process.stdout.write(text);
      else {
        const { writeFileSync } = await import('node:fs');
        writeFileSync(opts.output, text);
        process.stderr.write(`runbook: report of run ${report.run.runId} written to ${opts.output}\n`);
      }
      // A damaged trail is reported, and the exit code says so too.
      if (!report.trail.intact) process.exitCode = ExitCode.FAILED;
    });
}
