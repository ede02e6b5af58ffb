/** `runbook config`: the effective settings, and where each came from (model/settings.ts). */
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('config')
    .description('Show the effective settings and where each came from (settings files, environment, defaults); secrets masked')
    .option('--json', 'print them as JSON')
    .action(async (opts: { json?: boolean }) => {
      const [{ cliSettings, inventoryLocation, auditLocation }, { describeOrigin, settingsPlaces }, { MASK, UnavailableSecret }, { DEFAULT_FORKS }, { DEFAULT_CONNECT_TIMEOUT_MS }, { textTable }, { neutralize }] = await Promise.all([
        import('../settings.js'),
        import('../../model/settings.js'),
        import('../../model/secrets.js'),
        import('../../engine/strategy.js'),
        import('../../transport/types.js'),
        import('../../report/text-table.js'),
        import('../../engine/sanitize.js'),
      ]);
      const s = cliSettings();
      const env = process.env;
      const inv = inventoryLocation(undefined);
      const rows: [string, string, string][] = [
        ['inventory', inv.paths.join(':'), inv.source === 'settings' ? describeOrigin(s.inventory!.from) : inv.source],
        ['forks', String(s.forks?.value ?? DEFAULT_FORKS), s.forks ? describeOrigin(s.forks.from) : 'default'],
        ['connect_timeout', s.connectTimeout ? `${s.connectTimeout.value}s` : `ssh config's ConnectTimeout, else ${DEFAULT_CONNECT_TIMEOUT_MS / 1000}s`, s.connectTimeout ? describeOrigin(s.connectTimeout.from) : 'default'],
        ['audit_file', auditLocation(undefined), env.RUNBOOK_AUDIT_FILE ? '$RUNBOOK_AUDIT_FILE' : s.auditFile ? describeOrigin(s.auditFile.from) : 'default'],
        ['audit_syslog', s.auditSyslog?.value ?? '(none)', s.auditSyslog ? describeOrigin(s.auditSyslog.from) : 'default'],
        ['report_dir', s.reportDir?.value ?? '(none)', s.reportDir ? describeOrigin(s.reportDir.from) : 'default'],
        ['notify', s.notify ? s.notify.value.map((t) => `${t.url instanceof UnavailableSecret ? `(unavailable: ${t.url.reason})` : MASK} (${t.format})`).join(', ') : '(none)', s.notify ? describeOrigin(s.notify.from) : 'default'],
        ['notify_secret', env.RUNBOOK_NOTIFY_SECRET ? MASK : s.notifySecret ? (s.notifySecret.value instanceof UnavailableSecret ? `(unavailable: ${s.notifySecret.value.reason})` : MASK) : '(none)', env.RUNBOOK_NOTIFY_SECRET ? '$RUNBOOK_NOTIFY_SECRET' : s.notifySecret ? describeOrigin(s.notifySecret.from) : 'default'],
        ['policy.require_approvals', s.requireApprovals ? String(s.requireApprovals.value) : '(none)', s.requireApprovals ? describeOrigin(s.requireApprovals.from) : 'default'],
        ['policy.allowed_signers', s.allowedSigners?.value ?? '(none)', s.allowedSigners ? describeOrigin(s.allowedSigners.from) : 'default'],
      ];
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ files: s.files, places: settingsPlaces(), settings: Object.fromEntries(rows.map(([k, v, from]) => [k, { value: v, from }])) }, null, 2)}\n`);
        return;
      }
      const places = settingsPlaces();
      const read = (f: string): string => (s.files.includes(f) ? 'read' : 'none');
      process.stdout.write(`settings files: ${places.system} (${read(places.system)}), ${places.user} (${read(places.user)}), ${places.project} (${read(places.project)})\n\n`);
      // Values come from files others may have shown the operator: shown, never interpreted by the terminal.
      process.stdout.write(`${textTable([['SETTING', 'VALUE', 'FROM'], ...rows.map((r) => r.map(neutralize))])}\n`);
    });
}
