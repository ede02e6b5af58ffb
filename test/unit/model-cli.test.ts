import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/model/exit-codes.js';

const root = resolve('.');
const bin = join(root, 'bin/runbook.js');
const fx = join(root, 'test/unit/fixtures/model');

function run(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const env = { ...process.env, ...opts.env };
  if (!opts.env?.RUNBOOK_INVENTORY) delete env.RUNBOOK_INVENTORY;
  const r = spawnSync('node', [bin, ...args], { cwd: opts.cwd ?? root, env, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('runbook validate', () => {
  it('passes on everything shipped (no args: every runbook and the default inventory)', () => {
    const r = run(['validate']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(ExitCode.OK);
    expect(r.stdout).toContain(`ok  runbook   ${join(root, 'runbooks/fix-forwarding.yaml')}`);
    expect(r.stdout).toContain(`ok  inventory ${join(root, 'inventory/default.yaml')}`);
  });

  it('passes on the shipped example inventories and runbook dir given explicitly', () => {
    const r = run(['validate', 'inventory/default.yaml', 'inventory/ansible/hosts.ini', 'runbooks']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(ExitCode.OK);
    expect(r.stdout).toMatch(/\d+ files valid/);
  });

  it('reports every problem in every file, one line each, and exits 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-cli-'));
    writeFileSync(join(dir, 'bad.yaml'), 'descripton: x\nsteps:\n  - name: s\n    chek: a\n');
    writeFileSync(join(dir, 'inv.yaml'), 'hosts:\n  a: { prot: 22 }\n');
    const r = run(['validate', join(dir, 'bad.yaml'), join(dir, 'inv.yaml')]);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr.trim().split('\n')).toEqual([
      `${dir}/inv.yaml:2:8: unknown key "prot" in hosts.a (did you mean "port"?)`,
      `${dir}/bad.yaml:1:1: unknown key "descripton" (did you mean "description"?)`,
      `${dir}/bad.yaml:3:5: missing required key "check" in steps[0]`,
      `${dir}/bad.yaml:4:5: unknown key "chek" in steps[0] (did you mean "check"?)`,
      '4 problems in 2 files',
    ]);
  });

  it('checks step `on:` patterns against the inventory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-cli-'));
    mkdirSync(join(dir, 'runbooks'));
    writeFileSync(join(dir, 'runbooks/r.yaml'), 'steps:\n  - name: leases\n    check: "true"\n    on: etcdd\n    once: true\n');
    const r = run(['validate', '-i', join(root, 'inventory/default.yaml')], { cwd: dir });
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toContain(`${dir}/runbooks/r.yaml:2:5: step "leases": on: host pattern "etcdd" matches no host or group`);
  });
});

describe("a runbook's default targets (hosts:)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-cli-'));
  mkdirSync(join(dir, 'runbooks'));
  writeFileSync(join(dir, 'runbooks/r.yaml'), 'hosts: workers\nsteps:\n  - name: s\n    check: "true"\n');
  writeFileSync(join(dir, 'runbooks/q.yaml'), 'hosts: workers2\nsteps:\n  - name: s\n    check: "true"\n');
  writeFileSync(join(dir, 'inv.yaml'), 'groups:\n  workers: { hosts: [w1] }\nhosts:\n  w1: { connection: local }\n  m1: { connection: local }\n');
  const env = { RUNBOOK_AUDIT_FILE: join(dir, 'audit.jsonl') };

  it('a bare apply runs on them only; --hosts overrides them', () => {
    const hostsOf = (args: string[]) => {
      const r = run(['apply', 'r', '--dry-run', '--json', '-i', 'inv.yaml', ...args], { cwd: dir, env });
      expect(r.code, r.stderr).toBe(ExitCode.OK);
      return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; host?: string }).filter((e) => e.type === 'step-result').map((e) => e.host);
    };
    expect(hostsOf([])).toEqual(['w1']);
    expect(hostsOf(['--hosts', 'all']).sort()).toEqual(['m1', 'w1']);
  });

  it('a pattern that selects nothing is refused where the runbook says it, by apply and by validate -i, in the same words', () => {
    const line = `${dir}/runbooks/q.yaml:1:8: hosts: host pattern "workers2" matches no host or group in ${dir}/inv.yaml (did you mean "workers"?`;
    const a = run(['apply', 'q', '--dry-run', '-i', 'inv.yaml'], { cwd: dir, env });
    expect(`${a.code} ${a.stderr.trim()}`).toBe(`${ExitCode.USAGE} ${line}; or pass --hosts PATTERN)`);
    const v = run(['validate', '-i', 'inv.yaml', 'runbooks/q.yaml'], { cwd: dir });
    expect(v.code).toBe(ExitCode.USAGE);
    expect(v.stderr.trim().split('\n')).toEqual([`${line}; or pass --hosts PATTERN)`, '1 problem in 2 files']);
  });
});

describe('runbook schema', () => {
  it.each(['runbook', 'inventory', 'plan', 'plan-file', 'settings'])('the committed schemas/%s.schema.json matches the zod schema', (kind) => {
    const r = run(['schema', kind]);
    expect(r.code).toBe(0);
    const committed = readFileSync(join(root, `schemas/${kind}.schema.json`), 'utf8');
    expect(committed, `regenerate: node bin/runbook.js schema ${kind} > schemas/${kind}.schema.json`).toBe(r.stdout);
  });

  it('every shipped YAML file names its schema for editors', () => {
    for (const f of ['runbooks/fix-forwarding.yaml', 'inventory/default.yaml']) {
      const first = readFileSync(join(root, f), 'utf8').split('\n')[0]!;
      const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
      expect(m, f).not.toBeNull();
      expect(existsSync(resolve(dirname(join(root, f)), m![1]!)), f).toBe(true);
    }
  });

  it('rejects an unknown kind', () => {
    expect(run(['schema', 'playbook']).code).toBe(ExitCode.USAGE);
  });
});

describe('runbook list / show', () => {
  it('lists built-in runbooks with descriptions, and --runbooks dirs first', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-cli-'));
    writeFileSync(join(dir, 'fix-forwarding.yaml'), 'description: my own\nsteps:\n  - name: s\n    check: "true"\n');
    const r = run(['list', '--runbooks', dir], { cwd: tmpdir() });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+SOURCE\s+DESCRIPTION$/);
    expect(lines[1]).toMatch(new RegExp(`^fix-forwarding\\s+${dir}\\s+my own$`));
    const shadowed = lines.findIndex((l) => l.startsWith('fix-forwarding (shadowed)'));
    expect(shadowed).toBeGreaterThan(1);
    expect(lines[shadowed]).toMatch(/^fix-forwarding \(shadowed\)\s+built-in\s+\S/);
  });

  it('show renders commands per host, with --var taking precedence', () => {
    const r = run(['show', 'fix-forwarding', '--hosts', 'workers,!a,!b,!c', '--var', 'sysctl_file=/tmp/a b']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('== d (root@198.18.0.14:22)');
    expect(r.stdout).not.toContain('== c ');
    expect(r.stdout).toContain("- sysctl -p '/tmp/a b'");
  });

  it('show of an unknown runbook or host exits 2 with close matches', () => {
    const a = run(['show', 'fix-forwardin']);
    expect(a.code).toBe(ExitCode.USAGE);
    expect(a.stderr.trim()).toBe('no runbook named "fix-forwardin" (did you mean "fix-forwarding"?)');
    const b = run(['show', 'fix-forwarding', '--hosts', 'dd']);
    expect(b.code).toBe(ExitCode.USAGE);
    expect(b.stderr).toMatch(/^host pattern "dd" matches no host or group in .*default.yaml \(did you mean "d"\?\)\n$/);
  });

  it('show reports an undefined variable per host with its position', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-cli-'));
    const f = join(dir, 'u.yaml');
    writeFileSync(f, 'steps:\n  - name: s\n    check: echo {{ nope }}\n');
    const r = run(['show', f, '--hosts', 'd']);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr.trim()).toBe(`${f}:3:17: undefined variable "nope" in step "s" for host d (define it in the runbook's vars or the inventory, or pass --var nope=...)`);
  });
});

describe('runbook inventory', () => {
  it('shows hosts, groups and resolved vars with secrets masked', () => {
    const r = run(['inventory', '--hosts', 'a'], { env: { RUNBOOK_INVENTORY: join(fx, 'native/inventory.yaml') } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('a  ops@192.0.2.1:22');
    expect(r.stdout).toContain('  groups: cluster, workers');
    expect(r.stdout).toContain('  level: workers');
    expect(r.stdout).toContain('  db_password: ********');
    expect(r.stdout).not.toContain('s3cr3t');
  });

  it('--json, from an Ansible inventory', () => {
    const r = run(['inventory', '-i', 'inventory/ansible/hosts.ini', '--hosts', 'workers,&node-d', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { hosts: { name: string; address: string; user: string; vars: Record<string, unknown> }[] };
    expect(j.hosts).toHaveLength(1);
    expect(j.hosts[0]).toMatchObject({ name: 'node-d', address: '198.18.0.14', user: 'root', vars: { role: 'worker', flannel_subnet: '10.100.41.1/24' } });
  });

  it('a missing inventory is a one-line error', () => {
    const r = run(['inventory'], { cwd: tmpdir() });
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toMatch(/^inventory .*inventory\/default.yaml not found \(from default\) \(pass -i FILE, set \$RUNBOOK_INVENTORY, or create inventory\/default.yaml\)\n$/);
  });
});

describe('a local runbook that shadows a built-in one', () => {
  it('show and apply say which file they use', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-cli-'));
    mkdirSync(join(dir, 'runbooks'));
    writeFileSync(join(dir, 'runbooks/fix-forwarding.yaml'), 'steps:\n  - name: s\n    check: "true"\n');
    writeFileSync(join(dir, 'inv.yaml'), 'hosts:\n  w1: { connection: local }\n');
    const note = `runbook: using ${join(dir, 'runbooks/fix-forwarding.yaml')}, which shadows the built-in runbook fix-forwarding (run \`runbook list\` to see both)`;
    const show = run(['show', 'fix-forwarding'], { cwd: dir });
    expect(show.code).toBe(0);
    expect(show.stderr.trim()).toBe(note);
    const apply = run(['apply', 'fix-forwarding', '--dry-run', '-i', 'inv.yaml'], { cwd: dir, env: { RUNBOOK_AUDIT_FILE: join(dir, 'audit.jsonl') } });
    expect(apply.code, apply.stderr).toBe(0);
    expect(apply.stderr.split('\n')[0]).toBe(note);
  });
});
