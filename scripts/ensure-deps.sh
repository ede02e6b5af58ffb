#!/usr/bin/env bash
# Installs the Debian packages the lab and the tests need, only when one is missing.
# `--bench` adds what `npm run bench` compares against (parallel-ssh, GNU time).
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
if [ "${1:-}" = --bench ]; then
  have parallel-ssh || need+=(pssh)
  [ -x /usr/bin/time ] || need+=(time)
fi
have sshd || need+=(openssh-server)
have ssh || need+=(openssh-client)
have ip || need+=(iproute2)
have tc || need+=(iproute2)
have iptables || need+=(iptables)
have etcd || need+=(etcd-server)
have etcdctl || need+=(etcd-client)
have ping || need+=(iputils-ping)
have socat || need+=(socat)
have jq || need+=(jq)
have sysctl || need+=(procps)
have sudo || need+=(sudo)
have tmux || need+=(tmux)
have flock || need+=(util-linux)
have keepalived || need+=(keepalived)
have haproxy || need+=(haproxy)
# The differential inventory tests read every fixture with Ansible itself (and bench compares against it).
have ansible-inventory || need+=(ansible-core)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "runbook: missing packages: ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 2
  fi
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
