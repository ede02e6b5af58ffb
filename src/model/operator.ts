/** Who is running runbook, for approvals, locks and the audit trail. */
import { userInfo } from 'node:os';

/** The human behind sudo when there is one, else the login name (a bare tmux or cron job may have no $USER). */
export function operatorName(env: NodeJS.ProcessEnv = process.env): string {
  const named = env.SUDO_USER || env.USER || env.LOGNAME;
  if (named) return named;
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
