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
have xmllint || need+=(libxml2-utils)
have chromium || need+=(chromium)
# --audit-syslog is tested against a real rsyslogd on loopback (started by the test, not as a service).
have rsyslogd || [ -x /usr/sbin/rsyslogd ] || need+=(rsyslog)
have flock || need+=(util-linux)
have keepalived || need+=(keepalived)
have haproxy || need+=(haproxy)
# The k8s stack's pods are set up by the real CNI plugins (bridge, host-local, loopback), which
# Debian installs off PATH, in /usr/lib/cni.
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
# Debian's kubernetes-client (kubectl 1.20, the last with policy/v1beta1 evictions): the k8s stack's
# tests drive the lab's API with it besides the machine's kubectl. Extracted into a private
# directory (apt-get download + dpkg-deb -x), never installed over the machine's kubectl.
OLD_KUBECTL_DIR=/var/cache/runbook/kubernetes-client
extract_old_kubectl() {
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq kubernetes-client 2>/dev/null) &&
    mkdir -p "$OLD_KUBECTL_DIR" && dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$OLD_KUBECTL_DIR"
  local rc=$?
  rm -rf "$tmp"
  return $rc
}
# The k8s stack, its tests and runbooks drive the API with kubectl (any; a kubeconfig per lab).
have kubectl || need+=(kubernetes-client)
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
if [ ! -x "$OLD_KUBECTL_DIR/usr/bin/kubectl" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "runbook: missing $OLD_KUBECTL_DIR/usr/bin/kubectl; extract it with: sudo scripts/ensure-deps.sh" >&2
    exit 2
  fi
  echo "extracting Debian's kubernetes-client into $OLD_KUBECTL_DIR" >&2
  extract_old_kubectl || { echo "runbook: cannot download kubernetes-client (try: apt-get update)" >&2; exit 2; }
fi
