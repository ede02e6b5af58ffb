/**
 * `validate -i`, `show --hosts` (given the hosts a bare apply targets), `apply --dry-run` and
 * `apply --yes` accept and refuse exactly the same runbooks, with the same problem lines: every
 * shipped runbook, one runbook per problem class and every runbook the loader refuses
 * (runbook-error-cases.ts), run through the CLI as a user types it. The hosts are unreachable
 * (port 1 on loopback), so an accepted runbook ends as exit 1 (unreachable) with nothing run, and
 * a refused one as exit 2 before any connection.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/model/exit-codes.js';
import { RUNBOOK_ERROR_CASES } from './runbook-error-cases.js';

const root = resolve('.');
const bin = join(root, 'bin/runbook.js');
const dir = mkdtempSync(join(tmpdir(), 'rb-parity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const inventory = join(dir, 'inventory.yaml');
writeFileSync(
  inventory,
  `defaults: { user: root, port: 1, vars: { motd_file: /etc/motd, opts: "-a" } }
groups:
  workers: { hosts: [a, b] }
  etcd: { hosts: [m1], vars: { etcd_endpoints: "http://127.0.0.1:1" } }
hosts:
  a: { address: 127.0.0.1 }
  b: { address: 127.0.0.1, vars: { lib: "echo from-inventory" } }
  m1: { address: 127.0.0.1 }
`,
);

/** name → runbook text (the runbook's name is the file's). Each refused one shows one problem class. */
const cases: Record<string, string> = {
  'ok-plain': `steps:\n  - name: s\n    check: test -e {{ motd_file }}\n    fix: touch {{ motd_file }}\n`,
  'ok-registered': `steps:\n  - name: r\n    check: echo 1\n    register: n\n  - name: s\n    check: test {{ n }} = 1\n`,
  'ok-on-group-var': `steps:\n  - name: e\n    on: etcd\n    once: true\n    check: curl -s {{ etcd_endpoints }}\n`,
  'ok-raw-runbook-var': `vars:\n  fn: "f() { :; }"\nsteps:\n  - name: s\n    check: |\n      {{ fn | raw }}\n      f\n`,
  'bad-when-syntax': `steps:\n  - name: s\n    check: "true"\n    when: "a =="\n`,
  'bad-changed-unknown': `steps:\n  - name: s\n    check: "true"\n    when: changed("nope")\n`,
  'bad-undefined-var': `steps:\n  - name: s\n    check: cat {{ mtod_file }}\n`,
  'bad-templated-expect': `vars: { want: x }\nsteps:\n  - name: s\n    check: echo x\n    expect: "{{ want }}"\n`,
  'bad-timeout-and-more': `steps:\n  - name: s\n    check: "true"\n    timeout: soon\n  - name: s\n    check: "{{ nope"\n`,
  'bad-raw-registered': `steps:\n  - name: r\n    check: echo 1\n    register: n\n  - name: s\n    check: echo {{ n | raw }}\n`,
  'bad-raw-hosts': `steps:\n  - name: s\n    check: echo {{ hosts.a.motd_file | raw }}\n`,
  'bad-raw-from-inventory': `steps:\n  - name: s\n    check: "{{ lib | raw }}"\n`,
  'bad-own-property': `steps:\n  - name: s\n    check: echo {{ constructor }}\n`,
  'bad-on-unknown-group': `steps:\n  - name: s\n    on: nosuch\n    check: "true"\n`,
  'bad-hosts-unknown-group': `hosts: nosuch\nsteps:\n  - name: s\n    check: "true"\n`,
  'bad-notify-unknown': `steps:\n  - name: s\n    check: "true"\n    notify: restart\n`,
  'bad-nul-in-var': `vars: { v: "a\\0b" }\nsteps:\n  - name: s\n    check: echo {{ v }}\n`,
  'bad-fixed-by-unknown': `steps:\n  - name: s\n    check: "true"\n    fixed_by: fix-forwardin\n`,
  'bad-registered-later': `steps:\n  - name: x\n    check: test {{ n }} = 1\n  - name: y\n    check: echo 1\n    register: n\n`,
  'bad-registered-by-itself': `steps:\n  - name: x\n    check: echo {{ n }}\n    register: n\n`,
  'bad-when-registered-later': `steps:\n  - name: x\n    check: "true"\n    when: n == 1\n  - name: y\n    check: echo 1\n    register: n\n`,
  'bad-when-undefined': `steps:\n  - name: x\n    check: "true"\n    when: motd_fil == '/etc/motd'\n`,
  'bad-when-own-property': `steps:\n  - name: x\n    check: "true"\n    when: toString == 1\n`,
  'ok-when-names': `vars: { n: 0 }\nsteps:\n  - name: r\n    check: echo 1\n    register: m\n  - name: x\n    check: test {{ n }} = 0\n    when: "m == 1 and n == 0 and host.name != '' and (not defined(opt) or opt == 1)"\n  - name: y\n    check: echo 1\n    register: n\n`,
};

const runbooks = join(dir, 'runbooks');
mkdirSync(runbooks);
for (const [name, text] of Object.entries(cases)) writeFileSync(join(runbooks, `${name}.yaml`), `name: ${name}\n${text}`);
// As the loader's tests have them (a name: would change some): the runbook's name is the file's.
for (const [kind, text] of RUNBOOK_ERROR_CASES) writeFileSync(join(runbooks, `bad-load-${kind.replace(/\W+/g, '-').replace(/-$/, '').toLowerCase()}.yaml`), text);
for (const f of readdirSync(join(root, 'runbooks')).filter((f) => f.endsWith('.yaml'))) copyFileSync(join(root, 'runbooks', f), join(runbooks, f));
const names = readdirSync(runbooks).map((f) => f.replace(/\.yaml$/, '')).sort();

function cli(args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, RUNBOOK_AUDIT_FILE: join(dir, 'audit.jsonl') };
  delete env.RUNBOOK_INVENTORY;
  const r = spawnSync('node', [bin, ...args], { cwd: dir, env, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

/** Accepted or refused, from the exit code each command ends with: anything else fails the test. */
function verdict(command: string, r: { code: number | null; stderr: string }, accepted: number): 'accepted' | 'refused' {
  if (r.code === accepted) return 'accepted';
  expect(r.code, `${command}: ${r.stderr}`).toBe(ExitCode.USAGE);
  return 'refused';
}

/**
 * The problem lines: validate ends with its count of them, and show and apply say first that the
 * copy of a shipped runbook shadows the built-in one.
 */
const problemLines = (stderr: string): string[] =>
  stderr.split('\n').filter((l) => l !== '' && !/^\d+ problems? in \d+ files?$/.test(l) && !/^runbook: using .*, which shadows the built-in runbook /.test(l));

/** The hosts a bare apply targets, for show's --hosts: the runbook's `hosts:`, else all. */
const defaultTargets = (name: string): string => /^hosts:[ \t]*(\S+)[ \t]*$/m.exec(readFileSync(join(runbooks, `${name}.yaml`), 'utf8'))?.[1] ?? 'all';

describe('validate -i, show --hosts, apply --dry-run and apply agree', () => {
  it.each(names)('%s', (name) => {
    const common = ['--runbooks', runbooks, '-i', inventory];
    const runs = {
      validate: cli(['validate', join(runbooks, `${name}.yaml`), '-i', inventory]),
      show: cli(['show', name, ...common, '--hosts', defaultTargets(name)]),
      'dry run': cli(['apply', name, ...common, '--dry-run', '--json', '--connect-timeout', '2']),
      apply: cli(['apply', name, ...common, '--yes', '--json', '--connect-timeout', '2']),
    };
    // Accepted: validate and show exit 0, and nothing but the unreachable hosts stopped either apply.
    // Refused: exit 2, before any connection.
    const verdicts = {
      validate: verdict('validate', runs.validate, ExitCode.OK),
      show: verdict('show', runs.show, ExitCode.OK),
      'dry run': verdict('dry run', runs['dry run'], ExitCode.FAILED),
      apply: verdict('apply', runs.apply, ExitCode.FAILED),
    };
    if (name.startsWith('ok-')) expect(verdicts.validate, runs.validate.stderr).toBe('accepted');
    if (name.startsWith('bad-')) expect(verdicts.validate, runs.validate.stderr).toBe('refused');
    expect(verdicts).toEqual({ validate: verdicts.validate, show: verdicts.validate, 'dry run': verdicts.validate, apply: verdicts.validate });
    // Refused for the same reasons, in the same words.
    if (verdicts.validate === 'refused') {
      const want = problemLines(runs.validate.stderr);
      expect(want.length, runs.validate.stderr).toBeGreaterThan(0);
      // Given a `hosts:` that selects nothing as its --hosts, show refuses that flag's pattern.
      const showWant = want.map((l) => l.replace(/^.*\.yaml:\d+:\d+: hosts: (.*); or pass --hosts PATTERN\)$/, '$1)'));
      expect({ show: problemLines(runs.show.stderr), 'dry run': problemLines(runs['dry run'].stderr), apply: problemLines(runs.apply.stderr) }).toEqual({ show: showWant, 'dry run': want, apply: want });
    }
  });
});
