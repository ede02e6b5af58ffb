/**
 * A confirm-armed fix that cuts the controller off: it drops SSH on d. The watchdog armed on d
 * before the fix puts the filter table back by itself; the run waits for it, looks again over a
 * fresh connection, and reports "reverted on the host: connection lost". Judged from outside:
 * d's INPUT chain read with nsenter, and a new SSH run that works.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeRun, onNode, runbookJson, useLab } from './runbooks-support.js';

const L = useLab();
const RUNBOOK = `name: cut-ssh
steps:
  - name: ssh is dropped
    check: iptables -C INPUT -p tcp --dport 22 -j DROP
    fix: iptables -I INPUT -p tcp --dport 22 -j DROP
    timeout: 4s
    confirm: 12s
    snapshot: iptables-save -t filter | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]$//'
    undo: printf '%s\\n' "$BEFORE_1" | iptables-restore
`;

describe('confirm', () => {
  it('a fix that drops SSH is reverted by the host itself, and the run says so', async () => {
    const file = join(L().scratch, 'cut-ssh.yaml');
    writeFileSync(file, RUNBOOK);
    const before = await onNode('d', 'iptables -S INPUT');

    const a = runbookJson(L(), ['apply', file, '--hosts', 'd', '--yes']);
    expect(a.code, describeRun(a)).toBe(1);
    expect(a.results.d?.['ssh is dropped']).toMatchObject({ status: 'failed' });
    expect(a.results.d?.['ssh is dropped']?.reason).toMatch(/^reverted on the host: connection lost \(verify: timed out/);
    // Back by itself: the DROP rule is gone, and a new run reaches d.
    expect(await onNode('d', 'iptables -S INPUT')).toBe(before);
    const again = runbookJson(L(), ['apply', 'fix-forwarding', '--hosts', 'd', '--dry-run']);
    expect(again.code, describeRun(again)).toBe(0);
    // The watchdog is on the record: armed, then read back over a fresh connection.
    const confirms = readFileSync(join(L().scratch, 'audit.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"phase":"confirm"') && l.includes('"kind":"command"'));
    expect(confirms.length).toBeGreaterThanOrEqual(2);
    expect(await onNode('d', 'ls /tmp | grep -c runbook-confirm || true')).toBe('0');
  });
});
