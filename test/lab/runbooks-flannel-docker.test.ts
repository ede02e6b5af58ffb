/**
 * runbooks/fix-flannel-docker-order.yaml on the lab: docker0 off the flannel subnet (docker started
 * first, or from stale options), fixed by stop docker → restart flanneld → fresh subnet.env → start
 * docker.
 */
import { describe, expect, it } from 'vitest';
import { labBreak } from '../../src/lab/index.js';
import { apply, useLab, expectAllOk, expectProbeHealthy, failingNodes, LAB, onNode, pairsWith, probe } from './runbooks-support.js';

const RB = 'fix-flannel-docker-order';
const STEPS = ['flanneld is running and wrote subnet.env', 'docker options match subnet.env', 'docker0 is on FLANNEL_SUBNET', 'flanneld started before docker', 'routes, neighbours and fdb match the leases'];

const L = useLab({}, async () => {
  await onNode('d', 'systemctl start flanneld docker');
});

const docker0 = (): Promise<string> => onNode('d', 'ip -4 -o addr show dev docker0 | awk "{print \\$4}"');
const flannelSubnet = (): Promise<string> => onNode('d', '. /run/flannel/subnet.env; echo $FLANNEL_SUBNET');

describe('fix-flannel-docker-order', () => {
  it('docker-before-flannel: dry run names docker0 and the start order and changes nothing; apply fixes; second apply is all ok', async () => {
    await labBreak(LAB, 'docker-before-flannel', 'd');
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));
    expect(await docker0()).toBe('172.17.0.1/16');
    const subnet = await flannelSubnet();

    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expect(dry.code).toBe(3);
    expect(dry.statuses.d).toEqual(['ok', 'ok', 'would-fix', 'would-fix', 'would-fix']);
    expect(dry.results.d?.[STEPS[2] ?? '']?.checkOutput).toBe(`docker0 172.17.0.1/16, FLANNEL_SUBNET ${subnet}`);
    expect(dry.results.d?.[STEPS[2] ?? '']?.fixCommands?.[0]).toBe('systemctl stop docker');
    expect(await docker0()).toBe('172.17.0.1/16');
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));

    const fixed = apply(L(), RB, 'd', ['--yes']);
    expect(fixed.code).toBe(0);
    // One fix (the whole safe order) repairs both the bridge and the start order.
    expect(fixed.statuses.d).toEqual(['ok', 'ok', 'fixed', 'ok', 'ok']);
    expect(await docker0()).toBe(subnet);
    await expectProbeHealthy();
    expectAllOk(apply(L(), RB, 'd', ['--yes']));
  });

  it('stale docker options: docker0 on a subnet no lease covers is rebuilt from the fresh subnet.env', async () => {
    const subnet = await flannelSubnet();
    await onNode('d', `cat > /run/flannel/docker <<'E'
DOCKER_OPTS=" --bip=10.100.250.1/24 --ip-masq=true --mtu=1450"
E
systemctl restart docker`);
    expect(await docker0()).toBe('10.100.250.1/24');
    expect(failingNodes(await probe())).toEqual(pairsWith('d'));

    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expect(dry.statuses.d).toEqual(['ok', 'would-fix', 'would-fix', 'ok', 'would-fix']);
    expect(dry.results.d?.[STEPS[1] ?? '']?.checkOutput).toContain('--bip=10.100.250.1/24');

    const fixed = apply(L(), RB, 'd', ['--yes']);
    expect(fixed.code).toBe(0);
    expect(fixed.statuses.d).toEqual(['ok', 'fixed', 'ok', 'ok', 'ok']);
    expect(await docker0()).toBe(subnet);
    await expectProbeHealthy();
    expectAllOk(apply(L(), RB, 'd', ['--yes']));
  });

  it('flanneld stopped: restarted in order, docker after it', async () => {
    await onNode('d', 'systemctl stop flanneld');
    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expect(dry.statuses.d?.[0]).toBe('would-fix');
    const fixed = apply(L(), RB, 'd', ['--yes']);
    expect(fixed.code).toBe(0);
    expect(fixed.statuses.d).toEqual(['fixed', 'ok', 'ok', 'ok', 'ok']);
    expect(await onNode('d', 'systemctl is-active flanneld docker')).toBe('active\nactive');
    await expectProbeHealthy();
    expectAllOk(apply(L(), RB, 'd', ['--yes']));
  });

  it("mac-drift (flannel.1's neighbours flushed): restart in order reprograms them", async () => {
    await labBreak(LAB, 'mac-drift', 'd');
    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expect(dry.statuses.d).toEqual(['ok', 'ok', 'ok', 'ok', 'would-fix']);
    expect(dry.results.d?.[STEPS[4] ?? '']?.checkOutput).toMatch(/neighbour 10\.100\.\d+\.0 is not /);
    const fixed = apply(L(), RB, 'd', ['--yes']);
    expect(fixed.code).toBe(0);
    expect(fixed.statuses.d).toEqual(['ok', 'ok', 'ok', 'ok', 'fixed']);
    await expectProbeHealthy();
    expectAllOk(apply(L(), RB, 'd', ['--yes']));
  });

  it('a healthy fleet: every step ok on every worker', () => {
    expectAllOk(apply(L(), RB, 'workers', ['--yes']));
  });
});
