/**
 * Conformance of the lab's flanneld, mk-docker-opts and dockerd stand-ins with the real daemons
 * (flannel-io/flannel main.go, subnet/etcdv2, pkg/trafficmngr/iptables, dist/mk-docker-opts.sh;
 * moby libnetwork drivers/bridge). Each test states a fact of the real daemon and checks it from
 * outside. The stand-ins are run by hand inside the nodes (from this checkout, with the lab's units
 * stopped), so the tests do not depend on how the lab's units are configured.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDown, labExec, labProbe, labState, labUp } from '../../src/lab/index.js';
import { failing } from '../lab/lab-helpers.js';

const NAME = 'cfl';
// The stand-ins as a node sees them: the lab's copies, bound on /usr/local/sbin (a host path such as
// the checkout's src/lab/sh may be hidden inside the node, e.g. under its private /tmp).
const SH = '/usr/local/sbin';
let EP = '';
const IP: Record<string, string> = {};

async function sh(node: string, cmd: string): Promise<string> {
  const r = await labExec(NAME, node, cmd);
  expect(r.code, `${node}: ${cmd}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

/** Stops the stand-ins started by hand and the units (docker.socket and the kubelet too, or the kubelet starts docker again), and clears what they leave behind. */
async function reset(node: string): Promise<void> {
  await sh(
    node,
    `systemctl stop kubelet docker.socket docker flanneld >/dev/null 2>&1; for f in /tmp/*.pid; do [ -e "$f" ] && kill -TERM -- -$(cat "$f") 2>/dev/null; rm -f "$f"; done; sleep 0.2
     for f in /run/netns/pod*; do [ -e "$f" ] && ip netns del \${f##*/}; done
     iptables -P FORWARD ACCEPT; for t in filter nat; do iptables -t $t -F; iptables -t $t -X; done
     ip link del docker0 2>/dev/null; rm -rf /run/flannel /run/docker; true`,
  );
}

/** Writes a network config through the etcd API that flannel of that era reads it with. */
async function config(prefix: string, v2: boolean, subnetLen = 24): Promise<void> {
  const cfg = JSON.stringify({ Network: '10.100.0.0/16', SubnetLen: subnetLen, Backend: { Type: 'vxlan' } });
  await sh('m1', v2
    ? `curl -sf -X PUT ${EP}/v2/keys${prefix}/config --data-urlencode 'value=${cfg}' >/dev/null`
    : `etcdctl --endpoints=${EP} put ${prefix}/config '${cfg}' >/dev/null`);
}

/** Starts flanneld by hand (own process group, pid in /tmp/flanneld.pid) and waits until it is ready. */
async function flanneld(node: string, prefix: string, version: string, extra = ''): Promise<void> {
  await sh(
    node,
    `NOTIFY_FILE=/tmp/fl.ready setsid ${SH}/flanneld --etcd-endpoints=${EP} --etcd-prefix=${prefix} --iface=eth0 --public-ip=${IP[node]} --lab-version=${version} ${extra} >/tmp/flanneld.log 2>&1 & echo $! >/tmp/flanneld.pid
     rm -f /tmp/fl.ready; for i in $(seq 100); do [ -e /tmp/fl.ready ] && exit 0; sleep 0.05; done; cat /tmp/flanneld.log; exit 1`,
  );
}

/** mk-docker-opts as the RHEL unit runs it, then dockerd with those options, as the docker unit does. */
async function docker(node: string): Promise<void> {
  await sh(
    node,
    `${SH}/mk-docker-opts -k DOCKER_NETWORK_OPTIONS -d /run/flannel/docker && . /run/flannel/docker
     NOTIFY_FILE=/tmp/dk.ready setsid ${SH}/dockerd $DOCKER_NETWORK_OPTIONS --pods=1 >/tmp/dockerd.log 2>&1 & echo $! >/tmp/dockerd.pid
     rm -f /tmp/dk.ready; for i in $(seq 100); do [ -e /tmp/dk.ready ] && exit 0; sleep 0.05; done; cat /tmp/dockerd.log; exit 1`,
  );
}

const subnetKey = (node: string): Promise<string> =>
  sh(node, `. /run/flannel/subnet.env; s=\${FLANNEL_SUBNET%/*}; echo \${s%.*}.$((\${s##*.} - 1))-\${FLANNEL_SUBNET#*/}`);

beforeAll(async () => {
  await labUp({ name: NAME, workers: 2 });
  const st = labState(NAME);
  EP = st.topology.etcdEndpoints.split(',')[0] ?? '';
  for (const n of st.topology.nodes) IP[n.name] = n.ip;
  await Promise.all(['a', 'b'].map(reset));
});

afterAll(async () => {
  await labDown(NAME);
});

describe('flanneld (flannel main.go, subnet managers, trafficmngr/iptables)', () => {
  it('>= 0.8: when its lease is deleted it logs "Lease has been revoked. Shutting down daemon." and exits 0', async () => {
    await config('/cfl-rv/network', false);
    await flanneld('a', '/cfl-rv/network', '0.26.7');
    const key = await subnetKey('a');
    const out = await sh('a', `etcdctl --endpoints=${EP} del /cfl-rv/network/subnets/${key} >/dev/null
      pid=$(cat /tmp/flanneld.pid); for i in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
      grep -c 'Lease has been revoked. Shutting down daemon.' /tmp/flanneld.log; kill -0 $pid 2>/dev/null && echo running || echo exited`);
    expect(out).toBe('1\nexited');
    // The exit status, read the way a parent (systemd) sees it: run it as a child of this shell.
    const rc = await sh('a', `${SH}/flanneld --etcd-endpoints=${EP} --etcd-prefix=/cfl-rv/network --public-ip=${IP.a} >/tmp/fl2.log 2>&1 & pid=$!
      for i in $(seq 100); do grep -q watching /tmp/fl2.log && break; sleep 0.05; done
      etcdctl --endpoints=${EP} del --prefix /cfl-rv/network/subnets/ >/dev/null; wait $pid; echo $?`);
    expect(rc).toBe('0');
    await reset('a');
  });

  it('0.7.1: when its lease is deleted it logs "Lease has been revoked", keeps running and takes a lease again (v0.7.1 network.go)', async () => {
    await config('/cfl-71/network', true);
    await flanneld('a', '/cfl-71/network', '0.7.1');
    const key = await subnetKey('a');
    await sh('a', `curl -sf -X DELETE ${EP}/v2/keys/cfl-71/network/subnets/${key} >/dev/null; for i in $(seq 50); do grep -q 'acquired a new lease' <(tail -n +3 /tmp/flanneld.log) && break; sleep 0.1; done`);
    expect(await sh('a', 'grep -c "Lease has been revoked$" /tmp/flanneld.log; kill -0 $(cat /tmp/flanneld.pid) && echo running')).toBe('1\nrunning');
    const leases = await sh('m1', `ETCDCTL_API=2 etcdctl --endpoints=${EP} ls /cfl-71/network/subnets`);
    expect(leases).toBe(`/cfl-71/network/subnets/${await subnetKey('a')}`);
    await reset('a');
  });

  it('< 0.18: leases live in the etcd v2 keyspace with a 24 h TTL, not in v3', async () => {
    await config('/cfl-v2/network', true);
    await flanneld('a', '/cfl-v2/network', '0.7.1');
    const key = await subnetKey('a');
    const node = JSON.parse(await sh('m1', `curl -sf ${EP}/v2/keys/cfl-v2/network/subnets/${key}`)).node;
    expect(node.ttl).toBeGreaterThan(86_000);
    expect(JSON.parse(node.value)).toEqual({ PublicIP: IP.a, BackendType: 'vxlan', BackendData: { VtepMAC: await sh('a', 'cat /sys/class/net/flannel.1/address') } });
    expect(await sh('m1', `ETCDCTL_API=2 etcdctl --endpoints=${EP} ls /cfl-v2/network/subnets`)).toBe(`/cfl-v2/network/subnets/${key}`);
    expect(await sh('m1', `etcdctl --endpoints=${EP} get --prefix /cfl-v2/ --keys-only`)).toBe('');
    await reset('a');
  });

  it('>= 0.22 appends the FLANNEL-FWD rules and puts back a deleted one; 0.7.1 adds no FORWARD rule', async () => {
    await config('/cfl-fw/network', false);
    await flanneld('a', '/cfl-fw/network', '0.26.7');
    const rules = [
      '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
      '-A FLANNEL-FWD -s 10.100.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
      '-A FLANNEL-FWD -d 10.100.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
    ];
    const list = 'iptables -S | grep -e "-A FORWARD" -e "-A FLANNEL-FWD"; iptables -S FORWARD | head -1';
    expect(await sh('a', list)).toBe([...rules, '-P FORWARD ACCEPT'].join('\n'));
    await sh('a', 'iptables -D FLANNEL-FWD -d 10.100.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT');
    expect(await sh('a', `for i in $(seq 80); do iptables -S FLANNEL-FWD | grep -q -- '-d 10.100' && break; sleep 0.1; done; ${list}`)).toBe([...rules, '-P FORWARD ACCEPT'].join('\n'));
    await reset('a');

    await config('/cfl-fw2/network', true);
    await flanneld('a', '/cfl-fw2/network', '0.7.1');
    expect(await sh('a', 'iptables -S; iptables -t nat -S')).toBe(['-P INPUT ACCEPT', '-P FORWARD ACCEPT', '-P OUTPUT ACCEPT', '-P PREROUTING ACCEPT', '-P INPUT ACCEPT', '-P OUTPUT ACCEPT', '-P POSTROUTING ACCEPT'].join('\n'));
    await reset('a');
  });

  it('writes subnet.env by rename: every write is a new inode', async () => {
    await config('/cfl-in/network', false);
    await flanneld('a', '/cfl-in/network', '0.26.7');
    // Holding the old file open keeps its inode number from being reused.
    const out = await sh('a', `exec 3</run/flannel/subnet.env; before=$(stat -c %i /run/flannel/subnet.env)
      kill -TERM -- -$(cat /tmp/flanneld.pid); sleep 0.2
      setsid ${SH}/flanneld --etcd-endpoints=${EP} --etcd-prefix=/cfl-in/network --public-ip=${IP.a} >/tmp/flanneld.log 2>&1 & echo $! >/tmp/flanneld.pid
      for i in $(seq 100); do grep -q watching /tmp/flanneld.log && break; sleep 0.05; done
      after=$(stat -c %i /run/flannel/subnet.env); [ "$before" != "$after" ] && echo new-inode; grep -c 'found lease' /tmp/flanneld.log`);
    expect(out).toBe('new-inode\n1');
    await reset('a');
  });

  it('SubnetLen 26: keys <net>-26, FLANNEL_SUBNET the first host /26, peers route the /26', async () => {
    await config('/cfl-26/network', false, 26);
    await flanneld('a', '/cfl-26/network', '0.26.7');
    await flanneld('b', '/cfl-26/network', '0.26.7');
    const [ka, kb] = [await subnetKey('a'), await subnetKey('b')];
    for (const k of [ka, kb]) expect(k).toMatch(/^10\.100\.\d+\.(0|64|128|192)-26$/);
    const netA = ka.replace(/-26$/, '');
    expect(await sh('a', '. /run/flannel/subnet.env; echo $FLANNEL_SUBNET')).toBe(`${netA.replace(/\d+$/, (d) => String(Number(d) + 1))}/26`);
    expect(await sh('m1', `etcdctl --endpoints=${EP} get --prefix /cfl-26/network/subnets/ --keys-only | sed '/^$/d' | sort`)).toBe(
      [ka, kb].map((k) => `/cfl-26/network/subnets/${k}`).sort().join('\n'),
    );
    expect(await sh('b', `ip route show dev flannel.1 ${netA}/26`)).toBe(`${netA}/26 via ${netA} onlink`);
    await Promise.all(['a', 'b'].map(reset));
  });
});

describe('mk-docker-opts (flannel dist/mk-docker-opts.sh)', () => {
  const env = 'FLANNEL_NETWORK=10.100.0.0/16\nFLANNEL_SUBNET=10.100.7.65/26\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n';
  const upstream = (key: string): string =>
    `DOCKER_OPT_BIP="--bip=10.100.7.65/26"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\nDOCKER_OPT_MTU="--mtu=1450"\n${key}=" --bip=10.100.7.65/26 --ip-masq=true --mtu=1450"\n`;

  it('writes the individual and combined options byte for byte: -k/-d (RHEL unit) and the defaults', async () => {
    const out = await sh('a', `mkdir -p /run/flannel && printf '${env}' >/run/flannel/subnet.env
      ${SH}/mk-docker-opts -k DOCKER_NETWORK_OPTIONS -d /run/flannel/docker && ${SH}/mk-docker-opts
      base64 -w0 /run/flannel/docker; echo; base64 -w0 /run/docker_opts.env`);
    const [rhel, dflt] = out.split('\n').map((b) => Buffer.from(b, 'base64').toString());
    expect(rhel).toBe(upstream('DOCKER_NETWORK_OPTIONS'));
    expect(dflt).toBe(upstream('DOCKER_OPTS'));
  });

  it('-c -m: only the combined key, without --ip-masq; FLANNEL_IPMASQ=true gives --ip-masq=false', async () => {
    const out = await sh('a', `printf 'FLANNEL_SUBNET=10.100.7.1/24\\nFLANNEL_MTU=1450\\nFLANNEL_IPMASQ=true\\n' >/tmp/s.env
      ${SH}/mk-docker-opts -f /tmp/s.env -d /tmp/o1 -c -m && ${SH}/mk-docker-opts -f /tmp/s.env -d /tmp/o2 -c; cat /tmp/o1 /tmp/o2`);
    expect(out).toBe('DOCKER_OPTS=" --bip=10.100.7.1/24 --mtu=1450"\nDOCKER_OPTS=" --bip=10.100.7.1/24 --ip-masq=false --mtu=1450"');
  });

  it('rewrites the file in place (truncate, then append): the inode stays', async () => {
    const out = await sh('a', `a=$(stat -c %i /run/flannel/docker); ${SH}/mk-docker-opts -k DOCKER_NETWORK_OPTIONS -d /run/flannel/docker; b=$(stat -c %i /run/flannel/docker); [ "$a" = "$b" ] && echo same`);
    expect(out).toBe('same');
    await reset('a');
  });
});

describe('dockerd (moby libnetwork drivers/bridge)', () => {
  it('refuses to start when docker0 has another address than --bip, and leaves docker0 as it is', async () => {
    const r = await labExec(NAME, 'b', `ip link add docker0 type bridge && ip addr add 172.17.0.1/16 dev docker0
      ${SH}/dockerd --bip=10.100.9.1/24 --mtu=1450 --pods=1; echo "rc=$?"; ip -4 -o addr show dev docker0 | awk '{print $4}'`);
    expect(r.stdout.trim().split('\n')).toEqual([
      'failed to start daemon: Error initializing network controller: Error creating default "bridge" network: bridge IPv4 (172.17.0.1) does not match requested configuration 10.100.9.1',
      'rc=1',
      '172.17.0.1/16',
    ]);
    await reset('b');
  });

  it('programs DOCKER-USER first and the docker0 rules, MASQUERADE for --ip-masq=true, and a restart duplicates none', async () => {
    const start = `NOTIFY_FILE=/tmp/dk.ready setsid ${SH}/dockerd --bip=10.100.9.1/24 --mtu=1450 --ip-masq=true --pods=1 >/tmp/dockerd.log 2>&1 & echo $! >/tmp/dockerd.pid
      rm -f /tmp/dk.ready; for i in $(seq 100); do [ -e /tmp/dk.ready ] && break; sleep 0.05; done`;
    const expected = [
      '-P FORWARD ACCEPT',
      '-A FORWARD -j DOCKER-USER',
      '-A FORWARD -j DOCKER-ISOLATION-STAGE-1',
      '-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-A FORWARD -o docker0 -j DOCKER',
      '-A FORWARD -i docker0 ! -o docker0 -j ACCEPT',
      '-A FORWARD -i docker0 -o docker0 -j ACCEPT',
      '-A POSTROUTING -s 10.100.9.0/24 ! -o docker0 -j MASQUERADE',
    ].join('\n');
    const show = 'iptables -S FORWARD; iptables -t nat -S POSTROUTING | grep -v "^-P"';
    expect(await sh('b', `${start}; ${show}`)).toBe(expected);
    expect(await sh('b', `kill -TERM -- -$(cat /tmp/dockerd.pid); sleep 0.2; ${start}; ${show}`)).toBe(expected);
    await reset('b');
  });
});

describe('FORWARD policy DROP with docker 20.10 rules', () => {
  it('without flannel FORWARD rules (0.7.1) new connections into the DROP node pods fail while its own pods connect out; flannel >= 0.10 rules let them in', async () => {
    await config('/cfl-e2e/network', true);
    for (const n of ['a', 'b']) {
      await flanneld(n, '/cfl-e2e/network', '0.7.1');
      await docker(n);
    }
    await sh('b', 'iptables -P FORWARD DROP');
    expect(failing(await labProbe(NAME))).toEqual(['a→b']);
    await Promise.all(['a', 'b'].map(reset));

    await config('/cfl-e2e2/network', false);
    for (const n of ['a', 'b']) {
      await flanneld(n, '/cfl-e2e2/network', '0.26.7');
      await docker(n);
    }
    await sh('b', 'iptables -P FORWARD DROP');
    expect(failing(await labProbe(NAME))).toEqual([]);
    await Promise.all(['a', 'b'].map(reset));
  });
});
