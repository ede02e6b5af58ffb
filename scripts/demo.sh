#!/usr/bin/env bash
# `npm run demo`: the incident on a real fleet on this machine, and its fix.
# Brings up the lab, breaks ip_forward on node d, shows pod traffic to d failing, fixes it with
# `runbook apply fix-forwarding`, and shows the probe passing again. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
rb() { node bin/runbook.js "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "runbook lab up (m1 runs etcd; a b c d are workers with flannel + docker)"
rb lab up
step "runbook lab break ip-forward-off --node d"
rb lab break ip-forward-off --node d
step "runbook lab probe: nothing reaches d's pods"
rb lab probe || true
step "runbook apply fix-forwarding --hosts d --yes -i .lab/inventory.yaml"
if rb apply --help > /dev/null 2>&1 && [ -e runbooks/fix-forwarding.yaml ]; then
  rb apply fix-forwarding --hosts d --yes -i .lab/inventory.yaml || true
else
  echo "apply not implemented yet: skipping the fix (the lab stays broken)"
fi
step "runbook lab probe"
rb lab probe || true
echo
echo "explore: runbook lab status | runbook lab ssh d | runbook lab break --list; clean up: runbook lab down"
