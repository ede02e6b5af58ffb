/**
 * The settings files: which wins, the located errors, files others could write refused, policy
 * only from the root-owned system file, and `runbook config` / apply using them end to end.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lchownSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/model/errors.js';
import { loadSettings, describeOrigin, type SettingsPlaces } from '../../src/model/settings.js';
import { policyLauncher, underApprovalPolicy } from '../../src/cli/approval-policy.js';

const bin = resolve('bin/runbook.js');
const uid = process.getuid!();

function places(files: { system?: string; user?: string; project?: string }): SettingsPlaces & { dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rb-settings-'));
  const at = (k: string, text?: string): string => {
    const f = join(dir, k, 'config.yaml');
    mkdirSync(join(dir, k));
    if (text !== undefined) writeFileSync(f, text, { mode: 0o644 });
    return f;
  };
  return { dir, system: at('system', files.system), user: at('user', files.user), project: at('project', files.project), uid };
}

function problems(p: SettingsPlaces): string {
  try {
    loadSettings(p, {});
  } catch (e) {
    if (e instanceof UserError) return e.format();
    throw e;
  }
  throw new Error('expected the settings to be refused');
}

describe('settings files', () => {
  it('the project file wins over the user file, which wins over the system file, key by key; paths are relative to their file', () => {
    const p = places({ system: 'forks: 5\nconnect_timeout: 4\n', user: 'forks: 6\naudit_file: trail.jsonl\n', project: 'forks: 7\n' });
    const s = loadSettings(p, {});
    expect(s.forks).toEqual({ value: 7, from: { file: p.project, line: 1, col: 8 } });
    expect(s.connectTimeout?.value).toBe(4);
    expect(s.auditFile?.value).toBe(join(p.dir, 'user', 'trail.jsonl'));
    expect(describeOrigin(s.auditFile!.from)).toBe(`${p.user}:2:13`);
    expect(s.files).toEqual([p.system, p.user, p.project]);
  });

  it('every problem is one located line with what to do', () => {
    const p = places({ project: 'forks: 0\nforkz: 3\nnotify:\n  - { url: 12 }\n' });
    expect(problems(p).split('\n')).toEqual([
      `${p.project}:1:8: forks: Too small: expected number to be >=1`,
      `${p.project}:2:1: unknown key "forkz" (did you mean "forks"?)`,
      expect.stringMatching(new RegExp(`^${p.project}:4:5: notify\\[0\\]`)),
    ]);
  });

  it('a file its group or others can write, or that someone else owns, is refused, not read', () => {
    const p = places({ project: 'inventory: /elsewhere\n' });
    chmodSync(p.project!, 0o664);
    expect(problems(p)).toBe(`${p.project}:1:1: settings file is writable by its group, so runbook does not read it (chmod go-w ${p.project})`);
    chmodSync(p.project!, 0o644);
    chownSync(p.project!, 65534, 65534);
    expect(problems(p)).toBe(`${p.project}:1:1: settings file is owned by uid 65534, not you (uid ${uid}), so runbook does not read it (check who wrote it, and replace it with a file of your own)`);
  });

  it("a link counts as its owner's and its target's: someone else's link to your file is refused too", () => {
    const p = places({});
    const mine = join(p.dir, 'mine.yaml');
    writeFileSync(mine, 'forks: 4\n', { mode: 0o644 });
    symlinkSync(mine, p.project!);
    expect(loadSettings(p, {}).forks?.value).toBe(4);
    lchownSync(p.project!, 65534, 65534);
    expect(problems(p)).toBe(`${p.project}:1:1: settings file is a link owned by uid 65534, not you (uid ${uid}), so runbook does not read it (check who wrote it, and replace it with a file of your own)`);
  });

  it('a settings file runbook cannot read is one located line, not an internal error; the system file cannot be skipped by hiding it', () => {
    const p = places({ system: 'policy: {}\n' });
    chmodSync(join(p.dir, 'system'), 0o700);
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'node', '-e', `import(${JSON.stringify(resolve('dist/model/settings.js'))}).then((m) => { try { m.loadSettings({ system: ${JSON.stringify(p.system)} }, {}); console.log('read'); } catch (e) { console.log(e.format ? e.format() : 'internal: ' + e.message); } })`], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe(`${p.system}:1:1: cannot read the settings file: EACCES (runbook must be able to read it (a policy there applies to everyone): ask its owner to make it readable (chmod o+r ${p.system}, and o+x on its directory))`);
  });

  it('the policy\'s signers file must be root\'s alone', () => {
    const p = places({ system: 'policy:\n  require_approvals: 1\n  allowed_signers: signers\n' });
    writeFileSync(join(p.dir, 'system', 'signers'), '', { mode: 0o666 });
    chmodSync(join(p.dir, 'system', 'signers'), 0o666);
    expect(problems(p)).toBe(`${p.system}:3:20: the allowed signers file is writable by everyone, so runbook does not read it (chmod go-w ${join(p.dir, 'system', 'signers')})`);
  });

  it('policy: is read only from the system file, and needs whose signatures count', () => {
    const user = places({ user: 'policy:\n  require_approvals: 2\n' });
    expect(problems(user)).toBe(`${user.user}:1:1: policy: is read only from /etc/runbook/config.yaml, which root owns (a policy anyone can edit binds nobody; ask an administrator to set it there, or remove it)`);
    const half = places({ system: 'policy:\n  require_approvals: 2\n' });
    expect(problems(half)).toBe(`${half.system}:2:3: policy.require_approvals needs policy.allowed_signers: whose signatures count (name an ssh-keygen allowed-signers file that root owns)`);
    const whole = places({ system: 'policy:\n  require_approvals: 2\n  allowed_signers: signers\n' });
    writeFileSync(join(whole.dir, 'system', 'signers'), '', { mode: 0o644 });
    const s = loadSettings(whole, {});
    expect(s.requireApprovals?.value).toBe(2);
    expect(s.allowedSigners?.value).toBe(join(whole.dir, 'system', 'signers'));
  });

  it('notify URLs may be secrets: an unset env var is unavailable, not an empty URL', () => {
    const p = places({ user: 'notify:\n  - https://hooks.example/a\n  - { url: { secret: true, env: HOOK }, format: slack }\nnotify_secret: { secret: true, env: KEY }\n' });
    const s = loadSettings(p, { KEY: 'k' });
    expect(s.notify?.value[0]).toEqual({ url: 'https://hooks.example/a', format: 'json' });
    expect(s.notify?.value[1]?.format).toBe('slack');
    expect(String((s.notify?.value[1]?.url as { reason: string }).reason)).toBe('environment variable HOOK is not set');
    expect(s.notifySecret?.value).toBe('k');
  });
});

describe('the approval policy', () => {
  const p = places({ system: 'policy:\n  require_approvals: 2\n  allowed_signers: signers\n' });
  const signers = join(p.dir, 'system', 'signers');
  writeFileSync(signers, '', { mode: 0o644 });
  const s = loadSettings(p, {});
  const at = `${p.system}:2:22`;

  it('refuses a changing run that is not a plan, and anything that would loosen it', () => {
    const refused = (o: object): string => {
      try {
        underApprovalPolicy(o, s, 'apply');
      } catch (e) {
        return (e as UserError).format();
      }
      throw new Error('expected a refusal');
    };
    expect(refused({})).toBe(
      `apply would change hosts, and the policy at ${at} allows only signed plans with 2 approvals (make a plan (runbook plan NAME -o plan.json), have it signed (runbook sign plan.json), then runbook apply --plan plan.json; --dry-run only reports)`,
    );
    expect(refused({ plan: 'p.json', allowSelfApproval: true })).toBe(`--allow-self-approval is refused by the policy at ${at} (the plan needs 2 approvals from others)`);
    expect(refused({ plan: 'p.json', allowedSigners: '/tmp/mine' })).toBe(`--allowed-signers /tmp/mine is refused: the policy at ${p.system}:3:20 names ${signers} (drop --allowed-signers)`);
  });

  it("the launcher is the real account, not what $USER, $HOME or $SUDO_USER say", () => {
    const saved = { USER: process.env.USER, HOME: process.env.HOME, SUDO_USER: process.env.SUDO_USER };
    Object.assign(process.env, { USER: 'bob', HOME: '/tmp', SUDO_USER: 'carol' });
    try {
      const me = spawnSync('getent', ['passwd', String(uid)], { encoding: 'utf8' }).stdout.split(':');
      expect(policyLauncher()).toEqual({ name: me[0], home: me[5] });
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  });

  it('a plan gets the policy\'s count (or more) and its signers', () => {
    expect(underApprovalPolicy({ plan: 'p.json' }, s, 'apply')).toEqual({ plan: 'p.json', requireApprovals: 2, allowedSigners: signers });
    expect(underApprovalPolicy({ plan: 'p.json', requireApprovals: 3 }, s, 'apply').requireApprovals).toBe(3);
  });
});

describe('runbook config and apply read ./runbook.yaml', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-settings-cli-'));
  writeFileSync(join(dir, 'hosts.yaml'), 'hosts:\n  a: { connection: local }\n  b: { connection: local }\n');
  writeFileSync(join(dir, 'one.yaml'), 'hosts:\n  c: { connection: local }\n');
  writeFileSync(join(dir, 't.yaml'), 'name: t\nsteps:\n  - name: s\n    check: "true"\n');
  writeFileSync(join(dir, 'runbook.yaml'), 'inventory: hosts.yaml\nforks: 1\naudit_file: state/trail.jsonl\nnotify:\n  - https://hooks.example/T000/B000/secretpart\n');
  const env = { ...process.env, HOME: dir, XDG_CONFIG_HOME: '', RUNBOOK_INVENTORY: '', RUNBOOK_AUDIT_FILE: '' };
  const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) => spawnSync('node', [bin, ...args], { cwd: dir, encoding: 'utf8', env: { ...env, ...extra } });

  it('config shows each value and where it came from, the webhook masked', () => {
    const r = cli(['config']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`inventory +${dir}/hosts.yaml +${dir}/runbook.yaml:1:12\n`));
    expect(r.stdout).toMatch(new RegExp(`forks +1 +${dir}/runbook.yaml:2:8\n`));
    expect(r.stdout).toMatch(/notify +\*{8} \(json\) +/);
    expect(r.stdout).not.toContain('secretpart');
    const env2 = cli(['config', '--json'], { RUNBOOK_AUDIT_FILE: '/tmp/x.jsonl' });
    expect(JSON.parse(env2.stdout).settings.audit_file).toEqual({ value: '/tmp/x.jsonl', from: '$RUNBOOK_AUDIT_FILE' });
  });

  it('apply takes the inventory and the audit trail from it; -i still wins', () => {
    const r = cli(['apply', './t.yaml', '--dry-run', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const hosts = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.type === 'step-result').map((e) => e.host);
    expect(hosts.sort()).toEqual(['a', 'b']);
    expect(readFileSync(join(dir, 'state', 'trail.jsonl'), 'utf8')).toContain('"runbook":"t"');
    const i = cli(['apply', './t.yaml', '-i', 'one.yaml', '--dry-run', '--json']);
    expect(i.stdout).toContain('"host":"c"');
  });

  it('an apply run leaves its HTML report in report_dir, and says where', () => {
    // One host: two local ones would be one machine, whose host lock the second would find taken.
    writeFileSync(join(dir, 'runbook.yaml'), 'inventory: one.yaml\naudit_file: state/trail.jsonl\nreport_dir: reports\n');
    // An apply takes this machine's host lock, which parallel test files' applies share: retry while it is taken (exit 4).
    let r = cli(['apply', './t.yaml', '--yes']);
    for (let i = 0; i < 10 && r.status === 4; i++) r = (spawnSync('sleep', ['1']), cli(['apply', './t.yaml', '--yes']));
    expect(r.status, r.stderr).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.startsWith('report: '));
    expect(line).toMatch(new RegExp(`^report: ${dir}/reports/\\d{8}T\\d{6}Z-[0-9a-f]+\\.html$`));
    expect(readFileSync(line!.slice('report: '.length), 'utf8')).toContain("default-src 'none'");
    // A dry run changes nothing: no report.
    expect(cli(['apply', './t.yaml', '--dry-run']).stdout).not.toContain('report: ');
  });
});
