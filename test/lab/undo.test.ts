/**
 * runbook undo on the lab, judged from outside: d's sysctl file (bytes, mode, owner, link), its
 * runtime ip_forward and both backends' filter tables are read with nsenter before the fix and
 * after the undo, and the probe shows d's pods cut off again, exactly as before the fix. An undo
 * refuses a host whose file was changed after the fix, and changes nothing there.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labBreak } from '../../src/lab/index.js';
import { undoStepName } from '../../src/engine/undo.js';
import { apply, describeRun, expectProbeHealthy, failingNodes, LAB, onNode, pairsWith, probe, runbookJson, useLab } from './runbooks-support.js';

const L = useLab();
const RUNTIME = undoStepName('ip_forward is on at runtime');
const PERSISTED = undoStepName('ip_forward is persisted');
const FORWARD = undoStepName('pod traffic is forwarded');

/** Everything fix-forwarding may change on d, read from outside (the filter tables without counters). */
const state = (): Promise<string> =>
  onNode(
    'd',
    `ls -l /etc/sysctl.d/99-sysctl.conf | awk '{ print $1, $3, $4, $NF }'
stat -L -c '%a %U:%G %s' /etc/sysctl.d/99-sysctl.conf
cat /etc/sysctl.d/99-sysctl.conf
sysctl -n net.ipv4.ip_forward
for s in iptables-legacy-save iptables-nft-save; do echo "## $s"; $s -t filter | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]$//'; done`,
  );

async function expectDCutOff(): Promise<void> {
  expect(failingNodes(await probe())).toEqual(pairsWith('d'));
}

describe('undo', () => {
  it("puts back d's sysctl file, runtime value and FORWARD policy byte for byte: d's pods are cut off again", async () => {
    await labBreak(LAB, 'ip-forward-off', 'd');
    await labBreak(LAB, 'forward-drop', 'd');
    const broken = await state();
    await expectDCutOff();

    const fixed = apply(L(), 'fix-forwarding', 'd', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    expect(fixed.statuses.d).toEqual(['fixed', 'fixed', 'fixed']);
    await expectProbeHealthy();
    const runId = fixed.events[0]!.runId;

    // The dry run shows the undo without doing it: the file's diff back, and nothing changed.
    const dry = runbookJson(L(), ['undo', 'last', '--dry-run']);
    expect(dry.code, describeRun(dry)).toBe(3);
    expect(dry.statuses.d).toEqual(['would-fix', 'would-fix', 'would-fix']);
    const preview = dry.results.d?.[PERSISTED]?.changes?.[0];
    expect(preview).toMatchObject({ kind: 'preview', target: '/etc/sysctl.d/99-sysctl.conf' });
    expect(preview!.diff).toContain('\n-net.ipv4.ip_forward = 1\n+net.ipv4.ip_forward = 0');
    await expectProbeHealthy();

    const undone = runbookJson(L(), ['undo', runId.slice(0, 20), '--yes']);
    expect(undone.code, describeRun(undone)).toBe(0);
    // Latest first: the FORWARD policy, the file, then the runtime value.
    expect(undone.events.filter((e) => e.type === 'step-result').map((e) => e.type === 'step-result' && e.step)).toEqual([FORWARD, PERSISTED, RUNTIME]);
    expect(undone.statuses.d).toEqual(['fixed', 'fixed', 'fixed']);
    expect(undone.events[0]).toMatchObject({ type: 'run-start', undoes: runId });
    expect(await state()).toBe(broken);
    await expectDCutOff();

    // On the record as a run of its own, naming the run it undid.
    const trail = readFileSync(join(L().scratch, 'audit.jsonl'), 'utf8');
    expect(trail).toContain(`"undoes":"${runId}"`);
    // Nothing left to undo: the second time finds every target as before the fix.
    const again = runbookJson(L(), ['undo', 'last', '--yes']);
    expect(again.code, describeRun(again)).toBe(0);
    expect(again.statuses.d).toEqual(['ok', 'ok', 'ok']);
    expect(await state()).toBe(broken);
  });

  it('refuses when the file changed after the fix, and changes nothing on that host', async () => {
    await labBreak(LAB, 'ip-forward-off', 'd');
    const fixed = apply(L(), 'fix-forwarding', 'd', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    await onNode('d', 'echo "net.ipv4.conf.all.rp_filter = 1" >> /etc/sysctl.d/99-sysctl.conf');
    const edited = await state();

    const undone = runbookJson(L(), ['undo', 'last', '--yes']);
    expect(undone.code, describeRun(undone)).toBe(1);
    expect(undone.results.d?.[PERSISTED]).toMatchObject({ status: 'failed' });
    expect(undone.results.d?.[PERSISTED]?.reason).toMatch(
      /^refused: exit code 3: \/etc\/sysctl\.d\/99-sysctl\.conf: changed since the fix \(sha256 now [0-9a-f]{12}\), so it is not undone; nothing was changed$/,
    );
    // The runtime value's undo comes after, on a host whose undo already failed: not run.
    expect(undone.results.d?.[RUNTIME]).toMatchObject({ status: 'blocked' });
    expect(await state()).toBe(edited);
    await expectProbeHealthy();
  });
});
