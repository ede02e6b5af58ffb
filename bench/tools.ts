/**
 * The tools, each doing one workload on a set of hosts and saying whether every host ended
 * with every step passing. Only the tool's own processes are timed; writing its input files and
 * tearing down ansible's ControlPersist masters are not.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Scalar, stringify } from 'yaml';
import { measure, type Measured } from './measure.js';
import type { Expect, FloorSpec, SpecHost, SpecStep } from './spec.js';
import { passes } from './spec.js';

/**
 * runbook-volatile: runbook with its audit trail on tmpfs (/dev/shm), where fsync returns at once.
 * Set against runbook (the trail on disk), it measures what the write-ahead audit costs: every
 * command waits for its record's fsync before it is sent.
 */
export type ToolName = 'runbook' | 'runbook-volatile' | 'pssh' | 'ansible' | 'floor';
export const TOOLS: ToolName[] = ['runbook', 'runbook-volatile', 'pssh', 'ansible', 'floor'];
/**
 * The largest fleet each tool is run on: at 200 hosts ansible-playbook already takes minutes per
 * run, and pssh's apply (nine invocations) about as long at 500; past that they would take most
 * of the bench's time and tell nothing new.
 */
export const TOOL_MAX_HOSTS: Partial<Record<ToolName, number>> = { ansible: 200, pssh: 500 };

export interface Job {
  /** 'check': report only (runbook --dry-run); 'apply': check → fix → verify (runbook --yes). */
  mode: 'check' | 'apply';
  /** Runbook name or file, for runbook itself. */
  runbook: string;
  /** The same steps rendered, for the other tools. */
  steps: SpecStep[];
  hosts: SpecHost[];
  inventory: string;
  identityFile: string;
  knownHostsFile: string;
  /** A fresh scratch directory for this job. */
  dir: string;
  auditFile: string;
  runbookForks?: number;
}

export interface ToolResult {
  wallS: number;
  cpuS: number;
  rssMB: number;
  /** Tool processes started (pssh: one per command). */
  invocations: number;
  ok: boolean;
  error?: string;
}

const REPO = resolve(import.meta.dirname, '..');
/**
 * scripts/bench.sh builds runbook and the floor into a private directory, so that another engineer
 * rebuilding dist/ during a run cannot change (or break) what is being measured.
 */
const BUILD = process.env.RUNBOOK_BENCH_BUILD ?? REPO;
export const RUNBOOK_BIN = join(BUILD, 'bin/runbook.js');
const FLOOR_JS = join(BUILD, 'dist/bench/floor.js');
const tail = (s: string, n = 300): string => s.trim().slice(-n).replace(/\s+/g, ' ');

function single(m: Measured, ok: boolean, error?: string): ToolResult {
  return { wallS: m.wallS, cpuS: m.cpuS, rssMB: m.rssMB, invocations: 1, ok, ...(ok ? {} : { error: error ?? `exit ${m.code}: ${tail(m.stderr || m.stdout)}` }) };
}

async function runbook(job: Job, auditFile = job.auditFile): Promise<ToolResult> {
  const args = [
    RUNBOOK_BIN, 'apply', job.runbook, '--hosts', job.hosts.map((h) => h.name).join(','), '-i', job.inventory,
    '--json', '--audit-file', auditFile, job.mode === 'check' ? '--dry-run' : '--yes',
    ...(job.runbookForks ? ['--forks', String(job.runbookForks)] : []),
  ];
  const m = await measure(process.execPath, args, { cwd: REPO });
  const end = m.stdout.trim().split('\n').pop() ?? '';
  return single(m, m.code === 0, `exit ${m.code}: ${tail(m.stderr) || tail(end)}`);
}

async function floor(job: Job): Promise<ToolResult> {
  const spec: FloorSpec = { mode: job.mode, steps: job.steps, hosts: job.hosts, user: 'root', identityFile: job.identityFile, knownHostsFile: job.knownHostsFile };
  const file = join(job.dir, 'floor.json');
  writeFileSync(file, JSON.stringify(spec));
  const m = await measure(process.execPath, [FLOOR_JS, file]);
  return single(m, m.code === 0);
}

// ---- parallel-ssh: one invocation per command, the per-host logic (expect, fix, verify) here ----

interface PsshRan {
  m: Measured;
  /** By address: exit code (null when pssh reports no exit code, e.g. ssh could not connect). */
  codes: Map<string, number | null>;
  stdout: (address: string) => string;
}

let psshSeq = 0;
async function pssh(job: Job, hosts: SpecHost[], command: string): Promise<PsshRan> {
  const d = join(job.dir, `pssh-${++psshSeq}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'hosts'), hosts.map((h) => h.address).join('\n') + '\n');
  const m = await measure('parallel-ssh', [
    '-h', join(d, 'hosts'), '-l', 'root', '-p', String(hosts.length), '-t', '0', '-o', join(d, 'out'), '-e', join(d, 'err'),
    '-x', `-i ${job.identityFile} -o IdentitiesOnly=yes`,
    '-O', `UserKnownHostsFile=${job.knownHostsFile}`, '-O', 'StrictHostKeyChecking=yes', '-O', 'BatchMode=yes',
    command,
  ]);
  const codes = new Map<string, number | null>();
  for (const line of m.stdout.split('\n')) {
    const x = /\[(SUCCESS|FAILURE)\] (\S+)(?: Exited with error code (\d+))?/.exec(line);
    if (x) codes.set(x[2] as string, x[1] === 'SUCCESS' ? 0 : x[3] !== undefined ? Number(x[3]) : null);
  }
  const stdout = (address: string): string => {
    const f = join(d, 'out', address);
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  };
  return { m, codes, stdout };
}

async function psshTool(job: Job): Promise<ToolResult> {
  const started = process.hrtime.bigint();
  let cpuS = 0;
  let rssMB = 0;
  let invocations = 0;
  const failed = new Map<string, string>();
  const run = async (hosts: SpecHost[], command: string, expect?: Expect): Promise<{ pass: SpecHost[]; fail: SpecHost[] }> => {
    if (hosts.length === 0) return { pass: [], fail: [] };
    const r = await pssh(job, hosts, command);
    invocations++;
    cpuS += r.m.cpuS;
    rssMB = Math.max(rssMB, r.m.rssMB);
    const pass = hosts.filter((h) => passes(r.codes.get(h.address) ?? null, r.stdout(h.address), expect));
    return { pass, fail: hosts.filter((h) => !pass.includes(h)) };
  };
  let live = job.hosts;
  for (const step of job.steps) {
    const check = await run(live, step.check, step.expect);
    if (job.mode === 'check' || step.fix.length === 0) {
      for (const h of check.fail) failed.set(h.name, `check "${step.name}" did not pass`);
      continue;
    }
    let fixing = check.fail;
    for (const f of step.fix) {
      const r = await run(fixing, f);
      for (const h of r.fail) failed.set(h.name, `fix of "${step.name}" failed`);
      fixing = r.pass;
    }
    const verify = await run(fixing, step.verify, step.verifyExpect);
    for (const h of verify.fail) failed.set(h.name, `verify of "${step.name}" failed`);
    live = live.filter((h) => !failed.has(h.name));
  }
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  const ok = failed.size === 0;
  return { wallS, cpuS, rssMB, invocations, ok, ...(ok ? {} : { error: [...failed].slice(0, 3).map(([h, e]) => `${h}: ${e}`).join('; ') }) };
}

// ---- ansible-playbook: forks = N, pipelining, ControlPersist, no facts ----

/** `command` runs argv without a shell; anything with shell syntax needs the `shell` module. */
const NEEDS_SHELL = /[|&;<>()$`\\"'*?[\]{}~\n#]/;

function passExpr(reg: string, expect: Expect | undefined, evar: string): string {
  // Ansible strips trailing newlines from stdout itself.
  const out = !expect ? '' : expect.kind === 'equals' ? ` and ${reg}.stdout == ${evar}` : ` and ${reg}.stdout is search(${evar})`;
  return `(${reg}.rc == 0${out})`;
}

/**
 * A value ansible takes as it is. Text holding a Jinja2 delimiter (the FORWARD walk is an awk
 * program full of braces) is tagged `!unsafe`; only such text: ansible-core 2.19 and later resolve
 * an `!unsafe` scalar's type again, so `!unsafe 1` would be the number 1 and no stdout would equal
 * it. Anything else is a plain string, quoted by the writer where YAML would read another type.
 */
const UNSAFE_TAG = { tag: '!unsafe', identify: (): boolean => false, resolve: (s: string): string => s };
function unsafe(value: string): Scalar | string {
  if (!/\{[{%#]/.test(value)) return value;
  const s = new Scalar(value);
  s.tag = UNSAFE_TAG.tag;
  return s;
}

function task(name: string, command: string, extra: Record<string, unknown>): Record<string, unknown> {
  return { name, [NEEDS_SHELL.test(command) ? 'ansible.builtin.shell' : 'ansible.builtin.command']: { cmd: unsafe(command) }, ...extra };
}

function playbook(job: Pick<Job, 'mode' | 'steps'>): unknown[] {
  const tasks: Record<string, unknown>[] = [];
  const vars: Record<string, Scalar | string> = {};
  job.steps.forEach((s, i) => {
    const c = `check_${i}`;
    if (s.expect) vars[`expect_${i}`] = unsafe(s.expect.value);
    if (s.verifyExpect) vars[`verify_expect_${i}`] = unsafe(s.verifyExpect.value);
    const ok = passExpr(c, s.expect, `expect_${i}`);
    const report = job.mode === 'check' || s.fix.length === 0;
    tasks.push(task(`check: ${s.name}`, s.check, { register: c, changed_when: false, failed_when: report ? `not ${ok}` : false }));
    if (report) return;
    s.fix.forEach((f, k) => tasks.push(task(`fix ${k + 1}: ${s.name}`, f, { when: `not ${ok}` })));
    tasks.push(
      task(`verify: ${s.name}`, s.verify, {
        register: `verify_${i}`, changed_when: false, when: `not ${ok}`, failed_when: `not ${passExpr(`verify_${i}`, s.verifyExpect, `verify_expect_${i}`)}`,
      }),
    );
  });
  return [{ name: 'bench', hosts: 'bench', gather_facts: false, vars, tasks }];
}

export function playbookYaml(job: Pick<Job, 'mode' | 'steps'>): string {
  // YAML 1.1, as ansible reads it: `yes` and `on` are quoted, or they would be booleans. lineWidth
  // 0: every multi-line command is a literal block, sent as written (no folding to get right).
  return stringify(playbook(job), { version: '1.1', customTags: [UNSAFE_TAG], lineWidth: 0 });
}

async function ansible(job: Job): Promise<ToolResult> {
  const cp = join(job.dir, 'cp');
  mkdirSync(cp, { recursive: true });
  mkdirSync(join(job.dir, 'home'), { recursive: true });
  const q = (s: string): string => `'${s}'`;
  writeFileSync(
    join(job.dir, 'hosts.ini'),
    ['[bench]', ...job.hosts.map((h) => `${h.name} ansible_host=${h.address}`), '', '[bench:vars]', 'ansible_user=root',
      `ansible_ssh_private_key_file=${job.identityFile}`,
      `ansible_ssh_common_args=${q(`-o UserKnownHostsFile=${job.knownHostsFile} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes`)}`,
      'ansible_python_interpreter=/usr/bin/python3', ''].join('\n'),
  );
  writeFileSync(
    join(job.dir, 'ansible.cfg'),
    ['[defaults]', `forks = ${job.hosts.length}`, 'host_key_checking = True', 'gathering = explicit', 'retry_files_enabled = False',
      'deprecation_warnings = False', '', '[ssh_connection]', 'pipelining = True',
      'ssh_args = -o ControlMaster=auto -o ControlPersist=60s', `control_path_dir = ${cp}`, ''].join('\n'),
  );
  writeFileSync(join(job.dir, 'play.yml'), playbookYaml(job));
  const env = {
    ...process.env, ANSIBLE_CONFIG: join(job.dir, 'ansible.cfg'), ANSIBLE_HOME: join(job.dir, 'home'),
    ANSIBLE_LOCAL_TEMP: join(job.dir, 'home', 'tmp'), ANSIBLE_NOCOLOR: '1',
  };
  const m = await measure('ansible-playbook', ['-i', join(job.dir, 'hosts.ini'), join(job.dir, 'play.yml')], { env, cwd: job.dir });
  await closeMasters(cp);
  const recap = m.stdout.slice(m.stdout.indexOf('PLAY RECAP'));
  const bad = recap.split('\n').filter((l) => /(unreachable|failed)=[1-9]/.test(l));
  return single(m, m.code === 0 && bad.length === 0, `exit ${m.code}: ${tail(bad.join(' ') || m.stderr || m.stdout)}`);
}

/** ControlPersist masters would otherwise carry warm connections into the next tool's turn. */
async function closeMasters(dir: string): Promise<void> {
  const socks = readdirSync(dir).map((f) => join(dir, f));
  await Promise.all(
    socks.map((s) => new Promise<void>((done) => {
      const p = spawn('ssh', ['-o', `ControlPath=${s}`, '-O', 'exit', 'bench'], { stdio: 'ignore' });
      p.on('close', () => done());
      p.on('error', () => done());
    })),
  );
}

export function runTool(tool: ToolName, job: Job): Promise<ToolResult> {
  switch (tool) {
    case 'runbook':
      return runbook(job);
    case 'runbook-volatile': {
      const shm = mkdtempSync('/dev/shm/runbook-bench-');
      return runbook(job, join(shm, 'audit.jsonl')).finally(() => rmSync(shm, { recursive: true, force: true }));
    }
    case 'floor':
      return floor(job);
    case 'pssh':
      return psshTool(job);
    case 'ansible':
      return ansible(job);
  }
}
