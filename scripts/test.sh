#!/usr/bin/env bash
# `npm test`: installs what the tests need when missing, then runs unit tests, the fuzzers and lab tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
[ -d node_modules ] || npm ci
npx vitest run --project unit
npx vitest run --project fuzz
npx vitest run --project lab
