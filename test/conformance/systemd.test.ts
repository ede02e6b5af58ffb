/**
 * The lab's systemctl against real systemd: each test is a fact from systemd.unit(5),
 * systemd.service(5) or systemd.socket(5) that a runbook depends on, checked from outside
 * systemctl's own answers where it can be (pids, /proc, the socket file). One lab ("csd"); the
 * tests write their own units (t-*) on node a, so they do not depend on the lab's unit set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDown, labExec, labUp } from '../../src/lab/index.js';

const NAME = 'csd';
const NODE = 'a';

async function run(cmd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await labExec(NAME, NODE, cmd);
  return { code: r.code ?? -1, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}
async function sh(cmd: string): Promise<string> {
  const r = await run(cmd);
  expect(r.code, `${cmd}\n${r.stderr}`).toBe(0);
  return r.stdout;
}
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
/** Writes a lab unit file (the bash-assignment format node-files.ts writes). */
async function unit(name: string, fields: Record<string, string | string[]>): Promise<void> {
  const text = Object.entries(fields)
    .map(([k, v]) => (Array.isArray(v) ? `${k}=(${v.map(q).join(' ')})` : `${k}=${q(v)}`))
    .join('\n');
  await sh(`cat > /etc/lab/units/${name} <<'UNIT'\n${text}\nUNIT`);
}
async function show(u: string, props: string): Promise<string[]> {
  return (await sh(`systemctl show -p ${props} --value ${u}`)).split('\n');
}
const mainPid = async (u: string): Promise<number> => Number((await show(u, 'MainPID'))[0]);
/** Signals a unit's main process (never pid 0: `kill 0` would hit the test runner's group). */
async function signal(u: string, sig: string): Promise<number> {
  const pid = await mainPid(u);
  expect(pid, `${u} has no main process`).toBeGreaterThan(1);
  await sh(`kill -${sig} ${pid}`);
  return pid;
}
const state = async (u: string): Promise<string> => (await show(u, 'ActiveState'))[0] ?? '';
const running = async (pid: number): Promise<boolean> => (await run(`[ -d /proc/${pid} ] && ! grep -q '^State:.Z' /proc/${pid}/status`)).code === 0;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(what: string, f: () => Promise<boolean>, ms = 6000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(100);
  }
}
/** A main process that exits with the code written into /run/<name>.fifo. */
const exitsOnFifo = (name: string): string[] => ['/bin/sh', '-c', `mkfifo /run/${name}.fifo 2>/dev/null; read c < /run/${name}.fifo; exit $c`];
const endWith = (name: string, code: number): Promise<string> => sh(`echo ${code} > /run/${name}.fifo`);
const SLEEP = ['/bin/sleep', '100000'];

beforeAll(async () => {
  await labUp({ name: NAME, workers: 2 });
});
afterAll(async () => {
  await labDown(NAME);
});

describe('Restart= (systemd.service(5): how the main process ended decides)', () => {
  it('on-failure: a main process that exits 0 is not restarted and leaves the unit inactive, not failed', async () => {
    await unit('t-onf', { Description: 't', ExecStart: exitsOnFifo('t-onf'), Restart: 'on-failure' });
    await sh('systemctl start t-onf');
    const pid = await mainPid('t-onf');
    expect(await running(pid)).toBe(true);
    await endWith('t-onf', 0);
    await until('t-onf ended', async () => !(await running(pid)));
    await sleep(1500);
    expect(await show('t-onf', 'ActiveState,SubState,MainPID,Result,ExecMainStatus,NRestarts')).toEqual(['inactive', 'dead', '0', 'success', '0', '0']);
    expect((await run('systemctl is-failed t-onf')).code).not.toBe(0);
  });

  it('on-failure: exit 1 restarts the service with a new main process', async () => {
    await sh('systemctl start t-onf');
    const pid = await mainPid('t-onf');
    await endWith('t-onf', 1);
    await until('t-onf restarted', async () => (await state('t-onf')) === 'active' && (await mainPid('t-onf')) !== pid);
    expect(await running(pid)).toBe(false);
    expect(await show('t-onf', 'NRestarts,ExecMainStatus')).toEqual(['1', '1']);
  });

  it('on-failure: SIGTERM is a clean end (not restarted), SIGKILL is not (restarted)', async () => {
    const pid = await signal('t-onf', 'TERM');
    await until('t-onf ended', async () => !(await running(pid)));
    await sleep(1000);
    expect(await show('t-onf', 'ActiveState,MainPID')).toEqual(['inactive', '0']);
    await sh('systemctl start t-onf');
    const pid2 = await signal('t-onf', 'KILL');
    await until('t-onf restarted after SIGKILL', async () => (await state('t-onf')) === 'active' && (await mainPid('t-onf')) !== pid2);
  });

  it('always: exit 0 restarts too', async () => {
    await unit('t-alw', { ExecStart: exitsOnFifo('t-alw'), Restart: 'always' });
    await sh('systemctl start t-alw');
    const pid = await mainPid('t-alw');
    await endWith('t-alw', 0);
    await until('t-alw restarted', async () => (await state('t-alw')) === 'active' && (await mainPid('t-alw')) !== pid);
  });

  it('no (the default): exit 1 leaves the unit failed with the exit status, and an explicit stop is never restarted', async () => {
    await unit('t-no', { ExecStart: exitsOnFifo('t-no') });
    await sh('systemctl start t-no');
    await endWith('t-no', 3);
    await until('t-no failed', async () => (await state('t-no')) === 'failed');
    expect(await show('t-no', 'SubState,MainPID,Result,ExecMainStatus')).toEqual(['failed', '0', 'exit-code', '3']);
    expect((await run('systemctl is-failed -q t-no')).code).toBe(0);
    const pid = await mainPid('t-alw');
    await sh('systemctl stop t-alw');
    await sleep(1000);
    expect(await running(pid)).toBe(false);
    expect(await show('t-alw', 'ActiveState,MainPID')).toEqual(['inactive', '0']);
  });
});

describe('ExecStart= and the main process (systemd.service(5), systemd.exec(5))', () => {
  it('MainPID is the daemon itself; $NAME splits at whitespace, ${NAME} stays one word; EnvironmentFile= entries, "-" optional; a clean environment', async () => {
    await sh(`printf '%s\\n' 'SPLIT="7 8"' "WHOLE='x y'" '# comment' > /run/t-env.env`);
    await unit('t-env', {
      EnvironmentFile: ['-/run/t-none.env', '/run/t-env.env'],
      ExecStart: ['/usr/bin/env', 'A=${WHOLE}', '/bin/sleep', '100000', '$SPLIT', '$UNSET'],
    });
    await sh('systemctl start t-env');
    const pid = await mainPid('t-env');
    expect((await sh(`tr '\\0' '\\n' < /proc/${pid}/cmdline`)).split('\n')).toEqual(['/bin/sleep', '100000', '7', '8']);
    const env = (await sh(`tr '\\0' '\\n' < /proc/${pid}/environ`)).split('\n');
    expect(env).toContain('A=x y');
    expect(env).toContain('SPLIT=7 8');
    expect(env.some((e) => e.startsWith('HOME=') || e.startsWith('ETCDCTL_API='))).toBe(false);
    await sh('systemctl stop t-env');
  });

  it('a missing EnvironmentFile= without "-" fails the start', async () => {
    await unit('t-envreq', { EnvironmentFile: ['/run/t-none.env'], ExecStart: SLEEP });
    expect((await run('systemctl start t-envreq')).code).not.toBe(0);
    expect(await state('t-envreq')).toBe('failed');
  });

  it('Type=notify: ExecStartPost= runs after READY, with $MAINPID; its failure fails the unit and kills the main process', async () => {
    await unit('t-post', {
      Type: 'notify',
      ExecStart: ['/bin/sh', '-c', 'sleep 0.3; echo up > /run/t-post.state; : > "$NOTIFY_FILE"; exec sleep 100001'],
      ExecStartPost: ['/bin/sh', '-c', 'echo "$(cat /run/t-post.state) $MAINPID" > /run/t-post.out'],
    });
    await sh('systemctl start t-post');
    const pid = await mainPid('t-post');
    expect(await sh('cat /run/t-post.out')).toBe(`up ${pid}`);
    expect(await sh(`tr '\\0' ' ' < /proc/${pid}/cmdline`)).toBe('sleep 100001');
    await sh('systemctl stop t-post');
    await unit('t-postfail', { ExecStart: ['/bin/sleep', '100002'], ExecStartPost: ['/bin/sh', '-c', 'exit 2'] });
    expect((await run('systemctl start t-postfail')).code).not.toBe(0);
    expect(await show('t-postfail', 'ActiveState,MainPID')).toEqual(['failed', '0']);
    expect((await run('pgrep -f "sleep 100002"')).code).toBe(1);
  });
});

describe('Requires= and PartOf= (systemd.unit(5))', () => {
  beforeAll(async () => {
    await unit('t-base', { ExecStart: SLEEP });
    await unit('t-req', { ExecStart: SLEEP, Requires: ['t-base.service'] });
    await unit('t-part', { ExecStart: SLEEP, PartOf: ['t-base'] });
  });

  it('start starts the required units first', async () => {
    await sh('systemctl start t-req');
    expect(await state('t-base')).toBe('active');
    const [base, req] = await Promise.all([show('t-base', 'ActiveEnterTimestampMonotonic'), show('t-req', 'ActiveEnterTimestampMonotonic')]);
    expect(Number(base[0])).toBeLessThanOrEqual(Number(req[0]));
    expect(await show('t-base', 'RequiredBy,ConsistsOf')).toEqual(['t-req.service', 't-part.service']);
    expect(await show('t-req', 'Requires')).toEqual(['t-base.service']);
  });

  it('a requirement that fails to start fails the start and the requiring unit is not started', async () => {
    await unit('t-bad', { Type: 'notify', ExecStart: ['/bin/false'] });
    await unit('t-needsbad', { ExecStart: SLEEP, Requires: ['t-bad'] });
    const r = await run('systemctl start t-needsbad');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('A dependency job for t-needsbad.service failed');
    expect(await show('t-needsbad', 'ActiveState,MainPID')).toEqual(['inactive', '0']);
  });

  it('restart of a unit restarts the running units that require it or are PartOf it', async () => {
    await sh('systemctl start t-part');
    const before = await Promise.all(['t-base', 't-req', 't-part'].map(mainPid));
    await sh('systemctl restart t-base');
    const after = await Promise.all(['t-base', 't-req', 't-part'].map(mainPid));
    for (let i = 0; i < 3; i++) {
      expect(after[i]).not.toBe(before[i]);
      expect(await running(before[i] ?? 0)).toBe(false);
      expect(await running(after[i] ?? 0)).toBe(true);
    }
  });

  it('restart of a unit does not start a stopped unit that requires it (try-restart)', async () => {
    await sh('systemctl stop t-req');
    const base = await mainPid('t-base');
    await sh('systemctl restart t-base');
    expect(await mainPid('t-base')).not.toBe(base);
    expect(await show('t-req', 'ActiveState,MainPID')).toEqual(['inactive', '0']);
  });

  it('stop of a unit stops the units that require it or are PartOf it first; stop of those leaves it running', async () => {
    await sh('systemctl start t-req t-part');
    const pids = await Promise.all(['t-base', 't-req', 't-part'].map(mainPid));
    await sh('systemctl stop t-part');
    expect(await mainPid('t-base')).toBe(pids[0]);
    await sh('systemctl start t-part');
    await sh('systemctl stop t-base');
    for (const u of ['t-base', 't-req', 't-part']) expect(await show(u, 'ActiveState,MainPID')).toEqual(['inactive', '0']);
    for (const p of pids) expect(await running(p ?? 0)).toBe(false);
  });

  it('a required unit that exits on its own does not stop the units that require it', async () => {
    await sh('systemctl start t-req');
    const req = await mainPid('t-req');
    await signal('t-base', 'KILL');
    await until('t-base failed', async () => (await state('t-base')) === 'failed');
    await sleep(500);
    expect(await mainPid('t-req')).toBe(req);
    expect(await running(req)).toBe(true);
    await sh('systemctl stop t-base');
  });
});

describe('socket activation (systemd.socket(5)) and a kubelet touching the socket', () => {
  beforeAll(async () => {
    await unit('t-svc.socket', { Description: 't socket', ListenStream: '/run/t-svc.sock', Service: 't-svc' });
    await unit('t-svc', { ExecStart: SLEEP, Requires: ['t-svc.socket'], Restart: 'always' });
  });

  it('starting the service starts its socket first; a connection starts the stopped service', async () => {
    await sh('systemctl start t-svc');
    expect(await show('t-svc.socket', 'ActiveState,SubState')).toEqual(['active', 'listening']);
    expect(await sh('[ -S /run/t-svc.sock ] && echo socket')).toBe('socket');
    expect(await show('t-svc', 'TriggeredBy')).toEqual(['t-svc.socket']);
    const r = await run('systemctl stop t-svc');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("Stopping 't-svc.service', but its triggering units are still active:\nt-svc.socket");
    expect(await show('t-svc', 'ActiveState,MainPID')).toEqual(['inactive', '0']);
    await sh('socat -u OPEN:/dev/null UNIX-CONNECT:/run/t-svc.sock');
    await until('t-svc started by a connection', async () => (await state('t-svc')) === 'active');
  });

  it('with the kubelet running, a stopped service comes back within seconds while its socket is active', async () => {
    await unit('t-kubelet', { ExecStart: ['/usr/local/sbin/kubelet', '--docker-endpoint=unix:///run/t-svc.sock'], Restart: 'always' });
    await sh('systemctl start t-kubelet');
    const pid = await mainPid('t-svc');
    await sh('systemctl stop t-svc');
    expect(await running(pid)).toBe(false);
    await until('t-svc started again by the kubelet', async () => (await state('t-svc')) === 'active', 5000);
    expect(await mainPid('t-svc')).not.toBe(pid);
  });

  it('stopping the socket stops the service too and removes the socket; then nothing starts it (10 s)', async () => {
    const kubelet = await mainPid('t-kubelet');
    await sh('systemctl stop t-svc.socket t-svc');
    expect(await show('t-svc.socket', 'ActiveState')).toEqual(['inactive']);
    expect((await run('[ -e /run/t-svc.sock ]')).code).toBe(1);
    await sleep(10_000);
    expect(await show('t-svc', 'ActiveState,MainPID')).toEqual(['inactive', '0']);
    expect(await mainPid('t-kubelet')).toBe(kubelet);
    await sh('systemctl stop t-kubelet');
  });

  it("the lab's own docker units, when the lab has them: stop docker comes back through docker.socket; stop docker.socket docker stays down", async (ctx) => {
    if ((await run('[ -e /etc/lab/units/docker.socket ] && [ -e /etc/lab/units/kubelet ]')).code !== 0) ctx.skip();
    const pid = await mainPid('docker');
    const r = await run('systemctl stop docker');
    expect(r.stderr).toContain("Stopping 'docker.service', but its triggering units are still active:");
    await until('docker started again through docker.socket', async () => (await state('docker')) === 'active', 8000);
    expect(await mainPid('docker')).not.toBe(pid);
    await sh('systemctl stop docker.socket docker');
    await sleep(5000);
    expect(await show('docker', 'ActiveState,MainPID')).toEqual(['inactive', '0']);
    await sh('systemctl start docker');
    expect(await state('docker.socket')).toBe('active');
  });
});

describe('reading units as runbooks do', () => {
  it('cat prints the unit file under its path; show gives systemd forms of Requires, EnvironmentFiles, ExecStart', async () => {
    await unit('t-show', { EnvironmentFile: ['-/run/flannel/docker', '/etc/t'], ExecStart: ['/usr/local/sbin/dockerd', '$DOCKER_NETWORK_OPTIONS'], Requires: ['t-base', 't-svc.socket'] });
    expect((await sh('systemctl cat t-show.service')).split('\n')[0]).toBe('# /etc/lab/units/t-show');
    expect(await show('t-show', 'Requires,EnvironmentFiles,ExecStart')).toEqual([
      't-base.service t-svc.socket',
      '/run/flannel/docker (ignore_errors=yes)',
      '/etc/t (ignore_errors=no)',
      '{ path=/usr/local/sbin/dockerd ; argv[]=/usr/local/sbin/dockerd $DOCKER_NETWORK_OPTIONS ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }',
    ]);
    expect(await sh('systemctl is-enabled t-show; systemctl is-active t-show || true')).toBe('enabled\ninactive');
  });
});
