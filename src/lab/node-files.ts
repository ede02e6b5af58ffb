/**
 * A node's own files, prepared on the host before the node boots. They live in
 * /run/rb-lab/<lab>/n/<node>/: etc-upper/ (the upper layer of the node's /etc overlay: its
 * sysctl.conf, hostname, hosts, sshd config and host key, lab units), root/ (its clean home) and
 * run/ (its /run).
 */
import { mkdir, symlink, writeFile, copyFile, chmod, chown, readFile, readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LabState } from './state.js';
import type { NodeSpec } from './topology.js';
import { nodeDir } from './paths.js';
import { NON_ROOT_USER, UPSTREAM_DOCKER_OPTS, type Flavour } from './profiles.js';
import { ETCD_PKI, FLANNEL_CLIENT } from './pki.js';
import { UserError } from '../model/errors.js';
import { k8sUnits, prepareK8sNode } from './k8s-stack.js';
import { shellQuote } from '../model/shell-quote.js';

export const FLANNEL_NETWORK = '10.100.0.0/16';
export const FLANNEL_PREFIX = '/coreos.com/network';
/** flannel's net-conf, as the lab writes it to <prefix>/config. */
export const flannelConfig = (f: Flavour): string => JSON.stringify({ Network: FLANNEL_NETWORK, SubnetLen: f.subnetLen, Backend: { Type: 'vxlan', VNI: 1, Port: 8472 } });
export const LAN_IF = 'eth0';
export const HOST_KEY = 'etc-upper/ssh/lab_host_ed25519_key';
/** etcd-tls: flanneld's environment (a PATH that reaches the private etcdctl node-init keeps, /run/lab/libexec). */
const FLANNELD_ENV = '/etc/lab/flanneld.env';
const hidesEtcdctl = (state: LabState, node: NodeSpec): boolean => !!state.flavour.etcdTls && !node.roles.includes('etcd');

/** An sshd config as every lab node's and bench worker's: keys only, no PAM, no DNS, quiet logins; `extra` lines after. */
export function sshdConfig(what: string, hostKey: string, extra = ''): string {
  return `# sshd of ${what}
Port 22
HostKey ${hostKey}
PidFile none
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
${extra}`;
}

const SSHD_CONFIG = sshdConfig('a runbook lab node', '/etc/ssh/lab_host_ed25519_key', `AllowTcpForwarding yes
MaxStartups 200:30:400
Subsystem sftp /usr/lib/openssh/sftp-server
# The node's own log of every command it received, with runbook's command id (ssh-command-log).
AcceptEnv RUNBOOK_COMMAND_ID
ForceCommand /usr/local/sbin/ssh-command-log
`);

type UnitValue = string | string[];

/**
 * A lab unit file: bash assignments the lab's systemctl sources (docs/lab.md lists the fields). Arrays for the fields systemd allows several of (ExecStart words, EnvironmentFile,
 * Requires); a word that is exactly `$NAME` is expanded from the environment by systemctl, as
 * systemd does.
 */
export function unit(fields: Record<string, UnitValue | undefined>): string {
  const lines = Object.entries(fields).flatMap(([k, v]) =>
    v === undefined ? [] : [Array.isArray(v) ? `${k}=(${v.map(shellQuote).join(' ')})` : `${k}=${shellQuote(v)}`],
  );
  return `${lines.join('\n')}\n`;
}

/** The node's unit files (name → text), as `lab up` writes them and the heal restores them. */
export function unitsFor(state: LabState, node: NodeSpec): Record<string, string> {
  const topo = state.topology;
  const f = state.flavour;
  const etcdNodes = topo.nodes.filter((n) => n.roles.includes('etcd'));
  const out: Record<string, string> = {
    ssh: unit({ Description: 'OpenBSD Secure Shell server', ExecStart: ['/usr/sbin/sshd', '-D', '-e', '-f', '/etc/ssh/lab_sshd_config'], Restart: 'on-failure' }),
  };
  if (node.services.includes('etcd')) {
    // etcd-tls: clients over https with client-certificate auth, as kubeadm's etcd manifest runs it
    // (peers stay http here).
    const client = f.etcdTls ? 'https' : 'http';
    out.etcd = unit({
      Description: 'etcd key-value store',
      ExecStart: [
        '/usr/bin/etcd',
        `--name=${node.name}`,
        '--data-dir=/run/lab/etcd',
        `--listen-client-urls=${client}://${node.ip}:2379,${client}://127.0.0.1:2379`,
        `--advertise-client-urls=${client}://${node.ip}:2379`,
        ...(f.etcdTls
          ? ['--client-cert-auth=true', `--trusted-ca-file=${ETCD_PKI}/ca.crt`, `--cert-file=${ETCD_PKI}/server.crt`, `--key-file=${ETCD_PKI}/server.key`]
          : []),
        `--listen-peer-urls=http://${node.ip}:2380`,
        `--initial-advertise-peer-urls=http://${node.ip}:2380`,
        `--initial-cluster=${etcdNodes.map((n) => `${n.name}=http://${n.ip}:2380`).join(',')}`,
        `--initial-cluster-token=rb-${state.name}`,
        '--initial-cluster-state=new',
        '--enable-v2=true',
        '--logger=zap',
        '--log-level=warn',
      ],
    });
  }
  if (state.stack === 'k8s') return { ...out, ...k8sUnits(state, node, unit) };
  if (node.services.includes('flanneld')) {
    const opts = f.dockerOpts;
    // The unit of CentOS 7's flannel package (and of the binary-install guides that copy it):
    // Type=notify, mk-docker-opts after start, Restart=on-failure, RequiredBy=docker.service.
    out.flanneld = unit({
      Description: 'Flanneld overlay address etcd agent (lab stand-in)',
      Type: 'notify',
      ExecStart: [
        '/usr/local/sbin/flanneld',
        `--etcd-endpoints=${topo.etcdEndpoints}`,
        `--etcd-prefix=${FLANNEL_PREFIX}`,
        `--iface=${LAN_IF}`,
        `--public-ip=${node.ip}`,
        `--lab-version=${f.flannelVersion}`,
        ...(f.forwardRules ? ['--iptables-forward-rules=true'] : []),
        ...(f.etcdTls ? [`--etcd-cafile=${FLANNEL_CLIENT.cacert}`, `--etcd-certfile=${FLANNEL_CLIENT.cert}`, `--etcd-keyfile=${FLANNEL_CLIENT.key}`] : []),
      ],
      // etcd-tls: the node has no etcdctl on its PATH; the stand-in's v3 client is a private copy
      // (real flanneld has its etcd client built in).
      ...(f.etcdTls ? { EnvironmentFile: [FLANNELD_ENV] } : {}),
      ExecStartPost: [
        '/usr/local/sbin/mk-docker-opts',
        ...(opts.key === UPSTREAM_DOCKER_OPTS.key ? [] : ['-k', opts.key]),
        ...(opts.file === UPSTREAM_DOCKER_OPTS.file ? [] : ['-d', opts.file]),
      ],
      Restart: 'on-failure',
    });
  }
  if (node.services.includes('docker')) {
    // docker-ce's unit: socket-activated (Requires=docker.socket), Restart=always, no start timeout; the flannel
    // unit's RequiredBy=docker.service adds flanneld to its Requires.
    out.docker = unit({
      Description: 'Docker Application Container Engine (lab stand-in)',
      Type: 'notify',
      EnvironmentFile: [`-${f.dockerOpts.file}`],
      ExecStart: ['/usr/local/sbin/dockerd', `$${f.dockerOpts.key}`, `--pods=${state.pods}`],
      Requires: ['docker.socket', 'flanneld'],
      Restart: 'always',
      // As docker-ce's unit: dockerd may take long to come up (many containers to restore).
      TimeoutStartSec: '0',
    });
    out['docker.socket'] = unit({ Description: 'Docker Socket for the API', ListenStream: '/run/docker.sock', Service: 'docker' });
  }
  if (node.services.includes('kubelet')) {
    out.kubelet = unit({ Description: "kubelet (lab stand-in: touches docker's API socket now and then)", ExecStart: ['/usr/local/sbin/kubelet'], Restart: 'always' });
  }
  if (node.services.includes('apiserver')) {
    out.apiserver = unit({ Description: 'Kubernetes API server (lab stand-in: /healthz only)', ExecStart: ['/usr/local/sbin/apiserver', `--bind-address=${node.ip}`, '--secure-port=6443'] });
  }
  if (node.services.includes('haproxy')) {
    out.haproxy = unit({ Description: 'HAProxy load balancer', ExecStart: ['/bin/bash', '-c', 'mkdir -p /run/haproxy && exec /usr/sbin/haproxy -db -f /etc/haproxy/lab.cfg'] });
  }
  if (node.services.includes('keepalived')) {
    out.keepalived = unit({
      Description: 'Keepalive daemon (LVS and VRRP)',
      ExecStart: [
        '/usr/sbin/keepalived', '--dont-fork', '--log-console', '--log-detail', '--vrrp',
        '--use-file=/etc/keepalived/lab.conf', '--pid=/run/keepalived.pid', '--vrrp_pid=/run/keepalived_vrrp.pid',
      ],
    });
  }
  return out;
}

function haproxyConfig(state: LabState): string {
  const masters = state.topology.nodes.filter((n) => n.roles.includes('master'));
  return `global
    stats socket /run/haproxy/admin.sock mode 600 level admin
    maxconn 512

defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s

frontend apiserver
    bind *:6443
    default_backend apiservers

backend apiservers
    option httpchk GET /healthz
    http-check expect status 200
    balance roundrobin
${masters.map((m) => `    server ${m.name} ${m.ip}:6443 check inter 1s fall 2 rise 1`).join('\n')}
`;
}

function keepalivedConfig(state: LabState, node: NodeSpec): string {
  const lbs = state.topology.nodes.filter((n) => n.roles.includes('lb'));
  const priority = 150 - lbs.findIndex((n) => n.name === node.name) * 10;
  return `global_defs {
    router_id ${node.name}
}

vrrp_instance apiserver {
    state BACKUP
    interface ${LAN_IF}
    virtual_router_id 51
    priority ${priority}
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass rblab
    }
    virtual_ipaddress {
        ${state.topology.vip}/24 dev ${LAN_IF}
    }
}
`;
}

function sysctlConf(node: NodeSpec): string {
  // Only network-namespace sysctls: `sysctl -p` on a node must never change the host.
  const forward = node.roles.includes('worker') || node.roles.includes('master') || node.roles.includes('control-plane') ? 1 : 0;
  return `#
# /etc/sysctl.conf - Configuration file for setting system variables
# See /etc/sysctl.d/ for additional system variables.
# See sysctl.conf (5) for information.
#
# (runbook lab node ${node.name}; /etc/sysctl.d/99-sysctl.conf is a symlink to this file)

net.ipv4.conf.all.rp_filter = 0
net.ipv4.ip_forward = ${forward}
net.core.somaxconn = 4096
`;
}

/** Writes everything the node needs before its init runs; the host key is generated separately. */
export async function prepareNode(state: LabState, node: NodeSpec, authorizedKey: string): Promise<void> {
  const dir = nodeDir(state.name, node.name);
  const etc = join(dir, 'etc-upper');
  for (const d of ['etc-upper/lab/units', 'etc-upper/ssh', 'etc-upper/sysctl.d', 'root/.ssh', 'run']) {
    await mkdir(join(dir, d), { recursive: true });
  }
  await chmod(join(dir, 'root'), 0o700);
  await chmod(join(dir, 'root/.ssh'), 0o700);
  await writeFile(join(dir, 'root/.ssh/authorized_keys'), authorizedKey, { mode: 0o600 });
  await writeFile(
    join(etc, 'lab/node.env'),
    `NODE=${node.name}\nROLES="${node.roles.join(' ')}"\nSERVICES="${node.services.join(' ')}"\nNONLOCAL_BIND=${node.roles.includes('lb') ? 1 : 0}\nHIDE_ETCDCTL=${hidesEtcdctl(state, node) ? 1 : 0}\n`,
  );
  if (state.flavour.etcdTls && node.services.includes('flanneld')) {
    await writeFile(join(etc, FLANNELD_ENV.replace(/^\/etc\//, '')), 'PATH=/run/lab/libexec:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n');
  }
  for (const [name, text] of Object.entries(unitsFor(state, node))) await writeFile(join(etc, 'lab/units', name), text);
  await writeFile(join(etc, 'sysctl.conf'), sysctlConf(node));
  await symlink('../sysctl.conf', join(etc, 'sysctl.d/99-sysctl.conf'));
  await writeFile(join(etc, 'hostname'), `${node.name}\n`);
  const hosts = state.topology.nodes.map((n) => `${n.ip}\t${n.name}`).join('\n');
  await writeFile(join(etc, 'hosts'), `127.0.0.1\tlocalhost\n127.0.1.1\t${node.name}\n${hosts}\n`);
  await writeFile(join(etc, 'ssh/lab_sshd_config'), state.flavour.nonRoot ? SSHD_CONFIG.replace('PermitRootLogin prohibit-password', 'PermitRootLogin no') : SSHD_CONFIG);
  if (state.flavour.nonRoot) await prepareNonRootUser(dir, authorizedKey);
  if (state.stack === 'k8s') await prepareK8sNode(state, node);
  if (node.roles.includes('lb')) {
    await mkdir(join(etc, 'haproxy'), { recursive: true });
    await mkdir(join(etc, 'keepalived'), { recursive: true });
    await writeFile(join(etc, 'haproxy/lab.cfg'), haproxyConfig(state));
    await writeFile(join(etc, 'keepalived/lab.conf'), keepalivedConfig(state, node));
  }
}

/**
 * The non-root profile's login user, as a cloud image has its default user (cloud-init's
 * default_user with `sudo: ALL=(ALL) NOPASSWD:ALL`): a line in the node's own passwd, shadow and
 * group (the host's files with any uid/gid 1000 or same-named entry dropped, so the node's uid 1000
 * is this user whatever the host has), a key-only account (`*`: no password, not locked; without
 * PAM sshd refuses a `!` account), passwordless sudo in /etc/sudoers.d as cloud-init writes it, and
 * a home (the node's /home, bind-mounted by node-init) holding only .ssh/authorized_keys. Nothing
 * sets PATH: sshd gives a non-root login its compiled-in default (Debian:
 * /usr/local/bin:/usr/bin:/bin:/usr/games), as on a real node.
 */
async function prepareNonRootUser(dir: string, authorizedKey: string): Promise<void> {
  if (!existsSync('/usr/bin/sudo')) throw new UserError({ message: 'lab profile non-root: sudo is not installed on this machine', hint: 'install with: apt-get install -y sudo' });
  const { name, uid, gid } = NON_ROOT_USER;
  const etc = join(dir, 'etc-upper');
  // Same mode and owner as the host's file (shadow is root:shadow 0640 on Debian).
  const derive = async (file: string, keep: (f: string[]) => boolean, line: string): Promise<void> => {
    const host = await stat(`/etc/${file}`);
    const lines = (await readFile(`/etc/${file}`, 'utf8')).split('\n').filter((l) => l !== '' && keep(l.split(':')));
    const to = join(etc, file);
    await writeFile(to, `${[...lines, line].join('\n')}\n`);
    await chown(to, host.uid, host.gid);
    await chmod(to, host.mode & 0o7777);
  };
  const dropped = new Set<string>([name]);
  for (const l of (await readFile('/etc/passwd', 'utf8')).split('\n')) {
    const f = l.split(':');
    if (f[2] === String(uid) && f[0]) dropped.add(f[0]);
  }
  await derive('passwd', (f) => !dropped.has(f[0] ?? ''), `${name}:x:${uid}:${gid}::/home/${name}:/bin/bash`);
  await derive('shadow', (f) => !dropped.has(f[0] ?? ''), `${name}:*:19700:0:99999:7:::`);
  const groups = new Set<string>([name]);
  for (const l of (await readFile('/etc/group', 'utf8')).split('\n')) {
    const f = l.split(':');
    if (f[2] === String(gid) && f[0]) groups.add(f[0]);
  }
  await derive('group', (f) => !groups.has(f[0] ?? ''), `${name}:x:${gid}:`);
  if (existsSync('/etc/gshadow')) await derive('gshadow', (f) => !groups.has(f[0] ?? ''), `${name}:!::`);
  await mkdir(join(etc, 'sudoers.d'), { recursive: true });
  await writeFile(join(etc, 'sudoers.d/90-cloud-init-users'), `# Created by cloud-init (runbook lab, profile non-root)\n\n# User rules for ${name}\n${name} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 });
  await chmod(join(etc, 'sudoers.d/90-cloud-init-users'), 0o440);
  const home = join(dir, 'home', name);
  await mkdir(join(home, '.ssh'), { recursive: true });
  await writeFile(join(home, '.ssh/authorized_keys'), authorizedKey, { mode: 0o600 });
  await chmod(home, 0o755);
  await chmod(join(home, '.ssh'), 0o700);
  for (const p of [home, join(home, '.ssh'), join(home, '.ssh/authorized_keys')]) await chown(p, uid, gid);
}

/** Every script in src/lab/sh, executable: a new stand-in is one new file there. */
export async function installScripts(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const f of await readdir(from)) {
    await copyFile(join(from, f), join(to, f));
    await chmod(join(to, f), 0o755);
  }
}
