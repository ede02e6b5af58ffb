/**
 * A run read back to act on (undo, resume): what it recorded is about to be sent to hosts, so the
 * trail's hash chain must hold first. A record edited after the fact (a digest turned into shell
 * text, a step marked done) is refused before anything connects.
 */
import { existsSync } from 'node:fs';
import { UserError } from '../model/errors.js';
import { verifyAuditFile } from './audit-verify.js';
import { findRun, type RunDetail, type RunSummary } from './history.js';

export function findTrustedRun(auditFile: string, ref: string, what: string, last: { accept: (run: RunSummary) => boolean; what: string }): RunDetail {
  // No trail at all: findRun says there is no such run.
  const verified = existsSync(auditFile) ? verifyAuditFile(auditFile) : undefined;
  if (verified && !verified.ok) {
    const first = verified.problems.find((p) => p.severity === 'error');
    throw new UserError({
      message: `${auditFile}: the audit trail is damaged${first ? ` (line ${first.line}: ${first.message})` : ''}: ${what} acts on what it recorded, so nothing was sent`,
      hint: '`runbook audit verify` shows every problem',
    });
  }
  return findRun(auditFile, ref, last);
}
