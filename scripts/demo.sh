#!/usr/bin/env bash
# `npm run demo`: the incident on a real fleet on this machine, and its fix.
# Brings up the lab, breaks ip_forward on node d, shows pod traffic to d failing, fixes it with
# `runbook apply fix-forwarding --hosts d`, and shows the probe passing again. Needs root.
# `npm run demo -- --stack k8s`: the 2026 story on containerd + CNI + flannel's kube subnet
# manager: d re-registered with a new podCIDR and cni0 kept the old address; diagnose names it,
# `runbook apply fix-cni0-mismatch --hosts d` drains d, fixes it and uncordons it.
# In a terminal the fix asks for approval; without one it runs with --yes.
# The lab is removed at the end; RUNBOOK_DEMO_KEEP=1 keeps it for exploring.
set -euo pipefail
cd "$(dirname "$0")/.."
stack=docker
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) stack="${2:-}"; shift 2 || shift ;;
    --stack=*) stack="${1#--stack=}"; shift ;;
    *) echo "npm run demo: unknown argument $1 (usage: npm run demo [-- --stack docker|k8s])" >&2; exit 2 ;;
  esac
done
case "$stack" in docker|k8s) ;; *) echo "npm run demo: --stack is docker or k8s, not \"$stack\"" >&2; exit 2 ;; esac
if [ "$(id -u)" -ne 0 ]; then
  echo "npm run demo: the lab needs root (network namespaces); run it as root" >&2
  exit 2
fi
bash scripts/ensure-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
rb() { node bin/runbook.js "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
if [ "${RUNBOOK_DEMO_KEEP:-}" != 1 ]; then
  trap 'step "runbook lab down"; rb lab down' EXIT
fi

approve=()
[ -t 0 ] && [ -t 1 ] || approve=(--yes)

if [ "$stack" = k8s ]; then
  step "runbook lab up --stack k8s (m1 runs the API; a b c d run containerd pods on cni0, flannel with --kube-subnet-mgr)"
  rb lab up --stack k8s
  export KUBECONFIG="$PWD/.lab/kubeconfig"
  inv=.lab/inventory-k8s.yaml
  step "the hosts come from the cluster: $inv names it (kubernetes:), kubectl lists the nodes"
  kubectl get nodes
  step "runbook lab break cni0-stale --node d (d registered again with a new podCIDR; cni0 kept the old address)"
  rb lab break cni0-stale --node d
  step "runbook lab probe: no pod starts on d"
  if rb lab probe; then
    echo "demo: expected the probe to fail after breaking d" >&2
    exit 1
  fi
  step "runbook apply diagnose-node-network --hosts d --yes -i $inv (read-only: names the cause and the runbook that fixes it)"
  rb apply diagnose-node-network --hosts d --yes -i "$inv" || true
  step "runbook apply fix-cni0-mismatch --hosts d ${approve[*]} -i $inv (drains d, deletes cni0, uncordons d)"
  rb apply fix-cni0-mismatch --hosts d "${approve[@]}" -i "$inv"
  on_d() { kubectl get pods --field-selector spec.nodeName=d -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}'; }
  # The evicted pod's replacement first, bound to a node (one workload pod per worker: 4).
  bound() { kubectl get pods -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | grep -c . || true; }
  for _ in $(seq 120); do [ "$(bound)" -ge 4 ] && break; sleep 0.5; done
  if [ -z "$(on_d)" ]; then
    step "Kubernetes moves no pod back after an uncordon: one replica deleted, the scheduler puts it on the emptiest node, d"
    kubectl delete pod "$(kubectl get pods -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName}{"\n"}{end}' | awk 'seen[$2]++ { print $1; exit }')"
  fi
  for _ in $(seq 120); do on_d | grep -qx Running && break; sleep 0.5; done
  kubectl get pods -o wide
  step "runbook lab probe: every pod reaches every pod again"
  for _ in $(seq 30); do rb lab probe >/dev/null 2>&1 && break; sleep 1; done
  rb lab probe
  echo
  echo "explore (with RUNBOOK_DEMO_KEEP=1): KUBECONFIG=.lab/kubeconfig kubectl get nodes | runbook lab ssh d | runbook lab break --list; clean up: runbook lab down"
  exit 0
fi

step "runbook lab up (m1 runs etcd; a b c d are workers with flannel + docker)"
rb lab up
step "runbook lab break ip-forward-off --node d"
rb lab break ip-forward-off --node d
step "runbook lab probe: nothing reaches d's pods"
if rb lab probe; then
  echo "demo: expected the probe to fail after breaking d" >&2
  exit 1
fi
step "runbook apply fix-forwarding --hosts workers --dry-run (every worker is checked; only d needs fixing)"
rb apply fix-forwarding --hosts workers --dry-run -i .lab/inventory.yaml || true
step "runbook apply fix-forwarding --hosts d ${approve[*]} -i .lab/inventory.yaml"
rb apply fix-forwarding --hosts d "${approve[@]}" -i .lab/inventory.yaml
step "runbook lab probe: every pod reaches every pod again"
rb lab probe
echo
echo "explore (with RUNBOOK_DEMO_KEEP=1): runbook lab status | runbook lab ssh d | runbook lab break --list; clean up: runbook lab down"
