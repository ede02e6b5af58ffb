/**
 * `runbook undo RUN` on the CLI's side: which run (id, prefix or `last`), checked before anything
 * connects: it was an apply that fixed something, its runbook is byte for byte the one it ran,
 * and its hosts are in the inventory. The engine builds the undo itself (engine/undo.ts).
 */
import { existsSync } from 'node:fs';
import { UserError, selectHosts, type Host, type Inventory, type Runbook } from '../model/index.js';
import { undoStepName, type FixedStep } from '../engine/index.js';

const UNDO_PREFIX = undoStepName('');
import type { RunDetail } from '../report/history.js';
import { findTrustedRun } from '../report/trusted-run.js';

export interface UndoSource {
  run: RunDetail;
  /** The runbook to load: the file the run used when it is still there, else its name. */
  runbookRef: string;
  fixedByHost: Map<string, FixedStep[]>;
}

export function undoSource(auditFile: string, ref: string): UndoSource {
  // `last` is never an undo itself: undoing twice must not redo the fixes (name an undo's id for that).
  const run = findTrustedRun(auditFile, ref, 'undo', { accept: (r) => r.mode === 'apply' && !r.undoes, what: 'apply run (other than an undo)' });
  if (run.mode !== 'apply') {
    throw new UserError({ message: `run ${run.runId} was a dry run: it changed nothing, so there is nothing to undo`, hint: 'see `runbook history` for the applies' });
  }
  const fixedByHost = new Map<string, FixedStep[]>();
  for (const h of run.perHost) {
    // An undo run's steps are named for the steps they undid: undoing it (a redo) walks those.
    const fixed = h.steps.filter((s) => s.status === 'fixed').map((s) => ({ step: run.undoes && s.step.startsWith(UNDO_PREFIX) ? s.step.slice(UNDO_PREFIX.length) : s.step, changes: s.changes ?? [] }));
    if (fixed.length) fixedByHost.set(h.host, fixed);
  }
  if (fixedByHost.size === 0) {
    throw new UserError({ message: `run ${run.runId} fixed nothing: there is nothing to undo`, hint: `\`runbook history ${run.runId}\` shows what it did` });
  }
  return { run, runbookRef: run.runbookFile && existsSync(run.runbookFile) ? run.runbookFile : run.runbook, fixedByHost };
}

/** Undo renders the run's own commands: the runbook must not have changed since. */
export function checkUndoRunbook(src: UndoSource, runbook: Runbook): void {
  if (runbook.hash === src.run.runbookHash) return;
  throw new UserError({
    message: `runbook ${runbook.name} (${runbook.file}) changed since run ${src.run.runId} (sha256 ${runbook.hash.slice(0, 12)} now, ${src.run.runbookHash.slice(0, 12)} then): undo needs the runbook the run used`,
    hint: 'restore the version the run used from version control, then undo again',
  });
}

/** The hosts where the run fixed something, in inventory order, narrowed by --hosts. */
export function undoHosts(src: UndoSource, inventory: Inventory, pattern: string | undefined): Host[] {
  const fixed = [...src.fixedByHost.keys()];
  const missing = fixed.filter((h) => !inventory.hosts.some((x) => x.name === h));
  if (missing.length) {
    throw new UserError({ message: `run ${src.run.runId} fixed ${missing.join(', ')}, not in ${inventory.file}`, hint: 'pass the inventory the run used (-i FILE)' });
  }
  const chosen = pattern === undefined ? undefined : new Set(selectHosts(inventory, pattern).map((h) => h.name));
  const hosts = inventory.hosts.filter((h) => src.fixedByHost.has(h.name) && (!chosen || chosen.has(h.name)));
  if (hosts.length === 0) {
    throw new UserError({ message: `run ${src.run.runId} fixed nothing on the hosts "${pattern}" selects (it fixed ${fixed.join(', ')})`, hint: 'pass --hosts with one of those, or leave it out' });
  }
  return hosts;
}
