#!/usr/bin/env bash
# Benchmark (not a test): user-space instructions per request of each hop, counted by callgrind,
# so the figure is the same run after run on a noisy shared machine (the CPU-time benches in
# iap-lb-emulator/bench and gateway-shim/bench vary by 10 % between runs on a 2-core VM). It
# leaves out the kernel's share (loopback TCP and wake-ups, half or more of every hop's CPU
# time), and an instruction is not a fixed amount of time: nginx's byte-by-byte parser runs
# more of them per cycle than fortress's hops do, so the IAP hop's user time came out x1.59 of
# nginx's where this count says x1.15. It is a stable guide to our own work, not the CPU ratio.
#
#   nginx-plain     proxy_pass, keepalive upstream, one process (master_process off)
#   nginx-plain-jwt the same, sent the gateway's JWT route request (its Firebase token)
#   nginx-tls       the same, terminating TLS, sent the IAP hop's request (Host, ID token)
#   gateway-open    gateway-shim, no JWT on the route: backend ID token from cache + proxy
#   gateway-jwt     gateway-shim, Firebase JWT verified (cached) + backend token + proxy
#   iap-tls         the emulator: URL map, IAP, assertion, Cloud Run front end, proxy
#
# Each fortress hop is set against nginx forwarding the very same request.
# Each hop runs under `valgrind --tool=callgrind`, pinned to one core as in the CPU-time benches
# (so the fortress binaries run the same current-thread runtime, `cloud_run::runtime`); N requests (default 1000) go over one
# keep-alive connection after 200 of warm-up; the counters are zeroed before them
# (callgrind_control -z) and dumped after, and the total is divided by N. Everything listens on
# 127.0.0.1. valgrind and nginx come from Debian when missing. To see where the instructions go,
# build with symbols (CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
# and a CARGO_TARGET_DIR of its own) and set CALLGRIND_KEEP=DIR: each hop's dump is copied there
# as callgrind.NAME, for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tools/bench/hop.sh
hop_setup
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
N=${N:-1000}
client="python3 tools/bench/keepalive_client.py"
cargo build --release -q -p iap-lb-emulator -p smoothie-service -p gateway-shim --bins
cargo build --release -q -p gateway-shim --example bench_fakes

# Starts `COMMAND...` under callgrind as NAME and waits until CHECK-CURL-ARGS succeed.
# usage: cg_start NAME CHECK-CURL-ARGS... -- COMMAND...   (sets cg_pid)
cg_start() {
    local name=$1
    shift
    local check=()
    while [ "$1" != -- ]; do check+=("$1"); shift; done
    shift
    taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.$name" "$@" \
        > "$work/$name.log" 2>&1 &
    cg_pid=$!
    pids+=("$cg_pid")
    for _ in $(seq 1200); do curl -sfk -o /dev/null "${check[@]}" && break; sleep 0.1; done
}

# nginx under callgrind as NAME, one process, proxying to BACKEND (host:port) [with TLS],
# ready once CHECK-PATH answers 2xx through it (sets nginx_port, cg_pid).
# usage: cg_nginx NAME BACKEND CHECK-PATH [tls]
cg_nginx() {
    local name=$1 backend=$2 check=$3 tls=${4:-} scheme=http
    [ "$tls" = tls ] && scheme=https
    nginx_conf "$work/$name" "$backend" "$tls" "master_process off;"
    cg_start "$name" "$scheme://127.0.0.1:$nginx_port$check" -- \
        "$NGINX" -p "$work/$name" -c "$work/$name/nginx.conf"
}

# Sends 200 requests, zeroes the counters, sends N, dumps, stops the process and prints the
# instructions per request. usage: cg_measure NAME PORT PATH plain|tls [HEADER: VALUE]...
cg_measure() {
    local name=$1 port=$2 path=$3 mode=$4
    shift 4
    $client 127.0.0.1 "$port" "$path" 200 "$mode" "$@"
    callgrind_control -z "$cg_pid" > /dev/null
    $client 127.0.0.1 "$port" "$path" "$N" "$mode" "$@"
    callgrind_control -d measured "$cg_pid" > /dev/null
    local dump="" total
    for _ in $(seq 100); do
        dump=$(ls "$work/callgrind.$name".* 2>/dev/null | head -1)
        [ -n "$dump" ] && grep -q '^summary:' "$dump" && break
        sleep 0.1
    done
    total=$(awk '/^summary:/ {print $2}' "$dump")
    if [ -n "${CALLGRIND_KEEP:-}" ]; then
        mkdir -p "$CALLGRIND_KEEP"
        cp "$dump" "$CALLGRIND_KEEP/callgrind.$name"
    fi
    kill "$cg_pid" 2>/dev/null || true
    wait "$cg_pid" 2>/dev/null || true
    printf '%-16s %8d instructions per request\n' "$name" $((total / N))
    echo "$name $((total / N))" >> "$work/instructions"
}

: > "$work/instructions"
path=/smoothie/recipes/green-machine
# The service behind nginx (TLS) and the IAP hop, natively: only the hop is counted.
service_port=$(free_port)
PORT=$service_port IAP_ASSERTION_CHECK=disabled RUST_LOG=error "$release/smoothie-service" \
    > "$work/service.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$service_port/smoothie"

topology=fixtures/fortress.yaml
client_id=$(awk '/oauth2ClientId:/ {print $2}' "$topology")
gateway_sa=$(awk '/^gateway:/ {g=1} g && /serviceAccount:/ {print $2; exit}' "$topology")
domain=$(awk '/^domain:/ {print $2}' "$topology")
http_port=$(free_port)
https_port=$(free_port)
mkdir -p "$work/emulator"
RUST_LOG=warn cg_start iap-tls "http://127.0.0.1:$http_port/_emulator/health" -- \
    "$release/iap-lb-emulator" --topology "$topology" --http-listen "127.0.0.1:$http_port" \
    --https-listen "127.0.0.1:$https_port" --state-dir "$work/emulator" \
    --upstream "smoothie-service=127.0.0.1:$service_port"
# The gateway's pass: a Google ID token for IAP's OAuth client, from the emulated metadata server.
token=$(curl -sf -H 'Metadata-Flavor: Google' \
    "http://127.0.0.1:$http_port/computeMetadata/v1/instance/service-accounts/$gateway_sa/identity?audience=$client_id")
cg_measure iap-tls "$https_port" "$path" tls "Host: $domain" "Authorization: Bearer $token"
cg_nginx nginx-tls "127.0.0.1:$service_port" /smoothie tls
cg_measure nginx-tls "$nginx_port" "$path" tls "Host: $domain" "Authorization: Bearer $token"

# The gateway's backend and fakes (bench_fakes), natively.
"$release/examples/bench_fakes" "$work/openapi.yaml" > "$work/fakes.json" &
pids+=($!)
for _ in $(seq 200); do [ -s "$work/fakes.json" ] && break; sleep 0.05; done
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/fakes.json" "$1"; }
backend=$(field backend); metadata=$(field metadata); firebase=$(field token)
cg_nginx nginx-plain "$backend" /bench
cg_measure nginx-plain "$nginx_port" /bench plain
cg_nginx nginx-plain-jwt "$backend" /bench
cg_measure nginx-plain-jwt "$nginx_port" /bench plain "Authorization: Bearer $firebase"
gateway_port=$(free_port)
# (valgrind must start the binary itself: it does not follow `env`'s exec.)
gateway=("$release/gateway-shim" --openapi "$work/openapi.yaml"
    --service-name bench.endpoints.example.cloud.goog --metadata-host "$metadata")
PORT=$gateway_port RUST_LOG=warn cg_start gateway-open "http://127.0.0.1:$gateway_port/open" -- \
    "${gateway[@]}"
cg_measure gateway-open "$gateway_port" /open plain
PORT=$gateway_port RUST_LOG=warn cg_start gateway-jwt "http://127.0.0.1:$gateway_port/open" -- \
    "${gateway[@]}"
cg_measure gateway-jwt "$gateway_port" /bench plain "Authorization: Bearer $firebase"

python3 - "$work/instructions" <<'PY'
import sys
n = {}
for line in open(sys.argv[1]):
    name, count = line.rsplit(" ", 1)
    n[name] = int(count)
print("== user-space instructions per request, against nginx")
for name, base in (("iap-tls", "nginx-tls"), ("gateway-open", "nginx-plain"), ("gateway-jwt", "nginx-plain-jwt")):
    print(f"{name:14s} x{n[name] / n[base]:.2f} of {base}")
PY
