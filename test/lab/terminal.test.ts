/**
 * apply in a real terminal (tmux, 150 columns) on a local host: the approval prompt uses the
 * terminal's width, the first Ctrl-C says at once what it is waiting for, and a double Ctrl-C
 * prints each interrupted step once. No lab is needed, but it runs with the lab files, one file at
 * a time: its runs take this machine's own host lock (/run/runbook.lock).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = join(resolve('.'), 'bin/runbook.js');
const SESSION = `rbterm${process.pid}`;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rb-term-'));
  writeFileSync(join(dir, 'inv.yaml'), 'hosts:\n  l1: { connection: local }\n');
  const rb = (name: string, text: string) => writeFileSync(join(dir, `${name}.yaml`), text);
  rb(
    'wide',
    [
      'steps:',
      '  - name: a long fix',
      `    check: test -e ${dir}/wide-done`,
      '    fix: |',
      `      echo "a fix line past eighty columns, as real fixes are, not to be broken" > /dev/null && touch ${dir}/wide-done`,
      '      if true; then',
      '          echo indented',
      '      fi',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'conf'), 'keep = 1\nforward = 0\n');
  rb(
    'preview',
    [
      'steps:',
      '  - name: forward on',
      `    check: grep -q 'forward = 1' ${dir}/conf`,
      `    fix: sed -i 's/forward = 0/forward = 1/' ${dir}/conf`,
      `    files: [${dir}/conf]`,
      `    preview: sed 's/forward = 0/forward = 1/' ${dir}/conf`,
      '',
    ].join('\n'),
  );
  rb('slow', ['steps:', '  - name: slow fix', `    check: test -e ${dir}/slow-done`, `    fix: sleep 8; touch ${dir}/slow-done`, ''].join('\n'));
});
afterAll(() => {
  spawnSync('tmux', ['kill-session', '-t', SESSION]);
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pane = (): string => execFileSync('tmux', ['capture-pane', '-p', '-J', '-t', SESSION], { encoding: 'utf8' });
const keys = (...k: string[]) => execFileSync('tmux', ['send-keys', '-t', SESSION, ...k]);

function start(runbook: string): void {
  spawnSync('tmux', ['kill-session', '-t', SESSION]);
  rmSync(join(dir, 'exit'), { force: true });
  const cmd = `cd ${dir} && env -u CI node ${BIN} apply ./${runbook}.yaml -i inv.yaml --audit-file ${dir}/audit.jsonl; echo $? > ${dir}/exit; sleep 60`;
  execFileSync('tmux', ['new-session', '-d', '-s', SESSION, '-x', '150', '-y', '45', cmd]);
}

async function until(what: string, ok: (screen: string) => boolean, ms = 15_000): Promise<string> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) {
    const s = pane();
    if (ok(s)) return s;
  }
  throw new Error(`${what} never showed; screen:\n${pane()}`);
}

async function exitCode(): Promise<number> {
  await until('the exit', () => existsSync(join(dir, 'exit')), 30_000);
  return Number(readFileSync(join(dir, 'exit'), 'utf8').trim());
}

describe('apply in a 150-column terminal', () => {
  it('the approval prompt uses the width: a long fix line stays whole, and multi-line fixes keep their indentation', async () => {
    start('wide');
    const screen = await until('the prompt', (s) => s.includes('navigate'));
    const lines = screen.split('\n');
    expect(lines, screen).toContain(`    $ echo "a fix line past eighty columns, as real fixes are, not to be broken" > /dev/null && touch ${dir}/wide-done`);
    expect(screen).toContain('    if true; then\n        echo indented\n    fi\n');
    keys('Down', 'Enter'); // no
    expect(await exitCode()).toBe(3);
  });

  it('the approval prompt shows the preview as a diff above the command, and the file is untouched until approved', async () => {
    start('preview');
    const screen = await until('the prompt', (s) => s.includes('navigate'));
    expect(screen).toMatch(/-forward = 0\n\s*\+forward = 1\n[\s\S]*\$ sed -i/);
    expect(readFileSync(join(dir, 'conf'), 'utf8')).toBe('keep = 1\nforward = 0\n');
    keys('Down', 'Enter'); // no
    expect(await exitCode()).toBe(3);
  });

  it('the first Ctrl-C says at once how many commands it waits for, on the screen, until they finish', async () => {
    rmSync(join(dir, 'slow-done'), { force: true });
    start('slow');
    await until('the prompt', (s) => s.includes('navigate'));
    keys('Enter');
    await until('the fix running', (s) => s.includes('slow fix') && !s.includes('navigate'));
    await sleep(500);
    keys('C-c');
    await until('the stopping notice', (s) => s.includes('[stopping: no new steps will start; 1 command still running, given up to 30s (Ctrl-C again to interrupt them)]'), 2_000);
    expect(await exitCode()).toBe(130);
    expect(pane()).toMatch(/✚ slow fix: fixed/);
  });

  it('a second Ctrl-C interrupts the fix, and the step is printed once', async () => {
    rmSync(join(dir, 'slow-done'), { force: true });
    start('slow');
    await until('the prompt', (s) => s.includes('navigate'));
    keys('Enter');
    await until('the fix running', (s) => s.includes('slow fix') && !s.includes('navigate'));
    await sleep(500);
    keys('C-c');
    await sleep(300);
    keys('C-c');
    expect(await exitCode()).toBe(130);
    // Above the recap: the step's one line, and no error text repeating it under the host.
    const live = pane().split('Recap:')[0]!;
    expect(live.split('\n').filter((l) => l.includes('slow fix') && l.includes('interrupted')), live).toEqual(['  › ✖ slow fix: interrupted (fix: interrupted by the operator)']);
    expect(existsSync(join(dir, 'slow-done'))).toBe(false);
  });
});
