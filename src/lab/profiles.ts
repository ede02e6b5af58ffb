/**
 * Lab profiles: the combinations of flannel release, install layout and host setup that real
 * clusters run (../shared/real-nodes.md). `lab up --profile a,b` resolves the names into one
 * Flavour that the node files, the stand-ins' flags, the faults and the inventory all read. Pure:
 * no system calls.
 *
 * The default is the seed article's node: flannel 0.9.1 installed from the release tarball with
 * the unit of CentOS 7's flannel package, as that era's install guides did (leases through the
 * etcd v2 API, no FORWARD rules (those came in 0.10), `mk-docker-opts.sh -k DOCKER_NETWORK_OPTIONS
 * -d /run/flannel/docker`, `RequiredBy=docker.service`, `Restart=on-failure`), with docker-ce
 * (docker.service `Requires=docker.socket`). 0.9.1 rather than CentOS's own 0.7.1 package: from
 * 0.8 a revoked lease makes flanneld exit 0, the behaviour every later release keeps; 0.7.1
 * re-leases instead (the stand-in does both, by --lab-version).
 */
import { UserError } from '../model/errors.js';
import { didYouMean } from '../model/suggest.js';
import type { Stack } from './topology.js';

export interface DockerOptsLayout {
  /** The file mk-docker-opts writes (`-d`). */
  file: string;
  /** The combined key (`-k`). */
  key: string;
}

export interface Flavour {
  /** The flannel release the stand-in behaves as (decides the etcd API and FORWARD rules). */
  flannelVersion: string;
  etcdApi: 'v2' | 'v3';
  /** flanneld adds its FLANNEL-FWD accept rules (flannel >= 0.10, --iptables-forward-rules). */
  forwardRules: boolean;
  dockerOpts: DockerOptsLayout;
  subnetLen: number;
  /** RHEL's stock FORWARD: ACCEPT policy, the pod network accepted, REJECT last. */
  rhelFirewall: boolean;
  /** SSH over a management LAN: inventory addresses are not flannel's PublicIPs. */
  mgmtNet: boolean;
  /** Nodes drop ICMP echo addressed to them. */
  noIcmp: boolean;
  /**
   * SSH as the unprivileged NON_ROOT_USER with passwordless sudo (a cloud image's default user),
   * root login refused; runbook reaches root through `become`. Optional: states written before it.
   */
  nonRoot?: boolean;
  /**
   * etcd as kubeadm runs it: clients over https with client certificates (certs at kubeadm's
   * /etc/kubernetes/pki/etcd paths on the etcd nodes), flanneld with its own client cert, and no
   * etcdctl on the workers' PATH. Optional: states written before it.
   */
  etcdTls?: boolean;
}

/** The login user of the non-root profile: a cloud image's first user (uid/gid 1000). */
export const NON_ROOT_USER = { name: 'ops', uid: 1000, gid: 1000 } as const;

export const SEED_DOCKER_OPTS: DockerOptsLayout = { file: '/run/flannel/docker', key: 'DOCKER_NETWORK_OPTIONS' };
export const UPSTREAM_DOCKER_OPTS: DockerOptsLayout = { file: '/run/docker_opts.env', key: 'DOCKER_OPTS' };

export const DEFAULT_FLAVOUR: Flavour = {
  flannelVersion: '0.9.1',
  etcdApi: 'v2',
  forwardRules: false,
  dockerOpts: SEED_DOCKER_OPTS,
  subnetLen: 24,
  rhelFirewall: false,
  mgmtNet: false,
  noIcmp: false,
  nonRoot: false,
  etcdTls: false,
};

export interface ProfileDef {
  name: string;
  description: string;
  /** Profiles that cannot be combined with this one. */
  conflicts?: string[];
  /** Why the profile does not apply to `--stack k8s`, if it does not. */
  notOnK8s?: string;
  apply(f: Flavour, chosen: ReadonlySet<string>): Flavour;
}

export const PROFILES: ProfileDef[] = [
  {
    name: 'flannel-modern',
    notOnK8s: 'the k8s stack always runs flannel 0.26, in kube subnet manager mode',
    description: 'flannel 0.26: leases in the etcd v3 keyspace; flanneld adds its FLANNEL-FWD accept rules and FLANNEL-POSTRTG masquerade; docker options in the upstream layout unless rhel-docker-opts',
    apply: (f, chosen) => ({
      ...f,
      flannelVersion: '0.26.7',
      etcdApi: 'v3',
      forwardRules: true,
      dockerOpts: chosen.has('rhel-docker-opts') ? SEED_DOCKER_OPTS : UPSTREAM_DOCKER_OPTS,
    }),
  },
  {
    name: 'upstream-docker-opts',
    notOnK8s: 'there is no docker: pods get their network from the CNI plugins',
    description: "docker options from upstream's default mk-docker-opts.sh: DOCKER_OPTS in /run/docker_opts.env",
    conflicts: ['rhel-docker-opts'],
    apply: (f) => ({ ...f, dockerOpts: UPSTREAM_DOCKER_OPTS }),
  },
  {
    name: 'rhel-docker-opts',
    notOnK8s: 'there is no docker: pods get their network from the CNI plugins',
    description: "docker options as the RHEL/CentOS flannel unit writes them (the default's layout): DOCKER_NETWORK_OPTIONS in /run/flannel/docker",
    conflicts: ['upstream-docker-opts'],
    apply: (f) => ({ ...f, dockerOpts: SEED_DOCKER_OPTS }),
  },
  {
    name: 'subnet-len-26',
    notOnK8s: "a node's subnet is its spec.podCIDR, a /24 from the controller manager's nodeipam",
    description: 'net-conf SubnetLen 26: each node leases a /26 (keys like 10.100.3.64-26)',
    apply: (f) => ({ ...f, subnetLen: 26 }),
  },
  {
    name: 'rhel-firewall',
    description: "RHEL's stock FORWARD chain: policy ACCEPT, REJECT last, the pod network accepted ahead of it",
    apply: (f) => ({ ...f, rhelFirewall: true }),
  },
  {
    name: 'mgmt-net',
    description: "SSH over a separate management network: the inventory's addresses are not flannel's PublicIPs",
    apply: (f) => ({ ...f, mgmtNet: true }),
  },
  {
    name: 'no-icmp',
    description: 'every node drops ICMP echo requests addressed to it',
    apply: (f) => ({ ...f, noIcmp: true }),
  },
  {
    name: 'etcd-tls',
    notOnK8s: 'flannel reads the Kubernetes API there, not etcd',
    description: "etcd as kubeadm runs it: https on :2379 with client-certificate auth, certs at /etc/kubernetes/pki/etcd on the etcd nodes; flanneld with its own client cert (/etc/kubernetes/pki/flannel); no etcdctl on the workers",
    apply: (f) => ({ ...f, etcdTls: true }),
  },
  {
    name: 'non-root',
    description: `SSH as ${NON_ROOT_USER.name} (uid ${NON_ROOT_USER.uid}) with passwordless sudo, as a cloud image's default user: root login refused, the inventory says become; that user's PATH (sshd's default for non-root) has no /usr/sbin or /sbin`,
    apply: (f) => ({ ...f, nonRoot: true }),
  },
];

/** "a,b" (or repeated flags) → the Flavour; unknown, conflicting or other-stack names are a located error. */
export function resolveProfiles(names: readonly string[], stack: Stack = 'docker'): { profiles: string[]; flavour: Flavour } {
  const wanted = names.flatMap((n) => n.split(',')).map((n) => n.trim()).filter((n) => n !== '');
  const known = new Map(PROFILES.map((p) => [p.name, p]));
  for (const n of wanted) {
    if (!known.has(n)) {
      throw new UserError({ message: `--profile ${n}: no such profile`, hint: didYouMean(n, known.keys()) ?? `one of: ${[...known.keys()].join(', ')}; see runbook lab profiles` });
    }
  }
  for (const n of wanted) {
    const why = stack === 'k8s' ? known.get(n)?.notOnK8s : undefined;
    if (why) {
      const fit = PROFILES.filter((p) => !p.notOnK8s).map((p) => p.name);
      throw new UserError({ message: `--profile ${n} does not apply to --stack k8s: ${why}`, hint: `profiles of --stack k8s: ${fit.join(', ')}` });
    }
  }
  const chosen = new Set(wanted);
  for (const n of chosen) {
    const clash = known.get(n)?.conflicts?.find((c) => chosen.has(c));
    if (clash) throw new UserError({ message: `--profile ${n} and ${clash} cannot be combined`, hint: 'choose one of them' });
  }
  // Applied in PROFILES order, so the result does not depend on how the names were listed.
  const profiles = PROFILES.filter((p) => chosen.has(p.name));
  const flavour = profiles.reduce((f, p) => p.apply(f, chosen), DEFAULT_FLAVOUR);
  return { profiles: profiles.map((p) => p.name), flavour };
}
