/**
 * fix-br-netfilter on the k8s stack (issue 22), one lab for the file: on a healthy cluster every
 * check is ok and nothing changes; after no-br-netfilter (a reboot without the module, no
 * modules-load.d file naming it) the probe fails for c, a dry run reports the fixes and changes
 * nothing, the apply loads the module, persists it and starts flannel again, and the probe passes;
 * the next apply finds nothing to do. The persisted sysctl is edited in the runbook's own file,
 * and refused, nothing changed, when a later file sets 0. Node state is read from outside runbook
 * (the node's namespaces through labExec).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { labBreak, labHeal, labProbe, type ProbeResult } from '../../src/lab/index.js';
import { k8sLab, until } from './k8s-support.js';
import { apply, describeRun, expectAllOk, type Applied, type Lab } from './runbooks-support.js';

const K = k8sLab('bn');
const RB = 'fix-br-netfilter';
const STEPS = ['br_netfilter is loaded', 'bridge-nf-call-iptables is 1 at runtime', 'br_netfilter is loaded at boot', 'bridge-nf-call-iptables = 1 is persisted', 'flannel is running'];
const MODULES = '/etc/modules-load.d/k8s.conf';
const SYSCTL = '/etc/sysctl.d/k8s.conf';
const scratch = mkdtempSync(join(tmpdir(), 'rb-bn-'));
const lab = (): Lab => ({ info: K.info(), scratch });

afterEach(async () => {
  await labHeal(K.name);
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** What the runbook may change on a node, as the node sees it: both files (inode, mtime, ctime, content), the module's sysctls, flanneld's pid. */
const nodeState = (node: string): Promise<string> =>
  K.sh(
    node,
    `for f in ${MODULES} ${SYSCTL}; do stat -c '%n %i %.9Y %.9Z' "$f"; cat "$f"; done
ls /proc/sys/net/bridge | wc -l
sysctl -n net.bridge.bridge-nf-call-iptables
systemctl is-active flanneld; systemctl show -p MainPID --value flanneld`,
  );
const fleetState = async (): Promise<string[]> => Promise.all(K.info().nodes.map(async (n) => `${n.name}:\n${await nodeState(n.name)}`));

/** The output of a step's check on a host (step-result carries it only for a step that failed). */
function checkOutput(a: Applied, host: string, step: string): string | undefined {
  // The last: the step's needs are looked up first, in a check-phase command of their own.
  const e = [...a.events].reverse().find((x) => x.type === 'command' && x.host === host && x.step === step && x.phase === 'check');
  return e?.type === 'command' ? e.output.tail : undefined;
}

async function probeUntilOk(): Promise<ProbeResult> {
  let last: ProbeResult | undefined;
  await until('the probe to pass', async () => (last = await labProbe(K.name)).ok, 60_000);
  return last!;
}

describe('fix-br-netfilter (k8s stack)', () => {
  it('healthy: a dry run and an apply find every step ok on every node and change nothing', async () => {
    expect((await labProbe(K.name)).ok).toBe(true);
    const before = await fleetState();
    const nodes = K.info().nodes.map((n) => n.name);
    const dry = apply(lab(), RB, 'all', ['--dry-run']);
    expectAllOk(dry);
    expect(Object.keys(dry.statuses).sort()).toEqual([...nodes].sort());
    expect(await fleetState()).toEqual(before);
    const applied = apply(lab(), RB, 'all', ['--yes']);
    expectAllOk(applied);
    for (const n of nodes) expect(applied.statuses[n], describeRun(applied)).toEqual(STEPS.map(() => 'ok'));
    // The lab's own files decide: kubeadm's prerequisites, as an operator persisted them.
    expect(checkOutput(applied, 'c', 'bridge-nf-call-iptables = 1 is persisted')).toContain(`${SYSCTL}:1:net.bridge.bridge-nf-call-iptables  = 1`);
    expect(checkOutput(applied, 'c', 'br_netfilter is loaded at boot')).toContain(`${MODULES}:2:br_netfilter`);
    expect(await fleetState()).toEqual(before);
  });

  it('no-br-netfilter on c: the dry run reports the fixes and changes nothing; apply loads and persists the module and starts flannel; the second apply is all ok', async () => {
    await labBreak(K.name, 'no-br-netfilter', 'c');
    const broken = await labProbe(K.name);
    expect(broken.ok).toBe(false);
    expect(broken.podless).toEqual(['c']);
    const sysctlBefore = await K.sh('c', `stat -c '%i %.9Y' ${SYSCTL}; cat ${SYSCTL}`);
    const before = await K.sh('c', `ls /proc/sys/net/bridge | wc -l; [ -e ${MODULES} ] || echo absent; systemctl is-active flanneld || :`);
    expect(before).toBe('0\nabsent\nfailed');

    const dry = apply(lab(), RB, 'c', ['--dry-run']);
    expect(dry.code, describeRun(dry)).toBe(3);
    expect(dry.statuses.c, describeRun(dry)).toEqual(['would-fix', 'would-fix', 'would-fix', 'ok', 'would-fix']);
    expect(dry.results.c?.['br_netfilter is loaded']?.fixCommands).toEqual(['modprobe br_netfilter']);
    expect(dry.results.c?.['br_netfilter is loaded at boot']?.checkOutput).toContain('no modules-load.d file lists br_netfilter');
    expect(dry.results.c?.['flannel is running']?.checkOutput).toContain('flanneld: failed');
    expect(await K.sh('c', `ls /proc/sys/net/bridge | wc -l; [ -e ${MODULES} ] || echo absent; systemctl is-active flanneld || :`)).toBe(before);
    expect((await labProbe(K.name)).podless).toEqual(['c']);

    const fixed = apply(lab(), RB, 'c', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    // Loading the module brings bridge-nf-call-iptables back with its default, 1: nothing to set.
    expect(fixed.statuses.c, describeRun(fixed)).toEqual(['fixed', 'ok', 'fixed', 'ok', 'fixed']);
    await probeUntilOk();
    // From outside: c sees the module's sysctls again, the module is persisted in the runbook's
    // own file, the sysctl file is untouched, flannel runs.
    expect(await K.sh('c', 'cat /proc/sys/net/bridge/bridge-nf-call-iptables')).toBe('1');
    expect(await K.sh('c', `cat ${MODULES}; stat -c '%a %U' ${MODULES}`)).toBe('br_netfilter\n644 root');
    expect(await K.sh('c', `stat -c '%i %.9Y' ${SYSCTL}; cat ${SYSCTL}`)).toBe(sysctlBefore);
    expect(await K.sh('c', 'systemctl is-active flanneld')).toBe('active');

    const pid = await K.sh('c', 'systemctl show -p MainPID --value flanneld');
    const again = apply(lab(), RB, 'c', ['--yes']);
    expectAllOk(again);
    expect(await K.sh('c', 'systemctl show -p MainPID --value flanneld')).toBe(pid);
  });

  it("a persisted 0: the runbook's own file is edited (the preview shows it); a later file it does not own is refused, nothing changed", async () => {
    // b: the line gone from k8s.conf and 0 in an earlier file: the fix edits k8s.conf, keeping its other line.
    await K.sh('b', `printf 'net.bridge.bridge-nf-call-ip6tables = 1\\n' > ${SYSCTL}; printf 'net.bridge.bridge-nf-call-iptables = 0\\n' > /etc/sysctl.d/10-local.conf`);
    const dry = apply(lab(), RB, 'b', ['--dry-run']);
    expect(dry.statuses.b, describeRun(dry)).toEqual(['ok', 'ok', 'ok', 'would-fix', 'ok']);
    expect(dry.results.b?.['bridge-nf-call-iptables = 1 is persisted']?.checkOutput).toContain('/etc/sysctl.d/10-local.conf:1:net.bridge.bridge-nf-call-iptables = 0');
    expect(JSON.stringify(dry.events)).toContain('+net.bridge.bridge-nf-call-iptables = 1');
    const fixed = apply(lab(), RB, 'b', ['--yes']);
    expect(fixed.statuses.b, describeRun(fixed)).toEqual(['ok', 'ok', 'ok', 'fixed', 'ok']);
    expect(await K.sh('b', `cat ${SYSCTL}`)).toBe('net.bridge.bridge-nf-call-ip6tables = 1\nnet.bridge.bridge-nf-call-iptables = 1');
    expectAllOk(apply(lab(), RB, 'b', ['--yes']));

    // a: a later file (read after k8s.conf) sets 0: refused in the dry run and the apply, no file changed.
    await K.sh('a', "printf 'net.bridge.bridge-nf-call-iptables = 0\\n' > /etc/sysctl.d/zz-local.conf");
    const state = `stat -c '%n %i %.9Y %.9Z' ${SYSCTL} /etc/sysctl.d/zz-local.conf; cat ${SYSCTL}`;
    const before = await K.sh('a', state);
    const refusedDry = apply(lab(), RB, 'a', ['--dry-run']);
    expect(refusedDry.statuses.a, describeRun(refusedDry)).toEqual(['ok', 'ok', 'ok', 'failed', 'ok']);
    expect(refusedDry.results.a?.['bridge-nf-call-iptables = 1 is persisted']?.reason).toContain('/etc/sysctl.d/zz-local.conf is read after /etc/sysctl.d/k8s.conf');
    const refused = apply(lab(), RB, 'a', ['--yes']);
    expect(refused.code).not.toBe(0);
    expect(refused.statuses.a, describeRun(refused)).toEqual(['ok', 'ok', 'ok', 'failed', 'ok']);
    expect(await K.sh('a', state)).toBe(before);
    await K.sh('a', 'rm /etc/sysctl.d/zz-local.conf');
    await K.sh('b', `rm /etc/sysctl.d/10-local.conf; printf 'net.bridge.bridge-nf-call-iptables  = 1\\nnet.bridge.bridge-nf-call-ip6tables = 1\\n' > ${SYSCTL}`);
  });
});
