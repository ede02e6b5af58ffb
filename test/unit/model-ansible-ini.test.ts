import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkInventory, type Inventory } from '../../src/model/index.js';
import { iniValue, shlexSplit } from '../../src/model/python-literal.js';

function ini(text: string): { inventory?: Inventory; problems: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'rb-ini-'));
  writeFileSync(join(dir, 'hosts'), text);
  const r = checkInventory(join(dir, 'hosts'));
  return { inventory: r.inventory, problems: r.problems.map((p) => `${p.pos ? `${p.pos.line}:${p.pos.col}: ` : ''}${p.message}${p.hint ? ` (${p.hint})` : ''}`) };
}
const varsOf = (text: string, host: string): Record<string, unknown> => ini(text).inventory!.hosts.find((h) => h.name === host)!.vars;

describe('Python literals, as ast.literal_eval reads INI values', () => {
  it.each([
    ['42', 42],
    ['-7', -7],
    ['0x1F', 31],
    ['0o17', 15],
    ['0b101', 5],
    ['1_000', 1000],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['1e3', 1000],
    ['True', true],
    ['False', false],
    ['None', null],
    ["'quoted'", 'quoted'],
    ['"a" \'b\'', 'ab'],
    ["'tab\\there'", 'tab\there'],
    ["r'raw\\n'", 'raw\\n'],
    ["'\\x41\\u00e9'", 'Aé'],
    ["{'disk': 'ssd', 'n': [1, 2]}", { disk: 'ssd', n: [1, 2] }],
    ['[80, 443]', [80, 443]],
    ['(1, 2)', [1, 2]],
    ['1, 2', [1, 2]],
    ['(1,)', [1]],
    ['()', []],
    ['{}', {}],
    ['{1: True}', { 1: true }],
    ['1 # a comment', 1],
    // Not Python literals: the text itself.
    ['true', 'true'],
    ['yes', 'yes'],
    ['010', '010'],
    ['1j', '1j'],
    ['a,b', 'a,b'],
    ['-True', '-True'],
    ['hello world', 'hello world'],
    ["{'a': 1", "{'a': 1"],
    ['', ''],
    ["f'x'", "f'x'"],
    ['--1', '--1'],
  ])('%s', (text, value) => {
    expect(iniValue(text)).toEqual(value);
  });
});

describe('host lines split like shlex with comments', () => {
  it.each([
    ['h a=1 b="two words"', ['h', 'a=1', 'b=two words']],
    ["h a='x y' # comment", ['h', 'a=x y']],
    ['h a=x#y b=2', ['h', 'a=x']],
    ['h a="x#y"', ['h', 'a=x#y']],
    ['h a=x\\ y', ['h', 'a=x y']],
    ['h a="q\\"q" b=\'s\\\'', ['h', 'a=q"q', 'b=s\\']],
    ['h a=1 ; b=2', ['h', 'a=1', ';', 'b=2']],
  ])('%s', (line, words) => {
    expect(shlexSplit(line)).toMatchObject(words.map((word) => ({ word })));
  });

  it('an unclosed quote is an error at the quote', () => {
    expect(shlexSplit('h a="x')).toEqual({ error: 'no closing quotation for the " at column 5', col: 5 });
  });
});

describe('INI values as Ansible reads them', () => {
  it('host-line values are literals after shlex removed the quotes', () => {
    const v = varsOf(`[k8s]\nn1 node_labels="{'disk': 'ssd'}" ports="[80, 443]" s="'kept'" w=yes t=True f=1.0 raw="x y"\n`, 'n1');
    expect(v).toEqual({ node_labels: { disk: 'ssd' }, ports: [80, 443], s: 'kept', w: 'yes', t: true, f: 1, raw: 'x y' });
  });

  it(':vars values are literals of the whole text after "=", quotes included', () => {
    const v = varsOf(`[g]\nh\n[g:vars]\nd={'a': 1}\nq="{'a': 1}"\nplain = two words\nc=1 # note\nw=x # note\nempty=\n`, 'h');
    expect(v).toEqual({ d: { a: 1 }, q: "{'a': 1}", plain: 'two words', c: 1, w: 'x # note', empty: '' });
  });

  it('host:port sets ansible_port, and a var on the line wins over it', () => {
    const inv = ini('[w]\na:2222\nb:2222 ansible_port=22\nweb[1:2]:2200\n[::1]:2201\n').inventory!;
    expect(inv.hosts.map((h) => [h.name, h.port])).toEqual([['a', 2222], ['b', 22], ['web1', 2200], ['web2', 2200], ['::1', 2201]]);
  });

  it('ranges expand as Ansible does: begin defaults to 0, padding, letters a-z then A-Z, several ranges', () => {
    const names = ini('n[:2]\nm[08:10]\nl[y:B]\nx[1:3:2]-[a:b]\n').inventory!.hosts.map((h) => h.name);
    expect(names).toEqual(['n0', 'n1', 'n2', 'm08', 'm09', 'm10', 'ly', 'lz', 'lA', 'lB', 'x1-a', 'x1-b', 'x3-a', 'x3-b']);
  });

  it.each([
    ['[g:vars] for an undeclared group', '[g:vars]\nx=1\n', ['1:1: [g:vars] is for a group this inventory never declares (declare it with a [g] or [g:children] section, as Ansible requires)']],
    ['an undeclared child', '[p:children]\nc\n', ['2:1: [p:children] names group "c", which this inventory never declares (add a [c] or [c:children] section, as Ansible requires)']],
    ['a header with a space', '[web servers]\nh\n', ['1:1: bad section header [web servers] (use [group], [group:children] or [group:vars] on a line of its own, without spaces; a comment after it starts with #)']],
    ['an unclosed quote', '[g]\nh a="x\n', ['2:5: cannot split the host line: no closing quotation for the " at column 5 (close the quote, or escape it with a backslash)']],
    ['a trailing colon', '[g]\nh:\n', ['2:1: host "h:" ends in ":", which Ansible reserves for a port (write host:PORT, or drop the ":")']],
    ['unequal zero-padding', 'n[01:100]\n', ['1:1: bad host range [01:100]: begin and end must have the same width when begin is zero-padded']],
  ])('refuses %s', (_what, text, problems) => {
    expect(ini(text).problems).toEqual(problems);
  });

  it('a child declared after its parent section is linked', () => {
    const inv = ini('[p:children]\nc\n[p:vars]\nx=1\n[c]\nh\n').inventory!;
    expect(inv.hosts[0]).toMatchObject({ name: 'h', groups: ['p', 'c'], vars: { x: 1 } });
  });
});

describe('inventory directories and several sources, as Ansible reads them', () => {
  const fx = join(process.cwd(), 'test/fixtures/ansible');

  it('a directory: its files in name order (INI without extension, YAML, subdirectories), minus the ones Ansible ignores', () => {
    const r = checkInventory(join(fx, 'mixed'));
    expect(r.problems).toEqual([]);
    expect(r.inventory!.hosts.map((h) => h.name).sort()).toEqual(['ca', 'cb', 'd1', 'd2', 'lb1', 'w1', 'w2', 'w3', 'w4', 'w5']);
  });

  it('group_vars and host_vars: the first of name, .yml, .yaml, .json; a directory of files in order; above all inline group vars', () => {
    const w1 = checkInventory(join(fx, 'mixed')).inventory!.hosts.find((h) => h.name === 'w1')!;
    expect(w1.vars).toMatchObject({ ntp: 'ntp.example.com', region: 'eu-2', tier: 'web-files-2', extra_no_ext: 1, env: 'prod-files', http_port: 7070, tags: ['a', 'b'] });
    expect(w1.vars).not.toHaveProperty('skipped');
    expect(w1.vars).not.toHaveProperty('ignored');
  });

  it('several sources merge in order', () => {
    const inv = checkInventory([join(fx, 'multi/first/hosts.yml'), join(fx, 'multi/second/hosts')]).inventory!;
    expect(inv.hosts.map((h) => [h.name, h.groups, h.vars.level, h.vars.gv])).toEqual([
      ['a', ['g', 'h'], 'first', 'files'],
      ['b', ['g'], 'second', 'files'],
      ['c', ['g'], 'files', 'files'],
    ]);
  });

  it('a directory whose inventory.ini Ansible skips says which file to pass', () => {
    const dir = join(fx, 'skipped-ini');
    expect(checkInventory(dir).problems).toEqual([{ message: `inventory directory ${dir} has no hosts: inventory.ini is skipped in directories, as Ansible does`, hint: `use -i ${dir}/inventory.ini` }]);
  });
});

describe('every ansible_* var is honoured, ignored by design, or refused', () => {
  it.each([
    ['ansible_password=x', '2:1: host "h": ansible_password is not supported (runbook logs in with keys or the ssh agent: set ansible_ssh_private_key_file)'],
    ['ansible_become_user=postgres', '2:1: host "h": ansible_become_user "postgres" is not supported (runbook becomes root only; to act as another user, log in as it with ansible_user)'],
    ['ansible_become_method=su', '2:1: host "h": ansible_become_method "su" is not supported (runbook becomes root with sudo; remove it or set it to sudo)'],
    ['ansible_host_key_checking=False', '2:1: host "h": ansible_host_key_checking is not supported (runbook always verifies host keys: add them to known_hosts, or name a file with -o UserKnownHostsFile=FILE in ansible_ssh_common_args)'],
    ['ansible_distribution=Debian', '2:1: host "h": ansible_distribution is not an ansible_* var runbook knows (remove it, or rename it if a runbook reads it (docs/formats.md lists the ones runbook knows))'],
    [`ansible_ssh_common_args="-o ProxyCommand='ssh -W %h:%p bastion'"`, `2:1: host "h": ansible_ssh_common_args: "-o ProxyCommand=ssh -W %h:%p bastion" is not supported (runbook understands -o ProxyJump=HOST, -J HOST and -o UserKnownHostsFile=FILE here; a ProxyCommand bastion is -o ProxyJump=USER@BASTION)`],
    ['ansible_ssh_extra_args="-o StrictHostKeyChecking=no"', '2:1: host "h": ansible_ssh_extra_args: "-o StrictHostKeyChecking=no" is not supported (runbook always verifies host keys: add them to known_hosts, or name a file with -o UserKnownHostsFile=FILE in ansible_ssh_common_args)'],
    ['ansible_ssh_common_args="-o ProxyJump={{ bastion }}"', '2:1: host "h": ansible_ssh_common_args: a Jinja expression is not supported (runbook does not evaluate Jinja in inventories; write the value out)'],
    ['ansible_connection=winrm', '2:1: host "h": ansible_connection "winrm" is not supported (runbook connects with ssh or local)'],
  ])('refuses %s', (assignment, problem) => {
    expect(ini(`[g]\nh ${assignment}\n`).problems).toEqual([problem]);
  });

  it('reports a group var once, at its first host', () => {
    expect(ini('[g]\na\nb\n[g:vars]\nansible_ssh_pass=x\n').problems).toEqual(['2:1: host "a": ansible_ssh_pass is not supported (runbook logs in with keys or the ssh agent: set ansible_ssh_private_key_file)']);
  });

  it('honours ProxyJump in ssh args (-o or -J), ignores connection tuning, keeps ignored vars as vars', () => {
    const inv = ini('[g]\na ansible_ssh_common_args="-C -o ControlMaster=auto -o ControlPersist=60s -o ProxyJump=ops@bastion:2222"\nb ansible_ssh_extra_args="-J bastion" ansible_python_interpreter=/usr/bin/python3 ansible_become_user=root ansible_become_method=sudo\nbastion\n').inventory!;
    expect(inv.hosts.map((h) => h.proxyJump)).toEqual(['ops@bastion:2222', 'bastion', undefined]);
    expect(inv.hosts[1]!.vars.ansible_python_interpreter).toBe('/usr/bin/python3');
  });

  it('docs/formats.md lists every sorted var', async () => {
    const { readFileSync } = await import('node:fs');
    const { HONOURED_ANSIBLE_VARS, IGNORED_ANSIBLE_VARS, REFUSED_ANSIBLE_VARS } = await import('../../src/model/ansible-vars.js');
    const docs = readFileSync('docs/formats.md', 'utf8');
    const missing = [...HONOURED_ANSIBLE_VARS, ...IGNORED_ANSIBLE_VARS, ...Object.keys(REFUSED_ANSIBLE_VARS)].filter((v) => !docs.includes(`\`${v}\``));
    expect(missing).toEqual([]);
  });
});

describe('ansible-vault values', () => {
  const fxm = join(process.cwd(), 'test/unit/fixtures/model/ansible-ini');

  it('a !vault value loads masked, never read; a runbook that uses it is told where it is and how to provide it', async () => {
    const { checkRunbookText, formatProblem, renderProblems } = await import('../../src/model/index.js');
    const inv = checkInventory(join(fxm, 'hosts')).inventory!;
    const w = inv.hosts.find((h) => h.name === 'web01.example.com')!;
    const rb = checkRunbookText('name: r\ndescription: t\nsteps:\n  - name: s\n    check: echo {{ api_token }}\n', '/r.yaml').runbook!;
    const problems = renderProblems(rb, inv, [w], { secretsNeeded: true }).map((p) => formatProblem(p));
    expect(problems).toEqual([
      `${join(fxm, 'group_vars/webservers/20-override.yaml')}:2:19: secret "api_token" in step "s" for host web01.example.com is unavailable: it is ansible-vault encrypted, and runbook does not decrypt vault; give runbook the value as \`NAME: { secret: true, env: VAR }\` or \`NAME: { secret: true, file: PATH }\` in a vars file (provide it before running)`,
    ]);
    const unused = checkRunbookText('name: r\ndescription: t\nsteps:\n  - name: s\n    check: "true"\n', '/r.yaml').runbook!;
    expect(renderProblems(unused, inv, [w], { secretsNeeded: true })).toEqual([]);
  });

  it('an encrypted vars file is refused where it is: which vars it sets is itself encrypted', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-vault-'));
    writeFileSync(join(dir, 'hosts'), '[g]\nh\n');
    mkdirSync(join(dir, 'group_vars'));
    writeFileSync(join(dir, 'group_vars/g.yml'), '$ANSIBLE_VAULT;1.1;AES256\n6231336539\n');
    expect(checkInventory(join(dir, 'hosts')).problems).toEqual([
      { pos: { file: join(dir, 'group_vars/g.yml'), line: 1, col: 1 }, message: 'this vars file is ansible-vault encrypted, and runbook does not decrypt vault', hint: 'move it out of the var directories and give runbook the values it needs as `NAME: { secret: true, env: VAR }` or `NAME: { secret: true, file: PATH }` in a plain vars file' },
    ]);
  });
});
