/** `runbook audit verify [FILE]` and `runbook history [RUN]`: reading the audit trail back. */
import type { Command } from 'commander';
import { ExitCode } from '../../model/exit-codes.js';

const auditFileHelp = 'audit file (default: $RUNBOOK_AUDIT_FILE, else $XDG_STATE_HOME/runbook/audit.jsonl, else ~/.local/state/runbook/audit.jsonl)';

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
      const { resolveAuditPath } = await import('../../report/audit-path.js');
      const { parseAnchor, verifyAuditFile } = await import('../../report/audit-verify.js');
      const { formatVerify } = await import('../../report/history-format.js');
      const { UserError } = await import('../../model/errors.js');
      const path = resolveAuditPath(file ?? opts.auditFile, process.env, (line) => process.stderr.write(`${line}\n`));
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
    .option('--audit-file <path>', auditFileHelp)
    .option('--json', 'print JSON instead of a table')
    .action(async (run: string | undefined, opts: { auditFile?: string; json?: boolean }) => {
      const { resolveAuditPath } = await import('../../report/audit-path.js');
      const { findRun, listRuns } = await import('../../report/history.js');
      const { formatRunDetail, formatRunList } = await import('../../report/history-format.js');
      const path = resolveAuditPath(opts.auditFile, process.env, (line) => process.stderr.write(`${line}\n`));
      if (run !== undefined) {
        const detail = findRun(path, run);
        process.stdout.write(`${opts.json ? JSON.stringify(detail) : formatRunDetail(detail)}\n`);
        return;
      }
      const runs = listRuns(path);
      if (opts.json) process.stdout.write(`${JSON.stringify(runs)}\n`);
      else process.stdout.write(runs.length ? `${formatRunList(runs)}\n` : `no runs recorded in ${path}\n`);
    });
}
