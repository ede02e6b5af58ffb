import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkInventory, checkRunbookText, formatProblem, loadRunbookFile, MAX_FILE_BYTES, UserError } from '../../src/model/index.js';
import { RUNBOOK_ERROR_CASES } from './runbook-error-cases.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-err-'));
let n = 0;
function file(name: string, text: string | Buffer): string {
  const sub = join(dir, String(n++));
  mkdirSync(sub);
  const p = join(sub, name);
  writeFileSync(p, text);
  return p;
}
/** Problems as "line:col: message (hint)", file name stripped. */
const runbookProblems = (yaml: string, name = 'rb.yaml') => checkRunbookText(yaml, name).problems.map((p) => formatProblem(p).replace(/^rb\.yaml:/, ''));
const inventoryProblems = (text: string, name = 'inv.yaml') => {
  const f = file(name, text);
  return checkInventory(f).problems.map((p) => formatProblem(p).replace(`${f}:`, ''));
};

describe('runbook errors carry line:col', () => {
  it.each(RUNBOOK_ERROR_CASES)('%s', (_kind, yaml, expected) => {
    const problems = runbookProblems(yaml);
    if (typeof expected === 'string') expect(problems).toEqual([expected]);
    else {
      expect(problems.length).toBeGreaterThan(0);
      expect(problems[0]).toMatch(expected);
    }
  });

  it('reports every problem at once, in file order, schema and template problems together', () => {
    const yaml = ['descripton: x', 'steps:', '  - name: one', '    chek: a', '    timeout: soon', '  - name: two', '    check: echo {{ a | nope }}', ''].join('\n');
    expect(runbookProblems(yaml)).toEqual([
      '1:1: unknown key "descripton" (did you mean "description"?)',
      '3:5: missing required key "check" in steps[0]',
      '4:5: unknown key "chek" in steps[0] (did you mean "check"?)',
      '5:14: steps[0].timeout: expected a duration such as "30s", "2m", "500ms", or a number of seconds',
      '7:12: unknown template filter "nope" in "{{ a | nope }}"; filters are: raw, json',
    ]);
  });

  it('duplicate keys do not hide schema problems', () => {
    expect(runbookProblems('steps:\n  - name: s\n    check: a\n    check: b\n    fixx: c\n')).toEqual([
      '4:5: duplicate key "check" (a key may appear once in a mapping; remove or rename one)',
      '5:5: unknown key "fixx" in steps[0] (did you mean "fix"?)',
    ]);
  });

  it('refuses a billion-laughs alias expansion quickly', () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    const start = Date.now();
    expect(runbookProblems(lines.join('\n'))).toEqual(['1:1: too many alias expansions (over 1000) (anchors and aliases may not be nested to expand this much)']);
    expect(Date.now() - start).toBeLessThan(2000);
  });

  it('refuses absurd nesting with a located error, not a crash', () => {
    expect(runbookProblems(`steps: ${'['.repeat(5000)}${']'.repeat(5000)}\n`)).toEqual([expect.stringMatching(/^1:\d+: YAML nested too deeply/)]);
  });

  it('refuses huge and binary files with a located one-line error', () => {
    const big = file('big.yaml', `# ${'x'.repeat(MAX_FILE_BYTES)}\n`);
    expect(() => loadRunbookFile(big)).toThrow(new RegExp(`^${big}:1:1: file is \\d+ bytes; runbook reads at most ${MAX_FILE_BYTES} bytes`));
    const bin = file('bin.yaml', Buffer.from('steps:\n  - \0\x01\x02'));
    expect(() => loadRunbookFile(bin)).toThrow(`${bin}:2:5: binary data (NUL byte) in a text file (is this really a runbook?)`);
    expect(() => loadRunbookFile(join(dir, 'missing.yaml'))).toThrow(UserError);
    const bigInventory = file('big-inventory.yaml', `# ${'x'.repeat(MAX_FILE_BYTES)}\n`);
    expect(() => checkInventory(bigInventory)).toThrow(`${bigInventory}:1:1: file is ${MAX_FILE_BYTES + 3} bytes; runbook reads at most ${MAX_FILE_BYTES} bytes (is this really an inventory?)`);
  });
});

describe('validate refuses what apply refuses, every problem at once', () => {
  it('conditions, changed() and groups.* are checked when the runbook is loaded, together with schema-level problems', () => {
    const yaml = [
      'steps:',
      '  - name: a',
      '    check: "true"',
      '    timeout: 0s',
      '  - name: b',
      '    check: "true"',
      '    when: "x ==="',
      '  - name: c',
      '    check: "true"',
      '    when: changed("zz")',
      '  - name: d',
      '    check: echo {{ groups.workers.mac }}',
      '    expect: "{{ want }}"',
      '',
    ].join('\n');
    expect(runbookProblems(yaml)).toEqual([
      '4:14: timeout must be positive (e.g. "30s")',
      expect.stringMatching(/^7:11: bad when: condition in step "b": /),
      '10:11: when: changed("zz") in step "c" names no earlier step (changed() takes the name of a step that comes before this one)',
      expect.stringMatching(/^12:12: groups\.workers\.mac in step "d": no earlier step registers "mac" /),
      '13:13: expect is not templated: "{{ want }}" is compared as written, so the check can never pass (compare in the check instead, e.g. check: test "$(cmd)" = {{ want }})',
    ]);
  });

  it('a schema error (a bad key, a bad timeout) in one step hides nothing in the others', () => {
    const yaml = ['steps:', '  - name: a', '    check: "true"', '    timeout: forever', '    chek: x', '  - name: b', '    check: echo {{ x', '    expect: "{{ want }}"', '    timeout: 0s', ''].join('\n');
    expect(runbookProblems(yaml)).toEqual([
      expect.stringMatching(/^4:14: steps\[0\]\.timeout: expected a duration/),
      '5:5: unknown key "chek" in steps[0] (did you mean "check"?)',
      expect.stringMatching(/^7:12: /),
      expect.stringMatching(/^8:13: expect is not templated/),
      '9:14: timeout must be positive (e.g. "30s")',
    ]);
  });
});

describe('inventory errors carry line:col', () => {
  it.each([
    ['unknown key', 'hosts:\n  a: { adress: 1.2.3.4 }\n', ['2:8: unknown key "adress" in hosts.a (did you mean "address"?)']],
    ['bad port', 'hosts:\n  a: { port: 70000 }\n', ['2:14: hosts.a.port: Too big: expected number to be <=65535']],
    ['group lists unknown host', 'groups:\n  w: { hosts: [a, bb] }\nhosts:\n  a:\n  b:\n', ['2:19: group "w" lists host "bb", which is not under hosts (did you mean "b"?)']],
    ['unknown child', 'groups:\n  w: { hosts: [a] }\n  c: { children: [ww] }\nhosts:\n  a:\n', ['3:19: group "c" has child "ww", which is not under groups (did you mean "w"?)']],
    ['children cycle', 'groups:\n  x: { children: [y] }\n  y: { children: [x] }\nhosts:\n  a: { groups: [x] }\n', [expect.stringMatching(/^\d+:3: group "[xy]" is its own ancestor \(children form a cycle\)/)]],
    ['host and group share a name', 'groups:\n  a: { hosts: [a] }\nhosts:\n  a:\n', ['2:3: "a" is both a host and a group (host patterns would be ambiguous; rename one)']],
    ['reserved group', 'groups:\n  all: { vars: { x: 1 } }\nhosts:\n  a:\n', ['2:3: group name "all" is reserved (put vars for every host under defaults.vars)']],
    ['duplicate host', 'hosts:\n  a:\n  a:\n', ['3:3: duplicate key "a" (a key may appear once in a mapping; remove or rename one)']],
    // Two merge keys are two merges, not a duplicate; the only problem is the unknown key they bring.
    ['two merge keys', 'hosts:\n  a: { <<: { address: 1.2.3.4 }, <<: { porrt: 22 } }\n', ['2:6: unknown key "porrt" in hosts.a (did you mean "port"?)']],
  ])('%s', (_kind, text, expected) => {
    expect(inventoryProblems(text)).toEqual(expected);
  });

  it.each([
    ['bad section', 'a\n[web:childern]\nb\n', ['2:1: bad section header [web:childern] (did you mean "children"?)']],
    ['bad host var', '[web]\nw1 ansible_port\n', ['2:4: expected key=value after host "w1", got "ansible_port" (one host per line; vars as key=value)']],
    ['bad range', '[web]\nw[9:1]\n', ['2:1: bad host range [9:1]']],
    ['bad port', '[web]\nw1 ansible_port=ssh\n', [expect.stringMatching(/^2:1: host "w1": ansible_port "ssh" is not a port number/)]],
    ['unsupported connection', '[web]\nw1 ansible_connection=winrm\n', ['2:1: host "w1": ansible_connection "winrm" is not supported (runbook connects with ssh or local)']],
  ])('Ansible INI: %s', (_kind, text, expected) => {
    expect(inventoryProblems(text, 'hosts.ini')).toEqual(expected);
  });

  it('a known_hosts file the inventory names must exist: reported once, where it is named', () => {
    const at = (text: string, name: string) => {
      const f = file(name, text);
      return checkInventory(f).problems.map((p) => formatProblem(p).replace(`${f}:`, '').replace(`${dirname(f)}/`, ''));
    };
    const hint = "(fix the path (a relative one is read from the inventory's directory), create the file, or remove the setting)";
    expect(at('defaults:\n  known_hosts: no-such-file\nhosts:\n  a:\n  b:\n', 'inv.yaml')).toEqual([`2:16: known_hosts file no-such-file (from the inventory's defaults) does not exist ${hint}`]);
    expect(at('hosts:\n  a: { known_hosts: kh }\n  b:\n', 'inv.yaml')).toEqual([`2:21: known_hosts file kh (from host "a") does not exist ${hint}`]);
    expect(at('[web]\nw1\nw2\n[web:vars]\nansible_ssh_common_args=-o UserKnownHostsFile=kh2\n', 'hosts.ini')).toEqual([`2:1: known_hosts file kh2 (from the ssh args of host "w1") does not exist ${hint}`]);
    // OpenSSH's own choice of "no file" stays valid.
    expect(at('[web]\nw1 ansible_ssh_common_args="-o UserKnownHostsFile=/dev/null"\n', 'hosts.ini')).toEqual([]);
  });

  it('Ansible YAML: unknown group key', () => {
    expect(inventoryProblems('all:\n  children:\n    web:\n      host:\n        w1:\n')).toEqual(['4:7: unknown key "host" in group "web" (did you mean "hosts"?)']);
  });
});
