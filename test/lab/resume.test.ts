/**
 * `runbook resume` on the lab: a 4-host apply of fix-forwarding with fixes on every worker, its
 * controller SIGKILLed as soon as the trail shows a first fix, then `runbook resume last --yes`.
 * What the resume ran is read from the trail and from each node's own log of what its sshd
 * received; the nodes' state from their namespaces and the pod probe, never through runbook.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labBreak } from '../../src/lab/index.js';
import { parseRecordLine, type AuditRecord } from '../../src/report/audit-record.js';
import { BIN, LAB, RUNBOOKS, expectProbeHealthy, failingNodes, onNode, probe, useLab } from './runbooks-support.js';

const L = useLab();
const WORKERS = ['a', 'b', 'c', 'd'];
const STEPS = ['ip_forward is on at runtime', 'ip_forward is persisted', 'pod traffic is forwarded'];
const trail = (): string => join(L().scratch, 'audit.jsonl');
const env = (): NodeJS.ProcessEnv => ({ ...process.env, RUNBOOK_AUDIT_FILE: trail(), CI: '1' });

function records(): AuditRecord[] {
  if (!existsSync(trail())) return [];
  return readFileSync(trail(), 'utf8')
    .split('\n')
    .flatMap((l) => {
      const p = parseRecordLine(l);
      return p.ok ? [p.record] : [];
    });
}

/** What each node's sshd received (ssh-command-log), as `ID` per line. */
async function receivedIds(node: string): Promise<string[]> {
  return (await onNode(node, 'cat /run/lab/log/ssh-commands.log')).split('\n').map((l) => l.split(' ')[1] ?? '');
}

/** Runs `runbook resume`, again while a host lock of the killed run is still held (released within about a second). */
function resume(args: string[]) {
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync('node', [BIN, 'resume', ...args], { encoding: 'utf8', env: env(), input: '', timeout: 170_000 });
    if (r.status !== 4 || attempt === 10) return r;
    spawnSync('sleep', ['0.5']);
  }
}

describe('runbook resume on the lab', () => {
  it('after a controller SIGKILL in the middle of a 4-host apply, finishes only what was left', async () => {
    for (const n of WORKERS) await labBreak(LAB, 'ip-forward-off', n);
    expect(failingNodes(await probe()).length).toBeGreaterThan(0);

    // Two hosts at a time: when the first fix is on the record, c and d have not started.
    const proc = spawn('node', [BIN, 'apply', 'fix-forwarding', '--hosts', 'workers', '--forks', '2', '--yes', '-i', L().info.inventory, '--runbooks', RUNBOOKS], {
      env: env(),
      stdio: 'ignore',
    });
    const ended = new Promise<NodeJS.Signals | null>((res) => proc.on('close', (_code, signal) => res(signal)));
    const deadline = Date.now() + 60_000;
    while (!records().some((r) => r.kind === 'step' && r.status === 'fixed')) {
      if (Date.now() > deadline) throw new Error('no fix recorded within 60 s');
      await new Promise((res) => setTimeout(res, 10));
    }
    proc.kill('SIGKILL');
    expect(await ended).toBe('SIGKILL');

    const killed = records();
    const firstRun = killed.find((r) => r.kind === 'run-start')!.runId;
    expect(killed.some((r) => r.kind === 'run-end')).toBe(false);
    const done = new Set(killed.flatMap((r) => (r.kind === 'step' && (r.status === 'ok' || r.status === 'fixed') ? [`${r.host}/${r.step}`] : [])));
    const left = WORKERS.flatMap((h) => STEPS.map((s) => `${h}/${s}`)).filter((p) => !done.has(p));
    expect(done.size).toBeGreaterThan(0);
    expect(left).toContain('c/ip_forward is on at runtime');
    const logged = Object.fromEntries(await Promise.all(WORKERS.map(async (n) => [n, (await receivedIds(n)).length] as const)));

    // The killed run's host locks go once sshd sees its connections drop and closes their pipes. A resume
    // started before that is refused on the hosts still locked and runs on the others, and is then
    // itself the last apply: wait for every lock, so that one resume continues the killed run.
    for (const n of WORKERS) {
      const until = Date.now() + 15_000;
      while ((await onNode(n, 'flock -n /run/runbook.lock true && echo free || echo held')) !== 'free') {
        if (Date.now() > until) throw new Error(`${n}: the killed run's host lock was not released within 15 s`);
        await new Promise((res) => setTimeout(res, 200));
      }
    }
    const r = resume(['last', '--yes', '-i', L().info.inventory, '--runbooks', RUNBOOKS]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(`runbook fix-forwarding: resume of run ${firstRun} on 4 hosts from`);

    const resumed = records().filter((x) => x.runId !== firstRun);
    const resumeRun = resumed[0]!.runId;
    expect(resumed[0]).toMatchObject({ kind: 'run-start', resumes: firstRun, hosts: WORKERS, vars: {} });
    // What it sent: nothing for a pair the killed run finished (the host lock's records name the first step).
    const started = new Map(resumed.flatMap((x) => (x.kind === 'command-start' ? [[x.commandId, x] as const] : [])));
    const sentFor = [...started.values()].filter((x) => x.phase !== 'lock' && x.phase !== 'unlock').map((x) => `${x.host}/${x.step}`);
    expect(sentFor.filter((p) => done.has(p))).toEqual([]);
    // A pair the killed run finished is reported done; every other one ends ok or fixed.
    const results = new Map<string, AuditRecord>(resumed.flatMap((x) => (x.kind === 'step' ? [[`${x.host}/${x.step}`, x] as const] : [])));
    for (const p of done) expect(results.get(p), p).toMatchObject({ status: 'not-applicable', reason: expect.stringMatching(new RegExp(`^done in run ${firstRun}: (ok|fixed)$`)) });
    const status = (p: string) => {
      const x = results.get(p);
      return x?.kind === 'step' ? x.status : undefined;
    };
    for (const p of left) expect(['ok', 'fixed'], p).toContain(status(p));
    expect(status('c/ip_forward is on at runtime')).toBe('fixed');

    // The hosts' own account: every command of the resume they received was announced, none for a finished pair.
    for (const n of WORKERS) {
      const got = (await receivedIds(n)).slice(logged[n]).filter((id) => id.startsWith(`${resumeRun}.`));
      const unannounced = got.filter((id) => !started.has(id));
      expect(unannounced, `${n} received commands the trail never announced`).toEqual([]);
      const finished = got.map((id) => started.get(id)!).filter((x) => x.phase !== 'lock' && x.phase !== 'unlock' && done.has(`${x.host}/${x.step}`));
      expect(finished, `${n} received a command for a pair the killed run had finished`).toEqual([]);
    }

    // Healthy at the end, read from each node itself: forwarding on, persisted once, pods reach each other.
    for (const n of WORKERS) {
      expect(await onNode(n, 'sysctl -n net.ipv4.ip_forward'), n).toBe('1');
      expect(await onNode(n, 'grep -c "^net.ipv4.ip_forward = 1" /etc/sysctl.conf'), n).toBe('1');
    }
    await expectProbeHealthy();

    const history = spawnSync('node', [BIN, 'history'], { encoding: 'utf8', env: env() }).stdout;
    expect(history).toMatch(new RegExp(`${resumeRun} .* resume ${firstRun} .* 0 `));
    expect(spawnSync('node', [BIN, 'audit', 'verify'], { encoding: 'utf8', env: env() }).status).toBe(0);
  });
});
