#!/bin/bash
# PID 1 of a bench worker (bench/fleet.ts), in its own network, mount, UTS and PID namespaces: the
# node's own /etc (an overlay whose upper layer holds its sysctl.conf and sshd config), /root, /run
# (flannel's subnet.env, the iptables lock) and /tmp, then sshd itself as PID 1 (sshd reaps every
# child it is given). Nothing else runs: no overlay, no docker, no flanneld.
set -eu
R=$1
mkdir -p "$R/etc-work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$R/etc-upper,workdir=$R/etc-work" /etc
mount --bind "$R/root" /root
mount -t tmpfs -o size=4m,mode=1777 tmpfs /tmp
mount --bind "$R/run" /run
hostname -F /etc/hostname
# A new network namespace starts from kernel defaults; the node boots from its persisted sysctl.
ip link set lo up
sysctl -q -p /etc/sysctl.conf
exec /usr/sbin/sshd -D -e -f /etc/ssh/bench_sshd_config
