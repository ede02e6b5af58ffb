/**
 * Entry point. Thin: parses the command line with commander and hands off to one module per
 * command group. Command modules import their heavy dependencies lazily inside the action, so
 * `runbook --help` stays fast.
 */
import { Argument, Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { ExitCode } from '../model/exit-codes.js';
import { UserError } from '../model/errors.js';
import { neutralize } from '../engine/sanitize.js';
import { register as registerCore } from './commands/core.js';
import { register as registerApply } from './commands/apply.js';
import { register as registerPlan } from './commands/plan.js';
import { register as registerResume } from './commands/resume.js';
import { register as registerLab } from './commands/lab.js';
import { register as registerAudit } from './commands/audit.js';
import { register as registerConfig } from './commands/config.js';
import { completionScript, SHELLS, type Shell } from './completion.js';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

const program = new Command('runbook')
  .description('Find and fix broken nodes in a server fleet over SSH')
  .version(pkg.version)
  .option('--debug', 'print stack traces for internal errors')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerCore(program);
registerApply(program);
registerPlan(program);
registerResume(program);
registerLab(program);
registerAudit(program);
registerConfig(program);

program
  .command('completion')
  .description('Print a shell completion script (bash: eval "$(runbook completion bash)" in ~/.bashrc)')
  .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
  .action((shell: Shell) => void process.stdout.write(completionScript(shell, program)));

/**
 * `runbook lab ssh [--name L] NODE [--name L] CMD...`: everything after the node (and a --name
 * right after it) is the remote command, options included (`sysctl -n ...`), as with ssh.
 * commander would read them as its own options, so a `--` goes in there (unless the user wrote one).
 */
function labSshPassThrough(argv: string[]): string[] {
  const at = argv.findIndex((a, i) => a === 'ssh' && argv[i - 1] === 'lab');
  if (at < 0) return argv;
  let i = at + 1;
  while (i < argv.length && argv[i]!.startsWith('-') && argv[i] !== '--') i += argv[i] === '--name' ? 2 : 1;
  if (i >= argv.length) return argv;
  // runbook's own --name may also follow the node (lab ssh d --name x CMD); the rest is ssh's.
  let j = i + 1;
  while (j < argv.length && (argv[j] === '--name' || argv[j]!.startsWith('--name='))) j += argv[j] === '--name' ? 2 : 1;
  if (argv[j] === '--') return argv;
  return [...argv.slice(0, j), '--', ...argv.slice(j)];
}

function fail(err: unknown): never {
  if (err instanceof CommanderError) {
    // commander has already printed its message (or the help/version text).
    process.exit(err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE);
  }
  if (err instanceof UserError) {
    // Errors may quote what a host sent (a banner, a key, a registered value): never raw.
    process.stderr.write(`${neutralize(err.format())}\n`);
    process.exit(err.exitCode);
  }
  const debug = program.opts<{ debug?: boolean }>().debug || process.argv.includes('--debug');
  const msg = err instanceof Error ? (debug ? (err.stack ?? err.message) : err.message) : String(err);
  process.stderr.write(`runbook: internal error: ${neutralize(msg)}${debug ? '' : ' (re-run with --debug for details)'}\n`);
  process.exit(ExitCode.INTERNAL);
}

// A reader that goes away (`runbook inventory | head`) ends a read-only command quietly. apply
// keeps going (its hosts may be mid-fix), unprinted: the recap and the audit trail still hold.
let keepRunningWithoutStdout = false;
program.hook('preAction', (_program, action) => {
  keepRunningWithoutStdout = ['apply', 'plan', 'resume'].includes(action.name());
});
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') fail(err);
  if (!keepRunningWithoutStdout) process.exit(ExitCode.OK);
});

try {
  await program.parseAsync(labSshPassThrough(process.argv));
} catch (err) {
  fail(err);
}
