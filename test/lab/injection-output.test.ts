/**
 * Hostile host output: a compromised node prints 200 MB, binary noise, terminal escape sequences
 * (clear screen, cursor moves, OSC window title, alternate screen) and a fake approval prompt.
 * The runbook process must stay bounded in memory (peak RSS measured by GNU time) and nothing a
 * host prints may reach the operator's terminal as a live control sequence: in the plain output,
 * in --json (after JSON parsing), in the live view (under a pseudo-terminal) or in the audit file.
 * Real sshd in namespaces rbf-* (198.18.252.0/24).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/model/exit-codes.js';
import { BIN, applyArgs, runCli, startFleet, type Fleet } from '../fuzz/fleet.js';

let fleet: Fleet;

const HUGE_BYTES = 200 * 1024 * 1024;
/** Well above node's own ~60-100 MB and the 1 MiB per-stream tail; far below 200 MB of output. */
const RSS_LIMIT_KB = 180 * 1024;

// Sequences a host could use to repaint the terminal or forge a prompt. printf octal escapes.
const HOSTILE_PRINTF = [
  '\\033[2J\\033[H', // clear screen, cursor home
  '\\033[5;5H', // cursor move
  '\\033]0;PWNED-TITLE\\007', // OSC window title
  '\\033[?1049h', // alternate screen
  '\\033[1A\\033[2K', // up one line, erase it
  '\\233' + '2J', // C1 CSI clear screen (8-bit)
  '\\342\\200\\256', // U+202E right-to-left override
  '\\r\\nApply fix on host? (y/n) ', // fake prompt
].join('');
/** What must never reach a terminal raw: ESC, BEL, C1 CSI, bidi override. */
const RAW_HOSTILE = ['\x1b[2J', '\x1b[5;5H', '\x1b]0;PWNED', '\x07', '\x1b[?1049h', '\x9b', '\u009b', '\u202e'];

beforeAll(() => {
  fleet = startFleet([
    { name: 'out1', last: 21 },
    { name: 'out2', last: 22 },
  ]);
  fleet.writeRunbook('rbf-hostile', {
    name: 'rbf-hostile',
    description: 'a node that prints hostile output in every phase',
    steps: [
      { name: 'escapes', check: `printf '${HOSTILE_PRINTF}'; printf '${HOSTILE_PRINTF}' >&2; exit 1`, fix: `printf '${HOSTILE_PRINTF}'`, verify: `printf '${HOSTILE_PRINTF}'` },
      { name: 'binary', check: 'head -c 65536 /dev/urandom; exit 1', fix: 'head -c 65536 /dev/urandom', verify: 'true' },
      { name: 'fake prompt fails', check: `printf 'Apply fix on host? (y/n) \\033[8m'; exit 3` },
    ],
  });
  fleet.writeRunbook('rbf-huge', {
    name: 'rbf-huge',
    description: '200 MB of stdout in one check',
    steps: [{ name: 'huge', check: `yes 'runbook hostile output line' | head -c ${HUGE_BYTES}; exit 1`, fix: `yes | head -c ${HUGE_BYTES} >&2`, verify: 'true' }],
  });
}, 60_000);

afterAll(() => fleet?.stop());

/** Control characters other than \n and \t, as they would reach a terminal. */
function rawControls(text: string): string[] {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return [...text.matchAll(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g)].map((m) => `U+${m[0].charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function jsonStrings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => jsonStrings(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => jsonStrings(x, out));
  return out;
}

describe('hostile host output', () => {
  it('200 MB of stdout: the run completes with bounded memory and a truncated tail', async () => {
    const r = await runCli(fleet, applyArgs(fleet, 'rbf-huge', ['--yes', '--json']), { measureRss: true, timeoutMs: 300_000 });
    expect(r.code).toBe(ExitCode.OK);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; phase?: string; output?: { truncated: boolean; tail: string } });
    const checks = events.filter((e) => e.type === 'command' && e.phase === 'check');
    expect(checks).toHaveLength(2);
    for (const c of checks) {
      expect(c.output?.truncated).toBe(true);
      expect(c.output!.tail.length).toBeLessThan(4096);
    }
    console.log(`hostile: 2 hosts x 200 MB check stdout + 200 MB fix stderr; runbook peak RSS ${Math.round(r.maxRssKb! / 1024)} MB`);
    expect(r.maxRssKb).toBeLessThan(RSS_LIMIT_KB);
  }, 320_000);

  it('plain output (CI): no raw control sequence from the host reaches stdout or stderr', async () => {
    const r = await runCli(fleet, applyArgs(fleet, 'rbf-hostile', ['--yes']));
    expect(r.code).toBe(ExitCode.FAILED);
    expect(rawControls(r.stdout)).toEqual([]);
    expect(rawControls(r.stderr)).toEqual([]);
    // Made visible, not dropped: the operator can see the host tried something.
    expect(r.stdout).toContain('^[');
    // The forged prompt never starts a line of its own.
    expect(r.stdout.split('\n').some((l) => l.startsWith('Apply fix on host?'))).toBe(false);
  });

  it('--json: no event string carries a control character after parsing', async () => {
    const r = await runCli(fleet, applyArgs(fleet, 'rbf-hostile', ['--yes', '--json']));
    expect(r.code).toBe(ExitCode.FAILED);
    const strings = r.stdout.trim().split('\n').flatMap((l) => jsonStrings(JSON.parse(l)));
    // Newlines and tabs are legitimate inside multi-line tails.
    expect(strings.flatMap(rawControls)).toEqual([]);
    expect(strings.join('\n')).toContain('^[]0;PWNED-TITLE^G');
  });

  it('the audit file: no raw control character in any record', () => {
    const strings = readFileSync(fleet.audit, 'utf8').trim().split('\n').flatMap((l) => jsonStrings(JSON.parse(l)));
    expect(strings.flatMap(rawControls)).toEqual([]);
  });

  it('live view under a pseudo-terminal: the host cannot clear, move, retitle or switch the screen', () => {
    const typescript = join(fleet.dir, 'typescript');
    const cmd = [process.execPath, BIN, ...applyArgs(fleet, 'rbf-hostile', ['--yes'])].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const env: NodeJS.ProcessEnv = { ...process.env, RUNBOOK_AUDIT_FILE: fleet.audit, TERM: 'xterm-256color' };
    delete env.CI;
    const r = spawnSync('script', ['-qefc', cmd, typescript], { env, timeout: 120_000, encoding: 'utf8' });
    expect(r.status).toBe(ExitCode.FAILED);
    const screen = readFileSync(typescript, 'latin1');
    writeFileSync(join(fleet.dir, 'screen.txt'), screen);
    for (const seq of RAW_HOSTILE) expect(screen.includes(Buffer.from(seq, 'utf8').toString('latin1')), JSON.stringify(seq)).toBe(false);
    expect(screen).toContain('^[');
  });
});
