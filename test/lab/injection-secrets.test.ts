/**
 * Secrets: a secret var (runbook `{ secret: true, env }`, inventory `{ secret: true, file }`)
 * reaches the host, and appears nowhere else: stdout, stderr, --json, the audit file and its
 * head, `runbook show`, `history`, error messages, even when the host echoes it back on stdout
 * and stderr and in a failing command's last line. Everything a run produced is grepped.
 * Real sshd in namespaces rbf-* (198.18.252.0/24).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/model/exit-codes.js';
import { applyArgs, runCli, startFleet, type CliRun, type Fleet } from '../fuzz/fleet.js';

let fleet: Fleet;
// Regex metacharacters and shell quotes: a redactor that builds a regex or matches the quoted form only would miss them.
const TOKEN = "tok-(s3cr3t)*+?.[x]$'q'";
const HOST_SECRET = 'hostpw-Z9y8X7w6';
const outputs: { label: string; text: string }[] = [];

function collect(label: string, r: CliRun): CliRun {
  outputs.push({ label: `${label} stdout`, text: r.stdout }, { label: `${label} stderr`, text: r.stderr });
  return r;
}

beforeAll(() => {
  fleet = startFleet([{ name: 'sec1', last: 31 }], { inventoryVars: {} });
  writeFileSync(join(fleet.dir, 'host-secret'), `${HOST_SECRET}\n`);
  // The inventory's own secret: from a file, trailing newline dropped.
  const inv = readFileSync(fleet.inventory, 'utf8').replace('vars: {}', `vars:\n    host_pw: { secret: true, file: ${join(fleet.dir, 'host-secret')} }`);
  writeFileSync(fleet.inventory, inv);
  fleet.writeRunbook('rbf-secret', {
    name: 'rbf-secret',
    description: 'uses secrets, and a host that echoes them back',
    vars: { token: { secret: true, env: 'RBF_TOKEN' } },
    steps: [
      {
        name: 'token is stored',
        check: 'test -s /run/rbf-token && cat /run/rbf-token; echo "stderr echo: {{ token }}" >&2; test -s /run/rbf-token',
        fix: "printf '%s' {{ token }} > /run/rbf-token; printf '%s' {{ host_pw }} > /run/rbf-hostpw; echo fix saw {{ token }} and {{ host_pw }}",
        verify: 'cat /run/rbf-token /run/rbf-hostpw; echo; test -s /run/rbf-token',
      },
      {
        name: 'host echoes the secret in its failure',
        check: 'echo "denied for {{ token }} / {{ host_pw }}" >&2; exit 3',
        continue_on_failure: true,
      },
      { name: 'secret in the command that fails', check: 'false {{ token }}' },
    ],
  });
}, 60_000);

afterAll(() => fleet?.stop());

describe('a secret var appears nowhere but on the host', () => {
  it('apply (plain and --json) uses the secrets on the host', async () => {
    fleet.ssh('sec1', 'rm -f /run/rbf-token /run/rbf-hostpw');
    const env = { RBF_TOKEN: TOKEN };
    const plain = collect('apply', await runCli(fleet, applyArgs(fleet, 'rbf-secret', ['--yes']), { env }));
    expect(plain.code).toBe(ExitCode.FAILED);
    expect(fleet.ssh('sec1', 'cat /run/rbf-token').toString()).toBe(TOKEN);
    expect(fleet.ssh('sec1', 'cat /run/rbf-hostpw').toString()).toBe(HOST_SECRET);
    const json = collect('apply --json', await runCli(fleet, applyArgs(fleet, 'rbf-secret', ['--yes', '--json']), { env }));
    expect(json.code).toBe(ExitCode.FAILED);
    // The host did echo it: the check's stdout is the token file.
    expect(json.stdout).toContain('********');
    collect('dry-run', await runCli(fleet, applyArgs(fleet, 'rbf-secret', ['--dry-run']), { env }));
    collect('show', await runCli(fleet, ['show', 'rbf-secret', '--hosts', 'all', '-i', fleet.inventory, '--runbooks', fleet.runbooks], { env }));
    collect('history', await runCli(fleet, ['history', '--audit-file', fleet.audit]));
    collect('history --json', await runCli(fleet, ['history', '--json', '--audit-file', fleet.audit]));
  });

  it('an error about the secret itself does not print it (secret env unset: a located error)', async () => {
    const r = collect('unset', await runCli(fleet, applyArgs(fleet, 'rbf-secret', ['--yes'])));
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toMatch(/RBF_TOKEN/);
  });

  // A --var override of a var the runbook declares secret stays secret.
  it('a --var override of a secret var stays masked', async () => {
    const audit = join(fleet.dir, 'override-audit.jsonl');
    const r = await runCli(fleet, applyArgs(fleet, 'rbf-secret', ['--dry-run', '--json', '--var', `token=${TOKEN}`]), { env: { RBF_TOKEN: TOKEN, RUNBOOK_AUDIT_FILE: audit } });
    expect(r.stdout).toContain('"type":"run-end"');
    expect(`${r.stdout}${r.stderr}${readFileSync(audit, 'utf8')}`).not.toContain('s3cr3t');
  });

  it('no output, event, audit record or audit side file contains either secret', () => {
    for (const f of readdirSync(fleet.dir).filter((f) => f.startsWith('audit.jsonl'))) outputs.push({ label: f, text: readFileSync(join(fleet.dir, f), 'utf8') });
    expect(outputs.length).toBeGreaterThan(13);
    const leaks = outputs.flatMap((o) =>
      [TOKEN, HOST_SECRET, 's3cr3t', 'Z9y8X7w6'].filter((s) => o.text.includes(s)).map((s) => `${o.label}: ${s}`),
    );
    expect(leaks).toEqual([]);
    // The audit trail did record the commands, masked.
    expect(outputs.find((o) => o.label === 'audit.jsonl')!.text).toContain('********');
  });
});
