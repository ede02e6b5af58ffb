/**
 * runbooks/diagnose-pod-network.yaml on the lab: for each fault, exactly the right steps fail (on
 * the right node, with the cause in their output, naming the runbook that fixes it); on a healthy
 * lab nothing is found; and it never changes anything.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { labBreak } from '../../src/lab/index.js';
import { apply, useLab, failingNodes, LAB, probe, type Applied } from '../lab/runbooks-support.js';
import { expectNothingFound } from '../lab/runbooks-lease-cases.js';

const RB = 'diagnose-pod-network';
const WORKERS = ['a', 'b', 'c', 'd'];

const L = useLab();

/**
 * host → "step name: check output" of each failed step. A once step (the lease read, on the etcd
 * host) is "not applicable" on the hosts it did not run on: that is no finding.
 */
function findings(a: Applied): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of a.events) if (e.type === 'step-result' && e.status !== 'ok' && e.status !== 'not-applicable') (out[e.host] ??= []).push(`${e.step}: ${e.checkOutput ?? e.reason ?? ''}`);
  return out;
}

describe('diagnose-pod-network', () => {
  it('has no fix commands at all', () => {
    const doc = parse(readFileSync('runbooks/diagnose-pod-network.yaml', 'utf8')) as { steps: Record<string, unknown>[]; handlers?: unknown };
    expect(doc.steps.filter((s) => 'fix' in s || 'verify' in s || 'notify' in s)).toEqual([]);
    expect(doc.handlers).toBeUndefined();
    // Every step names the runbook that fixes what it finds, and that runbook exists.
    for (const s of doc.steps) {
      const m = /\[([a-z-]+)\]$/.exec(String(s.name));
      expect(m, String(s.name)).not.toBeNull();
      expect(() => readFileSync(`runbooks/${m?.[1] ?? ''}.yaml`)).not.toThrow();
    }
  });

  it('a healthy lab: nothing found, every step ok on every worker (the once lease read: ok on the etcd host)', () => {
    const a = apply(L(), RB, 'workers', ['--yes']);
    expectNothingFound(a);
    expect(Object.values(a.results.m1 ?? {}).map((r) => `${r.step}: ${r.status}`)).toEqual(["flannel's leases are readable from etcd (once, on the etcd host) [check-etcd-health]: ok"]);
  });

  const cases: { fault: string; expected: Record<string, RegExp[]> }[] = [
    {
      fault: 'ip-forward-off',
      expected: { d: [/^ip_forward is on at runtime \[fix-forwarding\]: 0$/, /^ip_forward is persisted \[fix-forwarding\]: .*99-sysctl\.conf:\d+:net\.ipv4\.ip_forward = 0$/] },
    },
    { fault: 'forward-drop', expected: { d: [/^pod traffic is forwarded \[fix-forwarding\]: (.*\n)*.*FORWARD policy DROP/] } },
    {
      fault: 'docker-before-flannel',
      expected: {
        d: [
          /^docker runs with flannel's options \[fix-flannel-docker-order\]: docker \(pid \d+\) runs: .*dockerd --pods=1 ; FLANNEL_SUBNET=10\.100\.\d+\.1\/24/,
          /^docker0 is on FLANNEL_SUBNET \[fix-flannel-docker-order\]: docker0 172\.17\.0\.1\/16, FLANNEL_SUBNET 10\.100\.\d+\.1\/24$/,
          /^routes, neighbours and fdb match the leases \[fix-flannel-docker-order\]: no route 10\.100\.\d+\.0\/24 dev docker0$/,
        ],
      },
    },
    {
      fault: 'stale-lease',
      expected: {
        // The dead machine's lease is d's subnet's: a hijack on d, not an orphan anywhere.
        d: [/^this node's subnet is leased to this node, with its VtepMAC \[fix-stale-flannel-lease\]: hijack: \S+ \(this node's subnet\) is leased to \S+\.240 \(02:de:ad:00:00:f0\), which no flannel node reports as its PublicIP$/],
      },
    },
    {
      // Changing flannel.1's MAC also flushes its neighbour entries: both are found.
      fault: 'mac-drift',
      expected: {
        d: [
          /^routes, neighbours and fdb match the leases \[fix-flannel-docker-order\]: (.*\n)*neighbour 10\.100\.\d+\.0 is not /,
          /^this node's subnet is leased to this node, with its VtepMAC \[fix-stale-flannel-lease\]: MAC drift: \S+ has VtepMAC \S+, flannel\.1 has \S+$/,
        ],
      },
    },
  ];

  for (const { fault, expected } of cases) {
    it(`${fault} on d: names the cause and its runbook, and changes nothing`, async () => {
      await labBreak(LAB, fault, 'd');
      // Some pairs with d fail (which depends on the fault: docker's rules let d's pods out past a
      // FORWARD DROP), none without it.
      const broken = failingNodes(await probe());
      expect(broken.length).toBeGreaterThan(0);
      expect(broken.filter((p) => !p.split('→').includes('d'))).toEqual([]);
      const a = apply(L(), RB, 'workers', ['--yes']);
      expect(a.code).toBe(1);
      const found = findings(a);
      expect(Object.keys(found).sort()).toEqual(Object.keys(expected).sort());
      for (const h of WORKERS) {
        const want = expected[h] ?? [];
        const got = found[h] ?? [];
        expect(got.length, `${h}: ${got.join(' | ')}`).toBe(want.length);
        want.forEach((re, i) => expect(got[i]).toMatch(re));
      }
      // Read-only: the fault is still there.
      expect(failingNodes(await probe())).toEqual(broken);
    });
  }
});
