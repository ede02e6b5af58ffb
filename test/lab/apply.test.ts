/**
 * `runbook apply` end to end on the lab named `ta` (real sshd per node, real kernel state).
 * Remote state is always read straight from each node's network namespace, never from the tool.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { runEventSchema } from '../../src/engine/events-schema.js';
import type { RunEvent } from '../../src/engine/events.js';
import { nodeNs } from '../../src/lab/paths.js';

const LAB = 'ta';
const BIN = resolve('bin/runbook.js');
const WORKERS = ['a', 'b', 'c', 'd'];
const TMUX = 'ta-apply';

let dir: string;
let inventory: string;
let audit: string;

function lab(...args: string[]): string {
  return execFileSync('node', [BIN, 'lab', ...args, '--name', LAB], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 170_000 });
}

/** Reads kernel state inside a node's namespace: independent of runbook and of ssh. */
function inNode(node: string, cmd: string): string {
  return execFileSync('ip', ['netns', 'exec', nodeNs(LAB, node), 'sh', '-c', cmd], { encoding: 'utf8' }).trim();
}
const ipForward = (n: string) => inNode(n, 'sysctl -n net.ipv4.ip_forward');
const forwardPolicy = (n: string) => inNode(n, 'iptables -S FORWARD | head -1');
const nodeState = (n: string) => `${ipForward(n)} ${forwardPolicy(n)}`;
function breakNode(n: string): void {
  inNode(n, 'sysctl -qw net.ipv4.ip_forward=0; iptables -P FORWARD DROP');
}
function healNode(n: string): void {
  inNode(n, 'sysctl -qw net.ipv4.ip_forward=1; iptables -P FORWARD ACCEPT');
}

const RUNBOOK = {
  name: 'ta-forwarding',
  description: 'ip_forward on and FORWARD accepting (engine lab test)',
  steps: [
    { name: 'ip_forward is on', check: 'sysctl -n net.ipv4.ip_forward', expect: '1', fix: 'sysctl -w net.ipv4.ip_forward=1' },
    { name: 'FORWARD policy is ACCEPT', check: 'iptables -S FORWARD | head -1', expect: '-P FORWARD ACCEPT', fix: 'iptables -P FORWARD ACCEPT' },
  ],
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function apply(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync('node', [BIN, 'apply', ...args, '-i', inventory, '--runbooks', join(dir, 'runbooks')], {
    encoding: 'utf8',
    env: { ...process.env, RUNBOOK_AUDIT_FILE: audit, CI: '1', ...env },
    input: '',
    timeout: 90_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function events(stdout: string): RunEvent[] {
  return stdout
    .trim()
    .split('\n')
    .map((l) => runEventSchema.parse(JSON.parse(l)) as RunEvent);
}

function statuses(evs: RunEvent[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of evs) if (e.type === 'step-result') (out[e.host] ??= [])[e.stepIndex] = e.status;
  return out;
}

function writeRunbook(name: string, body: object): void {
  writeFileSync(join(dir, 'runbooks', `${name}.yaml`), stringify(body));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ta-apply-'));
  execFileSync('mkdir', ['-p', join(dir, 'runbooks')]);
  audit = join(dir, 'audit.jsonl');
  try {
    lab('down');
  } catch {
    /* nothing to remove */
  }
  lab('up');
  const state = resolve('.lab-ta');
  // A copy of the lab inventory, plus a host whose sshd port refuses: "one unreachable among several".
  const inv = parse(readFileSync(join(state, 'inventory.yaml'), 'utf8')) as { defaults?: Record<string, unknown>; hosts: Record<string, unknown> };
  for (const k of ['identity_file', 'known_hosts'] as const) {
    const v = inv.defaults?.[k];
    if (typeof v === 'string' && !v.startsWith('/')) inv.defaults![k] = join(state, v);
  }
  inv.hosts.ghost = { address: '127.0.0.1', port: 1 };
  inventory = join(dir, 'inventory.yaml');
  writeFileSync(inventory, stringify(inv));
  writeRunbook('ta-forwarding', RUNBOOK);
  writeRunbook('ta-one', { name: 'ta-one', description: 'one step', steps: [RUNBOOK.steps[0]] });
  for (const n of WORKERS) healNode(n);
}, 180_000);

afterAll(() => {
  spawnSync('tmux', ['kill-session', '-t', TMUX]);
  try {
    lab('down');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);

describe('apply --yes and --dry-run', () => {
  it('fixes a broken host, and a second apply finds everything ok', () => {
    breakNode('d');
    const first = apply(['ta-forwarding', '--hosts', 'a,b,c,d', '--yes']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^d\s+0\s+2\s+0\s+0\s+0\s+0\s+0$/m);
    for (const n of WORKERS) expect(nodeState(n)).toBe('1 -P FORWARD ACCEPT');

    const second = apply(['ta-forwarding', '--hosts', 'a,b,c,d', '--yes', '--json']);
    expect(second.code).toBe(0);
    const st = statuses(events(second.stdout));
    for (const n of WORKERS) expect(st[n]).toEqual(['ok', 'ok']);
  });

  it('dry-run changes nothing, prints the plan and exits 3', () => {
    breakNode('b');
    inNode('c', 'sysctl -qw net.ipv4.ip_forward=0');
    const before = WORKERS.map(nodeState);
    const r = apply(['ta-forwarding', '--hosts', 'workers', '--dry-run']);
    expect(r.code, r.stderr).toBe(3);
    expect(WORKERS.map(nodeState)).toEqual(before);
    expect(r.stdout).toContain(
      ['  "ip_forward is on" would change 2 hosts:', '    on b, c:', '      $ sysctl -w net.ipv4.ip_forward=1'].join('\n'),
    );
    expect(r.stdout).toContain(['  "FORWARD policy is ACCEPT" would change 1 host:', '    on b:', '      $ iptables -P FORWARD ACCEPT'].join('\n'));
    healNode('b');
    healNode('c');
  });

  it('--json prints only schema-valid events, run-start first and run-end last', () => {
    breakNode('a');
    const r = apply(['ta-forwarding', '--hosts', 'a,b', '--yes', '--json']);
    expect(r.code).toBe(0);
    const evs = events(r.stdout); // parse() throws on any line that is not a valid event
    expect(evs[0]!.type).toBe('run-start');
    const end = evs.at(-1)!;
    expect(end).toMatchObject({ type: 'run-end', exitCode: 0, summary: { a: { fixed: 2 }, b: { ok: 2 } } });
    // The steps' commands (the host lock's lock and unlock are recorded as commands too).
    const a = evs.filter((e) => e.type === 'command' && e.host === 'a' && e.phase !== 'lock' && e.phase !== 'unlock').map((e) => (e.type === 'command' ? e.phase : ''));
    expect(a).toEqual(['check', 'fix', 'verify', 'check', 'fix', 'verify']);
    // Each of them was announced first, under the same id.
    const started = evs.filter((e) => e.type === 'command-start' && e.host === 'a').map((e) => (e.type === 'command-start' ? e.commandId : ''));
    expect(evs.filter((e) => e.type === 'command' && e.host === 'a').map((e) => (e.type === 'command' ? e.commandId : ''))).toEqual(expect.arrayContaining(started));
    expect(evs.filter((e) => e.type === 'approval' && e.host === 'a')).toHaveLength(2);
  });

  it('an unreachable host among several: the others complete and the recap names it (exit 1)', () => {
    breakNode('c');
    const r = apply(['ta-forwarding', '--hosts', 'a,b,c,d,ghost', '--yes', '--connect-timeout', '3']);
    expect(r.code).toBe(1);
    expect(nodeState('c')).toBe('1 -P FORWARD ACCEPT');
    expect(r.stdout).toMatch(/^ghost\s+0\s+0\s+0\s+0\s+0\s+0\s+2$/m);
    expect(r.stdout).toMatch(/^ghost: unreachable: .+/m);
    expect(r.stdout).toMatch(/^c\s+0\s+2\s/m);
  });

  it('exit codes: failed 1, usage 2', () => {
    writeRunbook('ta-impossible', {
      name: 'ta-impossible',
      description: 'a fix that does not work',
      steps: [
        { name: 'never true', check: 'false', fix: 'true' },
        { name: 'after it', check: 'true' },
      ],
    });
    const failed = apply(['ta-impossible', '--hosts', 'a', '--yes', '--json']);
    expect(failed.code).toBe(1);
    expect(statuses(events(failed.stdout)).a).toEqual(['failed', 'blocked']);

    const usage = apply(['ta-forwarding', '--hosts', 'nosuchhost', '--yes']);
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses without a TTY and without --yes, before touching any host', () => {
    breakNode('d');
    const before = existsSync(audit) ? readFileSync(audit, 'utf8') : '';
    const r = apply(['ta-forwarding', '--hosts', 'd']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/use --yes .* or --dry-run/);
    expect(r.stdout).toBe('');
    expect(existsSync(audit) ? readFileSync(audit, 'utf8') : '').toBe(before);
    expect(nodeState('d')).toBe('0 -P FORWARD DROP');
    healNode('d');
  });
});

describe('untrusted output', () => {
  it('neutralises escape sequences from a host and masks secrets it echoes', () => {
    const secret = 'ta-s3cret-VALUE';
    writeRunbook('ta-hostile', {
      name: 'ta-hostile',
      description: 'a host that prints escape sequences and echoes a secret',
      vars: { token: { secret: true, value: secret } },
      steps: [
        {
          name: 'hostile',
          check: `printf '\\033[2J\\033]0;owned\\007token=%s\\n' {{ token }}; false`,
          fix: 'echo {{ token }} > /dev/null',
        },
      ],
    });
    for (const mode of [[], ['--json']]) {
      const r = apply(['ta-hostile', '--hosts', 'a', '--dry-run', ...mode]);
      expect(r.code, r.stderr).toBe(3);
      const all = r.stdout + r.stderr;
      expect(all).not.toContain('\x1b[2J');
      expect(all).not.toContain('\x07');
      expect(all).not.toContain(secret);
      // The host's bytes arrive visible and inert, with the echoed secret masked.
      expect(all).toContain('^[[2J^[]0;owned^Gtoken=********');
      expect(all).toContain('echo ******** > /dev/null');
    }
    expect(readFileSync(audit, 'utf8')).not.toContain(secret);
  });
});

describe('Ctrl-C', () => {
  const slow = {
    name: 'ta-slow',
    description: 'a slow fix, to interrupt',
    steps: [
      { name: 'slow fix', check: 'sysctl -n net.ipv4.ip_forward', expect: '1', fix: 'sleep 3; sysctl -w net.ipv4.ip_forward=1' },
      { name: 'next', check: 'iptables -S FORWARD | head -1', expect: '-P FORWARD ACCEPT', fix: 'iptables -P FORWARD ACCEPT' },
    ],
  };

  /** Starts apply --json, sends SIGINT `presses` times once every host's fix is running. */
  async function interrupted(presses: number): Promise<{ code: number | null; evs: RunEvent[]; ms: number }> {
    writeRunbook('ta-slow', slow);
    const child = spawn('node', [BIN, 'apply', 'ta-slow', '--hosts', 'b,c', '--yes', '--json', '-i', inventory, '--runbooks', join(dir, 'runbooks')], {
      env: { ...process.env, RUNBOOK_AUDIT_FILE: audit },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let started = 0;
    let sentAt = 0;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const approvals = out.split('\n').filter((l) => l.includes('"type":"approval"')).length;
      if (approvals === 2 && started === 0) {
        started = 1;
        setTimeout(() => {
          sentAt = Date.now();
          for (let i = 0; i < presses; i++) setTimeout(() => child.kill('SIGINT'), i * 200);
        }, 300);
      }
    });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    return { code, evs: events(out), ms: Date.now() - sentAt };
  }

  it('first press: running fixes finish, nothing new starts, exit 130', async () => {
    for (const n of ['b', 'c']) breakNode(n);
    const r = await interrupted(1);
    expect(r.code).toBe(130);
    // The fixes that were running completed on the hosts...
    expect(ipForward('b')).toBe('1');
    expect(ipForward('c')).toBe('1');
    // ...and the next step never ran.
    expect(forwardPolicy('b')).toBe('-P FORWARD DROP');
    expect(statuses(r.evs)).toEqual({ b: ['fixed', 'not-run'], c: ['fixed', 'not-run'] });
    expect(r.evs.at(-1)).toMatchObject({ type: 'run-end', aborted: true, exitCode: 130 });
    for (const n of ['b', 'c']) healNode(n);
  });

  it('second press: running commands are interrupted', async () => {
    for (const n of ['b', 'c']) breakNode(n);
    const r = await interrupted(2);
    expect(r.code).toBe(130);
    expect(statuses(r.evs)).toEqual({ b: ['interrupted', 'blocked'], c: ['interrupted', 'blocked'] });
    expect(r.ms).toBeLessThan(2500);
    // Closing the channel does not kill the remote shell (no pty, and sshd forwards no signal), so the
    // orphaned `sleep 3; sysctl` still lands; let it, so it cannot change state under the next test.
    await new Promise((res) => setTimeout(res, 3500));
    for (const n of ['b', 'c']) healNode(n);
  });
});

describe('interactive approval in a real terminal (tmux)', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const pane = () => execFileSync('tmux', ['capture-pane', '-p', '-t', TMUX], { encoding: 'utf8' });
  const keys = (...k: string[]) => execFileSync('tmux', ['send-keys', '-t', TMUX, ...k]);
  const exitFile = () => join(dir, 'tmux-exit');

  function start(args: string): void {
    spawnSync('tmux', ['kill-session', '-t', TMUX]);
    rmSync(exitFile(), { force: true });
    const cmd = `env -u CI RUNBOOK_AUDIT_FILE=${audit} node ${BIN} apply ${args} -i ${inventory} --runbooks ${join(dir, 'runbooks')}; echo $? > ${exitFile()}; sleep 60`;
    execFileSync('tmux', ['new-session', '-d', '-s', TMUX, '-x', '150', '-y', '50', cmd]);
  }

  const PROMPT = /Fix "[^"]+" on (\w+)\?/;

  /** Waits for an open approval prompt other than `previous` (returns it) or for the run to end. */
  async function nextPrompt(previous?: string): Promise<{ host?: string; header?: string; text: string }> {
    for (let i = 0; i < 300; i++) {
      if (existsSync(exitFile())) return { text: pane() };
      const text = pane();
      const m = PROMPT.exec(text);
      if (m && text.includes('navigate') && m[0] !== previous) return { host: m[1], header: m[0], text };
      await sleep(100);
    }
    throw new Error(`no prompt and no exit; screen:\n${pane()}`);
  }

  async function exitCode(): Promise<number> {
    for (let i = 0; i < 300 && !existsSync(exitFile()); i++) await sleep(100);
    return Number(readFileSync(exitFile(), 'utf8').trim());
  }

  /** Answers prompts one by one with `answer(host)` (tmux key names), until the run ends. */
  async function answerAll(answer: (host: string) => string[]): Promise<string[]> {
    const asked: string[] = [];
    let previous: string | undefined;
    for (;;) {
      const p = await nextPrompt(previous);
      if (!p.host) return asked;
      asked.push(p.host);
      previous = p.header;
      keys(...answer(p.host));
    }
  }

  it('yes on one host and no on another', async () => {
    for (const n of ['c', 'd']) inNode(n, 'sysctl -qw net.ipv4.ip_forward=0');
    start('ta-one --hosts c,d');
    const asked = await answerAll((host) => (host === 'c' ? ['Enter'] : ['Down', 'Enter']));
    expect(asked.sort()).toEqual(['c', 'd']);
    expect(await exitCode()).toBe(3);
    expect(ipForward('c')).toBe('1');
    expect(ipForward('d')).toBe('0');
    inNode('d', 'sysctl -qw net.ipv4.ip_forward=1');
  });

  it('all hosts for this step: asked once, fixed everywhere', async () => {
    for (const n of ['b', 'c', 'd']) inNode(n, 'sysctl -qw net.ipv4.ip_forward=0');
    start('ta-forwarding --hosts b,c,d');
    const asked = await answerAll(() => ['Down', 'Down', 'Enter']);
    expect(asked).toHaveLength(1);
    expect(await exitCode()).toBe(0);
    for (const n of ['b', 'c', 'd']) expect(ipForward(n)).toBe('1');
  });

  it('Ctrl-C at a prompt: nothing more is fixed, exit 130, and the terminal is out of raw mode', async () => {
    for (const n of ['c', 'd']) inNode(n, 'sysctl -qw net.ipv4.ip_forward=0');
    spawnSync('tmux', ['kill-session', '-t', TMUX]);
    rmSync(exitFile(), { force: true });
    // An interactive shell, so the terminal's mode can be read after runbook exits.
    execFileSync('tmux', ['new-session', '-d', '-s', TMUX, '-x', '150', '-y', '50', 'env -u CI sh']);
    keys(`RUNBOOK_AUDIT_FILE=${audit} node ${BIN} apply ta-one --hosts c,d -i ${inventory} --runbooks ${join(dir, 'runbooks')}; echo $? > ${exitFile()}`, 'Enter');
    const p = await nextPrompt();
    expect(p.host).toBeDefined();
    keys('C-c');
    expect(await exitCode()).toBe(130);
    for (const n of ['c', 'd']) expect(ipForward(n)).toBe('0');
    keys('clear; stty -a | tr " " "\\n" | grep -E "^-?(icanon|echo)$"', 'Enter');
    await sleep(500);
    expect(pane()).toMatch(/^icanon$/m);
    expect(pane()).toMatch(/^echo$/m);
    for (const n of ['c', 'd']) inNode(n, 'sysctl -qw net.ipv4.ip_forward=1');
  });

  it('show full output, then quit: nothing is fixed, exit 130, recap printed', async () => {
    for (const n of ['b', 'c', 'd']) breakNode(n);
    start('ta-forwarding --hosts b,c,d');
    const first = await nextPrompt();
    expect(first.host).toBeDefined();
    expect(first.text).toContain('$ sysctl -w net.ipv4.ip_forward=1');
    keys('Down', 'Down', 'Down', 'Down', 'Enter'); // show full output
    await sleep(500);
    expect(pane()).toContain('full check output:');
    keys('Down', 'Down', 'Down', 'Down', 'Down', 'Enter'); // quit
    expect(await exitCode()).toBe(130);
    expect(pane()).toMatch(/Stopped early: the operator quit/);
    for (const n of ['b', 'c', 'd']) expect(nodeState(n)).toBe('0 -P FORWARD DROP');
    for (const n of ['b', 'c', 'd']) healNode(n);
  });
});
