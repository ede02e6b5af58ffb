/**
 * Kubernetes-aware runs on the `--stack k8s` lab: the inventory `lab up` writes with the hosts taken
 * from the cluster (the real kubectl against the lab's API), and `local: true` steps, which run
 * kubectl on this machine once per node while the node's own steps run over SSH. What each node's
 * sshd received (its ssh-command-log) and what the API holds afterwards are read from outside
 * runbook, not from its own account.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runEventSchema } from '../../src/engine/events-schema.js';
import type { RunEvent } from '../../src/engine/events.js';
import { labDown, labExec, labUp, type LabInfo } from '../../src/lab/index.js';

const L = process.env.RB_TEST_LAB ?? 'kr';
const BIN = resolve('bin/runbook.js');
let info: LabInfo;
let dir: string;
// kubectl's discovery cache (runbook's and the test's kubectl alike), outside the lab's state dir.
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rb-kr-'));
  env = { ...process.env, KUBECACHEDIR: join(dir, 'kube-cache'), RUNBOOK_AUDIT_FILE: join(dir, 'audit.jsonl'), CI: '1' };
  info = await labUp({ name: L, stack: 'k8s', workers: 2 });
  writeFileSync(
    join(dir, 'kr-label.yaml'),
    [
      'name: kr-label',
      'description: each node is the host the API names, and carries the label runbook-checked=yes',
      'steps:',
      '  - name: this is the node the inventory names',
      '    check: test "$(hostname)" = {{ host.name }}',
      '  - name: the API lists this node at the address runbook reached it on',
      '    local: true',
      '    needs: [kubectl]',
      "    check: test \"$(kubectl --kubeconfig {{ kubeconfig }} get node {{ host.name }} -o jsonpath='{.status.addresses[0].address}')\" = {{ host.address }}",
      '  - name: the node is labelled as checked',
      '    local: true',
      "    check: test \"$(kubectl --kubeconfig {{ kubeconfig }} get node {{ host.name }} -o jsonpath='{.metadata.labels.runbook-checked}')\" = yes",
      '    fix: kubectl --kubeconfig {{ kubeconfig }} label --overwrite node {{ host.name }} runbook-checked=yes',
      '    no_undo: a label on the node object, put back with kubectl label node NAME runbook-checked-',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await labDown(L);
  rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('node', [BIN, ...args], { encoding: 'utf8', env, input: '', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function apply(...more: string[]): { code: number; events: RunEvent[]; stderr: string } {
  const r = cli(['apply', 'kr-label', '--json', '--runbooks', dir, '-i', info.kubeInventory!, '--var', `kubeconfig=${info.kubeconfig}`, ...more]);
  const events = r.stdout.trim().split('\n').filter(Boolean).map((l) => runEventSchema.parse(JSON.parse(l)));
  return { code: r.code, events, stderr: r.stderr };
}

const label = (node: string): string => {
  const r = spawnSync('kubectl', ['--kubeconfig', info.kubeconfig!, 'get', 'node', node, '-o', 'jsonpath={.metadata.labels.runbook-checked}'], { encoding: 'utf8', env, timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
};

/** What the node's sshd received, one command per line (ssh-command-log). */
async function received(node: string): Promise<string> {
  return (await labExec(L, node, 'cat /run/lab/log/ssh-commands.log')).stdout;
}

describe('the cluster as the inventory, and steps on the controller', () => {
  it('the inventory from the cluster lists the lab\'s nodes, at their addresses, in their role groups', () => {
    const r = cli(['inventory', '--json', '-i', info.kubeInventory!]);
    expect(r.code, r.stderr).toBe(0);
    const hosts = (JSON.parse(r.stdout) as { hosts: { name: string; address: string; groups: string[]; vars: Record<string, unknown> }[] }).hosts;
    expect(hosts.map((h) => `${h.name} ${h.address} ${h.groups.join(',')}`)).toEqual(info.nodes.map((n) => `${n.name} ${n.address} ${n.name === 'm1' ? 'control-plane' : 'worker'}`));
    // flanneld's annotations on the node object, as vars.
    expect(hosts.find((h) => h.name === 'a')?.vars.k8s_annotation_flannel_alpha_coreos_com_public_ip).toBe(info.nodes.find((n) => n.name === 'a')?.address);
    const workers = cli(['inventory', '--json', '-i', info.kubeInventory!, '--hosts', 'worker']);
    expect((JSON.parse(workers.stdout) as { hosts: { name: string }[] }).hosts.map((h) => h.name)).toEqual(['a', 'b']);
  });

  it('a dry run plans the local fix for each worker, run on this machine, and changes nothing', async () => {
    const r = apply('--dry-run', '--hosts', 'worker');
    expect(r.code, r.stderr).toBe(3);
    const results = r.events.flatMap((e) => (e.type === 'step-result' ? [`${e.host} ${e.step}: ${e.status}${e.local ? ' (local)' : ''}`] : []));
    expect(results.sort()).toEqual([
      'a the API lists this node at the address runbook reached it on: ok (local)',
      'a the node is labelled as checked: would-fix (local)',
      'a this is the node the inventory names: ok',
      'b the API lists this node at the address runbook reached it on: ok (local)',
      'b the node is labelled as checked: would-fix (local)',
      'b this is the node the inventory names: ok',
    ]);
    expect([label('a'), label('b')]).toEqual(['', '']);
  });

  it('an apply runs kubectl here once per node, the node\'s own step over SSH, and the audit trail says which ran where', async () => {
    const r = apply('--yes', '--hosts', 'worker');
    expect(r.code, r.stderr).toBe(0);
    expect([label('m1'), label('a'), label('b')]).toEqual(['', 'yes', 'yes']);
    const fixes = r.events.flatMap((e) => (e.type === 'command' && e.phase === 'fix' ? [`${e.host} ${e.local ? 'local' : 'host'}: ${e.command}`] : []));
    expect(fixes.sort()).toEqual(['a', 'b'].map((n) => `${n} local: kubectl --kubeconfig ${info.kubeconfig} label --overwrite node ${n} runbook-checked=yes`));
    // The nodes received their own check (and the lock), never a kubectl command.
    for (const n of ['a', 'b']) {
      const got = await received(n);
      expect(got).toContain(`test "$(hostname)" = ${n}`);
      expect(got).not.toContain('kubectl');
    }
    const trail = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; host?: string; step?: string; phase?: string; local?: boolean });
    const fixRecords = trail.filter((t) => t.kind === 'command-start' && t.phase === 'fix');
    expect(fixRecords.map((t) => `${t.host} ${t.local === true}`).sort()).toEqual(['a true', 'b true']);
    expect(trail.filter((t) => t.kind === 'command-start' && t.step === 'this is the node the inventory names').every((t) => t.local === undefined)).toBe(true);
    const verify = cli(['audit', 'verify', join(dir, 'audit.jsonl')]);
    expect(verify.code, verify.stderr).toBe(0);
    // Applied again: all ok.
    const again = apply('--yes', '--hosts', 'worker');
    expect(again.code, again.stderr).toBe(0);
  });
});
