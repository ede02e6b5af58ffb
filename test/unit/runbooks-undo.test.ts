/**
 * Every shipped fix can be undone, or its runbook says why not (issue 19): each step or handler
 * with a fix has `undo:`, or `files:` only (runbook undo restores them exactly, and that is the
 * whole undo: fix-forwarding's persisted sysctl file), or `no_undo:`. An undo only works when `runbook undo` renders the step's
 * captures and undo command as the run did, without the run's registered values: so those never
 * read one (a step that does is planned with references, which would never match the run's).
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRunbook, templatePaths, type Step } from '../../src/model/index.js';
import { readsRegistered } from '../../src/model/template.js';

const dir = resolve('runbooks');
const shipped = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

const fixSteps = (file: string): Step[] => {
  const rb = loadRunbook(join(dir, file));
  return [...rb.steps, ...rb.handlers].filter((s) => s.fix.length > 0);
};

describe('shipped runbooks: every fix has an undo or says why not', () => {
  it('finds the shipped runbooks', () => {
    expect(shipped).toContain('fix-flannel-docker-order.yaml');
    expect(shipped).toContain('fix-stale-flannel-lease.yaml');
  });

  it.each(shipped)('%s: each step with a fix has an undo, files to restore, or no_undo', (file) => {
    const restoresFiles = (s: Step): boolean => s.files.length > 0 && s.snapshot.length === 0;
    const without = fixSteps(file).filter((s) => s.undo === undefined && s.noUndo === undefined && !restoresFiles(s)).map((s) => s.name);
    expect(without, `steps of ${file} with a fix but no undo:, no files: to restore and no no_undo:`).toEqual([]);
  });

  it.each(shipped)('%s: an undo, and what it captures, read no value registered during the run', (file) => {
    const rb = loadRunbook(join(dir, file));
    const registered = new Set([...rb.steps, ...rb.handlers].flatMap((s) => (s.register ? [s.register] : [])));
    const reading = fixSteps(file)
      .filter((s) => s.undo !== undefined)
      .flatMap((s) =>
        [...s.files.map((f) => f.path), ...s.snapshot, s.undo!]
          .flatMap((t) => templatePaths(t.text))
          .filter((p) => readsRegistered(p, registered))
          .map((p) => `${s.name}: {{ ${p.join('.')} }}`),
      );
    expect(reading).toEqual([]);
  });
});
