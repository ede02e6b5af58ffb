/** What the lab needs from the machine: Linux, root, and a few Debian packages. */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../model/errors.js';

const TOOLS: [string, string][] = [
  ['ip', 'iproute2'], ['bridge', 'iproute2'], ['iptables', 'iptables'], ['sshd', 'openssh-server'],
  ['ssh', 'openssh-client'], ['ssh-keygen', 'openssh-client'], ['etcd', 'etcd-server'], ['etcdctl', 'etcd-client'],
  ['socat', 'socat'], ['jq', 'jq'], ['unshare', 'util-linux'], ['nsenter', 'util-linux'], ['flock', 'util-linux'],
  ['setsid', 'util-linux'], ['ping', 'iputils-ping'], ['sysctl', 'procps'],
];
const HA_TOOLS: [string, string][] = [['keepalived', 'keepalived'], ['haproxy', 'haproxy']];
const PATHS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const found = (tool: string): boolean => PATHS.some((d) => isExecutable(join(d, tool)));

/** The k8s stack's pods are set up by Debian's CNI plugins, installed off PATH. */
const CNI_PLUGINS = ['bridge', 'host-local', 'loopback'].map((p) => `/usr/lib/cni/${p}`);

export function checkDeps(opts: { ha?: boolean; k8s?: boolean } = {}): void {
  if (process.platform !== 'linux') throw new UserError({ message: 'runbook lab needs Linux (network namespaces)' });
  if (process.getuid?.() !== 0) throw new UserError({ message: 'runbook lab needs root', hint: 'run it with sudo' });
  const tools = opts.ha ? [...TOOLS, ...HA_TOOLS] : TOOLS;
  const missing = tools.filter(([t]) => !found(t));
  if (opts.k8s) missing.push(...CNI_PLUGINS.filter((p) => !isExecutable(p)).map((p): [string, string] => [p, 'containernetworking-plugins']));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map(([, p]) => p))];
    throw new UserError({
      message: `runbook lab: missing ${missing.map(([t]) => t).join(', ')}`,
      hint: `install with: apt-get install -y ${pkgs.join(' ')}`,
    });
  }
}
