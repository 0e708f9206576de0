#!/usr/bin/env bash
# Benchmark (not a test): wall time of `just e2e` after a warm build, and of the in-process
# fortress from start to ready. Goals (issue 5): the full suite under 10 s, the stack ready
# under 1 s. Run from anywhere: `e2e/bench/e2e.sh [RUNS]`.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}

echo "warming the build..."
cargo build -q -p e2e --tests --bins
cargo test -q -p e2e --test bdd -- --tags @none >/dev/null 2>&1 || true

echo
echo "just e2e, wall time over $runs runs (warm build):"
for i in $(seq "$runs"); do
    start=$(date +%s.%N)
    just e2e >/tmp/fortress-e2e-bench.log 2>&1
    end=$(date +%s.%N)
    summary=$(grep -E '^[0-9]+ scenarios' /tmp/fortress-e2e-bench.log | head -1)
    printf '  run %d: %.2f s  (%s)\n' "$i" "$(echo "$end - $start" | bc)" "$summary"
done

echo
echo "stack start to ready (fortress-up --check, random ports), over $runs runs:"
dir=$(mktemp -d)
for i in $(seq "$runs"); do
    ready=$(target/debug/fortress-up --gateway-port 0 --lb-port 0 --emulator-port 0 \
        --dir "$dir" --check 2>/dev/null | grep -o 'ready in [0-9]* ms')
    echo "  run $i: $ready (keys generated in this process included)"
done
rm -rf "$dir"
