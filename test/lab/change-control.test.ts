/**
 * Saved plans on the lab: plan → review → sign → apply, on real nodes. What a plan changed (or did
 * not) is read from outside, straight from d's namespace and the lab's probe; refusals are shown to
 * happen before anything connects (the audit trail gains no run).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labBreak } from '../../src/lab/index.js';
import { runEventSchema } from '../../src/engine/events-schema.js';
import type { RunEvent } from '../../src/engine/events.js';
import { readPlanFile, type PlanFile } from '../../src/model/plan-file.js';
import { BIN, LAB, RUNBOOKS, expectProbeHealthy, failingNodes, onNode, pairsWith, probe, useLab } from './runbooks-support.js';

const L = useLab();
const [RUNTIME, PERSISTED, FORWARD] = ['ip_forward is on at runtime', 'ip_forward is persisted', 'pod traffic is forwarded'];

function cli(args: string[]) {
  const r = spawnSync('node', [BIN, ...args], {
    encoding: 'utf8',
    input: '',
    env: { ...process.env, RUNBOOK_AUDIT_FILE: join(L().scratch, 'audit.jsonl'), CI: '1' },
    timeout: 170_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}

/** `runbook plan fix-forwarding --hosts d`, read back against the schema and its own hash. */
function plan(file: string, extra: string[] = []): PlanFile {
  const r = cli(['plan', 'fix-forwarding', '--hosts', 'd', '-i', L().info.inventory, '--runbooks', RUNBOOKS, '-o', file, ...extra]);
  expect(r.code, r.stderr).toBe(3);
  return readPlanFile(file, new Date());
}

/** `apply --plan FILE --yes --json`: d's step results by name, and the run-start event. */
function applyPlan(file: string, extra: string[] = []) {
  for (let attempt = 1; ; attempt++) {
    const r = cli(['apply', '--plan', file, '-i', L().info.inventory, '--yes', '--json', ...extra]);
    // The previous run's host lock is released within about a second.
    if (r.code === 4 && attempt < 5) {
      spawnSync('sleep', ['1']);
      continue;
    }
    const events = r.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => runEventSchema.parse(JSON.parse(l)) as RunEvent);
    const d = Object.fromEntries(events.flatMap((e) => (e.type === 'step-result' && e.host === 'd' ? [[e.step, { status: e.status, reason: e.reason }]] : [])));
    return { code: r.code, stderr: r.stderr, d, start: events.find((e) => e.type === 'run-start') };
  }
}

const trailLines = (): number => (existsSync(join(L().scratch, 'audit.jsonl')) ? readFileSync(join(L().scratch, 'audit.jsonl'), 'utf8').split('\n').length : 0);
const dState = (): Promise<string> => onNode('d', 'echo "$(sysctl -n net.ipv4.ip_forward)"; cat /etc/sysctl.conf; stat -c %i /etc/sysctl.conf');

describe('saved plans on the lab', () => {
  it('plan → show → apply --plan fixes exactly what was planned; applied again it has nothing left to do', async () => {
    await labBreak(LAB, 'ip-forward-off', 'd');
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));
    const file = join(L().scratch, 'plan.json');
    const p = plan(file);
    expect(p.body.hosts.map((h) => [h.name, h.steps.map((s) => s.status)])).toEqual([['d', ['would-fix', 'would-fix', 'ok']]]);
    const shown = cli(['show', '--plan', file]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('d: ip_forward is persisted: would-fix');
    expect(shown.stdout).toContain('$ sysctl -w net.ipv4.ip_forward=1');

    const a = applyPlan(file);
    expect(a.code, a.stderr).toBe(0);
    expect(a.d[RUNTIME]?.status).toBe('fixed');
    expect(a.d[PERSISTED]?.status).toBe('fixed');
    expect(a.start).toMatchObject({ type: 'run-start', plan: { id: p.id, hash: p.hash, file, approvers: [] } });
    await expectProbeHealthy();
    expect(await onNode('d', 'grep -c "^net.ipv4.ip_forward = 1" /etc/sysctl.conf')).toBe('1');

    const again = applyPlan(file);
    expect(again.code).toBe(0);
    expect(again.d[RUNTIME]).toEqual({ status: 'ok', reason: `no longer needed: the check passes now (plan ${p.id} had a fix for it)` });
  });

  it('drift: a fix made by hand since the plan leaves nothing to do; a different breakage is skipped, the node left as it is', async () => {
    const file = join(L().scratch, 'drift.json');
    await labBreak(LAB, 'ip-forward-off', 'd');
    const p = plan(file);
    // Out of band: someone fixed d by hand meanwhile.
    await onNode('d', "sysctl -qw net.ipv4.ip_forward=1; sed -i --follow-symlinks 's/^net.ipv4.ip_forward = 0/net.ipv4.ip_forward = 1/' /etc/sysctl.conf");
    const byHand = await dState();
    const a = applyPlan(file);
    expect(a.code, a.stderr).toBe(0);
    expect(a.d[RUNTIME]?.reason).toBe(`no longer needed: the check passes now (plan ${p.id} had a fix for it)`);
    expect(a.d[PERSISTED]?.status).toBe('ok');
    expect(await dState()).toBe(byHand);

    // A different breakage: the file now says 0 in a second place the plan never saw.
    await labBreak(LAB, 'ip-forward-off', 'd');
    const q = plan(file);
    await onNode('d', 'echo "net.ipv4.ip_forward = 0" >> /etc/sysctl.conf');
    const drifted = await onNode('d', 'cat /etc/sysctl.conf; stat -c %i /etc/sysctl.conf');
    const b = applyPlan(file);
    expect(b.code).toBe(3);
    expect(b.d[PERSISTED]).toEqual({ status: 'skipped', reason: `drifted since plan ${q.id}: the check's output changed; drift: output` });
    // Its runtime check reads the same "0" as planned: that planned fix ran.
    expect(b.d[RUNTIME]?.status).toBe('fixed');
    expect(await onNode('d', 'cat /etc/sysctl.conf; stat -c %i /etc/sysctl.conf')).toBe(drifted);
    expect(b.d[FORWARD]?.status).toBe('ok');
  });

  it('refuses a plan whose runbook, inventory or own file was edited, before anything connects', async () => {
    await labBreak(LAB, 'ip-forward-off', 'd');
    const dir = join(L().scratch, 'edited');
    mkdirSync(dir, { recursive: true });
    cpSync(RUNBOOKS, join(dir, 'runbooks'), { recursive: true });
    const file = join(dir, 'plan.json');
    const r = cli(['plan', 'fix-forwarding', '--hosts', 'd', '-i', L().info.inventory, '--runbooks', join(dir, 'runbooks'), '-o', file]);
    expect(r.code, r.stderr).toBe(3);
    const p = readPlanFile(file);
    const before = await dState();
    const lines = trailLines();

    const rb = join(dir, 'runbooks', 'fix-forwarding.yaml');
    const original = readFileSync(rb, 'utf8');
    writeFileSync(rb, original.replace('sysctl -w net.ipv4.ip_forward=1', 'sysctl -w net.ipv4.ip_forward=1 && true'));
    const c = applyPlan(file);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain(`${file}: runbook fix-forwarding (${rb}) changed since plan ${p.id} was made`);
    writeFileSync(rb, original);

    const inv = join(dir, 'inventory.yaml');
    const labDir = dirname(L().info.inventory);
    const moved = readFileSync(L().info.inventory, 'utf8')
      .replace(/^( {2}(?:identity_file|known_hosts): )(\S+)$/gm, (_, k: string, f: string) => `${k}${join(labDir, f)}`)
      .replace(/(\n {2}d:\n {4}address: )\S+/, (_, head: string) => `${head}198.18.99.99`);
    writeFileSync(inv, moved);
    const i = cli(['apply', '--plan', file, '-i', inv, '--yes']);
    expect(i.code).toBe(2);
    expect(i.stderr).toContain(`${file}: d is not what plan ${p.id} was made against: it is now reached as`);

    writeFileSync(file, readFileSync(file, 'utf8').replace('"sysctl -w net.ipv4.ip_forward=1"', '"sysctl -w net.ipv4.ip_forward=1; touch /tmp/x"'));
    const e = applyPlan(file);
    expect(e.code).toBe(2);
    expect(e.stderr).toContain(`plan ${p.id} was edited after it was written`);

    expect(trailLines()).toBe(lines);
    expect(await dState()).toBe(before);
  });

  it('two-person approval: refused with one signature, applied with two, and the approvers go into the trail', async () => {
    await labBreak(LAB, 'ip-forward-off', 'd');
    const dir = join(L().scratch, 'approvals');
    mkdirSync(dir, { recursive: true });
    const key = (who: string): string => {
      const f = join(dir, who);
      if (!existsSync(f)) expect(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f]).status).toBe(0);
      return f;
    };
    const allowed = join(dir, 'allowed_signers');
    writeFileSync(allowed, ['alice', 'bob'].map((w) => `${w} ${readFileSync(`${key(w)}.pub`, 'utf8').trim()}`).join('\n') + '\n');
    const file = join(dir, 'plan.json');
    const p = plan(file);
    const before = await dState();
    expect(cli(['sign', file, '--key', key('alice'), '--principal', 'alice']).code).toBe(0);
    const one = applyPlan(file, ['--require-approvals', '2', '--allowed-signers', allowed]);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain(`plan ${p.id} needs 2 approvals from ${allowed}, has 1 (alice)`);
    expect(await dState()).toBe(before);

    expect(cli(['sign', file, '--key', key('bob'), '--principal', 'bob']).code).toBe(0);
    const two = applyPlan(file, ['--require-approvals', '2', '--allowed-signers', allowed]);
    expect(two.code, two.stderr).toBe(0);
    expect(two.start).toMatchObject({ plan: { id: p.id, approvers: ['alice', 'bob'] } });
    await expectProbeHealthy();
    const trail = readFileSync(join(L().scratch, 'audit.jsonl'), 'utf8');
    expect(trail).toContain(`"plan":{"id":"${p.id}","hash":"${p.hash}","file":"${file}","approvers":["alice","bob"]}`);
    const runId = two.start?.runId ?? '';
    expect(cli(['history', runId]).stdout).toContain(`plan ${p.id} (${file}), approved by alice, bob`);
  });
});
