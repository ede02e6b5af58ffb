/** Lab profiles resolve to one flavour whatever the order they are named in; mistakes are one located line. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_FLAVOUR, PROFILES, resolveProfiles } from '../../src/lab/profiles.js';
import { UserError } from '../../src/model/errors.js';
import type { Stack } from '../../src/lab/topology.js';

const message = (names: string[], stack: Stack = 'docker'): string => {
  try {
    resolveProfiles(names, stack);
  } catch (e) {
    if (e instanceof UserError) return e.message;
    throw e;
  }
  return 'no error';
};

describe('lab profiles', () => {
  it('the default is the seed node: flannel 0.9.1 on the v2 keyspace, no FORWARD rules, the seed docker options', () => {
    expect(resolveProfiles([])).toEqual({ profiles: [], flavour: DEFAULT_FLAVOUR });
    expect(DEFAULT_FLAVOUR).toMatchObject({ flannelVersion: '0.9.1', etcdApi: 'v2', forwardRules: false, dockerOpts: { file: '/run/flannel/docker', key: 'DOCKER_NETWORK_OPTIONS' }, subnetLen: 24 });
  });

  it('combines profiles from repeated and comma-separated flags, in a fixed order', () => {
    const a = resolveProfiles(['rhel-docker-opts', 'flannel-modern,subnet-len-26']);
    const b = resolveProfiles(['subnet-len-26,flannel-modern', 'rhel-docker-opts']);
    expect(a).toEqual(b);
    expect(a.profiles).toEqual(['flannel-modern', 'rhel-docker-opts', 'subnet-len-26']);
    expect(a.flavour).toMatchObject({ etcdApi: 'v3', forwardRules: true, subnetLen: 26, dockerOpts: { file: '/run/flannel/docker', key: 'DOCKER_NETWORK_OPTIONS' } });
    expect(resolveProfiles(['flannel-modern']).flavour.dockerOpts).toEqual({ file: '/run/docker_opts.env', key: 'DOCKER_OPTS' });
  });

  it('an unknown or conflicting profile is one line naming it, with the way out', () => {
    expect(message(['flannel-modren'])).toBe('--profile flannel-modren: no such profile (did you mean "flannel-modern"?)');
    expect(message(['xyz'])).toBe(
      '--profile xyz: no such profile (one of: flannel-modern, upstream-docker-opts, rhel-docker-opts, subnet-len-26, rhel-firewall, mgmt-net, no-icmp, etcd-tls, non-root; see runbook lab profiles)',
    );
    expect(message(['upstream-docker-opts,rhel-docker-opts'])).toBe('--profile upstream-docker-opts and rhel-docker-opts cannot be combined (choose one of them)');
  });

  it('every profile has a one-line description for `lab profiles`', () => {
    for (const p of PROFILES) expect(p.description, p.name).toMatch(/^[^\n]{20,300}$/);
  });

  it('--stack k8s takes the profiles that apply to it and refuses the others, saying why', () => {
    expect(resolveProfiles(['mgmt-net,no-icmp', 'non-root,rhel-firewall'], 'k8s').profiles).toEqual(['rhel-firewall', 'mgmt-net', 'no-icmp', 'non-root']);
    const fit = '(profiles of --stack k8s: rhel-firewall, mgmt-net, no-icmp, non-root)';
    expect(message(['etcd-tls'], 'k8s')).toBe(`--profile etcd-tls does not apply to --stack k8s: flannel reads the Kubernetes API there, not etcd ${fit}`);
    expect(message(['flannel-modern'], 'k8s')).toBe(`--profile flannel-modern does not apply to --stack k8s: the k8s stack always runs flannel 0.26, in kube subnet manager mode ${fit}`);
    expect(message(['no-icmp,upstream-docker-opts'], 'k8s')).toBe(`--profile upstream-docker-opts does not apply to --stack k8s: there is no docker: pods get their network from the CNI plugins ${fit}`);
    expect(message(['subnet-len-26'], 'k8s')).toBe(`--profile subnet-len-26 does not apply to --stack k8s: a node's subnet is its spec.podCIDR, a /24 from the controller manager's nodeipam ${fit}`);
    // The docker stack takes them all.
    expect(message(['etcd-tls,subnet-len-26'])).toBe('no error');
  });
});
