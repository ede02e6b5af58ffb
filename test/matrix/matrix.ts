/**
 * The do-no-harm matrix: one lab per profile combination, every shipped flannel runbook
 * on it, and the invariants checked from outside the runbooks (the lab probe and node snapshots,
 * snapshot.ts), never from their own output:
 *  - healthy (and healthy-but-unusual) fleet: every runbook finds nothing (every step ok) and
 *    its apply changes nothing on any node or in etcd;
 *  - each fault: diagnose fails only on the broken node and names the runbook that fixes it; that
 *    runbook's apply over every worker restores every pod pair, leaves every other node and every
 *    other etcd key as it was and every unit running; a second apply is all ok;
 *  - a fault the runbook must not fix by itself: it refuses, and the node is as the fault left it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { labBreak } from '../../src/lab/index.js';
import { apply, describeRun, expectAllOk, expectProbeHealthy, failingNodes, heal, LAB, onNode, probe, startLab, stopLab, type Applied, type Lab } from '../lab/runbooks-support.js';
import { changes, fleetSnapshot, nodeSnapshot } from './snapshot.js';

export const FLANNEL_RUNBOOKS = ['diagnose-pod-network', 'fix-forwarding', 'fix-flannel-docker-order', 'fix-stale-flannel-lease'];
const WORKERS = ['a', 'b', 'c', 'd'];
const VICTIM = 'd';

export interface FaultCase {
  fault: string;
  /** The runbook diagnose names and whose apply repairs the fault. */
  fixedBy: string;
  /** The fixing runbook must refuse instead (nothing changed); its reason matches this. */
  refuses?: RegExp;
}

export interface MatrixOptions {
  profiles: string[];
  faults: FaultCase[];
  /**
   * Healthy-but-unusual states no runbook may flag: a fault name (`lab break`), or a state set by
   * hand where a fault is harmless on this profile (e.g. FORWARD policy DROP beside flannel's rules).
   */
  unusual?: (string | { name: string; setup: string })[];
}

/** Failed (or would-fix) steps per host, as "step: output". */
function findings(a: Applied): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  // A once step reports not-applicable on the hosts it did not run on: no finding.
  for (const e of a.events) if (e.type === 'step-result' && e.status !== 'ok' && e.status !== 'not-applicable') (out[e.host] ??= []).push(`${e.step}: ${e.checkOutput ?? e.reason ?? ''}`);
  return out;
}

async function unitsNotActive(node: string): Promise<string> {
  return onNode(node, 'for u in /etc/lab/units/*; do u=${u##*/}; systemctl is-active -q "$u" || echo "$u"; done');
}

/**
 * Nothing to find and nothing changed, for every flannel runbook. An apply whose every step is ok
 * ran only checks (a dry run of it would show the same checks passing), and the snapshot proves
 * that those checks changed nothing either.
 */
async function expectLeftAlone(lab: Lab): Promise<void> {
  const before = await fleetSnapshot(LAB, WORKERS);
  for (const rb of FLANNEL_RUNBOOKS) expectAllOk(apply(lab, rb, 'workers', ['--yes']));
  expect(changes(before, await fleetSnapshot(LAB, WORKERS))).toEqual([]);
}

export function matrixSuite(opts: MatrixOptions): void {
  const title = opts.profiles.length ? opts.profiles.join(',') : 'default';
  let lab: Lab | undefined;
  const L = (): Lab => {
    if (!lab) throw new Error('lab not up');
    return lab;
  };
  beforeAll(async () => {
    lab = await startLab({ profiles: opts.profiles });
    await expectProbeHealthy(30_000);
  });
  afterAll(async () => {
    await stopLab(lab);
  });
  afterEach(async () => {
    await heal();
    await expectProbeHealthy(30_000);
  });

  describe(`profile ${title}`, () => {
    it('healthy fleet: every runbook finds nothing to fix, and an apply changes nothing', async () => {
      await expectLeftAlone(L());
    });

    for (const state of opts.unusual ?? []) {
      const name = typeof state === 'string' ? state : state.name;
      it(`${name} (healthy but unusual): every runbook leaves it alone`, async () => {
        if (typeof state === 'string') await labBreak(LAB, state, VICTIM);
        else await onNode(VICTIM, state.setup);
        await expectProbeHealthy();
        await expectLeftAlone(L());
      });
    }

    for (const c of opts.faults) {
      it(`${c.fault}: diagnose names ${c.fixedBy}; ${c.refuses ? 'it refuses and changes nothing' : 'its apply restores every pod pair with no collateral damage'}`, async () => {
        await labBreak(LAB, c.fault, VICTIM);
        // Some pairs with the victim fail (which ones depends on the fault: with docker's rules a
        // FORWARD DROP blocks only connections into its pods), and no pair without it.
        const broken = failingNodes(await probe());
        expect(broken.length).toBeGreaterThan(0);
        expect(broken.filter((p) => !p.split('→').includes(VICTIM))).toEqual([]);

        const diag = apply(L(), 'diagnose-pod-network', 'workers', ['--yes']);
        const found = findings(diag);
        expect(Object.keys(found), describeRun(diag)).toEqual([VICTIM]);
        expect(found[VICTIM]?.some((f) => f.split(':')[0]?.endsWith(`[${c.fixedBy}]`)), `diagnose on ${VICTIM}:\n${found[VICTIM]?.join('\n')}`).toBe(true);

        const others = WORKERS.filter((n) => n !== VICTIM);
        const victimSubnet = async (): Promise<string> => (await onNode(VICTIM, '. /run/flannel/subnet.env; echo "$FLANNEL_SUBNET"')).replace(/\.\d+\/\d+$/, '.');
        const victimKeys = [await victimSubnet()];
        const before = await fleetSnapshot(LAB, others);
        const victimBefore = await nodeSnapshot(LAB, VICTIM);
        const fixed = apply(L(), c.fixedBy, 'workers', ['--yes']);
        // Other nodes and every etcd key except the victim's own lease stay exactly as they were.
        victimKeys.push(await victimSubnet());
        const othersKey = (k: string): boolean => !(k.startsWith('etcd ') && victimKeys.some((v) => k.includes(`/${v}`)));
        expect(changes(before, await fleetSnapshot(LAB, others), othersKey)).toEqual([]);

        if (c.refuses) {
          expect(fixed.code, describeRun(fixed)).not.toBe(0);
          expect(Object.values(fixed.results[VICTIM] ?? {}).some((r) => c.refuses?.test(r.reason ?? '')), describeRun(fixed)).toBe(true);
          expect(changes(victimBefore, await nodeSnapshot(LAB, VICTIM))).toEqual([]);
          return;
        }
        expect(fixed.code, describeRun(fixed)).toBe(0);
        await expectProbeHealthy();
        expect(await unitsNotActive(VICTIM)).toBe('');
        expectAllOk(apply(L(), c.fixedBy, 'workers', ['--yes']));
        expectAllOk(apply(L(), 'diagnose-pod-network', 'workers', ['--yes']));
      });
    }
  });
}
