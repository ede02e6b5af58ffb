import { describe, expect, it } from 'vitest';
import { createRecapCollector, renderRecap } from '../../src/report/recap.js';
import type { RunEvent, StepStatus } from '../../src/engine/events.js';

const base = { time: new Date(0).toISOString(), runId: 'r1' };
function result(host: string, stepIndex: number, status: StepStatus, extra: Partial<Extract<RunEvent, { type: 'step-result' }>> = {}): RunEvent {
  return { type: 'step-result', ...base, host, step: `s${stepIndex}`, stepIndex, status, durationMs: 1, ...extra };
}

function recap(mode: 'dry-run' | 'apply', events: RunEvent[], fixedBy = new Map<string, string>(), options = ''): string {
  const c = createRecapCollector({ fixedBy, options });
  c.listener({ type: 'run-start', ...base, runbook: 'rb', runbookFile: 'rb.yaml', runbookHash: 'h', operator: 'me', mode, hosts: ['a', 'b', 'c'], steps: ['s0', 's1'] });
  for (const e of events) c.listener(e);
  return renderRecap(c.state);
}

describe('recap', () => {
  it('tabulates hosts by status and gives one reason per broken host', () => {
    const text = recap('apply', [
      result('a', 0, 'ok'),
      result('a', 1, 'fixed'),
      result('b', 0, 'failed', { reason: 'fix: exit code 1: permission denied' }),
      result('b', 1, 'blocked', { reason: 'blocked: "s0" failed' }),
      result('c', 0, 'unreachable', { reason: 'connection refused' }),
      result('c', 1, 'unreachable', { reason: 'connection refused' }),
    ]);
    expect(text).toContain('host  ok  fixed  would fix  failed  skipped  blocked  unreachable');
    expect(text).toMatch(/^a\s+1\s+1\s+0\s+0\s+0\s+0\s+0$/m);
    expect(text).toMatch(/^b\s+0\s+0\s+0\s+1\s+0\s+1\s+0$/m);
    expect(text).toMatch(/^c\s+0\s+0\s+0\s+0\s+0\s+0\s+2$/m);
    expect(text).toContain('b: "s0" failed: fix: exit code 1: permission denied');
    expect(text).toContain('c: unreachable: connection refused');
    expect(text).not.toContain('Plan');
  });

  it("lists a local step's commands as run on this machine, for the hosts, apart from the same commands on the hosts", () => {
    const text = recap('dry-run', [
      result('a', 0, 'would-fix', { fixCommands: ['kubectl cordon x'], local: true }),
      result('b', 0, 'would-fix', { fixCommands: ['kubectl cordon x'], local: true }),
      result('c', 0, 'would-fix', { fixCommands: ['kubectl cordon x'] }),
    ]);
    expect(text).toContain(['  "s0" would change 3 hosts:', '    on this machine, for a, b:', '      $ kubectl cordon x'].join('\n'));
    expect(text).toContain(['    on c:', '      $ kubectl cordon x'].join('\n'));
  });

  it('prints the dry-run plan grouped by identical commands', () => {
    const text = recap('dry-run', [
      result('a', 0, 'would-fix', { fixCommands: ['sysctl -w net.ipv4.ip_forward=1'] }),
      result('b', 0, 'ok'),
      result('c', 0, 'would-fix', { fixCommands: ['sysctl -w net.ipv4.ip_forward=1'] }),
      result('a', 1, 'would-fix', { fixCommands: ["echo 'x' > /a"] }),
      result('c', 1, 'would-fix', { fixCommands: ["echo 'x' > /c"], changes: [{ target: '/c', kind: 'preview', diff: '+x' }] }),
    ]);
    const none = '      (no preview: these commands are all a dry run can show of this change)';
    expect(text).toContain(
      [
        'Plan (dry run, nothing was changed):',
        '  "s0" would change 2 hosts:',
        '    on a, c:',
        '      $ sysctl -w net.ipv4.ip_forward=1',
        none,
        '  "s1" would change 2 hosts:',
        '    on a:',
        "      $ echo 'x' > /a",
        none,
        '    on c:',
        "      $ echo 'x' > /c",
        '',
      ].join('\n'),
    );
  });

  it('lists every finding of a host, not only the first, and an unreachable host once', () => {
    const text = recap('dry-run', [
      result('a', 0, 'failed', { reason: 'check failed: exit 1: ip_forward is 0' }),
      result('a', 1, 'failed', { reason: 'check failed: exit 1: FORWARD policy DROP' }),
      result('b', 0, 'ok'),
      result('b', 1, 'ok'),
      result('c', 0, 'unreachable', { reason: 'unreachable: connection refused' }),
      result('c', 1, 'unreachable', { reason: 'unreachable: connection refused' }),
    ]);
    const lines = text.split('\n');
    expect(lines.filter((l) => /^[abc]: /.test(l))).toEqual([
      'a: "s0" failed: check failed: exit 1: ip_forward is 0',
      'a: "s1" failed: check failed: exit 1: FORWARD policy DROP',
      'c: unreachable: connection refused',
    ]);
    // Failed checks are not a clean bill: no "nothing to change".
    expect(text).not.toContain('nothing to change');
  });

  it('says "nothing to change" only when every host answered and nothing failed', () => {
    expect(recap('dry-run', ['a', 'b', 'c'].flatMap((h) => [result(h, 0, 'ok'), result(h, 1, 'ok')]))).toContain('Plan: nothing to change.');
  });

  it('ends with the runbooks that fix what check-only steps found, where, with the options that reach the same fleet (fixed_by)', () => {
    const fixedBy = new Map([['s0', 'fix-forwarding'], ['s1', 'fix-stale-flannel-lease']]);
    const found = { reason: 'check failed: exit code 1', finding: true as const };
    const text = recap(
      'apply',
      [
        result('a', 0, 'ok'),
        result('a', 1, 'failed', found),
        result('b', 0, 'failed', found),
        result('b', 1, 'ok'),
        result('c', 0, 'failed', found),
        result('c', 1, 'failed', found),
      ],
      fixedBy,
      " -i 'my inv.yaml'",
    );
    expect(text.endsWith(['', 'Next (the runbooks that fix what was found):', "  runbook apply fix-forwarding --hosts b,c -i 'my inv.yaml'", "  runbook apply fix-stale-flannel-lease --hosts a,c -i 'my inv.yaml'", ''].join('\n'))).toBe(true);
    expect(recap('apply', [result('a', 0, 'ok'), result('a', 1, 'ok')], fixedBy)).not.toContain('Next');
  });

  it('a failure that is no finding (a refusal, a missing tool, a held lock) names no next command', () => {
    const fixedBy = new Map([['s0', 'fix-forwarding']]);
    const text = recap('apply', [result('a', 0, 'failed', { reason: 'refused: exit code 3: blocked by rule 1' }), result('b', 0, 'failed', { reason: 'needs awk on b: install it there' })], fixedBy);
    expect(text).not.toContain('Next');
  });

  it('shows what each fix changed (apply) or would change (dry run, from its preview), host by host', () => {
    const diff = '--- f\tbefore\n+++ f\tafter\n@@ -1 +1 @@\n-x = 0\n+x = 1';
    const applied = recap('apply', [result('a', 0, 'fixed', { changes: [{ target: 'f', kind: 'file', before: 'b'.repeat(64), after: 'a'.repeat(64), diff }] }), result('b', 0, 'ok')]);
    expect(applied).toContain(['Changes:', '  a: "s0" changed:', '    --- f\tbefore', '    +++ f\tafter', '    @@ -1 +1 @@', '    -x = 0', '    +x = 1'].join('\n'));
    const dry = recap('dry-run', [result('a', 0, 'would-fix', { fixCommands: ['fix'], changes: [{ target: 'f', kind: 'preview', diff }] })]);
    expect(dry).toContain('Changes (previews):\n  a: "s0" would change:\n    --- f');
    expect(recap('apply', [result('a', 0, 'ok')])).not.toContain('Changes');
  });
});
