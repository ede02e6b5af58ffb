/**
 * Injection: hostile var values reach the remote command as literal bytes. Each value goes in
 * through `runbook apply --var`, a fix writes it to a file with printf, and the file is read back
 * with OpenSSH (not runbook) and compared byte for byte. A value that cannot be passed as bytes
 * (NUL) must stop the run with a clear error before any host is touched.
 * Real sshd in namespaces rbf-* (198.18.252.0/24).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/model/exit-codes.js';
import { applyArgs, runCli, startFleet, type Fleet } from '../fuzz/fleet.js';

let fleet: Fleet;

/** Every shell metacharacter class, and options-looking values. */
const VALUES: Record<string, string> = {
  'single quotes': "it's 'quoted'",
  'double quotes': 'say "hi" \\"there\\"',
  'command substitution': '$(touch /run/pwned-subst)',
  backticks: '`touch /run/pwned-tick`',
  semicolon: 'a; touch /run/pwned-semi; b',
  'and/or/pipe': 'x && touch /run/pwned-and || touch /run/pwned-or | cat',
  newline: 'line one\ntouch /run/pwned-newline\nline three',
  'carriage return and tab': 'a\rb\tc',
  'leading dash': '-n',
  'leading double dash': '--help',
  'printf format': '%s%n%d \\x41 \\n',
  glob: '* /* ~root ?',
  'dollar vars': '$HOME ${PATH} $1 $$ $?',
  redirection: '> /run/pwned-redir < /etc/passwd 2>&1',
  'brace and history': '{a,b} !! !$',
  'trailing spaces and backslash': '  spaced  \\',
  'unicode and escapes': 'é ✓ \u202e gnp.exe \u001b[31mred',
  empty: '',
  'long': 'x'.repeat(100_000),
};

beforeAll(() => {
  fleet = startFleet([{ name: 'inj1', last: 11 }]);
  fleet.writeRunbook('rbf-echo', {
    name: 'rbf-echo',
    description: 'writes the value of v to /run/rbf-value with printf',
    steps: [
      {
        name: 'write v',
        check: 'false',
        fix: "printf '%s' {{ v }} > /run/rbf-value",
        verify: 'test -e /run/rbf-value',
      },
    ],
  });
}, 60_000);

afterAll(() => fleet?.stop());

describe('var values reach the host as literal bytes', () => {
  for (const [label, value] of Object.entries(VALUES)) {
    it(label, async () => {
      fleet.ssh('inj1', 'rm -f /run/rbf-value /run/pwned-*');
      const r = await runCli(fleet, applyArgs(fleet, 'rbf-echo', ['--yes', '--json', '--var', `v=${value}`]));
      expect(r.stderr).toBe('');
      expect(r.code).toBe(ExitCode.OK);
      const written = fleet.ssh('inj1', 'cat /run/rbf-value');
      expect(written.equals(Buffer.from(value, 'utf8'))).toBe(true);
      // Nothing the value tried to run ran.
      expect(fleet.ssh('inj1', 'ls /run').toString()).not.toMatch(/pwned/);
    });
  }
});

describe('NUL cannot be passed through argv or a shell', () => {
  it('a NUL in a var value stops the run with a located error before any host is touched', async () => {
    fleet.ssh('inj1', 'rm -f /run/rbf-value /run/rbf-touched');
    fleet.writeRunbook('rbf-nul', {
      name: 'rbf-nul',
      vars: { v: 'before\0after' },
      steps: [{ name: 'write v', check: 'touch /run/rbf-touched; false', fix: "printf '%s' {{ v }} > /run/rbf-value" }],
    });
    const r = await runCli(fleet, applyArgs(fleet, 'rbf-nul', ['--yes']));
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toMatch(/rbf-nul\.yaml:\d+:\d+: .*NUL/);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fleet.ssh('inj1', 'ls /run').toString()).not.toMatch(/rbf-touched|rbf-value/);
  });

  it('an argv element cannot carry a NUL at all (the OS refuses it), so --var never sees one', async () => {
    await expect(runCli(fleet, applyArgs(fleet, 'rbf-echo', ['--yes', '--var', 'v=a\0b']))).rejects.toThrow(/null bytes/);
  });
});
