/**
 * diagnose-node-network and check-iptables-backends on the k8s stack (issue 22), one lab for the
 * file (workers a b c), healed between cases. Both are read-only: on a healthy cluster every step is
 * ok on every node and nothing changes (sysctls, both iptables backends, unit pids, flannel's
 * files and devices, the node objects' annotations, read from outside runbook); for each fault the
 * diagnose fails only on the broken node, in the steps naming that cause and the runbook that fixes
 * it, and the fault is still there afterwards. Where the named runbook exists and fixes (fix-forwarding), it
 * is applied and the diagnose is all ok again. The runs use the inventory from the cluster
 * (inventory-k8s.yaml), whose hosts carry the node annotations the diagnose compares.
 */
import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { labBreak, labHeal, labProbe } from '../../src/lab/index.js';
import { k8sLab, until } from './k8s-support.js';
import { apply, describeRun, expectAllOk, type Applied, type Lab } from './runbooks-support.js';

const K = k8sLab('dg');
const DIAG = 'diagnose-node-network';
const BACKENDS = 'check-iptables-backends';
const NODES = ['m1', 'a', 'b', 'c'];
const scratch = mkdtempSync(join(tmpdir(), 'rb-dg-'));
/** The lab with the inventory from the cluster (its hosts carry the nodes' annotations). */
const kube = (): Lab => ({ info: { ...K.info(), inventory: K.info().kubeInventory! }, scratch });
/** The lab with the inventory that lists the hosts (no annotations). */
const listed = (): Lab => ({ info: K.info(), scratch });

afterEach(async () => {
  await labHeal(K.name);
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

interface RunbookDoc { vars: Record<string, unknown>; steps: Record<string, unknown>[]; handlers?: unknown }
const doc = (name: string): RunbookDoc => parse(readFileSync(`runbooks/${name}.yaml`, 'utf8')) as RunbookDoc;

/** host → "step: check output (its last line)" of each step that found something. */
function findings(a: Applied): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of a.events) {
    if (e.type !== 'step-result' || e.status === 'ok' || e.status === 'not-applicable') continue;
    (out[e.host] ??= []).push(`${e.step}: ${(e.checkOutput ?? e.reason ?? '').trimEnd().split('\n').at(-1) ?? ''}`);
  }
  return out;
}

/** The check output of a step on a host (the last check command: needs are looked up first). */
function checkOutput(a: Applied, host: string, step: string): string {
  const e = [...a.events].reverse().find((x) => x.type === 'command' && x.host === host && x.step === step && x.phase === 'check');
  return e?.type === 'command' ? e.output.tail : '';
}

/** What a read-only runbook must not change on a node, read through the node's own namespaces. */
const nodeState = (node: string): Promise<string> =>
  K.sh(
    node,
    `sysctl net.ipv4.ip_forward net.ipv4.conf.all.rp_filter; cat /proc/sys/net/bridge/bridge-nf-call-iptables 2> /dev/null || echo no-br-netfilter
for s in iptables-legacy-save iptables-nft-save; do echo "## $s"; $s | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]$//'; done
for u in flanneld containerd kubelet ssh; do echo "$u $(systemctl is-active $u) $(systemctl show -p MainPID --value $u)"; done
stat -c '%n %i %.9Y' /run/flannel/subnet.env /etc/sysctl.d/* /etc/modules-load.d/* 2> /dev/null || :
ip -o link | sed 's/ qlen [0-9]*//' | awk '{ $1 = ""; print }'; ip -4 -o addr | awk '{ print $2, $4 }'; cat /run/lab/pods 2> /dev/null || :`,
  );
const annotations = (): string => {
  const r = K.run('kubectl', ['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.metadata.annotations}{"\\n"}{end}']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
};
const fleetState = async (): Promise<string[]> => [annotations(), ...(await Promise.all(NODES.map(async (n) => `${n}:\n${await nodeState(n)}`)))];

describe('diagnose-node-network and check-iptables-backends (k8s stack)', () => {
  it('are check-only, each finding names its runbook, and the shared checks are copies of the originals', () => {
    for (const name of [DIAG, BACKENDS]) {
      const d = doc(name);
      expect(d.steps.filter((s) => 'fix' in s || 'verify' in s || 'notify' in s)).toEqual([]);
      expect(d.handlers).toBeUndefined();
    }
    // Every diagnose step but the first (it never fails) ends with [runbook]; its fixed_by names
    // that runbook whenever it is shipped (runbook refuses a fixed_by naming no runbook).
    const [stack, ...rest] = doc(DIAG).steps;
    expect(stack?.register).toBe('stack');
    for (const s of rest) {
      const m = /\[([a-z0-9-]+)\]$/.exec(String(s.name));
      expect(m, String(s.name)).not.toBeNull();
      const shipped = existsSync(`runbooks/${m?.[1] ?? ''}.yaml`);
      expect(s.fixed_by, String(s.name)).toBe(shipped ? m?.[1] : undefined);
    }
    expect(doc(DIAG).vars.iptables_lib).toBe(doc(BACKENDS).vars.iptables_lib);
    const boot = doc('fix-br-netfilter').steps.find((s) => s.name === 'br_netfilter is loaded at boot');
    expect(rest.find((s) => s.name === 'br_netfilter is loaded at boot [fix-br-netfilter]')?.check).toBe(boot?.check);
  });

  it('healthy: both runbooks are all ok on every node, the stack is read from the nodes, and nothing changes', async () => {
    expect((await labProbe(K.name)).ok).toBe(true);
    const before = await fleetState();
    const diag = apply(kube(), DIAG, 'all', ['--yes']);
    expectAllOk(diag);
    // The annotation step ran (the inventory from the cluster): nothing not applicable.
    for (const n of NODES) expect(diag.statuses[n], describeRun(diag)).toEqual(doc(DIAG).steps.map(() => 'ok'));
    for (const n of NODES) {
      // The lab's control plane runs no container runtime (no workload pods, flannel as a unit).
      expect(JSON.parse(checkOutput(diag, n, String(doc(DIAG).steps[0]?.name))), n).toMatchObject({
        runtime: n === 'm1' ? 'unknown' : 'containerd', flannel: 'kube-subnet-mgr', flannel_active: 'yes', subnet: expect.stringMatching(/^10\.244\.\d+\.1\/24$/), iptables: 'nft', rules_in: 'nft',
      });
    }
    expect(checkOutput(diag, 'a', 'flannel.1 matches the node\'s flannel annotations [fix-flannel-annotations]')).toMatch(/^annotations: backend-data \{"VNI":1,"VtepMAC":"([0-9a-f:]{17})"\}, public-ip (\S+); flannel\.1: MAC \1, local \2$/);
    const backends = apply(kube(), BACKENDS, 'all', ['--yes']);
    expectAllOk(backends);
    expect(checkOutput(backends, 'b', 'which iptables backends hold rules, and whose')).toMatch(
      /^the node's iptables: iptables v[\d.]+ \(nf_tables\) \(iptables-nft\)\n\[legacy\] nothing: no rules, every policy ACCEPT\n\[nft\] \d+ rules \(filter \d+, nat \d+\); chains of flannel; every policy ACCEPT\n/,
    );
    // The inventory that lists hosts carries no annotations: that step is not applicable, the rest ok.
    const plain = apply(listed(), DIAG, 'workers', ['--yes']);
    expect(plain.code, describeRun(plain)).toBe(0);
    expect(plain.statuses.c, describeRun(plain)).toEqual(doc(DIAG).steps.map((s) => (String(s.name).startsWith('flannel.1 matches') ? 'not-applicable' : 'ok')));
    expect(await fleetState()).toEqual(before);
  });

  const cases: { fault: string; found: RegExp[]; also?: () => void; fix?: string }[] = [
    {
      fault: 'cni0-stale',
      found: [/^cni0 is on FLANNEL_SUBNET \[fix-cni0-mismatch\]: cni0 holds (10\.244\.\d+\.1\/24), not (?!\1)10\.244\.\d+\.1\/24: the bridge plugin refuses every new pod on this node \("cni0" already has an IP address different from 10\.244\.\d+\.1\/24\); fixed by fix-cni0-mismatch$/],
    },
    {
      fault: 'node-recreated',
      found: [/^flannel\.1 matches the node's flannel annotations \[fix-flannel-annotations\]: VtepMAC (\S+) in backend-data is not flannel\.1's MAC (?!\1)\S+: the other nodes send this node's pod traffic to a MAC it does not own; fixed by fix-flannel-annotations$/],
    },
    {
      fault: 'no-br-netfilter',
      found: [
        /^br_netfilter is loaded and bridge-nf-call-iptables is 1 \[fix-br-netfilter\]: no \/proc\/sys\/net\/bridge\/bridge-nf-call-iptables: br_netfilter is not loaded/,
        /^br_netfilter is loaded at boot \[fix-br-netfilter\]: no modules-load\.d file lists br_netfilter$/,
        /^flannel is running and wrote subnet\.env \[fix-br-netfilter\]: flannel is not running \(flanneld: failed\)$/,
      ],
    },
    {
      fault: 'ip-forward-off',
      found: [/^ip_forward is on at runtime \[fix-forwarding\]: 0$/, /^ip_forward is persisted \[fix-forwarding\]: \/etc\/sysctl\.d\/99-sysctl\.conf:\d+:net\.ipv4\.ip_forward = 0$/],
      fix: 'fix-forwarding',
    },
    {
      fault: 'forward-reject',
      found: [/^pod traffic is forwarded \[fix-forwarding\]: blocked by rule \[nft\] FORWARD rule 1: -A FORWARD -j REJECT --reject-with icmp-host-prohibited blocks .*; not fixed automatically/],
    },
    {
      // Both: the walk sees the legacy policy block pod traffic (fix-forwarding sets it, on that
      // backend), and the split is why `iptables -S` (nft) shows nothing wrong.
      fault: 'iptables-split',
      found: [
        /^pod traffic is forwarded \[fix-forwarding\]: blocked by the FORWARD policy alone: fix-forwarding's fix is iptables-legacy -P FORWARD ACCEPT$/,
        /^the rules are in one iptables backend \[check-iptables-backends\]: fix by hand: iptables-legacy -t filter -P FORWARD ACCEPT$/,
      ],
      // check-iptables-backends fails only on c, saying what each backend holds and the fix by hand.
      also: () => {
        const r = apply(kube(), BACKENDS, 'all', ['--yes']);
        expect(r.code, describeRun(r)).toBe(1);
        expect(findings(r)).toEqual({ c: ['the rules are in one iptables backend: fix by hand: iptables-legacy -t filter -P FORWARD ACCEPT'] });
        expect(checkOutput(r, 'c', 'the rules are in one iptables backend')).toMatch(
          /^\[legacy\] no rules; policies not ACCEPT: filter FORWARD DROP\n\[nft\] \d+ rules \(filter \d+, nat \d+\); chains of flannel; every policy ACCEPT\nsplit: iptables-legacy and iptables-nft both hold rules .* \(the node's iptables is iptables-nft\)\nfix by hand: iptables-legacy -t filter -P FORWARD ACCEPT$/,
        );
      },
      fix: 'fix-forwarding',
    },
  ];

  for (const { fault, found, also, fix } of cases) {
    it(`${fault} on c: only c fails, naming the cause and its runbook; the fault is still there${fix ? `; ${fix} fixes it` : ''}`, async () => {
      await labBreak(K.name, fault, 'c');
      const diag = apply(kube(), DIAG, 'all', ['--yes']);
      expect(diag.code, describeRun(diag)).toBe(1);
      const got = findings(diag);
      expect(Object.keys(got), describeRun(diag)).toEqual(['c']);
      expect(got.c?.length, got.c?.join('\n')).toBe(found.length);
      found.forEach((re, i) => expect(got.c?.[i]).toMatch(re));
      // Read-only: the probe still fails with c.
      const probe = await labProbe(K.name);
      expect(probe.ok).toBe(false);
      expect(probe.pairs.filter((p) => !(p.icmp && p.tcp)).every((p) => p.from.startsWith('c/') || p.to.startsWith('c/'))).toBe(true);
      also?.();
      if (!fix) return;
      const fixed = apply(kube(), fix, 'c', ['--yes']);
      expect(fixed.code, describeRun(fixed)).toBe(0);
      await until('the probe to pass', async () => (await labProbe(K.name)).ok, 30_000);
      expectAllOk(apply(kube(), DIAG, 'all', ['--yes']));
      // After iptables-split, fix-forwarding ran the fix by hand check-iptables-backends names: no
      // longer split (iptables-legacy keeps a filter table, all ACCEPT, no rules).
      if (also) {
        const after = apply(kube(), BACKENDS, 'c', ['--yes']);
        expectAllOk(after);
        expect(checkOutput(after, 'c', 'the rules are in one iptables backend')).toBe("not split: rules in iptables-nft (the node's iptables is iptables-nft)");
      }
    });
  }
});
