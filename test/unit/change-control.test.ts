/**
 * Saved plans and signed approvals through the real CLI, on hosts reached through the local
 * transport (a dry run takes no host lock, and every refusal here comes before anything connects),
 * with real ssh-keygen keys and signatures. The lab test (test/lab/change-control.test.ts) applies
 * plans on real nodes; this file covers each way a plan or its approvals is refused.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readPlanFile, sealPlan, writePlanFile, type PlanFile } from '../../src/model/plan-file.js';
import { checkPrint, driftBetween } from '../../src/engine/drift.js';
import { planGuard } from '../../src/engine/plan-guard.js';
import type { PlannedStep } from '../../src/engine/plan.js';
import { signatureKey } from '../../src/cli/plan-signatures.js';

const bin = resolve('bin/runbook.js');
const dir = mkdtempSync(join(tmpdir(), 'rb-cc-'));
const home = join(dir, 'home');
const state = join(dir, 'state');
const inv = join(dir, 'inv.yaml');
const rbFile = join(dir, 'marker.yaml');
const RUNBOOK = `name: marker
vars:
  dir: ${state}
steps:
  - name: marker exists
    check: 'if test -f {{ dir }}/marker; then echo present; else echo "no marker in {{ dir }}"; exit 1; fi'
    fix: touch {{ dir }}/marker
  - name: clock
    check: 'date +%s%N; test -f {{ dir }}/clock-ok'
    fix: touch {{ dir }}/clock-ok
    drift: { regex: '^(\\S+)$' }
`;

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('node', [bin, ...args], {
    encoding: 'utf8',
    cwd: dir,
    input: '',
    env: { ...process.env, HOME: home, SSH_AUTH_SOCK: '', USER: 'launcher', SUDO_USER: '', RUNBOOK_AUDIT_FILE: join(dir, 'audit.jsonl'), CI: '1', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}

/** Every plan a test writes is read back against its schema and its own hash. */
function plan(out: string, extra: string[] = []): PlanFile {
  const r = run(['plan', rbFile, '-i', inv, '-o', out, ...extra]);
  expect(r.code, r.stderr).toBe(3);
  return readPlanFile(out, new Date());
}

function keygen(name: string): string {
  const key = join(dir, 'keys', name);
  if (!existsSync(key)) {
    mkdirSync(join(dir, 'keys'), { recursive: true });
    const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
    expect(r.status).toBe(0);
  }
  return key;
}

const pub = (name: string): string => readFileSync(`${keygen(name)}.pub`, 'utf8').trim();
const allowed = join(dir, 'allowed_signers');

beforeAll(() => {
  mkdirSync(state, { recursive: true });
  mkdirSync(join(home, '.ssh'), { recursive: true });
  writeFileSync(inv, 'hosts:\n  a: { connection: local }\n  b: { connection: local }\n');
  writeFileSync(rbFile, RUNBOOK);
  // The launcher's own key sits where ssh looks for it: their signature is theirs.
  copyFileSync(keygen('launcher'), join(home, '.ssh', 'id_ed25519'));
  copyFileSync(`${keygen('launcher')}.pub`, join(home, '.ssh', 'id_ed25519.pub'));
  writeFileSync(allowed, ['alice', 'bob', 'launcher'].map((p) => `${p} ${pub(p)}`).join('\n') + '\n');
});

describe('runbook plan and show --plan', () => {
  it('saves what the dry run found, masked, and show --plan prints it as the dry run did', () => {
    const file = join(dir, 'p1.json');
    const p = plan(file);
    expect(p.id).toBe(p.hash.slice(0, 12));
    expect(p.body.hosts.map((h) => [h.name, h.steps.map((s) => s.status)])).toEqual([
      ['a', ['would-fix', 'would-fix']],
      ['b', ['would-fix', 'would-fix']],
    ]);
    const s = p.body.hosts[0]!.steps[0]!;
    expect(s.fix).toEqual([`touch ${state}/marker`]);
    expect(s.print).toMatchObject({ outcome: 'exit', exitCode: 1 });
    expect(p.body.hosts[0]!.steps[1]!.print?.matches).toHaveLength(1);
    expect(Date.parse(p.body.planned.expires) - Date.parse(p.body.planned.at)).toBe(24 * 3600_000);

    const shown = run(['show', '--plan', file]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`plan ${p.id}: runbook marker`);
    expect(shown.stdout).toContain('signatures: none');
    expect(shown.stdout).toContain('a: marker exists: would-fix');
    expect(shown.stdout).toContain(`$ touch ${state}/marker`);
    expect(shown.stdout).toContain(`runbook file: ${rbFile}`);
    // The verify after each fix is part of what is approved: shown, with the step's drift setting.
    expect(shown.stdout).toContain('  "marker exists" verifies its fix with (drift: output) on a, b:');
    expect(shown.stdout).toContain(`  "clock" verifies its fix with (drift: { regex: "^(\\\\S+)$" }) on a, b:`);
  });

  it('refuses an -o it cannot write and an --expires out of bounds before the dry run', () => {
    const r = run(['plan', rbFile, '-i', inv, '-o', join(dir, 'no-such-dir', 'p.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`-o ${join(dir, 'no-such-dir', 'p.json')}: cannot write in ${join(dir, 'no-such-dir')} (missing, or not writable) (give a path in an existing directory you can write to)`);
    const e = run(['plan', rbFile, '-i', inv, '-o', join(dir, 'p.json'), '--expires', '400d']);
    expect(e.code).toBe(2);
    expect(e.stderr).toContain('--expires needs a duration such as 24h, 90m or 2d, at most 30d, got "400d"');
  });

  it('refuses an edited plan, an expired one, a changed runbook, changed vars and a wider --hosts, before anything connects', () => {
    const file = join(dir, 'p2.json');
    const p = plan(file);
    const edited = join(dir, 'p2-edited.json');
    writeFileSync(edited, readFileSync(file, 'utf8').replace(`touch ${state}/marker`, 'rm -rf /'));
    const e = run(['apply', '--plan', edited, '-i', inv, '--yes']);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(new RegExp(`^${edited}: plan ${p.id} was edited after it was written \\(its content hashes to [0-9a-f]{12}, not ${p.id}\\) \\(a plan runs exactly as reviewed or not at all; make a new plan with \`runbook plan\`\\)$`));

    // Edited and rehashed, so its own hash holds: what a reviewer would read is still checked
    // against what would run, command by command.
    const rehashed = join(dir, 'p2-rehashed.json');
    const harmless = structuredClone(p.body);
    harmless.hosts[0]!.steps[0]!.fix = ['echo harmless'];
    writePlanFile(rehashed, sealPlan(harmless));
    const h = run(['apply', '--plan', rehashed, '-i', inv, '--yes']);
    expect(h.code).toBe(2);
    expect(h.stderr).toContain(`a is not what plan ${readPlanFile(rehashed).id} was made against: step "marker exists": its fix is now \`touch ${state}/marker\`, planned \`echo harmless\``);

    const old = join(dir, 'p2-old.json');
    writePlanFile(old, sealPlan({ ...p.body, planned: { ...p.body.planned, expires: '2026-01-01T00:00:00.000Z' } }));
    const x = run(['apply', '--plan', old, '-i', inv, '--yes']);
    expect(x.code).toBe(2);
    expect(x.stderr).toContain(`expired at 2026-01-01T00:00:00.000Z (made by launcher at ${p.body.planned.at}) (the fleet may have changed since; make a new plan with \`runbook plan\`)`);

    const inv2 = join(dir, 'inv-c.yaml');
    writeFileSync(inv2, 'hosts:\n  a: { connection: local }\n  b: { connection: local }\n  c: { connection: local }\n');
    const wide = run(['apply', '--plan', file, '-i', inv2, '--yes', '--hosts', 'a,c']);
    expect(wide.code).toBe(2);
    expect(wide.stderr).toBe(`--hosts would widen plan ${p.id} to c, which it was not made for (planned: a, b) (--hosts may only narrow a plan; make a new plan for other hosts)`);

    const v = run(['apply', '--plan', file, '-i', inv, '--yes', '--var', 'dir=/tmp']);
    expect(v.code).toBe(2);
    expect(v.stderr).toBe(
      `${file}: a is not what plan ${p.id} was made against: step "marker exists": its check is now \`if test -f /tmp/marker; then echo present; else echo "no marker in /tmp"; exit 1; fi\`, planned \`if test -f ${state}/marker; then echo present; else echo "no marker in ${state}"; exit 1; fi\` (the runbook, the inventory or --var differ from the plan's; make a new plan with \`runbook plan\`, review and sign it again)`,
    );

    writeFileSync(rbFile, RUNBOOK.replace('touch {{ dir }}/marker', 'touch {{ dir }}/marker && true'));
    try {
      const c = run(['apply', '--plan', file, '-i', inv, '--yes']);
      expect(c.code).toBe(2);
      expect(c.stderr).toMatch(new RegExp(`^${file}: runbook marker \\(${rbFile}\\) changed since plan ${p.id} was made \\(sha256 [0-9a-f]{12}, planned [0-9a-f]{12}\\) \\(make a new plan`));
    } finally {
      writeFileSync(rbFile, RUNBOOK);
    }

    const n = run(['apply', 'other', '--plan', file, '-i', inv, '--yes']);
    expect(n.stderr).toBe(`${file}: plan ${p.id} is for runbook marker, not other (run \`runbook apply --plan ${file}\` without a name)`);
    expect(run(['apply', '--plan', file, '-i', inv, '--dry-run']).stderr).toBe(`--plan applies a saved plan; --dry-run does not go with it (\`runbook show --plan ${file}\` prints what it would do)`);
  });
});

describe('signed approvals', () => {
  const file = join(dir, 'p3.json');
  let p: PlanFile;
  const sign = (who: string, key = keygen(who), planFile = file) => run(['sign', planFile, '--key', key, '--principal', who]);
  const applyWith = (n: number, extra: string[] = []) => run(['apply', '--plan', file, '-i', inv, '--yes', '--require-approvals', String(n), '--allowed-signers', allowed, ...extra]);
  const needs = (n: number, have: string) => `${file}: plan ${p.id} needs ${n} approval${n === 1 ? '' : 's'} from ${allowed}, has ${have}`;

  beforeAll(() => {
    p = plan(file);
  });

  it('signs with ssh-keygen into PLAN.sigs/PRINCIPAL.sig, and counts only distinct, valid, allowed, other signers', () => {
    const s = sign('alice');
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toBe(`signed plan ${p.id} (marker on a, b): ${file}.sigs/alice.sig\n`);
    expect(signatureKey(readFileSync(`${file}.sigs/alice.sig`, 'utf8'))).toBe(pub('alice').split(' ')[1]);

    // Too few: one approver where two are required.
    expect(applyWith(2).code).toBe(2);
    expect(applyWith(2).stderr).toBe(`${needs(2, '1 (alice)')} (each approver runs \`runbook sign ${file}\` after reviewing \`runbook show --plan ${file}\`)`);

    // The same signer twice (under another file name) counts once.
    copyFileSync(`${file}.sigs/alice.sig`, `${file}.sigs/bob.sig`);
    expect(applyWith(2).stderr).toContain(`${needs(2, '1 (alice)')}; not counted: bob.sig: alice signed already (one approval per principal)`);

    // A forged signature: bob's name on bytes changed after signing.
    // (The last base64 line holds the signature's own bytes; its key and namespace stay alice's.)
    const forged = readFileSync(`${file}.sigs/alice.sig`, 'utf8').split('\n');
    const last = forged.length - 3;
    forged[last] = forged[last]!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
    writeFileSync(`${file}.sigs/bob.sig`, forged.join('\n'));
    expect(applyWith(2).stderr).toContain("; not counted: bob.sig: not a valid signature of this plan (alice's key; forged, or made for another plan)");

    // A signature of another plan.
    const other = join(dir, 'p3-other.json');
    plan(other, ['--hosts', 'a']);
    expect(sign('bob', keygen('bob'), other).code).toBe(0);
    copyFileSync(`${other}.sigs/bob.sig`, `${file}.sigs/bob.sig`);
    expect(applyWith(2).stderr).toContain("; not counted: bob.sig: not a valid signature of this plan (bob's key; forged, or made for another plan)");

    // A signer the allowed-signers file does not list.
    expect(sign('carol').code).toBe(0);
    expect(applyWith(2).stderr).toContain('carol.sig: its key is not in allowed_signers');

    // The launcher's own signature does not count, unless asked.
    expect(run(['sign', file, '--principal', 'launcher']).code).toBe(0);
    expect(applyWith(2).stderr).toContain('launcher.sig: launcher is the launcher (a key this operator holds, or their name; --allow-self-approval counts it)');
    // Counted with --allow-self-approval (3 required, so the run is still refused before it connects).
    expect(applyWith(3, ['--allow-self-approval']).stderr).toContain(needs(3, '2 (alice, launcher)'));
  });

  it('a new plan at the same path removes the old plan\'s signatures', () => {
    const f = join(dir, 'p4.json');
    plan(f);
    expect(sign('alice', keygen('alice'), f).code).toBe(0);
    const r = run(['plan', rbFile, '-i', inv, '-o', f]);
    expect(r.stderr).toBe(`runbook: removed 1 signature of an earlier plan at ${f} (alice.sig)`);
    expect(existsSync(`${f}.sigs/alice.sig`)).toBe(false);
    readPlanFile(f, new Date());
  });
});

describe('drift and the plan guard', () => {
  const ok = { stdoutTruncated: false, stderrTruncated: false, durationMs: 1, signal: null, stderr: '' } as const;
  const res = (code: number, stdout: string) => ({ ...ok, outcome: 'exit' as const, code, stdout });
  const id = (s: string) => s;

  it('compares exit code, output or the regex matches, as the step says', () => {
    const a = checkPrint(res(1, 'ip_forward = 0 at 1000\n'), { kind: 'regex', value: 'ip_forward = (\\d)' }, id);
    const b = checkPrint(res(1, 'ip_forward = 0 at 2000\n'), { kind: 'regex', value: 'ip_forward = (\\d)' }, id);
    expect(a.matches).toEqual(['0']);
    expect(driftBetween(a, b, { kind: 'regex', value: 'ip_forward = (\\d)' })).toBeUndefined();
    expect(driftBetween(a, b, undefined)).toBe("the check's output changed; drift: output");
    expect(driftBetween(a, b, { kind: 'exit' })).toBeUndefined();
    expect(driftBetween(a, checkPrint(res(2, ''), undefined, id), { kind: 'exit' })).toBe('the check ended with exit 2, planned exit 1');
    const c = checkPrint(res(1, 'ip_forward = 1 at 2000\n'), { kind: 'regex', value: 'ip_forward = (\\d)' }, id);
    expect(driftBetween(a, c, { kind: 'regex', value: 'ip_forward = (\\d)' })).toBe(`the check's drift: { regex: "ip_forward = (\\\\d)" } matches are ["1"], planned ["0"]`);
  });

  it('lets a planned fix run, skips one that was not planned or is not the planned command, and reports drift', () => {
    const p = plan(join(dir, 'p5.json'));
    const guard = planGuard(p, ['a', 'b']);
    const planned = p.body.hosts[0]!.steps[0]!;
    const step = (index: number, fix: string, verify = planned.verify): PlannedStep => ({
      index,
      name: 'x',
      source: { drift: undefined } as never,
      check: { command: '', display: '' },
      fix: [{ command: fix, display: fix }],
      verify: { command: verify, display: verify },
      become: false,
      continueOnFailure: false,
      needs: [],
      files: [],
      snapshot: [],
    });
    expect(guard.beforeFix('a', step(0, `touch ${state}/marker`), res(1, `no marker in ${state}\n`), id)).toEqual({ kind: 'planned' });
    expect(guard.beforeFix('a', step(0, 'rm -rf /'), res(1, `no marker in ${state}\n`), id)).toEqual({ kind: 'skip', reason: `not in plan ${p.id}: the fix is not the planned one (planned: touch ${state}/marker; now: rm -rf /)` });
    expect(guard.beforeFix('a', step(0, `touch ${state}/marker`, 'rm -rf /'), res(1, `no marker in ${state}\n`), id)).toEqual({ kind: 'skip', reason: `not in plan ${p.id}: the fix is not the planned one (planned: ${planned.verify}; now: rm -rf /)` });
    expect(guard.beforeFix('a', step(0, `touch ${state}/marker`), res(1, 'something else\n'), id)).toEqual({ kind: 'drifted', reason: `drifted since plan ${p.id}: the check's output changed; drift: output`, plannedOutput: planned.checkOutput });
    expect(guard.beforeFix('z', step(0, 'x'), res(1, ''), id)).toEqual({ kind: 'skip', reason: `not in plan ${p.id}: it has no such step for z` });
    expect(guard.passed('a', step(0, ''))).toBe(`no longer needed: the check passes now (plan ${p.id} had a fix for it)`);
  });
});
