/**
 * The work every tool does, as plain data: the rendered commands of a runbook's steps and how a
 * check passes. The harness writes it; the bare ssh2 floor and the pssh driver read it, so all the
 * tools send the very same command strings.
 */

export interface Expect {
  kind: 'equals' | 'regex';
  value: string;
}

export interface SpecStep {
  name: string;
  check: string;
  expect?: Expect;
  fix: string[];
  verify: string;
  verifyExpect?: Expect;
}

export interface SpecHost {
  name: string;
  address: string;
}

export interface FloorSpec {
  /** 'check': checks only (a failing check is a finding, not an error); 'apply': check → fix → verify. */
  mode: 'check' | 'apply';
  steps: SpecStep[];
  hosts: SpecHost[];
  user: string;
  identityFile: string;
  knownHostsFile: string;
}

/** runbook's rule (src/engine/judge.ts): exit 0 and, with an expectation, stdout minus one trailing newline. */
export function passes(code: number | null, stdout: string, expect?: Expect): boolean {
  if (code !== 0) return false;
  if (!expect) return true;
  const out = stdout.replace(/\r?\n$/, '');
  return expect.kind === 'equals' ? out === expect.value : new RegExp(expect.value).test(out);
}
