#!/bin/bash
# PID 1 of a lab node. Runs inside the node's network namespace after `unshare --mount --uts
# --pid --fork`, so the mounts below are private to this node. It gives the node its own /etc
# (overlay), /root, /run, /tmp and hostname, sets every sysctl the lab relies on explicitly (a new
# network namespace starts from kernel defaults, not the host's values), starts the node's
# services through the lab's systemctl, then reaps orphans.
set -u
R=$1          # the node's directory on the host: etc-upper/, root/, run/, ...
BIN=$2        # the lab's scripts (systemctl, flanneld, dockerd, ...)

RUN=$R/run    # becomes /run once mounted
fail() { echo "node-init: $*" >&2; echo "failed: $*" > "$RUN/lab/ready.tmp"; mv "$RUN/lab/ready.tmp" "$RUN/lab/ready"; exit 1; }

mkdir -p "$R/etc-work" "$RUN/lab/svc" "$RUN/lab/log" "$RUN/sshd" "$RUN/flannel" || fail "mkdir"
# sshd's ForceCommand (ssh-command-log) appends here as whoever logged in, the non-root user too.
: > "$RUN/lab/log/ssh-commands.log" && chmod 666 "$RUN/lab/log/ssh-commands.log" || fail "ssh-commands.log"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$R/etc-upper,workdir=$R/etc-work" /etc || fail "overlay /etc"
mount --bind "$R/root" /root || fail "bind /root"
# The non-root profile's login user has its home in the node's own /home.
[ ! -d "$R/home" ] || mount --bind "$R/home" /home || fail "bind /home"
mount --bind "$BIN" /usr/local/sbin || fail "bind /usr/local/sbin"
mount -t tmpfs -o size=16m,mode=1777 tmpfs /tmp || fail "tmpfs /tmp"
# k8s stack: the node's own /opt (the flannel CNI plugin in /opt/cni/bin, as kube-flannel's init
# container installs it) and /var/lib (host-local's allocations in /var/lib/cni), over the host's.
for d in opt var-lib; do
  [ -d "$R/$d-upper" ] || continue
  mkdir -p "$R/$d-work" && mount -t overlay overlay -o "lowerdir=/${d/-//},upperdir=$R/$d-upper,workdir=$R/$d-work" "/${d/-//}" || fail "overlay /${d/-//}"
done
mount --bind "$R/run" /run || fail "bind /run"
RUN=/run

. /etc/lab/node.env
echo "$NODE" > /proc/sys/kernel/hostname

# etcd-tls: as on kubeadm nodes, no etcdctl outside the etcd nodes. /usr/bin gets an overlay whose
# upper layer holds a whiteout for etcdctl (only in this node's mount namespace); the binary stays
# reachable at a private path for the flanneld stand-in's v3 client (its unit's PATH).
if [ "${HIDE_ETCDCTL:-0}" = 1 ]; then
  mkdir -p /run/lab/libexec /run/lab/usr-bin-upper /run/lab/usr-bin-work && : > /run/lab/libexec/etcdctl &&
    mount --bind /usr/bin/etcdctl /run/lab/libexec/etcdctl &&
    mknod /run/lab/usr-bin-upper/etcdctl c 0 0 &&
    mount -t overlay overlay -o lowerdir=/usr/bin,upperdir=/run/lab/usr-bin-upper,workdir=/run/lab/usr-bin-work /usr/bin ||
    fail "hide etcdctl"
fi

# Kernel defaults of a fresh namespace are not what a node needs; set each value we rely on.
w() { [ -e "/proc/sys/$1" ] && echo "$2" > "/proc/sys/$1"; }
w net/ipv6/conf/all/disable_ipv6 1
w net/ipv6/conf/default/disable_ipv6 1
for i in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 > "$i"; done
w net/ipv4/conf/all/rp_filter 0
w net/ipv4/conf/default/rp_filter 0
w net/ipv4/ip_nonlocal_bind "${NONLOCAL_BIND:-0}"
w net/bridge/bridge-nf-call-iptables 1
w net/ipv4/ip_forward 0
ip link set lo up
# Boot-time sysctl from the node's own persisted config (ip_forward among others).
sysctl -q -p /etc/sysctl.conf >/dev/null 2>&1 || fail "sysctl -p /etc/sysctl.conf"

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
cd /
for svc in $SERVICES; do
  systemctl start "$svc" >> /run/lab/log/init.log 2>&1 || fail "$svc did not start (see /run/lab/log/$svc.log)"
done
echo ok > /run/lab/ready.tmp && mv /run/lab/ready.tmp /run/lab/ready

# Reap. Orphans are re-parented to us; bash reaps exited children between commands, so wake every
# 2 s (`read -t` on our own fifo sleeps without forking). Restart= is not ours: each service's
# main process is watched by the monitor systemctl gives it, which knows how it ended.
mkfifo /run/lab/init.fifo
exec 3<> /run/lab/init.fifo
while :; do read -r -t 2 -u 3 _ || true; done
