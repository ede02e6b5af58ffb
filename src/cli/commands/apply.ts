/**
 * `runbook apply NAME`: load → plan → (approve) → run, with the live view, --json and the recap
 * as listeners on the engine's event stream. Heavy modules load inside the action so
 * `runbook --help` stays fast.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { collect, INVENTORY_OPTION, wholeNumber } from '../options.js';
import type { ApplyOptions } from './apply-run.js';
import { DEFAULT_FORKS } from '../../engine/strategy.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../../transport/types.js';
import { DEFAULT_DRAIN_TIMEOUT_MS } from '../../engine/index.js';
import { parseDuration } from '../../model/duration.js';


function countOrPercent(flag: string) {
  return (value: string): number | string => {
    if (/^\d+$/.test(value) && Number(value) >= 1) return Number(value);
    if (/^\d+(\.\d+)?%$/.test(value) && parseFloat(value) > 0) return value;
    throw new InvalidArgumentError(`${flag} needs a whole number ≥ 1 or a percentage such as "25%", got "${value}"`);
  };
}

function duration(flag: string) {
  return (value: string): number => {
    const ms = parseDuration(value);
    if (ms === undefined) throw new InvalidArgumentError(`${flag} needs a duration such as "90s" or "10m", got "${value}"`);
    return ms;
  };
}

/** The options apply and plan share: which fleet and runbooks, vars, how to reach the hosts, output, the audit trail. */
export function withRunOptions(cmd: Command): Command {
  return cmd
    .option(...INVENTORY_OPTION)
    .option('--runbooks <dir>', 'extra runbook directory (repeatable)', collect)
    .addOption(new Option('--forks <n>', `hosts worked on at once (default: forks in the settings, else ${DEFAULT_FORKS})`).argParser(wholeNumber('--forks')))
    .option('--var <name=value>', 'set a variable, overriding runbook and inventory (repeatable); for a secret, prefer --var-file or RUNBOOK_VAR_<name> (argv is visible to every local user)', collect)
    .option('--var-file <file>', 'set variables from a YAML file of name: value, below --var (repeatable)', collect)
    .option('--json', 'print JSON Lines events (docs/events.md) instead of the live view')
    .option('--glyphs', 'status glyphs (✔ ✖ …) in plain output too (without a terminal it is ASCII)')
    .option('--become', 'run every command through sudo')
    .option('--ask-become-pass', 'ask once for the sudo password (sent to sudo on stdin only)')
    .option('--accept-new', 'trust and record unknown host keys (a changed key is still refused)')
    .addOption(new Option('--connect-timeout <seconds>', `connection timeout (default: connect_timeout in the settings, else ConnectTimeout from ssh config, else ${DEFAULT_CONNECT_TIMEOUT_MS / 1000})`).argParser(wholeNumber('--connect-timeout')))
    .option('--audit-file <path>', 'audit trail to append to (default: $RUNBOOK_AUDIT_FILE, else audit_file in the settings, else $XDG_STATE_HOME/runbook/audit.jsonl, else ~/.local/state/runbook/audit.jsonl)')
    .option('--notify <url>', 'post JSON to this webhook at run start, approval waits and run end (repeatable; also notify: in the settings; signed with $RUNBOOK_NOTIFY_SECRET). The URL is a credential and argv is visible to every local user: prefer the settings', collect)
    .option('--shard <K/N>', "take only this controller's share of the hosts: those whose sha256(name) mod N is K-1 (needs --run-id; docs/scale.md)")
    .option('--run-id <id>', 'the run id to record (every shard of one run gives the same one)')
    .option('--no-drain', "run disruptive steps' fixes without cordoning and draining their nodes first (the run names the steps it does not drain for)")
    .addOption(new Option('--drain-timeout <duration>', `how long draining a node for a disruptive step may take, e.g. 10m (default: ${DEFAULT_DRAIN_TIMEOUT_MS / 60_000}m); then the drain fails, the node is uncordoned again if it took pods before, and the fix does not run`).argParser(duration('--drain-timeout')))
    .option('--audit-syslog <url>', 'also send every audit record to this syslog server as RFC 5424 over TCP (tcp://HOST:PORT; default: audit_syslog in the settings)')
    .addOption(new Option('--notify-format <format>', "the --notify targets' payload: json, or slack (incoming-webhook shape)").choices(['json', 'slack']));
}

/** What apply and resume share besides withRunOptions: approving, and how the fixes roll out. */
export function withApplyOptions(cmd: Command): Command {
  return cmd
    .option('-y, --yes', 'approve every fix without asking')
    .addOption(new Option('--batch <n|N%>', "hosts per batch; the next batch starts when this one is done (overrides the runbook's serial)").argParser(countOrPercent('--batch')))
    .addOption(new Option('--canary <n>', 'run the first N hosts, then pause for approval before the rest (with --yes: go on only if they are all green)').argParser(wholeNumber('--canary')))
    .addOption(
      new Option('--max-failures <n|N%>', "stop starting new steps anywhere once this many hosts have failed (unreachable counts; overrides the runbook's max_failures)").argParser(
        countOrPercent('--max-failures'),
      ),
    )
    .addOption(
      new Option('--drain-grace <seconds>', 'after Ctrl-C, how long running commands may finish before they are interrupted')
        .argParser(wholeNumber('--drain-grace'))
        .default(30),
    );
}

export function register(program: Command): void {
  withApplyOptions(withRunOptions(program.command('apply')))
    .description('Check each step on each host and fix what fails (asks before each fix unless --yes)')
    .argument('[name]', 'runbook name (or path to a runbook file); not needed with --plan')
    .option('--plan <file>', 'apply a saved plan (runbook plan -o): only its fixes, on its hosts, while they are as planned')
    .addOption(new Option('--require-approvals <n>', 'with --plan: refuse unless N others signed it (runbook sign), checked against --allowed-signers').argParser(wholeNumber('--require-approvals')))
    .option('--allowed-signers <file>', "with --plan: whose signatures count (ssh-keygen's allowed-signers format)")
    .option('--allow-self-approval', "with --plan: the launcher's own signature counts too")
    .option('--hosts <pattern>', "hosts to run on (inventory host pattern; default: the runbook's hosts:, else all; with --plan, may narrow it)")
    .option('--dry-run', 'run only the checks; report what would be fixed and the exact commands')
    .action(async (name: string | undefined, opts: ApplyOptions) => {
      const { runApply } = await import('./apply-run.js');
      process.exit(await runApply(name, opts));
    });

  withRunOptions(program.command('undo'))
    .description("Put back what a run's fixes changed, latest first: files restored exactly and each step's undo run, only where the state is still as the fix left it (asks before each, unless --yes)")
    .argument('<run>', 'the run: its id, a unique prefix of it, or last (the newest apply)')
    .option('--hosts <pattern>', 'only these of the hosts the run fixed (inventory host pattern)')
    .option('--dry-run', 'only check each host; report what would be undone and the exact commands')
    .option('-y, --yes', 'approve every undo without asking')
    .addOption(
      new Option('--drain-grace <seconds>', 'after Ctrl-C, how long running commands may finish before they are interrupted')
        .argParser(wholeNumber('--drain-grace'))
        .default(30),
    )
    .action(async (run: string, opts: ApplyOptions) => {
      const { runApply } = await import('./apply-run.js');
      process.exit(await runApply(undefined, { ...opts, undo: run }));
    });
}
