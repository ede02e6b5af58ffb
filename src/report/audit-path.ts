/**
 * Where the audit trail lives: --audit-file, else $RUNBOOK_AUDIT_FILE, else the settings files'
 * `audit_file` (already resolved against its file), else $XDG_STATE_HOME/runbook/audit.jsonl (the XDG Base Directory convention; an absolute path only),
 * else ~/.local/state/runbook/audit.jsonl (XDG's own default).
 */
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../model/errors.js';
import { expandHome } from '../model/secrets.js';

/**
 * `notice` hears when a trail left at the default place is used although XDG_STATE_HOME names
 * another: history and @failed must keep finding it, and the operator learns how to move it.
 */
export function resolveAuditPath(flag?: string, env: NodeJS.ProcessEnv = process.env, notice?: (line: string) => void, fromSettings?: string): string {
  const home = env.HOME || homedir();
  const chosen = flag || env.RUNBOOK_AUDIT_FILE || fromSettings;
  if (chosen) return resolve(expandHome(chosen, home));
  const fallback = join(home, '.local', 'state', 'runbook', 'audit.jsonl');
  const xdg = env.XDG_STATE_HOME;
  if (!xdg || !isAbsolute(xdg)) return fallback;
  const file = join(xdg, 'runbook', 'audit.jsonl');
  if (file !== fallback && !existsSync(file) && existsSync(fallback)) {
    notice?.(`runbook: using the audit trail at ${fallback}; with XDG_STATE_HOME set its place is ${file} (move it there with: mkdir -p ${dirname(file)} && mv ${fallback} ${fallback}.head ${dirname(file)}/)`);
    return fallback;
  }
  return file;
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
