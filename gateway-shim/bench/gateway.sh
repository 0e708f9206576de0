#!/usr/bin/env bash
# Benchmark (not a test): the cost of one gateway hop against nginx proxy_pass, same machine.
#
#   direct : wrk -> backend                                  (the baseline)
#   nginx  : wrk -> nginx proxy_pass (keepalive upstream) -> backend
#   nginx-jwt: the same, sent the gateway route's request (its Firebase token included), the
#            baseline of that route: each hop is measured against nginx forwarding the very
#            same request
#   open   : wrk -> gateway-shim (backend ID token from cache + proxy) -> backend
#   gateway: wrk -> gateway-shim (Firebase JWT verify + backend token + proxy) -> backend
#
# The proxy under test (nginx with one worker, or the gateway's release binary) is pinned to
# core 0; wrk, the backend and the fakes (key server, metadata server: examples/bench_fakes.rs)
# share core 1. Cost per hop, rounds and ratios: tools/bench/hop.sh. Figures and where the
# gateway's CPU goes: gateway-shim/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tools/bench/hop.sh
hop_setup

cargo build --release -q -p gateway-shim --bin gateway-shim --example bench_fakes

taskset -c 1 "$release/examples/bench_fakes" "$work/openapi.yaml" > "$work/fakes.json" &
pids+=($!)
for _ in $(seq 200); do [ -s "$work/fakes.json" ] && break; sleep 0.05; done
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/fakes.json" "$1"; }
backend=$(field backend); metadata=$(field metadata); token=$(field token)

start_nginx "$backend"

gw_port=$(free_port)
PORT=$gw_port RUST_LOG=warn taskset -c 0 "$release/gateway-shim" \
    --openapi "$work/openapi.yaml" --service-name bench.endpoints.example.cloud.goog \
    --metadata-host "$metadata" > "$work/gateway.log" 2>&1 &
gw_pid=$!
pids+=($gw_pid)

wait_for "http://$backend/bench"
wait_for "http://127.0.0.1:$nginx_port/bench"
wait_for -H "Authorization: Bearer $token" "http://127.0.0.1:$gw_port/bench"

for CONNECTIONS in $CONNECTIONS_LIST; do
    : > "$work/summary"
    echo "== wrk -t1 -c$CONNECTIONS -d$DURATION, $ROUNDS rounds; proxy on core 0, wrk + backend + fakes on core 1"
    for round in $(seq "$ROUNDS"); do
        echo "-- round $round"
        hop_run direct 0 "http://$backend/bench"
        hop_run nginx "$nginx_worker" "http://127.0.0.1:$nginx_port/bench"
        hop_run nginx-jwt "$nginx_worker" "http://127.0.0.1:$nginx_port/bench" \
            -H "Authorization: Bearer $token"
        hop_run open "$gw_pid" "http://127.0.0.1:$gw_port/open"
        hop_run gateway "$gw_pid" "http://127.0.0.1:$gw_port/bench" -H "Authorization: Bearer $token"
    done
    hop_summarize nginx open gateway/nginx-jwt
done
