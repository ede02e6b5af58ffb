/**
 * fix-flannel-docker-order on upstream mk-docker-opts.sh's layout (profile upstream-docker-opts:
 * DOCKER_OPTS in /run/docker_opts.env, docker's unit reading that file and $DOCKER_OPTS): the
 * options file and key are detected from docker's own unit. Proven from outside the runbook.
 */
import { describe, expect, it } from 'vitest';
import { labBreak } from '../../src/lab/index.js';
import { apply, useLab, describeRun, expectAllOk, expectProbeHealthy, failingNodes, LAB, onNode, probe } from '../lab/runbooks-support.js';
import { docker0, dockerArgs, INTO_D, flannelSubnet, mainPids, RB, STEPS } from '../lab/runbooks-flannel-docker-support.js';

const L = useLab({ profiles: ['upstream-docker-opts'] });

// Each case applies the runbook several times; a loaded 2-core machine runs other labs at once.
describe('fix-flannel-docker-order (profile upstream-docker-opts)', { timeout: 300_000 }, () => {
  it('a healthy fleet, and flanneld-restarted: nothing to fix, nothing restarted', async () => {
    const dry = apply(L(), RB, 'workers', ['--dry-run']);
    expect(dry.code, describeRun(dry)).toBe(0);
    await labBreak(LAB, 'flanneld-restarted', 'd');
    await expectProbeHealthy();
    const before = await mainPids(['a', 'b', 'c', 'd']);
    expect(apply(L(), RB, 'd', ['--dry-run']).statuses.d).toEqual(['ok', 'ok', 'ok', 'ok']);
    expectAllOk(apply(L(), RB, 'workers', ['--yes']));
    expect(await mainPids(['a', 'b', 'c', 'd'])).toEqual(before);
  });

  it('docker-before-flannel: fixed in order from /run/docker_opts.env', async () => {
    await labBreak(LAB, 'docker-before-flannel', 'd');
    expect(failingNodes(await probe())).toEqual(INTO_D);
    const subnet = await flannelSubnet();
    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expect(dry.statuses.d).toEqual(['ok', 'ok', 'would-fix', 'would-fix']);
    const fixed = apply(L(), RB, 'd', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    expect(await docker0()).toBe(subnet);
    expect(await dockerArgs()).toContain(` --bip=${subnet} `);
    await expectProbeHealthy();
    expectAllOk(apply(L(), RB, 'd', ['--yes']));
  });

  it('stale DOCKER_OPTS in /run/docker_opts.env: detected from docker\'s unit and regenerated', async () => {
    const subnet = await flannelSubnet();
    await onNode('d', `systemctl stop docker.socket docker
ip link del docker0
printf '%s\\n' 'DOCKER_OPTS=" --bip=10.100.250.1/24 --ip-masq=true --mtu=1450"' > /run/docker_opts.env
systemctl start docker`);
    expect(await docker0()).toBe('10.100.250.1/24');
    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expect(dry.statuses.d).toEqual(['ok', 'would-fix', 'would-fix', 'would-fix']);
    expect(dry.results.d?.[STEPS[1]]?.checkOutput).toMatch(/^\/run\/docker_opts\.env \(docker's unit\): DOCKER_OPTS=" --bip=10\.100\.250\.1\/24 /);
    const fixed = apply(L(), RB, 'd', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    expect(await docker0()).toBe(subnet);
    expect(await onNode('d', 'cat /run/docker_opts.env')).toContain(`DOCKER_OPTS=" --bip=${subnet} `);
    await expectProbeHealthy();
  });
});
