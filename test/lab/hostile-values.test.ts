/**
 * What one host sends can never become code on another: a host registers output built as shell
 * code (`$(…)`, backticks, quotes, `;`), another host's fix uses it through `hosts.<h>.<var>`, and
 * the marker that code would create is absent there (read back with OpenSSH, not runbook). The
 * ways that would turn it into code are refused before any host is touched: `| raw` on another
 * host's value, and an inventory var overriding a var the runbook substitutes raw.
 * Real sshd in namespaces rbf-* (198.18.252.0/24).
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/model/exit-codes.js';
import { applyArgs, runCli, startFleet, type Fleet } from '../fuzz/fleet.js';

let fleet: Fleet;
const MARK = '/tmp/rbf-pwn-from-host';
// Each of these is code if it ever reaches a shell unquoted.
const PAYLOAD = `$(touch ${MARK}-1)\`touch ${MARK}-2\`'; touch ${MARK}-3; echo '"; touch ${MARK}-4 #`;

beforeAll(() => {
  fleet = startFleet([
    { name: 'hv1', last: 41 },
    { name: 'hv2', last: 42 },
  ]);
  fleet.writeRunbook('rbf-cross', {
    name: 'rbf-cross',
    steps: [
      { name: 'hv1 reports', on: 'hv1', check: `cat /tmp/rbf-payload`, register: 'said' },
      { name: 'hv2 uses it', on: 'hv2', check: 'test -e /tmp/rbf-used', fix: 'printf "%s" {{ hosts.hv1.said }} > /tmp/rbf-used' },
    ],
  });
  fleet.writeRunbook('rbf-cross-raw', {
    name: 'rbf-cross-raw',
    steps: [
      { name: 'hv1 reports', on: 'hv1', check: `cat /tmp/rbf-payload`, register: 'said' },
      { name: 'hv2 uses it raw', on: 'hv2', check: 'true', fix: 'echo {{ hosts.hv1.said | raw }}' },
    ],
  });
  fleet.writeRunbook('rbf-raw-lib', {
    name: 'rbf-raw-lib',
    vars: { lease_lib: 'f() { :; }' },
    steps: [{ name: 'uses its library', check: '{{ lease_lib | raw }}\nf' }],
  });
}, 60_000);

afterAll(() => fleet?.stop());

const marks = (node: string): string => fleet.ssh(node, `ls ${MARK}-* 2>/dev/null || true`).toString().trim();

describe('a registered value never becomes code on another host', () => {
  it('hv1\'s output reaches hv2\'s fix as one literal word: written byte for byte, nothing run', async () => {
    fleet.ssh('hv1', `rm -f ${MARK}-*; printf '%s' '${PAYLOAD.replace(/'/g, `'\\''`)}' > /tmp/rbf-payload`);
    fleet.ssh('hv2', `rm -f ${MARK}-* /tmp/rbf-used`);
    const r = await runCli(fleet, applyArgs(fleet, 'rbf-cross', ['--yes', '--json']));
    expect(r.code, r.stderr).toBe(ExitCode.OK);
    expect(fleet.ssh('hv2', 'cat /tmp/rbf-used').toString()).toBe(PAYLOAD);
    expect(marks('hv1')).toBe('');
    expect(marks('hv2')).toBe('');
  });

  it('| raw on another host\'s value is refused before any host is touched', async () => {
    const before = readFileSync(fleet.audit, 'utf8');
    const r = await runCli(fleet, applyArgs(fleet, 'rbf-cross-raw', ['--yes', '--json']));
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toMatch(/\{\{ hosts\.hv1\.said \| raw \}\} in step "hv2 uses it raw": hosts\.\* values come from other hosts and are never substituted unquoted/);
    expect(readFileSync(fleet.audit, 'utf8')).toBe(before);
    expect(marks('hv2')).toBe('');
  });

  it('an inventory var named like a var the runbook substitutes raw is refused, in apply and show', async () => {
    const inv = readFileSync(fleet.inventory, 'utf8');
    writeFileSync(fleet.inventory, inv.replace(/vars: \{\}/, `vars:\n    lease_lib: touch ${MARK}-5`));
    try {
      const r = await runCli(fleet, applyArgs(fleet, 'rbf-raw-lib', ['--dry-run', '--hosts', 'hv1']));
      expect(r.code).toBe(ExitCode.USAGE);
      expect(r.stderr).toMatch(/"lease_lib" is substituted raw \(unquoted\) here in step "uses its library" for host hv1, and the inventory sets it: an inventory value would run as shell code/);
      const show = await runCli(fleet, ['show', 'rbf-raw-lib', '--hosts', 'hv1', '-i', fleet.inventory, '--runbooks', fleet.runbooks]);
      expect(show.code).toBe(ExitCode.USAGE);
      expect(show.stdout).not.toContain(`touch ${MARK}-5`);
      expect(marks('hv1')).toBe('');
    } finally {
      writeFileSync(fleet.inventory, inv);
    }
  });
});
