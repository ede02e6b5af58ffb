/**
 * runbooks/fix-flannel-docker-order.yaml on the lab (default profile: flannel 0.9.1, docker options
 * as DOCKER_NETWORK_OPTIONS in /run/flannel/docker). Start order is judged by its effect (docker
 * runs with flannel's options, docker0 on FLANNEL_SUBNET), and everything is proven from outside the
 * runbook: the lab probe, units' MainPIDs, docker0 and files read on the node.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { labBreak } from '../../src/lab/index.js';
import { apply, useLab, describeRun, expectAllOk, expectProbeHealthy, failingNodes, LAB, onNode, probe, runbookJson, type Applied } from './runbooks-support.js';
import { docker0, dockerArgs, INTO_D, flannelSubnet, mainPids, myDiagnoseSteps, RB, STEPS } from './runbooks-flannel-docker-support.js';

const L = useLab({}, async () => {
  // The refuse case edits flanneld's unit by hand; the lab's heal restores only docker's.
  await onNode('d', '[ ! -e /root/flanneld.unit ] || mv -f /root/flanneld.unit /etc/lab/units/flanneld');
});

const statuses = (a: Applied): string[] => a.statuses.d ?? [];

// Each case applies the runbook several times; a loaded 2-core machine runs other labs at once.
describe('fix-flannel-docker-order (default profile)', { timeout: 300_000 }, () => {
  it("keeps diagnose-pod-network's docker_opts_lib a copy of its opts_lib", () => {
    const rb = parse(readFileSync('runbooks/fix-flannel-docker-order.yaml', 'utf8')) as { vars: Record<string, string> };
    const diag = parse(readFileSync('runbooks/diagnose-pod-network.yaml', 'utf8')) as { vars: Record<string, string> };
    expect(diag.vars.docker_opts_lib).toBe(rb.vars.opts_lib);
  });

  it('a healthy fleet: nothing to fix, and an apply restarts nothing', async () => {
    const before = await mainPids(['a', 'b', 'c', 'd']);
    const dry = apply(L(), RB, 'workers', ['--dry-run']);
    expect(dry.code, describeRun(dry)).toBe(0);
    const applied = apply(L(), RB, 'workers', ['--yes']);
    expectAllOk(applied);
    // Captures run only around an approved fix: none here.
    expect(applied.events.filter((e) => e.type === 'command' && e.phase === 'capture')).toEqual([]);
    expect(await mainPids(['a', 'b', 'c', 'd'])).toEqual(before);
  });

  it('flanneld-restarted (flanneld now started after docker, every pod works): nothing to fix, nothing restarted', async () => {
    await labBreak(LAB, 'flanneld-restarted', 'd');
    await expectProbeHealthy();
    const before = await mainPids(['d']);
    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expect(statuses(dry), describeRun(dry)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expectAllOk(apply(L(), RB, 'd', ['--yes']));
    expect(await mainPids(['d'])).toEqual(before);
    // diagnose's flanneld/docker steps agree: no finding.
    expect(myDiagnoseSteps(apply(L(), 'diagnose-pod-network', 'd', ['--yes']))).toEqual({});
  });

  it('docker-before-flannel: found by its effect, fixed in the one safe order; a second apply is all ok', async () => {
    await labBreak(LAB, 'docker-before-flannel', 'd');
    expect(failingNodes(await probe())).toEqual(INTO_D);
    expect(await docker0()).toBe('172.17.0.1/16');
    const subnet = await flannelSubnet();
    const before = await mainPids(['d']);

    const diag = myDiagnoseSteps(apply(L(), 'diagnose-pod-network', 'd', ['--yes']));
    expect(Object.keys(diag).sort()).toEqual([`docker runs with flannel's options [${RB}]`, `docker0 is on FLANNEL_SUBNET [${RB}]`]);

    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expect(dry.code).toBe(3);
    expect(statuses(dry)).toEqual(['ok', 'ok', 'would-fix', 'would-fix']);
    expect(dry.results.d?.[STEPS[2]]?.checkOutput).toMatch(/^docker \(pid \d+\) runs: .*dockerd --pods=1 ; FLANNEL_SUBNET=10\.100\.\d+\.1\/24 FLANNEL_MTU=1450$/);
    // The approval says what stopping docker does.
    expect(dry.results.d?.[STEPS[2]]?.fixCommands?.[0]).toMatch(/every container on this node stops, and the node's pods restart/);
    expect(await mainPids(['d'])).toEqual(before);
    expect(await docker0()).toBe('172.17.0.1/16');

    const fixed = apply(L(), RB, 'd', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    expect(statuses(fixed)).toEqual(['ok', 'ok', 'fixed', 'ok']);
    expect(await docker0()).toBe(subnet);
    const after = await mainPids(['d']);
    expect(after.d?.docker).not.toBe(before.d?.docker);
    expect(await dockerArgs()).toContain(` --bip=${subnet} `);
    expect(await onNode('d', 'systemctl is-active flanneld docker docker.socket kubelet')).toBe('active\nactive\nactive\nactive');
    await expectProbeHealthy();
    // The diff shows what the restart in order changed: docker0 and docker's --bip.
    const changes = fixed.results.d?.[STEPS[2]]?.changes ?? [];
    const diffOf = (target: RegExp): string => changes.find((c) => target.test(c.target))?.diff ?? '';
    expect(diffOf(/^ip -4 -o addr show dev /)).toMatch(/\n-.* inet 172\.17\.0\.1\/16 /);
    expect(diffOf(/^ip -4 -o addr show dev /)).toContain(` inet ${subnet} `);
    expect(diffOf(/cmdline/)).toMatch(new RegExp(`\\n\\+.* --bip=${subnet.replace(/\./g, '\\.')} `));
    // No undo: it says why, and changes nothing.
    const undone = runbookJson(L(), ['undo', 'last', '--yes']);
    expect(undone.code, describeRun(undone)).not.toBe(0);
    expect(undone.results.d?.[`undo: ${STEPS[2]}`]?.status).toBe('failed');
    expect(undone.results.d?.[`undo: ${STEPS[2]}`]?.reason).toContain('no undo: a restart in order has no inverse');
    expect(undone.events.filter((e) => e.type === 'command' && e.phase === 'fix')).toEqual([]);
    expect(await mainPids(['d'])).toEqual(after);
    expect(await docker0()).toBe(subnet);
    expectAllOk(apply(L(), RB, 'd', ['--yes']));
    expect(await mainPids(['d'])).toEqual(after);
    expect(myDiagnoseSteps(apply(L(), 'diagnose-pod-network', 'd', ['--yes']))).toEqual({});
  });

  it('stale docker options: docker0 on a subnet no lease covers is rebuilt from the fresh subnet.env', async () => {
    const subnet = await flannelSubnet();
    await onNode('d', `systemctl stop docker.socket docker
ip link del docker0
printf '%s\\n' 'DOCKER_NETWORK_OPTIONS=" --bip=10.100.250.1/24 --ip-masq=true --mtu=1450"' > /run/flannel/docker
systemctl start docker`);
    expect(await docker0()).toBe('10.100.250.1/24');
    expect(failingNodes(await probe())).toEqual(INTO_D);

    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expect(statuses(dry)).toEqual(['ok', 'would-fix', 'would-fix', 'would-fix']);
    expect(dry.results.d?.[STEPS[1]]?.checkOutput).toBe(`/run/flannel/docker (docker's unit): DOCKER_NETWORK_OPTIONS=" --bip=10.100.250.1/24 --ip-masq=true --mtu=1450"; subnet.env: FLANNEL_SUBNET=${subnet} FLANNEL_MTU=1450`);

    const fixed = apply(L(), RB, 'd', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    expect(statuses(fixed)).toEqual(['ok', 'fixed', 'ok', 'ok']);
    expect(await docker0()).toBe(subnet);
    expect(await onNode('d', 'cat /run/flannel/docker')).toContain(`--bip=${subnet} `);
    expect(await dockerArgs()).toContain(` --bip=${subnet} `);
    await expectProbeHealthy();
    expectAllOk(apply(L(), RB, 'd', ['--yes']));
  });

  it('flanneld down (it exited 0, as on a revoked lease; Restart=on-failure left it down): started, docker left running', async () => {
    await onNode('d', 'kill -TERM "$(systemctl show -p MainPID --value flanneld)"; for i in $(seq 50); do systemctl is-active -q flanneld || break; sleep 0.1; done');
    expect(await onNode('d', 'systemctl is-active flanneld docker || true')).toBe('inactive\nactive');
    const before = await mainPids(['d']);
    const dry = apply(L(), RB, 'd', ['--dry-run']);
    expect(statuses(dry)).toEqual(['would-fix', 'ok', 'ok', 'ok']);
    expect(await onNode('d', 'systemctl is-active flanneld || true')).toBe('inactive');

    const fixed = apply(L(), RB, 'd', ['--yes']);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    expect(statuses(fixed)).toEqual(['fixed', 'ok', 'ok', 'ok']);
    expect(await onNode('d', 'systemctl is-active flanneld docker')).toBe('active\nactive');
    // Same subnet: docker (and the node's pods) never stopped.
    expect((await mainPids(['d'])).d?.docker).toBe(before.d?.docker);
    await expectProbeHealthy();
    expectAllOk(apply(L(), RB, 'd', ['--yes']));
  });

  it("refuses, changing nothing, when flanneld's unit does not regenerate docker's options (no ExecStartPost)", async () => {
    await labBreak(LAB, 'docker-before-flannel', 'd');
    await onNode('d', 'cp /etc/lab/units/flanneld /root/flanneld.unit && sed -i "/^ExecStartPost=/d" /etc/lab/units/flanneld');
    const pairs = failingNodes(await probe());
    expect(pairs).toEqual(INTO_D);
    const files = (): Promise<string> => onNode('d', 'sha256sum /run/flannel/subnet.env /run/flannel/docker; stat -c %i /run/flannel/subnet.env; ip -4 -o addr show dev docker0');
    const before = { pids: await mainPids(['d']), files: await files() };

    const run = apply(L(), RB, 'd', ['--yes']);
    expect(run.code, describeRun(run)).not.toBe(0);
    expect(run.results.d?.[STEPS[2]]?.status).toBe('failed');
    expect(run.results.d?.[STEPS[2]]?.reason).toMatch(/^fix: exit code 1: refused: flanneld's unit has no ExecStartPost running mk-docker-opts\.sh, so restarting flanneld would not regenerate \/run\/flannel\/docker \(DOCKER_NETWORK_OPTIONS\)/);
    expect(await mainPids(['d'])).toEqual(before.pids);
    expect(await files()).toBe(before.files);
    expect(failingNodes(await probe())).toEqual(pairs);
  });

  it('a failure after docker was stopped starts docker again and says so', async () => {
    // docker never brings up a bridge named docker9: the wait for it fails once docker is stopped.
    const run = apply(L(), RB, 'd', ['--yes', '--var', 'docker_bridge=docker9', '--var', 'wait_seconds=3']);
    expect(run.code).not.toBe(0);
    expect(run.results.d?.[STEPS[3]]?.reason).toMatch(/failed: docker is not running with --bip=\S+ and docker9 on it within 3s; docker started again$/);
    expect(await onNode('d', 'systemctl is-active docker docker.socket flanneld')).toBe('active\nactive\nactive');
    await expectProbeHealthy();
  });
});
