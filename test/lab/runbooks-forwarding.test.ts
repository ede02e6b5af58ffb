/**
 * runbooks/fix-forwarding.yaml on the lab: break d, see its pods cut off, apply, see them back,
 * apply again and see nothing left to do. FORWARD is judged by the traffic: flannel's own accept
 * rules make policy DROP healthy, and a REJECT ahead of them (in either iptables backend) is
 * reported and never deleted. Every verdict is checked from outside: the lab's probe, and
 * iptables-save of both backends read straight from d's namespace.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labBreak } from '../../src/lab/index.js';
import { hasFilterTable } from '../../src/lab/firewall.js';
import { apply, BIN, RUNBOOKS, useLab, expectAllOk, expectProbeHealthy, failingNodes, LAB, onNode, pairsWith, probe } from './runbooks-support.js';

const RB = 'fix-forwarding';
const [RUNTIME, PERSISTED, POLICY] = ['ip_forward is on at runtime', 'ip_forward is persisted', 'pod traffic is forwarded'];
const REJECT = '-A FORWARD -j REJECT --reject-with icmp-host-prohibited';
const INTO_D = ['a→d', 'b→d', 'c→d'];

const L = useLab({}, async () => {
  await onNode('d', 'rm -f /etc/sysctl.d/98-test.conf /etc/sysctl.d/zz-override.conf');
  // Only the rules these tests add (the lab's daemons may add their own).
  await onNode('d', `for ipt in iptables-nft iptables-legacy; do
    ${hasFilterTable('$ipt')} || continue
    while $ipt -D FORWARD -j REJECT --reject-with icmp-host-prohibited 2>/dev/null; do :; done
    $ipt -D FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD 2>/dev/null || true
    $ipt -F FLANNEL-FWD 2>/dev/null && $ipt -X FLANNEL-FWD
  done; true`);
});

/** Both iptables backends' rules on d, as iptables-save prints them, without counters and timestamps. */
const iptablesSave = async (): Promise<string> =>
  onNode('d', "{ echo '## legacy'; iptables-legacy-save; echo '## nft'; iptables-nft-save; } 2>/dev/null | grep -v '^# ' | sed 's/ \\[[0-9]*:[0-9]*\\]$//'");

/** Every text the run printed about the step on d: check output, reason, command output. */
const said = (a: ReturnType<typeof apply>, step: string): string =>
  a.events.flatMap((e) => (e.type === 'step-result' && e.host === 'd' && e.step === step ? [e.checkOutput ?? '', e.reason ?? ''] : e.type === 'command' && e.host === 'd' && e.step === step ? [e.output.tail] : [])).join('\n');

/** flanneld >= 0.10's own FORWARD rules (trafficmngr/iptables forwardRules), added by hand on d. */
const FLANNEL_FWD = `. /run/flannel/subnet.env
iptables -N FLANNEL-FWD
iptables -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
iptables -A FLANNEL-FWD -s "$FLANNEL_NETWORK" -m comment --comment "flanneld forward" -j ACCEPT
iptables -A FLANNEL-FWD -d "$FLANNEL_NETWORK" -m comment --comment "flanneld forward" -j ACCEPT`;

const nodeState = async (): Promise<string> =>
  onNode('d', 'echo "$(sysctl -n net.ipv4.ip_forward) $(iptables -S FORWARD | head -n 1) $(readlink /etc/sysctl.d/99-sysctl.conf)"');

describe('fix-forwarding', () => {
  it('ip-forward-off: dry run reports both ip_forward fixes and changes nothing; apply fixes; second apply is all ok', async () => {
    await labBreak(LAB, 'ip-forward-off', 'd');
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));
    const before = await nodeState();
    const sysctlBefore = await onNode('d', 'cat /etc/sysctl.conf');

    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expect(dry.code).toBe(3);
    expect(dry.statuses.d).toEqual(['would-fix', 'would-fix', 'ok']);
    expect(dry.results.d?.[PERSISTED]?.checkOutput).toContain('/etc/sysctl.d/99-sysctl.conf:');
    expect(dry.results.d?.[PERSISTED]?.checkOutput).toContain('net.ipv4.ip_forward = 0');
    expect(dry.results.d?.[RUNTIME]?.fixCommands).toEqual(['sysctl -w net.ipv4.ip_forward=1']);
    expect(await nodeState()).toBe(before);
    expect(await onNode('d', 'cat /etc/sysctl.conf')).toBe(sysctlBefore);
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));

    const fixed = apply(L(), RB, 'd', ['--yes']);
    expect(fixed.code).toBe(0);
    expect(fixed.statuses.d).toEqual(['fixed', 'fixed', 'ok']);
    await expectProbeHealthy();
    // Edited through the symlink: the link is still a link, and every other setting is still there.
    expect(await nodeState()).toBe('1 -P FORWARD ACCEPT ../sysctl.conf');
    expect(await onNode('d', 'cat /etc/sysctl.conf')).toBe(sysctlBefore.replace('net.ipv4.ip_forward = 0', 'net.ipv4.ip_forward = 1'));

    expectAllOk(apply(L(), RB, 'd', ['--yes']));
  });

  it('forward-drop (no accept rule but docker\'s): fixes only the FORWARD policy', async () => {
    await labBreak(LAB, 'forward-drop', 'd');
    // docker's own rules accept d's pods going out (and the replies): only connections into them fail.
    expect(failingNodes(await probe())).toEqual(INTO_D);
    const before = await iptablesSave();
    // d's iptables is nft and its legacy backend has no filter table: reading it (the check, the
    // fix's before/after snapshot) must not create one (`iptables-legacy-save -t filter` would).
    const legacyTables = await onNode('d', 'cat /proc/net/ip_tables_names');
    expect(legacyTables).not.toMatch(/^filter$/m);
    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expect(dry.statuses.d).toEqual(['ok', 'ok', 'would-fix']);
    expect(dry.results.d?.[POLICY]?.checkOutput).toContain("blocked by the FORWARD policy alone: fix-forwarding's fix is iptables-nft -P FORWARD ACCEPT");
    expect(await iptablesSave()).toBe(before);
    expect(failingNodes(await probe())).toEqual(INTO_D);

    const fixed = apply(L(), RB, 'd', ['--yes']);
    expect(fixed.code).toBe(0);
    expect(fixed.statuses.d).toEqual(['ok', 'ok', 'fixed']);
    await expectProbeHealthy();
    // The policy, and nothing else, changed.
    expect(await iptablesSave()).toBe(before.replace(':FORWARD DROP', ':FORWARD ACCEPT'));
    expect(await onNode('d', 'cat /proc/net/ip_tables_names')).toBe(legacyTables);
    expectAllOk(apply(L(), RB, 'd', ['--yes']));
  });

  it("policy DROP with flannel's FLANNEL-FWD accept rules is healthy: dry run ok, apply changes nothing", async () => {
    await onNode('d', `${FLANNEL_FWD}\niptables -P FORWARD DROP`);
    await expectProbeHealthy();
    const before = await iptablesSave();
    expect(before).toContain(':FORWARD DROP');

    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expectAllOk(dry);
    expect(said(dry, POLICY)).toContain('accepted by FLANNEL-FWD rule 1');
    expectAllOk(apply(L(), RB, 'd', ['--yes']));
    expect(await iptablesSave()).toBe(before);
    await expectProbeHealthy();
    // diagnose agrees.
    expect(apply(L(), 'diagnose-pod-network', 'd', ['--yes']).results.d?.[`${POLICY} [fix-forwarding]`]?.status).toBe('ok');
  });

  it('policy ACCEPT with a REJECT ahead of every accept: found, named, refused; nothing changed', async () => {
    await onNode('d', `${FLANNEL_FWD}\niptables -I FORWARD 1 -j REJECT --reject-with icmp-host-prohibited`);
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));
    const before = await iptablesSave();
    expect(before).toContain(':FORWARD ACCEPT');

    // The dry run proposes no fix that the apply would refuse: the check refuses (refuse_exit).
    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expect(dry.statuses.d).toEqual(['ok', 'ok', 'failed']);
    expect(dry.results.d?.[POLICY]?.fixCommands).toBeUndefined();
    expect(dry.results.d?.[POLICY]?.checkOutput).toContain(`blocked by rule [nft] FORWARD rule 1: ${REJECT} blocks`);
    const a = apply(L(), RB, 'd', ['--yes']);
    expect(a.code).not.toBe(0);
    expect(a.statuses.d).toEqual(['ok', 'ok', 'failed']);
    expect(said(a, POLICY)).toContain(`refused: exit code 3: blocked by rule [nft] FORWARD rule 1: ${REJECT} blocks 10.100.0.0/16`);
    expect(a.events.filter((e) => e.type === 'command' && e.host === 'd' && e.step === POLICY).map((e) => e.type === 'command' && e.phase)).not.toContain('fix');
    expect(await iptablesSave()).toBe(before);
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));

    const diag = apply(L(), 'diagnose-pod-network', 'd', ['--yes']).results.d?.[`${POLICY} [fix-forwarding]`];
    expect(diag?.status).toBe('failed');
    expect(diag?.checkOutput).toMatch(new RegExp(`blocked by rule \\[nft\\] FORWARD rule 1: ${REJECT} blocks .*; not fixed automatically`));
    expect(await iptablesSave()).toBe(before);
  });

  it('the same REJECT in the iptables-legacy backend while iptables (nft) is clean: still found, refused, nothing changed', async () => {
    await onNode('d', 'iptables-legacy -I FORWARD 1 -j REJECT --reject-with icmp-host-prohibited');
    expect(await onNode('d', 'iptables -S FORWARD')).not.toContain('REJECT');
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));
    const before = await iptablesSave();

    const a = apply(L(), RB, 'd', ['--yes']);
    expect(a.code).not.toBe(0);
    expect(a.statuses.d?.[2]).toBe('failed');
    expect(said(a, POLICY)).toContain(`refused: exit code 3: blocked by rule [legacy] FORWARD rule 1: ${REJECT}`);
    expect(await iptablesSave()).toBe(before);
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));
  });

  it('ip-forward-off and forward-drop at once are both fixed by one apply', async () => {
    await labBreak(LAB, 'ip-forward-off', 'd');
    await labBreak(LAB, 'forward-drop', 'd');
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));
    const fixed = apply(L(), RB, 'd', ['--yes']);
    expect(fixed.code).toBe(0);
    expect(fixed.statuses.d).toEqual(['fixed', 'fixed', 'fixed']);
    await expectProbeHealthy();
    expectAllOk(apply(L(), RB, 'd', ['--yes']));
  });

  it('appends the setting when no line persists it, keeping the rest of the file', async () => {
    await onNode('d', "sed -i --follow-symlinks '/ip_forward/d' /etc/sysctl.d/99-sysctl.conf");
    const a = apply(L(), RB, 'd', ['--dry-run']);
    expect(a.statuses.d).toEqual(['ok', 'would-fix', 'ok']);
    expect(a.results.d?.[PERSISTED]?.checkOutput).toContain('no net.ipv4.ip_forward line');
    expect(apply(L(), RB, 'd', ['--yes']).code).toBe(0);
    const text = await onNode('d', 'cat /etc/sysctl.conf');
    expect(text).toContain('net.core.somaxconn = 4096');
    expect(text.trimEnd().split('\n').at(-1)).toBe('net.ipv4.ip_forward = 1');
    expect(await onNode('d', 'test -L /etc/sysctl.d/99-sysctl.conf && echo link')).toBe('link');
  });

  it('reads the last line sysctl reads: an earlier =1 does not hide a later =0, and a later file it does not own makes the step fail, unchanged', async () => {
    // 98-test.conf says 1, 99-sysctl.conf (→ sysctl.conf) says 0: the 0 wins at boot.
    await onNode('d', "echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/98-test.conf; sed -i --follow-symlinks 's/^net.ipv4.ip_forward = 1/net.ipv4.ip_forward = 0/' /etc/sysctl.d/99-sysctl.conf");
    expect(apply(L(), RB, 'd', ['--dry-run']).statuses.d).toEqual(['ok', 'would-fix', 'ok']);

    // A file read after 99-sysctl.conf that sets 0: the runbook edits only its own file, so the
    // verify still sees the 0 and the step fails, naming the file that decides.
    await onNode('d', "echo 'net.ipv4.ip_forward=0' > /etc/sysctl.d/zz-override.conf");
    const a = apply(L(), RB, 'd', ['--yes']);
    expect(a.code).toBe(1);
    expect(a.statuses.d?.[1]).toBe('failed');
    const verify = a.events.flatMap((e) => (e.type === 'command' && e.step === PERSISTED && e.phase === 'verify' ? [e.output.tail] : []));
    expect(verify.at(-1)).toContain('/etc/sysctl.d/zz-override.conf:1:net.ipv4.ip_forward=0');
    expect(await onNode('d', 'cat /etc/sysctl.d/zz-override.conf')).toBe('net.ipv4.ip_forward=0');
  });

  it('4 shards as separate processes, each with its own trail: every worker runs exactly once, d is fixed, and the trails merge into one run', async () => {
    labBreak(LAB, 'ip-forward-off', 'd');
    const runId = `shards-${Date.now()}`;
    const trails = [1, 2, 3, 4].map((k) => join(L().scratch, `shard-${k}.jsonl`));
    const shards = await Promise.all(
      [1, 2, 3, 4].map(
        (k) =>
          new Promise<{ code: number | null; out: string; err: string }>((done) => {
            const p = spawn('node', [BIN, 'apply', RB, '--hosts', 'workers', '--yes', '--json', '--shard', `${k}/4`, '--run-id', runId, '--audit-file', trails[k - 1]!, '-i', L().info.inventory, '--runbooks', RUNBOOKS], { env: { ...process.env, CI: '1' } });
            let out = '';
            let err = '';
            p.stdout.on('data', (c: Buffer) => (out += c.toString()));
            p.stderr.on('data', (c: Buffer) => (err += c.toString()));
            p.on('close', (code) => done({ code, out, err }));
          }),
      ),
    );
    const ran: string[] = [];
    for (const s of shards) {
      expect(s.code, s.err).toBe(0);
      for (const l of s.out.split('\n').filter(Boolean)) {
        const e = JSON.parse(l) as { type: string; runId: string; hosts?: string[] };
        expect(e.runId).toBe(runId);
        if (e.type === 'run-start') ran.push(...e.hosts!);
      }
    }
    expect(ran.sort()).toEqual(['a', 'b', 'c', 'd']);
    await expectProbeHealthy();
    const files = trails.filter((t) => existsSync(t)).flatMap((t) => ['--audit-file', t]);
    const report = JSON.parse(spawnSync('node', [BIN, 'report', runId, '--format', 'json', ...files], { encoding: 'utf8' }).stdout);
    expect(report.trail.intact).toBe(true);
    expect(report.hosts.map((h: { host: string; steps: { status: string }[] }) => `${h.host}: ${h.steps.map((x) => x.status).join(' ')}`).sort()).toEqual(['a: ok ok ok', 'b: ok ok ok', 'c: ok ok ok', 'd: fixed fixed ok']);
    const listed = JSON.parse(spawnSync('node', [BIN, 'history', '--format', 'json', ...files], { encoding: 'utf8' }).stdout) as { runId: string; hosts: string[] }[];
    expect(listed.filter((r) => r.runId === runId).map((r) => r.hosts.sort())).toEqual([['a', 'b', 'c', 'd']]);
  });
});
