/** Where the audit trail lives: --audit-file, else $RUNBOOK_AUDIT_FILE, else ~/.local/state/runbook/audit.jsonl. */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

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

