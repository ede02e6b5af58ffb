#!/usr/bin/env bash
# `npm run demo`: the incident on a real fleet on this machine, and its fix.
# Brings up the lab, breaks ip_forward on node d, shows pod traffic to d failing, fixes it with
# `runbook apply fix-forwarding --hosts d`, and shows the probe passing again. Needs root.
# In a terminal the fix asks for approval; without one it runs with --yes.
# The lab is removed at the end; RUNBOOK_DEMO_KEEP=1 keeps it for exploring.
set -euo pipefail
cd "$(dirname "$0")/.."
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
approve=()
[ -t 0 ] && [ -t 1 ] || approve=(--yes)
step "runbook apply fix-forwarding --hosts d ${approve[*]} -i .lab/inventory.yaml"
rb apply fix-forwarding --hosts d "${approve[@]}" -i .lab/inventory.yaml
step "runbook lab probe: every pod reaches every pod again"
rb lab probe
echo
echo "explore (with RUNBOOK_DEMO_KEEP=1): runbook lab status | runbook lab ssh d | runbook lab break --list; clean up: runbook lab down"
