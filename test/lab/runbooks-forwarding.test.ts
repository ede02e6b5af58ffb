/**
 * runbooks/fix-forwarding.yaml on the lab: break d, see its pods cut off, apply, see them back,
 * apply again and see nothing left to do.
 */
import { describe, expect, it } from 'vitest';
import { labBreak } from '../../src/lab/index.js';
import { apply, useLab, expectAllOk, expectProbeHealthy, failingNodes, LAB, onNode, pairsWith, probe } from './runbooks-support.js';

const RB = 'fix-forwarding';
const [RUNTIME, PERSISTED, POLICY] = ['ip_forward is on at runtime', 'ip_forward is persisted', 'FORWARD policy is ACCEPT'];

const L = useLab({}, async () => {
  await onNode('d', 'rm -f /etc/sysctl.d/98-test.conf /etc/sysctl.d/zz-override.conf');
});

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

  it('forward-drop: fixes only the FORWARD policy', async () => {
    await labBreak(LAB, 'forward-drop', 'd');
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));
    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expect(dry.statuses.d).toEqual(['ok', 'ok', 'would-fix']);
    expect(dry.results.d?.[POLICY]?.checkOutput).toBe('-P FORWARD DROP');
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));

    const fixed = apply(L(), RB, 'd', ['--yes']);
    expect(fixed.code).toBe(0);
    expect(fixed.statuses.d).toEqual(['ok', 'ok', 'fixed']);
    await expectProbeHealthy();
    expectAllOk(apply(L(), RB, 'd', ['--yes']));
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
});
