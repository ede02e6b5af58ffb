/**
 * `runbook resume RUN`: continue an apply that was interrupted, quit or killed, from the audit
 * trail. It is an apply (apply-run.ts) of the run's runbook, on its hosts, with its vars, in which
 * the steps the run finished are not run again (resume-source.ts, engine/resume.ts).
 */
import type { Command } from 'commander';
import { withApplyOptions, withRunOptions } from './apply.js';
import type { ApplyOptions } from './apply-run.js';

export function register(program: Command): void {
  withApplyOptions(withRunOptions(program.command('resume')))
    .description('Continue an interrupted, quit or killed apply: only what it left, checked first (asks before each fix unless --yes)')
    .argument('<run>', 'run id, a unique prefix of one, or "last" (the newest apply)')
    .option('--hosts <pattern>', "only these of the run's hosts (inventory host pattern)")
    .action(async (run: string, opts: ApplyOptions) => {
      const { runApply } = await import('./apply-run.js');
      process.exit(await runApply(undefined, { ...opts, resume: run }));
    });
}
