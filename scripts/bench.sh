#!/usr/bin/env bash
# `npm run bench [-- --workers N --rounds R ...]`: runbook against parallel-ssh, ansible-playbook and
# a bare ssh2 fan-out on one lab fleet (docs/bench.md). Needs root (the lab). Tears the lab down on
# any exit unless --keep-lab is given.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh --bench

[ -d node_modules ] || npm ci --no-audit --no-fund

# A private build of this working tree (runbook and the floor): other engineers rebuilding dist/
# during a run cannot change what is measured. A type error elsewhere in the tree is reported, and
# what tsc emitted is measured.
build=$(mktemp -d /tmp/rb-bench-build.XXXXXX)
npx tsc -p tsconfig.build.json --outDir "$build/dist" || echo "bench: tsc reported errors (above); benchmarking what it emitted" >&2
npx tsc -p bench/tsconfig.json --outDir "$build/dist/bench"
mkdir -p "$build/bin"
cp bin/runbook.js "$build/bin/"
cp package.json "$build/"
ln -s "$PWD/runbooks" "$PWD/schemas" "$PWD/node_modules" "$build/"
export RUNBOOK_BENCH_BUILD="$build"

keep=0
for a in "$@"; do [ "$a" = --keep-lab ] && keep=1; done
cleanup() {
  if [ "$keep" != 1 ]; then
    node "$build/bin/runbook.js" lab down --name scale >/dev/null 2>&1 || true
    # Once, 1,001 namespaces outlived the teardown (cause not found): check, and say so if they still do.
    if ip netns list | grep -q '^rb-scale-'; then
      echo "bench: the fleet is still up after lab down; removing it again" >&2
      node "$build/bin/runbook.js" lab down --name scale >&2 || echo "bench: remove it with: runbook lab down --name scale" >&2
    fi
  fi
  rm -rf "$build"
}
trap cleanup EXIT
npx tsx bench/run.ts "$@"
