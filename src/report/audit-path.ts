/** Where the audit trail lives: --audit-file, else $RUNBOOK_AUDIT_FILE, else ~/.local/state/runbook/audit.jsonl. */
import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../model/errors.js';

export function resolveAuditPath(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = flag || env.RUNBOOK_AUDIT_FILE;
  if (chosen) return resolve(chosen.startsWith('~/') ? join(homedir(), chosen.slice(2)) : chosen);
  return join(homedir(), '.local', 'state', 'runbook', 'audit.jsonl');
}

/** The sidecar that anchors the chain's end (see docs/audit.md, "Truncation"). */
export function headPathOf(auditFile: string): string {
  return `${auditFile}.head`;
}

export function lockPathOf(auditFile: string): string {
  return `${auditFile}.lock`;
}

/**
 * Refuses a directory where someone else could replace the trail or a side file with a link to a
 * file of ours (the writer never follows one, but could still be pointed at a file planted there):
 * one that another user owns, or that every user may write (a sticky bit does not help: it keeps
 * others from removing our files, not from planting theirs before ours exist). A group-writable
 * directory owned by us or root is how operators share one trail, so it is allowed.
 */
export function checkAuditDir(auditFile: string): void {
  const uid = process.getuid?.();
  // No POSIX owners or modes to check (Windows).
  if (uid === undefined) return;
  const dir = dirname(auditFile);
  const st = statSync(dir);
  const hint = 'choose another with --audit-file or RUNBOOK_AUDIT_FILE';
  const why = 'who could swap the trail for a link to another file';
  if (st.uid !== uid && st.uid !== 0) {
    throw new UserError({
      message: `audit file ${auditFile}: its directory ${dir} belongs to another user (uid ${st.uid}), ${why}`,
      hint: `${hint}, in a directory that you or root own`,
    });
  }
  if (st.mode & 0o002) {
    throw new UserError({ message: `audit file ${auditFile}: its directory ${dir} is writable by other users, ${why}`, hint: `${hint}, or chmod o-w ${dir}` });
  }
}
