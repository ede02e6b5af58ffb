/** Helpers for lab tests: the CLI, and checks that a lab left nothing behind. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { expect } from 'vitest';
import { isLive, labExec, labNamespaces, labPids, runtimeDir, uplinkName, type ProbeResult } from '../../src/lab/index.js';

export function cli(args: string[], timeout = 120_000): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('node', ['bin/runbook.js', ...args], { encoding: 'utf8', timeout });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function probe(name: string): ProbeResult & { code: number } {
  const r = cli(['lab', 'probe', '--json', '--name', name]);
  return { ...(JSON.parse(r.stdout) as ProbeResult), code: r.code };
}

/** "from→to" node pairs that fail. */
export function failing(r: ProbeResult): string[] {
  return r.pairs.filter((p) => !(p.icmp && p.tcp)).map((p) => `${p.from.split('/')[0]}→${p.to.split('/')[0]}`).sort();
}

/** Every ordered pair that involves `node`, among `nodes`. */
export function pairsWith(node: string, nodes: string[]): string[] {
  return nodes.filter((n) => n !== node).flatMap((n) => [`${n}→${node}`, `${node}→${n}`]).sort();
}

export async function expectGone(name: string, pids: number[], stateDir: string): Promise<void> {
  expect(await labNamespaces(name)).toEqual([]);
  expect(existsSync(`/sys/class/net/${uplinkName(name)}`)).toBe(false);
  expect(pids.filter(isLive)).toEqual([]);
  expect(await labPids(name)).toEqual([]);
  expect(existsSync(runtimeDir(name))).toBe(false);
  expect(existsSync(stateDir)).toBe(false);
  const mounts = spawnSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' }).stdout;
  expect(mounts.split('\n').filter((l) => l.includes(`/rb-${name}-`) || l.includes(`${runtimeDir(name)}/`))).toEqual([]);
}

/** A root shell on the lab's nodes that must succeed: its trimmed stdout. */
export function nodeShell(lab: string): (node: string, cmd: string) => Promise<string> {
  return async (node, cmd) => {
    const r = await labExec(lab, node, cmd);
    expect(r.code, `${node}: ${cmd}\n${r.stderr}`).toBe(0);
    return r.stdout.trim();
  };
}
