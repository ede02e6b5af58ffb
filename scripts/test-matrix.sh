#!/usr/bin/env bash
# `npm run test:matrix`: the do-no-harm matrix (test/matrix): every shipped flannel runbook on a lab
# of each profile, healthy and broken. Installs what it needs, like `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
[ -d node_modules ] || npm ci
npx vitest run --project matrix
