/** `lab down`: removes every trace of a lab, whether it is running, half-built or already gone. */
import { existsSync, readFileSync } from 'node:fs';
import { rm, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { checkLabName, defaultStateDir, nsPrefix, runtimeDir, uplinkName } from './paths.js';
import { run, sleep } from './proc.js';
import { readState } from './state.js';
import { IDENTITY, INVENTORY, KNOWN_HOSTS, KUBE_INVENTORY } from './inventory.js';
import { KUBECONFIG } from './k8s-stack.js';

export async function labNamespaces(lab: string): Promise<string[]> {
  const r = await run('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(nsPrefix(lab)));
}

/** A process that still runs: zombies hold no namespace and wait only for their parent to reap them. */
export function isLive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Every process in the lab's namespaces (its nodes' PID namespaces die with their PID 1). */
export async function labPids(lab: string): Promise<number[]> {
  const pids = new Set<number>();
  const state = readState(lab);
  for (const p of Object.values(state?.holders ?? {})) pids.add(p);
  for (const ns of await labNamespaces(lab)) {
    const r = await run('ip', ['netns', 'pids', ns]);
    for (const p of r.stdout.split(/\s+/)) if (/^\d+$/.test(p)) pids.add(Number(p));
  }
  return [...pids].filter(isLive);
}

async function removeStateDir(dir: string): Promise<void> {
  for (const f of [INVENTORY, KUBE_INVENTORY, IDENTITY, `${IDENTITY}.pub`, KNOWN_HOSTS, KUBECONFIG, 'lab.json']) {
    await unlink(join(dir, f)).catch(() => undefined);
  }
  // Only our files: a state dir that holds anything else is left in place.
  await rmdir(dir).catch(() => undefined);
}

/** Removes the lab; says whether there was anything of it to remove (processes, namespaces, state). */
export async function labDown(name: string, opts: { stateDir?: string } = {}): Promise<boolean> {
  const lab = checkLabName(name);
  const state = readState(lab);
  const found = state !== undefined || existsSync(runtimeDir(lab)) || (await labPids(lab)).length > 0 || (await labNamespaces(lab)).length > 0;
  for (let round = 0; round < 50; round++) {
    const pids = await labPids(lab);
    if (pids.length === 0) break;
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(100);
  }
  const namespaces = await labNamespaces(lab);
  if (namespaces.length > 0) {
    await run('ip', ['-force', '-batch', '-'], { input: `${namespaces.map((n) => `netns del ${n}`).join('\n')}\n` });
  }
  // The uplink goes away with the switch namespace, but namespace teardown is asynchronous.
  for (let i = 0; i < 50 && existsSync(`/sys/class/net/${uplinkName(lab)}`); i++) {
    await run('ip', ['link', 'del', uplinkName(lab)]);
    if (existsSync(`/sys/class/net/${uplinkName(lab)}`)) await sleep(100);
  }
  await rm(runtimeDir(lab), { recursive: true, force: true });
  const dirs = new Set([opts.stateDir ?? defaultStateDir(lab)]);
  if (state?.stateDir) dirs.add(state.stateDir);
  for (const d of dirs) await removeStateDir(d);
  return found;
}

