/** Which faults each lab stack has: `lab break --list` shows them per stack, and the rest of each stack's faults say why they cannot occur. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { appliesTo, FAULTS } from '../../src/lab/index.js';

const names = (stack: 'docker' | 'k8s'): string[] => FAULTS.filter((f) => appliesTo(f, stack)).map((f) => f.name);

describe('lab faults per stack', () => {
  it('the k8s stack has its own faults and the Docker-era ones that still apply', () => {
    expect(names('k8s')).toEqual(['ip-forward-off', 'forward-reject', 'cni0-stale', 'node-recreated', 'no-br-netfilter', 'vxlan-blocked', 'mtu-mismatch', 'iptables-split']);
    expect(names('docker')).toEqual(['ip-forward-off', 'forward-drop', 'forward-reject', 'docker-before-flannel', 'stale-lease', 'flanneld-restarted', 'mac-drift', 'etcd-member-down', 'vip-split', 'apiserver-down']);
  });

  it('every fault of one stack only says why it does not occur on the other', () => {
    for (const f of FAULTS.filter((x) => x.stack)) expect(f.notOn, f.name).toMatch(/^[^\n]{20,200}$/);
  });

  it('`lab break --list` lists the faults under each stack', () => {
    const r = spawnSync('node', ['bin/runbook.js', 'lab', 'break', '--list'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const sections = r.stdout.split(/^--stack (\w+):\n/m).slice(1);
    const listed = Object.fromEntries(Array.from({ length: sections.length / 2 }, (_, i) => [sections[2 * i], (sections[2 * i + 1] ?? '').split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/)[0])]));
    expect(listed).toEqual({ docker: names('docker'), k8s: names('k8s') });
  });
});
