/**
 * Fleet control on the lab (lab name `tc`, 4 workers + etcd on m1), through the built CLI and real
 * sshd: batches (proven by timestamps taken on the hosts), canary, max_failures, a once step on
 * etcd whose registered leases drive per-node checks, a fleet-wide comparison through hosts.*,
 * handlers, dry-run dependencies, the audit trail of a full apply, @failed, and a secret that
 * appears nowhere but on the host.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEventSchema } from '../../src/engine/events-schema.js';
import type { RunEvent, StepStatus } from '../../src/engine/events.js';
import { labBreak, labDown, labExec, labHeal, labUp, type LabInfo } from '../../src/lab/index.js';

const LAB = 'tc';
const BIN = resolve('bin/runbook.js');
const WORKERS = ['a', 'b', 'c', 'd'];
let info: LabInfo;
let scratch: string;
let audit: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'rb-tc-'));
  audit = join(scratch, 'audit.jsonl');
  // flannel-modern: the leases runbook below reads the v3 keyspace (the default profile's flannel 0.9 keeps them in v2).
  info = await labUp({ name: LAB, workers: 4, profiles: ['flannel-modern'] });
});

afterAll(async () => {
  try {
    await labDown(LAB);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

function runbookFile(name: string, yaml: string): string {
  const file = join(scratch, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

interface Applied {
  code: number | null;
  stdout: string;
  stderr: string;
  events: RunEvent[];
  status: (host: string, step: string) => StepStatus | undefined;
  reason: (host: string, step: string) => string | undefined;
  end?: Extract<RunEvent, { type: 'run-end' }>;
}

function cli(args: string[], env: Record<string, string> = {}) {
  return spawnSync('node', [BIN, ...args], { encoding: 'utf8', env: { ...process.env, RUNBOOK_AUDIT_FILE: audit, CI: '1', ...env }, input: '', timeout: 110_000 });
}

function apply(file: string, hosts: string, args: string[], env: Record<string, string> = {}): Applied {
  const json = args.includes('--json');
  const r = cli(['apply', file, '--hosts', hosts, '-i', info.inventory, ...args], env);
  const events = json
    ? r.stdout
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => runEventSchema.parse(JSON.parse(l)) as RunEvent)
    : [];
  const results = events.filter((e): e is Extract<RunEvent, { type: 'step-result' }> => e.type === 'step-result');
  return {
    code: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    events,
    status: (h, s) => results.find((e) => e.host === h && e.step === s)?.status,
    reason: (h, s) => results.find((e) => e.host === h && e.step === s)?.reason,
    end: events.find((e): e is Extract<RunEvent, { type: 'run-end' }> => e.type === 'run-end'),
  };
}

const describeRun = (a: Applied): string =>
  `exit ${a.code}\n${a.events.flatMap((e) => (e.type === 'step-result' ? [`${e.host}: ${e.step}: ${e.status} ${e.reason ?? ''}`] : [])).join('\n')}\n${a.stderr}`;

async function on(node: string, cmd: string): Promise<string> {
  const r = await labExec(LAB, node, cmd, { timeoutMs: 20_000 });
  return r.stdout.trim();
}

async function clean(path: string): Promise<void> {
  for (const n of WORKERS) await on(n, `rm -f ${path}`);
}

describe('rollout control', () => {
  it('serial: 2 over 4 workers: never more than 2 hosts inside the fix at once (timestamps taken on the hosts)', async () => {
    await clean('/tmp/tc-span /tmp/tc-done');
    const file = runbookFile(
      'tc-batch',
      `name: tc-batch
serial: 2
steps:
  - name: slow fix
    check: test -f /tmp/tc-done
    fix: s=$(date +%s.%N); sleep 0.6; echo "$s $(date +%s.%N)" > /tmp/tc-span; touch /tmp/tc-done
`,
    );
    const a = apply(file, 'workers', ['--yes', '--json']);
    expect(a.code, describeRun(a)).toBe(0);
    const spans = await Promise.all(WORKERS.map(async (n) => (await on(n, 'cat /tmp/tc-span')).split(' ').map(Number) as [number, number]));
    for (const [s, e] of spans) {
      const overlapping = spans.filter(([s2, e2]) => s2 < e && s < e2).length;
      expect(overlapping, JSON.stringify(spans)).toBeLessThanOrEqual(2);
    }
    // The second batch (c, d) started after the first (a, b) had finished.
    expect(Math.min(spans[2]![0], spans[3]![0])).toBeGreaterThan(Math.max(spans[0]![1], spans[1]![1]));
  });

  it('--batch on the command line does the same for a runbook without serial', async () => {
    await clean('/tmp/tc-span /tmp/tc-done');
    const file = runbookFile('tc-batch-flag', `steps:\n  - name: slow fix\n    check: test -f /tmp/tc-done\n    fix: s=$(date +%s.%N); sleep 0.4; echo "$s $(date +%s.%N)" > /tmp/tc-span; touch /tmp/tc-done\n`);
    const a = apply(file, 'workers', ['--yes', '--json', '--batch', '50%']);
    expect(a.code, describeRun(a)).toBe(0);
    const spans = await Promise.all(WORKERS.map(async (n) => (await on(n, 'cat /tmp/tc-span')).split(' ').map(Number) as [number, number]));
    for (const [s, e] of spans) expect(spans.filter(([s2, e2]) => s2 < e && s < e2).length).toBeLessThanOrEqual(2);
  });

  it('--canary 1 --yes: a red canary stops the rollout; the other hosts are untouched', async () => {
    await clean('/tmp/tc-canary');
    const file = runbookFile(
      'tc-canary',
      `steps:
  - name: marker
    check: test -f /tmp/tc-canary
    fix: touch /tmp/tc-canary
    verify: test {{ host.name }} != a && test -f /tmp/tc-canary
`,
    );
    const a = apply(file, 'workers', ['--yes', '--json', '--canary', '1']);
    expect(a.code, describeRun(a)).toBe(1);
    expect(a.status('a', 'marker')).toBe('failed');
    for (const n of ['b', 'c', 'd']) {
      expect(a.status(n, 'marker')).toBe('not-run');
      expect(await on(n, 'test -e /tmp/tc-canary && echo touched || echo untouched')).toBe('untouched');
    }
    expect(a.end?.stopReason).toMatch(/canary not all green \(a: "marker" failed\), so the other 3 hosts were not started/);
    // A green canary lets the rest go.
    const file2 = runbookFile('tc-canary2', `steps:\n  - name: marker\n    check: test -f /tmp/tc-canary\n    fix: touch /tmp/tc-canary\n`);
    const b = apply(file2, 'workers', ['--yes', '--json', '--canary', '1']);
    expect(b.code, describeRun(b)).toBe(0);
    for (const n of WORKERS) expect(await on(n, 'test -e /tmp/tc-canary && echo touched')).toBe('touched');
  });

  it('max_failures: the run stops when reached; hosts after the threshold are untouched; the recap says why', async () => {
    await clean('/tmp/tc-maxf');
    const file = runbookFile(
      'tc-maxf',
      `serial: 1
max_failures: 2
steps:
  - name: break
    check: test -f /tmp/tc-maxf
    fix: touch /tmp/tc-maxf; false
`,
    );
    const a = apply(file, 'workers', ['--yes']);
    expect(a.code).toBe(1);
    expect(a.stdout).toMatch(/Stopped early: max_failures \(2\) reached: 2 of 4 hosts failed \(a, b\)/);
    expect(await on('a', 'test -e /tmp/tc-maxf && echo touched')).toBe('touched');
    expect(await on('b', 'test -e /tmp/tc-maxf && echo touched')).toBe('touched');
    for (const n of ['c', 'd']) expect(await on(n, 'test -e /tmp/tc-maxf && echo touched || echo untouched')).toBe('untouched');
    // --max-failures overrides the runbook.
    await clean('/tmp/tc-maxf');
    const b = apply(file, 'workers', ['--yes', '--json', '--max-failures', '1']);
    expect(b.end?.stopReason).toMatch(/max_failures \(1\) reached: 1 of 4 hosts failed \(a\)/);
    expect(b.status('b', 'break')).toBe('not-run');
  });
});

const LEASES = `name: tc-leases
steps:
  - name: read leases
    on: etcd
    once: true
    register: leases
    json: true
    check: >-
      ETCDCTL_API=3 etcdctl --endpoints={{ etcd_endpoints }} get --prefix {{ flannel_etcd_prefix }}/subnets/ -w json
      | jq -c '[.kvs[] | {key: (.key | @base64d | sub(".*/"; "")), value: (.value | @base64d | fromjson)}]
      | map({(.value.PublicIP): {subnet: .key, mac: .value.BackendData.VtepMAC}}) | add'
  - name: flannel.1 MAC
    register: mac
    check: cat /sys/class/net/flannel.1/address
  - name: my lease names my subnet
    when: len(leases) == 4
    check: >-
      . /run/flannel/subnet.env;
      want=$(printf '%s' {{ leases | json }} | jq -r --arg ip {{ lan_ip }} '.[$ip].subnet');
      have="\${FLANNEL_SUBNET%.*}.0-24"; echo "lease=$want have=$have"; test "$want" = "$have"
  - name: every lease carries its node's MAC
    on: etcd
    once: true
    check: >-
      for m in {{ hosts.a.mac }} {{ hosts.b.mac }} {{ hosts.c.mac }} {{ hosts.d.mac }}; do
      printf '%s' {{ leases | json }} | jq -e --arg m "$m" 'map(select(.mac == $m)) | length == 1' >/dev/null || { echo "no lease has $m"; exit 1; }; done
`;

describe('once, register, hosts.*', () => {
  it('a once step on etcd registers the leases; every node checks its own lease against them', () => {
    const a = apply(runbookFile('tc-leases', LEASES), 'workers', ['--dry-run', '--json']);
    expect(a.code, describeRun(a)).toBe(0);
    const etcdChecks = a.events.filter((e) => e.type === 'command' && e.step === 'read leases');
    expect(etcdChecks.map((e) => e.type === 'command' && e.host)).toEqual(['m1']);
    expect(a.status('m1', 'read leases')).toBe('ok');
    for (const n of WORKERS) {
      expect(a.status(n, 'read leases')).toBe('not-applicable');
      expect(a.status(n, 'my lease names my subnet'), describeRun(a)).toBe('ok');
    }
    const d = a.events.find((e) => e.type === 'command' && e.host === 'd' && e.step === 'my lease names my subnet');
    expect(d?.type === 'command' && d.output.tail).toMatch(/^lease=10\.100\.\d+\.0-24 have=10\.100\.\d+\.0-24$/);
  });

  it("a fleet-wide comparison through hosts.*: etcd's leases against every node's flannel.1 MAC catches MAC drift on d", async () => {
    const healthy = apply(runbookFile('tc-leases', LEASES), 'workers', ['--dry-run', '--json']);
    expect(healthy.status('m1', "every lease carries its node's MAC"), describeRun(healthy)).toBe('ok');
    await labBreak(LAB, 'mac-drift', 'd');
    try {
      const dMac = await on('d', 'cat /sys/class/net/flannel.1/address');
      const a = apply(runbookFile('tc-leases', LEASES), 'workers', ['--dry-run', '--json']);
      expect(a.status('m1', "every lease carries its node's MAC"), describeRun(a)).toBe('failed');
      expect(a.reason('m1', "every lease carries its node's MAC")).toContain(`no lease has ${dMac}`);
      // The comparison ran after every node had registered its MAC.
      const idx = (pred: (e: RunEvent) => boolean) => a.events.findIndex(pred);
      const compare = idx((e) => e.type === 'command' && e.step === "every lease carries its node's MAC");
      for (const n of WORKERS) expect(idx((e) => e.type === 'step-result' && e.host === n && e.step === 'flannel.1 MAC')).toBeLessThan(compare);
      for (const n of WORKERS) expect(a.status(n, "every lease carries its node's MAC")).toBe('blocked');
    } finally {
      await labHeal(LAB);
    }
  });
});

/**
 * A handler's check (and so its verify): the service is up, given the few seconds a restarted
 * daemon may take, as an operator writes it. Right after the restart, on a loaded machine, a bare
 * `is-active` has read "activating" in CI (the unit restarting its daemon), failing the verify.
 */
const UP = (unit: string): string => `"for i in 1 2 3 4 5 6 7 8 9 10; do systemctl is-active -q ${unit} && exit 0; sleep 1; done; systemctl is-active ${unit}"`;

const HANDLERS = `name: tc-handlers
steps:
  - name: config
    check: test -f /tmp/tc-cfg
    fix: touch /tmp/tc-cfg
    notify: [restart docker, restart flanneld]
  - name: other config
    check: test -f /tmp/tc-other
    fix: touch /tmp/tc-other
    notify: restart flanneld
  - name: after a config change
    when: changed("config")
    check: echo "config changed on {{ host.name }}"
handlers:
  - name: restart flanneld
    check: ${UP('flanneld')}
    fix: [echo "flanneld $(date +%s.%N)" >> /tmp/tc-handlers, systemctl restart flanneld]
  - name: restart docker
    check: ${UP('docker')}
    fix: [echo "docker $(date +%s.%N)" >> /tmp/tc-handlers, systemctl restart docker]
`;

describe('notify / handlers, dry run', () => {
  it('dry run: the step and handlers that depend on the pending fix are depends-on-pending-fix', async () => {
    await clean('/tmp/tc-cfg /tmp/tc-other /tmp/tc-handlers');
    const a = apply(runbookFile('tc-handlers', HANDLERS), 'a', ['--dry-run', '--json']);
    expect(a.code, describeRun(a)).toBe(3);
    expect(a.status('a', 'config')).toBe('would-fix');
    expect(a.status('a', 'after a config change')).toBe('depends-on-pending-fix');
    expect(a.status('a', 'restart flanneld')).toBe('depends-on-pending-fix');
    expect(a.status('a', 'restart docker')).toBe('depends-on-pending-fix');
    expect(await on('a', 'test -e /tmp/tc-handlers && echo ran || echo none')).toBe('none');
    const text = apply(runbookFile('tc-handlers', HANDLERS), 'a', ['--dry-run']);
    expect(text.stdout).toMatch(/pending dep/);
  });

  it('a handler runs once, in handler order, only where something changed', async () => {
    await clean('/tmp/tc-cfg /tmp/tc-other /tmp/tc-handlers');
    await on('b', 'touch /tmp/tc-cfg /tmp/tc-other');
    const a = apply(runbookFile('tc-handlers', HANDLERS), 'a,b', ['--yes', '--json']);
    expect(a.code, describeRun(a)).toBe(0);
    const log = (await on('a', 'cat /tmp/tc-handlers')).split('\n').map((l) => l.split(' ')[0]);
    // Both config steps notified flanneld; docker was notified first; handler order wins.
    expect(log).toEqual(['flanneld', 'docker']);
    expect(a.status('a', 'restart flanneld')).toBe('fixed');
    expect(a.status('a', 'restart docker')).toBe('fixed');
    expect(a.status('a', 'after a config change')).toBe('ok');
    expect(await on('b', 'test -e /tmp/tc-handlers && echo ran || echo none')).toBe('none');
    expect(a.status('b', 'restart flanneld')).toBe('not-applicable');
    expect(a.status('b', 'after a config change')).toBe('not-applicable');
    // Nothing changes the second time: no handler runs.
    const again = apply(runbookFile('tc-handlers', HANDLERS), 'a,b', ['--yes', '--json']);
    expect(again.code).toBe(0);
    expect((await on('a', 'cat /tmp/tc-handlers')).split('\n')).toHaveLength(2);
  });
});

describe('audit trail, @failed, secrets', () => {
  it('the audit log records every command of a full apply and verifies', async () => {
    await clean('/tmp/tc-cfg /tmp/tc-other /tmp/tc-handlers');
    const own = join(scratch, 'own-audit.jsonl');
    const a = apply(runbookFile('tc-handlers', HANDLERS), 'workers', ['--yes', '--json', '--audit-file', own]);
    expect(a.code, describeRun(a)).toBe(0);
    const records = readFileSync(own, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; host?: string; step?: string; phase?: string; commandId?: string; command?: string });
    const commands = a.events.filter((e) => e.type === 'command');
    expect(commands.length).toBeGreaterThan(12);
    // An outcome record names its command by id; the text is in the command's start record.
    const text = new Map(records.filter((r) => r.kind === 'command-start').map((r) => [r.commandId, r.command]));
    expect(records.filter((r) => r.kind === 'command').map((r) => `${r.host} ${r.step} ${r.phase} ${text.get(r.commandId)}`)).toEqual(
      commands.map((e) => e.type === 'command' && `${e.host} ${e.step} ${e.phase} ${e.command}`),
    );
    expect(records.filter((r) => r.kind === 'command' && r.step === 'restart docker' && r.phase === 'fix')).toHaveLength(8);
    const v = cli(['audit', 'verify', '--audit-file', own]);
    expect(v.status, v.stdout + v.stderr).toBe(0);
  });

  it('--hosts @failed targets the hosts that failed or were unreachable in the last run of that runbook', () => {
    const file = runbookFile('tc-failing', `steps:\n  - name: only some pass\n    check: test {{ host.name }} != b -a {{ host.name }} != d\n`);
    const first = apply(file, 'workers', ['--dry-run', '--json']);
    expect(first.code).toBe(1);
    const again = apply(file, '@failed', ['--dry-run', '--json']);
    const start = again.events.find((e) => e.type === 'run-start');
    expect(start?.type === 'run-start' && start.hosts).toEqual(['b', 'd']);
    const withOthers = apply(file, '@failed,a', ['--dry-run', '--json']);
    const start2 = withOthers.events.find((e) => e.type === 'run-start');
    expect(start2?.type === 'run-start' && start2.hosts).toEqual(['a', 'b', 'd']);
    const none = apply(runbookFile('tc-never-ran', `steps:\n  - name: s\n    check: "true"\n`), '@failed', ['--dry-run']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/@failed is empty: .* has no run of tc-never-ran/);
  });

  it('a secret var reaches the host verbatim and appears in no stdout, stderr, JSON or audit record', async () => {
    const secret = 'tc-S3cr3t-value-93817';
    const own = join(scratch, 'secret-audit.jsonl');
    const file = runbookFile(
      'tc-secret',
      `vars:
  token: { secret: true, env: TC_TOKEN }
steps:
  - name: token is installed
    register: seen
    check: 'echo "have $(cat /tmp/tc-token 2>/dev/null)"; test "$(cat /tmp/tc-token 2>/dev/null)" = {{ token }}'
    fix: printf '%s' {{ token }} > /tmp/tc-token
  - name: uses the registered output
    check: 'echo {{ seen }}; false'
`,
    );
    await on('c', 'rm -f /tmp/tc-token');
    const outputs: string[] = [];
    for (const args of [['--yes', '--json'], ['--yes'], ['--dry-run', '--json'], ['--dry-run']]) {
      const r = apply(file, 'c', [...args, '--audit-file', own], { TC_TOKEN: secret });
      outputs.push(r.stdout, r.stderr);
    }
    expect(await on('c', 'cat /tmp/tc-token')).toBe(secret);
    expect(outputs.join('\n')).toContain('********');
    for (const o of outputs) expect(o).not.toContain(secret);
    expect(readFileSync(own, 'utf8')).not.toContain(secret);
  });
});
