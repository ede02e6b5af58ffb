/**
 * Booting a node and reaching into it. A node's PID 1 (node-init.sh) runs under
 * `ip netns exec <ns> unshare --mount --uts --pid --fork --kill-child`: the unshare process is the
 * node's "holder"; killing it kills PID 1 and with it every process in the node's PID namespace.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { binDir, nodeDir, nodeNs } from './paths.js';
import { run, sleep, type RunOptions, type RunResult } from './proc.js';
import type { LabState } from './state.js';
import { UserError } from '../model/errors.js';

export function bootNode(lab: string, node: string): number {
  const dir = nodeDir(lab, node);
  const out = openSync(join(dir, 'init.out'), 'a');
  try {
    const child = spawn(
      'ip',
      ['netns', 'exec', nodeNs(lab, node), 'unshare', '--mount', '--uts', '--pid', '--fork', '--kill-child', '--mount-proc',
        '--propagation', 'slave', 'bash', join(binDir(lab), 'node-init.sh'), dir, binDir(lab)],
      { detached: true, stdio: ['ignore', out, out] },
    );
    child.unref();
    if (child.pid === undefined) throw new Error(`cannot start node ${node}`);
    return child.pid;
  } finally {
    closeSync(out);
  }
}

/** The node's PID 1 as seen from the host. */
export function initPid(state: LabState, node: string): number {
  const holder = state.holders[node];
  if (holder === undefined) throw new Error(`node ${node} has no process; is the lab up?`);
  try {
    const pid = Number(readFileSync(`/proc/${holder}/task/${holder}/children`, 'utf8').trim().split(/\s+/)[0]);
    if (pid > 0) return pid;
  } catch {
    // fall through
  }
  throw new Error(`node ${node} is not running (its init exited; see ${join(nodeDir(state.name, node), 'init.out')})`);
}

/** Waits for each node's init to report its services started; throws naming the first that failed. */
export async function waitReady(lab: string, nodes: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(nodes);
  while (pending.size > 0) {
    for (const n of [...pending]) {
      const f = join(nodeDir(lab, n), 'run/lab/ready');
      if (!existsSync(f)) continue;
      const text = readFileSync(f, 'utf8').trim();
      if (text !== 'ok') throw new UserError({ message: `lab ${lab}: node ${n} ${text.replace(/^failed: /, 'failed to boot: ')}`, hint: `its logs are in ${join(nodeDir(lab, n), 'run/lab/log')}; RUNBOOK_LAB_KEEP_FAILED=1 keeps the lab to read them` });
      pending.delete(n);
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      const names = [...pending];
      throw new UserError({
        message: `lab ${lab}: ${names.length} node(s) not booted after ${Math.round(timeoutMs / 1000)} s: ${names.join(' ')}`,
        hint: `the machine may be overloaded (see uptime): try fewer --workers, or read ${join(nodeDir(lab, names[0]!), 'run/lab/log')}`,
      });
    }
    await sleep(100);
  }
}

const NODE_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8', 'ETCDCTL_API=3'];

/** Runs a shell command as root inside a node (its mount, UTS, network and PID namespaces). */
export function nodeExec(state: LabState, node: string, command: string, opts: RunOptions = {}): Promise<RunResult> {
  const pid = initPid(state, node);
  return run('nsenter', ['-t', String(pid), '-m', '-u', '-n', '-p', '--', 'env', '-i', ...NODE_ENV, 'bash', '-c', command], opts);
}

/** Path, valid from the host, of a pod's network namespace file inside a node. */
export function podNsPath(state: LabState, node: string, netns: string): string {
  return `/proc/${initPid(state, node)}/root/run/netns/${netns}`;
}
