/**
 * The system settings' approval policy (/etc/runbook/config.yaml `policy:`): with
 * require_approvals set, a run that changes hosts must be a signed plan with that many approvals
 * from the policy's allowed-signers file. No flag loosens it: fewer approvals, another signers
 * file, or the launcher's own signature are refused, naming the policy's line.
 */
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
      hint: 'make a plan (runbook plan NAME -o plan.json), have it signed (runbook sign plan.json), then runbook apply --plan plan.json; --dry-run only reports',
    });
  }
  if (opts.allowSelfApproval) throw new UserError({ message: `--allow-self-approval is refused by the policy at ${where}`, hint: `the plan needs ${n} from others` });
  if (opts.allowedSigners !== undefined && resolve(opts.allowedSigners) !== signers.value) {
    throw new UserError({ message: `--allowed-signers ${opts.allowedSigners} is refused: the policy at ${describeOrigin(signers.from)} names ${signers.value}`, hint: 'drop --allowed-signers' });
  }
  return { ...opts, requireApprovals: Math.max(opts.requireApprovals ?? 0, need.value), allowedSigners: signers.value };
}
