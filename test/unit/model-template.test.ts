import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildTemplateContext,
  checkRunbookText,
  contextSecrets,
  createRedactor,
  loadInventory,
  lookupValue,
  parseCliVars,
  renderCommand,
  shellQuote,
  UserError,
  type Runbook,
} from '../../src/model/index.js';

const HOSTILE = [
  `'; rm -rf / #`,
  '$(reboot)',
  '`reboot`',
  'a\nb\n',
  '-n',
  '--help',
  '',
  ' lead and trail ',
  `it's "quoted" \\ back`,
  '*',
  '~root',
  '${HOME}',
  'a;b|c&d>e<f',
  '\t',
  'ünïcödé ✓',
];

function runbook(yaml: string, file = '/rb/test.yaml'): Runbook {
  const r = checkRunbookText(yaml, file);
  if (!r.runbook) throw new Error(r.problems.map((p) => p.message).join('\n'));
  return r.runbook;
}

describe('shell quoting', () => {
  it.each(HOSTILE)('%j reaches sh -c as one literal argument', (value) => {
    const ctx = buildTemplateContext({ cliVars: { x: value } });
    const { command } = renderCommand('printf %s {{ x }}', ctx);
    expect(execFileSync('sh', ['-c', command], { encoding: 'utf8' })).toBe(value);
    // And as exactly one word.
    const count = execFileSync('sh', ['-c', renderCommand('set -- {{ x }}; printf %s "$#"', ctx).command], { encoding: 'utf8' });
    expect(count).toBe('1');
  });

  it('leaves safe words bare', () => {
    expect(shellQuote('/etc/sysctl.d/99-sysctl.conf')).toBe('/etc/sysctl.d/99-sysctl.conf');
    expect(shellQuote('10.100.0.0/16')).toBe('10.100.0.0/16');
    expect(shellQuote('')).toBe("''");
  });

  it('| raw substitutes verbatim, | json substitutes quoted JSON', () => {
    const ctx = buildTemplateContext({ cliVars: { opts: '-n -e' } });
    expect(renderCommand('echo {{ opts | raw }} x', ctx).command).toBe('echo -n -e x');
    const r = runbook('steps:\n  - name: s\n    check: "true"\nvars:\n  list: [1, "a b"]\n');
    const c = renderCommand('printf %s {{ list | json }}', buildTemplateContext({ runbook: r })).command;
    expect(execFileSync('sh', ['-c', c], { encoding: 'utf8' })).toBe('[1,"a b"]');
  });
});

describe('template context', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-tpl-'));
  const invFile = join(dir, 'inv.yaml');
  writeFileSync(
    invFile,
    [
      'defaults: { vars: { level: defaults, pw: { secret: true, value: hunter2pw } } }',
      'groups: { workers: { hosts: [a, d], vars: { level: group, only_group: g } } }',
      'hosts:',
      '  a: { address: 10.0.0.1 }',
      '  d: { address: 10.0.0.4, vars: { level: host, mac: "c6:d2:32:6f:8f:44" } }',
      '',
    ].join('\n'),
  );
  const inv = loadInventory(invFile);
  const d = inv.hosts.find((h) => h.name === 'd')!;
  const rb = runbook(
    [
      'vars:',
      '  level: runbook',
      '  only_runbook: r',
      '  nested: { a: { b: deep } }',
      '  token: { secret: true, value: "tok$(x)en" }',
      'steps:',
      '  - name: first',
      '    check: echo {{ level }}',
      '  - name: uses undefined',
      '    check: |',
      '      echo ok',
      '      echo {{ missing_var }}',
      '',
    ].join('\n'),
  );

  it('precedence: runbook < group < host < registered < --var', () => {
    const r = (cliVars?: Record<string, string>, registered?: Record<string, unknown>) =>
      renderCommand('{{ level }}', buildTemplateContext({ runbook: rb, inventory: inv, host: d, cliVars, registered })).command;
    expect(renderCommand('{{ level }}', buildTemplateContext({ runbook: rb })).command).toBe('runbook');
    expect(renderCommand('{{ level }}', buildTemplateContext({ runbook: rb, inventory: inv, host: inv.hosts[0] })).command).toBe('group');
    expect(r()).toBe('host');
    expect(r(undefined, { level: 'registered' })).toBe('registered');
    expect(r({ level: 'cli' }, { level: 'registered' })).toBe('cli');
  });

  it('| raw never substitutes a var the inventory set, read at any depth', () => {
    const ctx = buildTemplateContext({ runbook: rb, inventory: inv, host: d });
    expect(() => renderCommand('{{ level | raw }}', ctx)).toThrow(/"level" is substituted raw \(unquoted\) here for host d, and the inventory sets it/);
    const withMap = buildTemplateContext({ runbook: rb, inventory: inv, host: { ...d, vars: { ...d.vars, cfg: { cmd: 'reboot' } } } });
    expect(() => renderCommand('{{ cfg.cmd | raw }}', withMap)).toThrow(/"cfg" is substituted raw \(unquoted\) here for host d, and the inventory sets it/);
    expect(renderCommand('{{ nested.a.b | raw }}', ctx).command).toBe('deep');
  });

  it('reads dotted paths, built-ins and other hosts', () => {
    const ctx = buildTemplateContext({ runbook: rb, inventory: inv, host: d, registeredByHost: new Map([['a', { leases: { count: 2 } }]]) });
    const render = (t: string) => renderCommand(t, ctx).command;
    expect(render('{{ nested.a.b }} {{ only_runbook }} {{ only_group }}')).toBe('deep r g');
    expect(render('{{ host.name }} {{ host.address }} {{ host.groups | raw }}')).toBe('d 10.0.0.4 ["workers"]');
    expect(render('{{ hosts.d.mac }} {{ hosts.a.address }} {{ hosts.a.leases.count }}')).toBe('c6:d2:32:6f:8f:44 10.0.0.1 2');
    expect(JSON.parse(renderCommand('{{ inventory.hosts | raw }}', ctx).command)).toEqual([
      { name: 'a', address: '10.0.0.1', groups: ['workers'] },
      { name: 'd', address: '10.0.0.4', groups: ['workers'] },
    ]);
  });

  it('groups.<group>.<var> maps the run\'s targets in the group that registered <var>; groups.<group>.hosts lists them', () => {
    const three = loadInventory(
      (() => {
        const f = join(dir, 'inv3.yaml');
        writeFileSync(f, 'groups: { workers: { hosts: [a, b, c] }, etcd: { hosts: [m] } }\nhosts:\n  m: {}\n  a: {}\n  b: {}\n  c: {}\n');
        return f;
      })(),
    );
    // c is a target that registered nothing (unreachable); m is no worker; b is not a target.
    const registeredByHost = new Map<string, Record<string, unknown>>([
      ['a', { facts: { ip: '10.0.0.1' }, n: 1 }],
      ['b', { facts: { ip: '10.0.0.2' } }],
      ['m', { facts: { ip: '10.0.0.9' } }],
    ]);
    const ctx = buildTemplateContext({ inventory: three, host: three.hosts[0], registeredByHost, targets: ['m', 'a', 'c'] });
    const json = (t: string): unknown => JSON.parse(renderCommand(`{{ ${t} | raw }}`, ctx).command);
    expect(json('groups.workers.facts')).toEqual({ a: { ip: '10.0.0.1' } });
    expect(json('groups.workers.hosts')).toEqual(['a', 'c']);
    expect(json('groups.workers')).toEqual({ hosts: ['a', 'c'], facts: { a: { ip: '10.0.0.1' } }, n: { a: 1 } });
    expect(json('groups.all.facts')).toEqual({ m: { ip: '10.0.0.9' }, a: { ip: '10.0.0.1' } });
    expect(json('groups.etcd.n')).toEqual({});
    expect(renderCommand('{{ groups.workers.facts.a.ip }}', ctx).command).toBe('10.0.0.1');
    expect(lookupValue(ctx, ['groups', 'workers', 'facts', 'c'])).toBeUndefined();
    expect(() => renderCommand('{{ groups.nosuch.facts }}', ctx)).toThrow(/undefined variable "groups.nosuch.facts".*needs an inventory group/);
    // Outside a run (no targets) groups.* does not exist.
    expect(() => renderCommand('{{ groups.workers.facts }}', buildTemplateContext({ inventory: three, registeredByHost }))).toThrow(/undefined variable "groups.workers.facts"/);
  });

  it('masks secrets in the display string only', () => {
    const ctx = buildTemplateContext({ runbook: rb, inventory: inv, host: d });
    const r = renderCommand('login {{ token }} {{ pw }} {{ host.name }}', ctx);
    expect(r.command).toBe(`login 'tok$(x)en' hunter2pw d`);
    expect(r.display).toBe('login ******** ******** d');
  });

  it('a brief display summarises a bulky value (a shell library, a JSON blob); the display and the command are whole', () => {
    const lib = Array.from({ length: 84 }, (_, i) => `f${i}() { :; }`).join('\n');
    const blob = JSON.stringify({ hosts: Array.from({ length: 60 }, (_, i) => `node-${i}`) });
    const ctx = buildTemplateContext({ cliVars: { lib, blob, small: 'a\nb\nc\nd' } });
    const r = renderCommand('X={{ small }}\n{{ lib | raw }}\nJ={{ blob }}', ctx);
    expect(r.command).toBe(`X='a\nb\nc\nd'\n${lib}\nJ=${shellQuote(blob)}`);
    expect(r.display).toBe(r.command);
    expect(r.brief).toBe(`X='a\nb\nc\nd'\n{{ lib: 84 lines }}\nJ={{ blob: ${shellQuote(blob).length} chars }}`);
    expect(renderCommand('X={{ small }}', ctx)).not.toHaveProperty('brief');
  });

  it('a --var override of a secret var stays secret', () => {
    const ctx = buildTemplateContext({ runbook: rb, inventory: inv, host: d, cliVars: { token: 'cli-tok3n', level: 'cli' } });
    const r = renderCommand('login {{ token }} {{ level }}', ctx);
    expect(r.command).toBe('login cli-tok3n cli');
    expect(r.display).toBe('login ******** cli');
    expect(createRedactor(contextSecrets(ctx))('echoed cli-tok3n')).toBe('echoed ********');
  });

  it('redacts secret values, raw or shell-quoted, in host output', () => {
    const redact = createRedactor(contextSecrets(buildTemplateContext({ runbook: rb, inventory: inv, host: d })));
    expect(redact(`echo 'tok$(x)en' then tok$(x)en and hunter2pw.`)).toBe('echo ******** then ******** and ********.');
    expect(createRedactor([])('unchanged')).toBe('unchanged');
    expect(createRedactor(['ab'])('ab stays: too short to mask')).toBe('ab stays: too short to mask');
  });

  it('an undefined variable names file:line:col, step and host', () => {
    const ctx = buildTemplateContext({ runbook: rb, inventory: inv, host: d });
    const step = rb.steps[1]!;
    try {
      renderCommand(step.check, ctx, { step: step.name });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      expect((e as UserError).format()).toBe(
        `/rb/test.yaml:12:12: undefined variable "missing_var" in step "uses undefined" for host d (define it in the runbook's vars or the inventory, or pass --var missing_var=...)`,
      );
    }
    expect(() => renderCommand('{{ hosts.zz.mac }}', ctx)).toThrow(/undefined variable "hosts.zz.mac"/);
    expect(() => renderCommand('{{ nested.a.c }}', ctx)).toThrow(/undefined variable "nested.a.c"/);
  });

  it('an undefined name gets a did-you-mean from the names that exist', () => {
    const ctx = buildTemplateContext({ runbook: runbook('vars:\n  motd_file: /etc/motd\nsteps:\n  - name: s\n    check: "true"\n'), inventory: inv, host: d });
    expect(() => renderCommand('cat {{ mtod_file }}', ctx)).toThrow(
      `undefined variable "mtod_file" for host d (did you mean "motd_file"?; define it in the runbook's vars or the inventory, or pass --var mtod_file=...)`,
    );
  });

  it("names are looked up as own properties only: Object's are undefined names, in templates and in conditions", () => {
    const ctx = buildTemplateContext({ runbook: rb, inventory: inv, host: d });
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'hosts.d.constructor', 'hosts.d.__proto__', 'host.constructor']) {
      expect(() => renderCommand(`echo {{ ${name} }}`, ctx), name).toThrow(`undefined variable "${name}"`);
      expect(lookupValue(ctx, name.split('.')), name).toBeUndefined();
    }
  });

  it('an unavailable secret fails only when a command uses it', () => {
    const r = runbook('vars:\n  t: { secret: true, env: RUNBOOK_TEST_NEVER_SET }\nsteps:\n  - name: s\n    check: "true"\n');
    const ctx = buildTemplateContext({ runbook: r });
    expect(renderCommand('true', ctx).command).toBe('true');
    expect(() => renderCommand('echo {{ t }}', ctx)).toThrow(/\/rb\/test.yaml:2:6: secret "t" is unavailable: environment variable RUNBOOK_TEST_NEVER_SET is not set/);
  });
});

describe('parseCliVars', () => {
  it('splits at the first =', () => {
    expect(parseCliVars(['a=1', 'b=x=y', 'c='])).toEqual({ a: '1', b: 'x=y', c: '' });
  });
  it('rejects every malformed one at once', () => {
    expect(() => parseCliVars(['=1', 'no-eq', '1a=2'])).toThrow(/bad --var "=1".*\n.*bad --var "no-eq".*\n.*bad --var "1a=2"/);
  });
});
