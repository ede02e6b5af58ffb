/** Lab lifecycle: up twice in a row, and two differently named labs side by side. */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { isLive, labBreak, labDown, labHeal, labPids, labProbe, labState, labUp } from '../../src/lab/index.js';
import { expectGone, failing, pairsWith } from './lab-helpers.js';

afterAll(async () => {
  await labDown('t2');
  await labDown('t3');
});

describe('lab lifecycle', () => {
  it('comes up twice in a row: the second up replaces the running lab', async () => {
    const first = await labUp({ name: 't2', workers: 3 });
    const pidsBefore = await labPids('t2');
    const second = await labUp({ name: 't2', workers: 3 });
    expect(second.lan).toBe(first.lan);
    // The first lab's processes are gone, not adopted.
    const now = new Set(await labPids('t2'));
    expect(pidsBefore.filter((p) => now.has(p) || isLive(p))).toEqual([]);
    expect((await labProbe('t2')).ok).toBe(true);
  });

  it('runs two differently named labs side by side without one touching the other', async () => {
    const t3 = await labUp({ name: 't3', workers: 4 });
    expect(t3.lan).not.toBe(labState('t2').lan);
    expect((await labProbe('t3')).ok).toBe(true);

    await labBreak('t2', 'ip-forward-off', 'c');
    expect(failing(await labProbe('t2'))).toEqual(pairsWith('c', ['a', 'b', 'c']));
    expect((await labProbe('t3')).ok).toBe(true);
    await labHeal('t2');
    expect((await labProbe('t2')).ok).toBe(true);

    const t2pids = await labPids('t2');
    await labDown('t2');
    await expectGone('t2', t2pids, join(process.cwd(), '.lab-t2'));
    expect((await labProbe('t3')).ok).toBe(true);

    const t3pids = await labPids('t3');
    await labDown('t3');
    await expectGone('t3', t3pids, join(process.cwd(), '.lab-t3'));
  });
});
