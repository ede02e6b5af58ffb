/**
 * `validate -i` and `apply --dry-run` accept and refuse exactly the same runbooks: every shipped
 * runbook and one runbook per problem class, run through the CLI as a user types it. The hosts
 * are unreachable (port 1 on loopback), so an accepted runbook ends as exit 1 (unreachable) with
 * nothing run, and a refused one as exit 2 before any connection.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/model/exit-codes.js';

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
};

const runbooks = join(dir, 'runbooks');
mkdirSync(runbooks);
for (const [name, text] of Object.entries(cases)) writeFileSync(join(runbooks, `${name}.yaml`), `name: ${name}\n${text}`);
for (const f of readdirSync(join(root, 'runbooks')).filter((f) => f.endsWith('.yaml'))) copyFileSync(join(root, 'runbooks', f), join(runbooks, f));
const names = readdirSync(runbooks).map((f) => f.replace(/\.yaml$/, '')).sort();

function cli(args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, RUNBOOK_AUDIT_FILE: join(dir, 'audit.jsonl') };
  delete env.RUNBOOK_INVENTORY;
  const r = spawnSync('node', [bin, ...args], { cwd: dir, env, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

describe('validate -i and apply --dry-run agree', () => {
  it.each(names)('%s', (name) => {
    const validate = cli(['validate', join(runbooks, `${name}.yaml`), '-i', inventory]);
    const apply = cli(['apply', name, '--runbooks', runbooks, '-i', inventory, '--dry-run', '--json', '--connect-timeout', '2']);
    if (name.startsWith('ok-')) expect(validate.code, validate.stderr).toBe(ExitCode.OK);
    if (name.startsWith('bad-')) expect(validate.code, validate.stderr).toBe(ExitCode.USAGE);
    // Accepted: nothing but the unreachable hosts stopped it. Refused: before any connection.
    expect(apply.code, apply.stderr).toBe(validate.code === ExitCode.OK ? ExitCode.FAILED : ExitCode.USAGE);
    // Refused for the same reasons: apply's problems are among validate's (where and what; the hints may differ).
    if (validate.code !== ExitCode.OK) {
      const lines = (s: string) => s.split('\n').filter((l) => l.includes('.yaml:')).map((l) => l.replace(/ \(.*\)$/, ''));
      expect(lines(validate.stderr).length, validate.stderr).toBeGreaterThan(0);
      expect(lines(validate.stderr)).toEqual(expect.arrayContaining(lines(apply.stderr)));
    }
  });
});
