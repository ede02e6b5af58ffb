/**
 * Vars the operator sets for one run without putting them in argv (where every local user reads
 * them in ps): RUNBOOK_VAR_<name> environment variables and --var-file FILE, below --var.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { operatorVars } from '../../src/model/operator-vars.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-opvars-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('operator vars', () => {
  it('environment < --var-file (in order) < --var', () => {
    const f1 = join(dir, 'one.yaml');
    const f2 = join(dir, 'two.yaml');
    writeFileSync(f1, 'token: from-file-1\nport: 6443\nname: one\n');
    writeFileSync(f2, 'name: two\n');
    const vars = operatorVars({
      env: { RUNBOOK_VAR_token: 'from-env', RUNBOOK_VAR_only_env: 'e', PATH: '/bin' },
      varFiles: [f1, f2],
      vars: ['name=cli'],
    });
    expect(vars).toEqual({ token: 'from-file-1', only_env: 'e', port: '6443', name: 'cli' });
  });

  it('a var file must be a map of names to scalar values; every problem located, at once', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'ok: 1\n1bad: x\nnested: { a: 1 }\n');
    expect(() => operatorVars({ env: {}, varFiles: [bad], vars: [] })).toThrow(
      `${bad}:2:1: bad var name "1bad" (names: letters, digits, _; not starting with a digit)\n${bad}:3:9: var "nested" must be a string, number or boolean (a --var-file sets plain values)`,
    );
    const list = join(dir, 'list.yaml');
    writeFileSync(list, '- a\n');
    expect(() => operatorVars({ env: {}, varFiles: [list], vars: [] })).toThrow(`${list}:1:1: a var file is a map of name: value`);
    expect(() => operatorVars({ env: {}, varFiles: [join(dir, 'missing.yaml')], vars: [] })).toThrow(/missing\.yaml/);
  });

  it('a bad environment variable name is refused naming it', () => {
    expect(() => operatorVars({ env: { 'RUNBOOK_VAR_a-b': 'x' }, varFiles: [], vars: [] })).toThrow(
      'bad environment variable RUNBOOK_VAR_a-b (use RUNBOOK_VAR_<name>, name: letters, digits, _)',
    );
  });
});
