/**
 * The bench's ansible-playbook turn (bench/tools.ts) must send ansible the very commands the other
 * tools send. fix-forwarding's FORWARD walk is an awk program: braces Jinja2 would template, quotes
 * and newlines the free-form splitter refused ("failed at splitting arguments", exit 4, on every run).
 * Needs ansible-core (scripts/ensure-deps.sh installs it); skipped without it unless $CI is set.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderSteps } from '../../bench/fleet.js';
import type { SpecStep } from '../../bench/spec.js';
import { playbookYaml } from '../../bench/tools.js';

const haveAnsible = spawnSync('ansible-playbook', ['--version'], { stdio: 'ignore' }).status === 0;
if (!haveAnsible && process.env.CI) throw new Error('ansible-core is missing: run bash scripts/ensure-deps.sh');

const dir = mkdtempSync(join(tmpdir(), 'rb-bench-ansible-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function playbook(args: string[], play: string): { status: number | null; out: string } {
  const file = join(dir, 'play.yml');
  writeFileSync(file, play);
  writeFileSync(join(dir, 'hosts.ini'), '[bench]\nhere ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n');
  const env = { ...process.env, ANSIBLE_HOME: join(dir, 'home'), ANSIBLE_LOCAL_TEMP: join(dir, 'tmp'), ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCALHOST_WARNING: 'false' };
  const r = spawnSync('ansible-playbook', ['-i', join(dir, 'hosts.ini'), ...args, file], { encoding: 'utf8', env });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

// ansible-playbook takes seconds to start, more on a loaded machine.
describe.skipIf(!haveAnsible)('the bench playbook', { timeout: 90_000 }, () => {
  it('parses fix-forwarding\'s rendered steps, as a check and as an apply', () => {
    const inventory = join(dir, 'inventory.yaml');
    writeFileSync(inventory, 'groups:\n  workers:\n    hosts: [w1]\nhosts:\n  w1: { address: 198.18.252.2 }\n');
    const steps = renderSteps('fix-forwarding', inventory, [{ name: 'w1', address: '198.18.252.2' }]);
    expect(steps.some((s) => /\{ *\w|'/.test(s.check))).toBe(true);
    for (const mode of ['check', 'apply'] as const) {
      const r = playbook(['--syntax-check'], playbookYaml({ mode, steps }));
      expect(r.out).not.toMatch(/ERROR/);
      expect(r.status).toBe(0);
    }
  });

  it('runs commands with braces, quotes and newlines byte for byte, and expects strings that look like numbers', () => {
    const literal = `printf '%s' '{{ x }} {% y %} {# z #}'\necho " \\"a\\"  b"`;
    const step = (name: string, check: string, value: string): SpecStep => ({ name, check, expect: { kind: 'equals', value }, fix: [], verify: check });
    const play = playbookYaml({
      mode: 'check',
      steps: [step('literal', literal, '{{ x }} {% y %} {# z #} "a"  b'), step('a number', 'echo 1', '1'), step('nothing', 'true', ''), step('a word', 'echo yes', 'yes')],
    });
    // A literal block, as sent: no folded lines for ansible's parser to join back.
    expect(play).toContain('cmd: !unsafe |-');
    const r = playbook([], play);
    expect(r.out).toMatch(/here\s+: ok=4 .* failed=0/);
    expect(r.status).toBe(0);
  });
});
