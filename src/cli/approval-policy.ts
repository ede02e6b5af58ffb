/**
 * The system settings' approval policy (/etc/runbook/config.yaml `policy:`): with
 * require_approvals set, a run that changes hosts must be a signed plan with that many approvals
 * from the policy's allowed-signers file. No flag loosens it: fewer approvals, another signers
 * file, or the launcher's own signature are refused, naming the policy's line.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { UserError } from '../model/errors.js';
import { describeOrigin, type Settings } from '../model/settings.js';

export interface ApprovalOptions {
  plan?: string;
  requireApprovals?: number;
  allowedSigners?: string;
  allowSelfApproval?: boolean;
}

/** The approval options a changing run must use under the policy (unchanged when there is none). */
export function underApprovalPolicy<T extends ApprovalOptions>(opts: T, settings: Settings, command: string): T {
  const need = settings.requireApprovals;
  const signers = settings.allowedSigners;
  if (!need || !signers) return opts;
  const where = describeOrigin(need.from);
  const n = `${need.value} approval${need.value === 1 ? '' : 's'}`;
  if (!opts.plan) {
    throw new UserError({
      message: `${command} would change hosts, and the policy at ${where} allows only signed plans with ${n}`,
      hint:
        command === 'apply'
          ? 'make a plan (runbook plan NAME -o plan.json), have it signed (runbook sign plan.json), then runbook apply --plan plan.json; --dry-run only reports'
          : `${command} takes no plan, so the policy refuses it: make a signed plan of a runbook that does what is needed (runbook plan NAME -o plan.json, runbook sign, runbook apply --plan)${command === 'undo' ? '; --dry-run shows what undo would do' : ''}`,
    });
  }
  if (opts.allowSelfApproval) throw new UserError({ message: `--allow-self-approval is refused by the policy at ${where}`, hint: `the plan needs ${n} from others` });
  if (opts.allowedSigners !== undefined && resolve(opts.allowedSigners) !== signers.value) {
    throw new UserError({ message: `--allowed-signers ${opts.allowedSigners} is refused: the policy at ${describeOrigin(signers.from)} names ${signers.value}`, hint: 'drop --allowed-signers' });
  }
  return { ...opts, requireApprovals: Math.max(opts.requireApprovals ?? 0, need.value), allowedSigners: signers.value };
}

/**
 * Who launches the run, for the policy's "not your own approval": the account of the real uid
 * (the human behind sudo when root runs it for them), with its home from the passwd database.
 * Never $USER, $HOME or $SUDO_USER alone: the launcher sets those, and could change them to make
 * their own signature count.
 */
export function policyLauncher(): { name: string; home: string } {
  const euid = process.geteuid?.() ?? 0;
  const sudoUid = process.env.SUDO_UID;
  const uid = euid === 0 && sudoUid && /^\d+$/.test(sudoUid) ? Number(sudoUid) : (process.getuid?.() ?? 0);
  const r = spawnSync('getent', ['passwd', String(uid)], { encoding: 'utf8', timeout: 10_000 });
  const [name, , , , , home] = r.status === 0 ? r.stdout.trim().split(':') : [];
  if (!name || !home) throw new UserError({ message: `cannot tell who uid ${uid} is (getent passwd ${uid} found nothing), so the policy's approvals cannot be checked`, hint: 'run runbook as a user the passwd database knows' });
  return { name, home };
}
