/** What fault injection and healing run on nodes: a root shell command that must succeed, and a bounded wait. */
import { nodeExec } from './node-process.js';
import { sleep } from './proc.js';
import type { LabState } from './state.js';

/** Runs `cmd` under `set -e` as root on the node; its stdout, or an error naming the node and the first line. */
export async function exec(state: LabState, node: string, cmd: string): Promise<string> {
  const r = await nodeExec(state, node, `set -e\n${cmd}`, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`${node}: ${cmd.split('\n')[0]}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

export async function waitFor(what: string, timeoutMs: number, test: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}
