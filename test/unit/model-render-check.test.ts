/**
 * renderProblems, the checks validate -i, show --hosts and apply share before any host is touched:
 * a step that reads a value before any step has registered it, and `when:` names that no var,
 * earlier register or built-in provides, each reported once at its line:col.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkRunbookText, formatProblem, loadInventory, renderProblems, type Runbook } from '../../src/model/index.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-render-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const invFile = join(dir, 'inv.yaml');
writeFileSync(invFile, 'defaults: { vars: { motd_file: /etc/motd } }\nhosts:\n  a: { address: 127.0.0.1 }\n  b: { address: 127.0.0.1, vars: { only_b: 1 } }\n');
const inventory = loadInventory(invFile);

function runbook(yaml: string): Runbook {
  const r = checkRunbookText(yaml, '/rb/rb.yaml');
  if (!r.runbook) throw new Error(r.problems.map(formatProblem).join('\n'));
  return r.runbook;
}
const problems = (yaml: string): string[] => renderProblems(runbook(yaml), inventory, inventory.hosts, { secretsNeeded: false }).map(formatProblem);

describe('a value read before any step registers it', () => {
  it('in a command: refused at the placeholder, naming the later step', () => {
    const yaml = 'steps:\n  - name: x\n    check: test {{ n }} = 1\n  - name: y\n    check: echo 1\n    register: n\n';
    expect(problems(yaml)).toEqual([
      '/rb/rb.yaml:3:17: step "x" reads n before any step registers it (n is registered by the later step "y") (move step "y" before step "x": a step reads only what earlier steps registered)',
    ]);
  });

  it("in a step's own command: what it registers exists only once it has run", () => {
    const yaml = 'steps:\n  - name: x\n    check: echo {{ hosts.a.n }}\n    register: n\n';
    expect(problems(yaml)).toEqual([
      '/rb/rb.yaml:3:17: step "x" reads hosts.a.n before any step registers it (n is registered by step "x" itself, once it has run) (read n in a later step: a step reads only what earlier steps registered)',
    ]);
  });

  it('in when:, at the condition', () => {
    const yaml = 'steps:\n  - name: x\n    check: "true"\n    when: n == 1\n  - name: y\n    check: echo 1\n    register: n\n';
    expect(problems(yaml)).toEqual([
      '/rb/rb.yaml:4:11: step "x" reads n before any step registers it (n is registered by the later step "y") (move step "y" before step "x": a step reads only what earlier steps registered)',
    ]);
  });

  it('is no problem where a var of that name gives the earlier steps a value, or an earlier step registered it', () => {
    expect(problems('vars: { n: 0 }\nsteps:\n  - name: x\n    check: test {{ n }} = 1\n    when: n == 0\n  - name: y\n    check: echo 1\n    register: n\n')).toEqual([]);
    expect(problems('steps:\n  - name: y\n    check: echo 1\n    register: n\n  - name: x\n    check: test {{ n }} = 1\n    when: n == 1\n    register: n\n')).toEqual([]);
  });
});

describe('when: names', () => {
  it('an undefined name is refused with "did you mean", once for all hosts', () => {
    expect(problems('steps:\n  - name: x\n    check: "true"\n    when: motd_fil == 1\n')).toEqual([
      `/rb/rb.yaml:4:11: undefined variable "motd_fil" in the when: of step "x" for host a (did you mean "motd_file"?; define it in the runbook's vars or the inventory, or pass --var motd_fil=..., or test it with defined(motd_fil))`,
    ]);
  });

  it('names are own properties: toString is no name', () => {
    expect(problems('steps:\n  - name: x\n    check: "true"\n    when: toString == 1\n')).toEqual([
      `/rb/rb.yaml:4:11: undefined variable "toString" in the when: of step "x" for host a (define it in the runbook's vars or the inventory, or pass --var toString=..., or test it with defined(toString))`,
    ]);
  });

  it('a name one host lacks is reported for that host', () => {
    expect(problems('steps:\n  - name: x\n    check: "true"\n    when: only_b == 1\n')).toEqual([
      `/rb/rb.yaml:4:11: undefined variable "only_b" in the when: of step "x" for host a (define it in the runbook's vars or the inventory, or pass --var only_b=..., or test it with defined(only_b))`,
    ]);
  });

  it('accepts vars, earlier registers, built-ins, and names tested with defined()', () => {
    const yaml = [
      'steps:',
      '  - name: r',
      '    check: echo 1',
      '    register: n',
      '  - name: x',
      '    check: "true"',
      `    when: "n == 1 and motd_file != '' and host.name in ['a', 'b'] and defined(hosts.b.only_b) and (not defined(opt) or opt == 'y')"`,
      '',
    ].join('\n');
    expect(problems(yaml)).toEqual([]);
  });
});
