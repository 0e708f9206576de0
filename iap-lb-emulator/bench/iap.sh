#!/usr/bin/env bash
# Benchmark (not a test): the cost of the IAP hop (load balancer + IAP + Cloud Run's front end,
# the emulator) against an nginx proxy_pass hop, same machine, same service behind both:
#
#   direct: wrk -> smoothie-service                                       (the baseline)
#   nginx : wrk -TLS-> nginx proxy_pass (keepalive upstream) -> smoothie-service, sent the very
#           request the emulator gets (its Host and the gateway's ID token)
#   iap   : wrk -TLS-> emulator: URL map, IAP (Google ID token verified, IAM checked, ES256
#           assertion signed), run.app front end (ingress, invoker) -> smoothie-service
#
# Both hops terminate TLS, as the load balancer does. The service runs with
# IAP_ASSERTION_CHECK=disabled so it does the same work in all three runs (only the hop
# differs). The hop under test is pinned to core 0; wrk and the service share core 1. The
# emulator logs at warn, as nginx runs with access_log off. Shared machinery: tools/bench/hop.sh.
# Goal (issue 3): the IAP hop costs no more than an nginx hop.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tools/bench/hop.sh
hop_setup

cargo build --release -q -p iap-lb-emulator -p smoothie-service

topology=fixtures/fortress.yaml
client_id=$(awk '/oauth2ClientId:/ {print $2}' "$topology")
gateway_sa=$(awk '/^gateway:/ {g=1} g && /serviceAccount:/ {print $2; exit}' "$topology")
domain=$(awk '/^domain:/ {print $2}' "$topology")

service_port=$(free_port)
PORT=$service_port IAP_ASSERTION_CHECK=disabled RUST_LOG=error \
    taskset -c 1 "$release/smoothie-service" > "$work/service.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$service_port/smoothie"

http_port=$(free_port)
https_port=$(free_port)
RUST_LOG=warn taskset -c 0 "$release/iap-lb-emulator" --topology "$topology" \
    --http-listen "127.0.0.1:$http_port" --https-listen "127.0.0.1:$https_port" \
    --state-dir "$work" --upstream "smoothie-service=127.0.0.1:$service_port" \
    > "$work/emulator.log" 2>&1 &
emulator_pid=$!
pids+=($emulator_pid)
wait_for "http://127.0.0.1:$http_port/_emulator/health"

# The gateway's pass: a Google ID token for IAP's OAuth client, from the emulated metadata server.
token=$(curl -sf -H 'Metadata-Flavor: Google' \
    "http://127.0.0.1:$http_port/computeMetadata/v1/instance/service-accounts/$gateway_sa/identity?audience=$client_id")
wait_for -H "Host: $domain" -H "Authorization: Bearer $token" "https://127.0.0.1:$https_port/smoothie"

start_nginx "127.0.0.1:$service_port" tls

for CONNECTIONS in $CONNECTIONS_LIST; do
    : > "$work/summary"
    echo "== wrk -t1 -c$CONNECTIONS -d$DURATION, $ROUNDS rounds; hop on core 0, wrk + service on core 1"
    for round in $(seq "$ROUNDS"); do
        echo "-- round $round"
        hop_run direct 0 "http://127.0.0.1:$service_port/smoothie/recipes/green-machine"
        # nginx is sent the very request the emulator gets, the gateway's ID token included.
        hop_run nginx "$nginx_worker" "https://127.0.0.1:$nginx_port/smoothie/recipes/green-machine" \
            -H "Host: $domain" -H "Authorization: Bearer $token"
        hop_run iap "$emulator_pid" "https://127.0.0.1:$https_port/smoothie/recipes/green-machine" \
            -H "Host: $domain" -H "Authorization: Bearer $token"
    done
    hop_summarize nginx iap
done
