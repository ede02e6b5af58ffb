/**
 * A timed-out or interrupted command really stops on the host: no process of it is left and no
 * later part of a compound command runs. Real sshd in rbi-* namespaces (198.18.253.0/24).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BECOME_PASSWORD, startSshdLab, type SshdLab } from '../fixtures/sshd-fixture.js';
import { createTransport, LocalConnection, type Connection, type ExecOptions, type ExecResult, type Transport } from '../../src/transport/index.js';

const IP = '198.18.253.11';
const SLEEP_S = 2;

let lab: SshdLab;
let kh: string;
const transports: Transport[] = [];

beforeAll(() => {
  lab = startSshdLab([{ name: 'i1', ip: IP }], { prefix: 'rbi', subnet: '198.18.253' });
  kh = lab.writeKnownHosts(join(lab.dir, 'known_hosts'), ['i1']);
  mkdirSync(join(lab.dir, 'client-home'));
});

afterAll(async () => {
  try {
    await Promise.all(transports.map((t) => t.closeAll()));
  } finally {
    lab?.stop();
  }
});

async function connect(user: string, becomePassword?: string): Promise<Connection> {
  const t = createTransport({ agent: '', homeDir: join(lab.dir, 'client-home'), connectTimeoutMs: 5000, ...(becomePassword ? { becomePassword } : {}) });
  transports.push(t);
  return t.connect({ name: 'i1', address: IP, port: 22, user, connection: 'ssh', identityFile: lab.clientKey, knownHostsFile: kh });
}

/** Processes on the host whose command line names `tag` (the host shares our pid namespace). */
function leftovers(tag: string): string[] {
  return lab.node('i1').nsExec(`pgrep -af '${tag}' | grep -v pgrep || true`).split('\n').filter(Boolean);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs a compound command with a background child, stopped after 500 ms by abort or by timeout,
 * then checks that nothing of it runs and, after its sleep would have ended, that its markers are
 * not there. A control run without a stop proves the markers do appear.
 */
async function expectStopped(conn: Connection, label: string, become: boolean, host: (tag: string) => string[]): Promise<void> {
  const tag = join(lab.dir, `m-${label}`);
  const cmd = (t: string): string => `(sleep ${SLEEP_S + 20}; touch ${t}-child) & sleep ${SLEEP_S}; touch ${t}-after`;
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 500);
  const runs: [string, ExecOptions, ExecResult['outcome']][] = [
    ['abort', { become, signal: ac.signal }, 'interrupted'],
    ['timeout', { become, timeoutMs: 500 }, 'timeout'],
  ];
  const results = await Promise.all(runs.map(([how, opts]) => conn.exec(cmd(`${tag}-${how}`), opts)));
  const control = conn.exec(`sleep ${SLEEP_S}; touch ${tag}-control-after`, { become });
  for (const [i, [how, , outcome]] of runs.entries()) {
    expect(results[i]!.outcome, how).toBe(outcome);
    expect(results[i]!.reason, how).not.toMatch(/may still be running/);
    expect(results[i]!.durationMs, how).toBeLessThan(2000);
    expect(host(`${tag}-${how}`), `${how}: left running`).toEqual([]);
  }
  expect(await control).toMatchObject({ outcome: 'exit', code: 0 });
  await sleep(1000);
  expect(existsSync(`${tag}-control-after`)).toBe(true);
  for (const [how] of runs) {
    expect(existsSync(`${tag}-${how}-after`), `${how}: later part ran`).toBe(false);
    expect(existsSync(`${tag}-${how}-child`), `${how}: child ran`).toBe(false);
    expect(host(`${tag}-${how}`), `${how}: left running`).toEqual([]);
  }
}

describe('ssh: a stopped command stops on the host', () => {
  it('as root (sshd refuses the SSH signal request for root logins)', async () => {
    await expectStopped(await connect('root'), 'root', false, leftovers);
  });

  it('with become through sudo -n (NOPASSWD): root processes the login user cannot signal', async () => {
    await expectStopped(await connect('rbtnp'), 'sudo-n', true, leftovers);
  });

  it('with become through sudo -S (password on stdin)', async () => {
    await expectStopped(await connect('rbtpw', BECOME_PASSWORD), 'sudo-S', true, leftovers);
  });

  it('stdout, stderr and the exit code are untouched by the start marker', async () => {
    for (const [user, become, pw] of [['root', false, undefined], ['rbtnp', true, undefined], ['rbtpw', true, BECOME_PASSWORD]] as const) {
      const c = await connect(user, pw);
      const r = await c.exec('echo out; printf err >&2; exit 3', { become });
      expect(r, user).toMatchObject({ outcome: 'exit', code: 3, stdout: 'out\n', stderr: 'err' });
    }
  });
});

describe('local: a stopped command stops', () => {
  const local = (tag: string): string[] => lab.node('i1').nsExec(`pgrep -af '${tag}' | grep -v pgrep || true`).split('\n').filter(Boolean);

  it('plain', async () => {
    await expectStopped(new LocalConnection('local'), 'local', false, local);
  });

  it('with become (sudo with a pty puts the command in its own session)', async () => {
    await expectStopped(new LocalConnection('local'), 'local-sudo', true, local);
  });
});
