/**
 * A small real-sshd fleet for the hostile-input lab tests: namespaces `rbf-<node>` on
 * 198.18.252.0/24 (sshd fixture), an inventory and known_hosts for them, a runbook dir, and
 * helpers that drive the built CLI and read the hosts back with OpenSSH's own client, so what a
 * test asserts about a host never comes from runbook itself.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { startSshdLab, type SshdLab } from '../fixtures/sshd-fixture.js';

export const PREFIX = 'rbf';
export const SUBNET = '198.18.252';
export const BIN = resolve('bin/runbook.js');

export interface Fleet {
  lab: SshdLab;
  dir: string;
  inventory: string;
  runbooks: string;
  audit: string;
  knownHosts: string;
  ip(node: string): string;
  writeRunbook(name: string, body: object): void;
  /** Runs a command on a node with OpenSSH (not runbook); stdout as bytes. */
  ssh(node: string, command: string): Buffer;
  stop(): void;
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident set size of the runbook process in KiB (GNU time), when measured. */
  maxRssKb?: number;
}

export function startFleet(nodes: { name: string; last: number }[], opts: { inventoryVars?: Record<string, unknown> } = {}): Fleet {
  const lab = startSshdLab(nodes.map((n) => ({ name: n.name, ip: `${SUBNET}.${n.last}` })), { prefix: PREFIX, subnet: SUBNET });
  const dir = mkdtempSync(join(tmpdir(), 'rbf-fleet-'));
  const runbooks = join(dir, 'runbooks');
  mkdirSync(runbooks);
  const knownHosts = lab.writeKnownHosts(join(dir, 'known_hosts'), nodes.map((n) => n.name));
  const inventory = join(dir, 'inventory.yaml');
  writeFileSync(
    inventory,
    stringify({
      defaults: { user: 'root', identity_file: lab.clientKey, known_hosts: knownHosts, vars: opts.inventoryVars ?? {} },
      hosts: Object.fromEntries(nodes.map((n) => [n.name, { address: `${SUBNET}.${n.last}` }])),
    }),
  );
  const ip = (node: string): string => `${SUBNET}.${nodes.find((n) => n.name === node)!.last}`;
  return {
    lab,
    dir,
    inventory,
    runbooks,
    audit: join(dir, 'audit.jsonl'),
    knownHosts,
    ip,
    writeRunbook(name, body) {
      writeFileSync(join(runbooks, `${name}.yaml`), stringify(body));
    },
    ssh(node, command) {
      const r = spawnSync(
        'ssh',
        ['-F', '/dev/null', '-i', lab.clientKey, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `root@${ip(node)}`, command],
        { timeout: 30_000 },
      );
      if (r.status !== 0) throw new Error(`ssh ${node} ${command}: exit ${r.status}: ${r.stderr?.toString()}`);
      return r.stdout;
    },
    stop() {
      try {
        lab.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** `runbook apply` (or any subcommand) through the built CLI, without a TTY, with this fleet's audit file. */
export function runCli(fleet: Fleet, args: string[], opts: { env?: NodeJS.ProcessEnv; measureRss?: boolean; timeoutMs?: number; stdio?: 'pipe' } = {}): Promise<CliRun> {
  return new Promise((done) => {
    const argv = [BIN, ...args];
    const [cmd, cmdArgs] = opts.measureRss ? ['/usr/bin/time', ['-f', 'RBF-MAXRSS %M', 'node', ...argv]] : ['node', argv];
    const p = spawn(cmd, cmdArgs as string[], { env: { ...process.env, RUNBOOK_AUDIT_FILE: fleet.audit, CI: '1', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      let stderr = Buffer.concat(err).toString('utf8');
      let maxRssKb: number | undefined;
      const m = /RBF-MAXRSS (\d+)\n?$/.exec(stderr);
      if (m) {
        maxRssKb = Number(m[1]);
        stderr = stderr.slice(0, m.index);
        // GNU time reports the child's non-zero status on its own line before ours.
        stderr = stderr.replace(/Command exited with non-zero status \d+\n$/, '');
      }
      done({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr, ...(maxRssKb !== undefined ? { maxRssKb } : {}) });
    });
  });
}

export function applyArgs(fleet: Fleet, runbook: string, extra: string[]): string[] {
  return ['apply', runbook, '-i', fleet.inventory, '--runbooks', fleet.runbooks, ...extra];
}
