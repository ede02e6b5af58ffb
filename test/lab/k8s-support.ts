/**
 * What the k8s-stack lab tests share: one lab for the file (RB_TEST_LAB lets two checkouts run
 * them side by side), the two real kubectl clients, and kubectl/shell helpers bound to that lab.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labExec, labUp, type LabInfo } from '../../src/lab/index.js';

/** Debian's kubectl 1.20, which scripts/ensure-deps.sh extracts beside (not over) the machine's. */
export const OLD_KUBECTL = '/var/cache/runbook/kubernetes-client/usr/bin/kubectl';

export interface K8sLab {
  name: string;
  info: () => LabInfo;
  /** A kubectl (`bin`) against the lab, with its own discovery cache; `input` on stdin. */
  run: (bin: string, args: string[], input?: string) => { code: number; stdout: string; stderr: string };
  /** A command on a node that must succeed; its trimmed stdout. */
  sh: (node: string, cmd: string) => Promise<string>;
}

/** Brings a k8s lab of 3 workers up before the file's tests and down after them. */
export function k8sLab(defaultName: string): K8sLab {
  const name = process.env.RB_TEST_LAB ?? defaultName;
  let info: LabInfo | undefined;
  // kubectl's discovery cache, outside the state dir (`lab down` removes only the files it wrote).
  const cache = mkdtempSync(join(tmpdir(), `rb-${name}-kubectl-`));
  beforeAll(async () => {
    info = await labUp({ name, stack: 'k8s', workers: 3 });
  });
  afterAll(async () => {
    await labDown(name);
    rmSync(cache, { recursive: true, force: true });
  });
  const current = (): LabInfo => {
    if (!info) throw new Error(`lab ${name} is not up`);
    return info;
  };
  return {
    name,
    info: current,
    run: (bin, args, input) => {
      const r = spawnSync(bin, ['--cache-dir', cache, ...args], { encoding: 'utf8', timeout: 120_000, input, env: { ...process.env, KUBECONFIG: current().kubeconfig } });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.trim() };
    },
    sh: async (node, cmd) => {
      const r = await labExec(name, node, cmd);
      expect(r.code, `${node}: ${cmd}\n${r.stderr}`).toBe(0);
      return r.stdout.trim();
    },
  };
}

/** Polls `test` until it holds; `what` may be a function, to name the last state seen on timeout. */
export async function until(what: string | (() => string), test: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`timed out: ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
