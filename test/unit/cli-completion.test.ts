/**
 * `runbook completion`: the bash script is run by a real bash, as Tab would run it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const bin = join(resolve('.'), 'bin/runbook.js');
const shim = mkdtempSync(join(tmpdir(), 'rb-compl-'));
writeFileSync(join(shim, 'runbook'), `#!/bin/sh\nexec node ${bin} "$@"\n`);
chmodSync(join(shim, 'runbook'), 0o755);
afterAll(() => rmSync(shim, { recursive: true, force: true }));

const script = (shell: string) => spawnSync('node', [bin, 'completion', shell], { encoding: 'utf8' });

/** What bash offers for the words typed so far (the last one is being completed), in `cwd`. */
function tab(...words: string[]): string[] {
  return tabIn(tmpdir(), ...words);
}
function tabIn(cwd: string, ...words: string[]): string[] {
  const line = ['runbook', ...words];
  const program = [
    'eval "$(runbook completion bash)"',
    `COMP_WORDS=(${line.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${line.length - 1}`,
    '_runbook; printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const r = spawnSync('bash', ['-c', program], { encoding: 'utf8', env: { ...process.env, PATH: `${shim}:${process.env.PATH}` }, cwd });
  expect(r.stderr).toBe('');
  return r.stdout.split('\n').filter((l) => l !== '');
}

describe('runbook completion', () => {
  it('bash: commands, runbook names, options and subcommands', () => {
    expect(tab('ap')).toEqual(['apply']);
    expect(tab('apply', 'fix-f')).toEqual(['fix-flannel-annotations', 'fix-flannel-docker-order', 'fix-forwarding']);
    expect(tab('apply', 'fix-forwarding', '--dry')).toEqual(['--dry-run']);
    expect(tab('lab', 'br')).toEqual(['break']);
    expect(tab('lab', 'up', '--wo')).toEqual(['--workers']);
  });

  it("Tab never runs what a runbook's file name says: a ./runbooks/$(touch PWNED).yaml is not offered, and nothing runs", () => {
    const cwd = mkdtempSync(join(tmpdir(), 'rb-compl-cwd-'));
    mkdirSync(join(cwd, 'runbooks'));
    writeFileSync(join(cwd, 'runbooks', '$(touch PWNED).yaml'), 'steps:\n  - name: s\n    check: "true"\n');
    writeFileSync(join(cwd, 'runbooks', 'mine.yaml'), 'steps:\n  - name: s\n    check: "true"\n');
    expect(tabIn(cwd, 'apply', '')).toContain('mine');
    expect(tabIn(cwd, 'apply', '')).not.toContain('$(touch PWNED)');
    expect(existsSync(join(cwd, 'PWNED'))).toBe(false);
    rmSync(cwd, { recursive: true, force: true });
  });

  it('zsh reuses the bash function through bashcompinit; fish gets its own complete lines', () => {
    expect(script('zsh').stdout).toContain('autoload -U +X bashcompinit && bashcompinit\n# runbook completion for bash');
    const fish = script('fish').stdout;
    expect(fish).toContain("complete -c runbook -n '__fish_seen_subcommand_from apply' -l dry-run");
    expect(fish).toContain("complete -c runbook -n '__fish_seen_subcommand_from apply' -a '(runbook list --names 2> /dev/null)'");
  });

  it('an unknown shell is a usage error naming the choices', () => {
    const r = script('tcsh');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("error: command-argument value 'tcsh' is invalid for argument 'shell'. Allowed choices are bash, zsh, fish.");
  });
});
