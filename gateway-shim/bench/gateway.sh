#!/usr/bin/env bash
# Benchmark (not a test): the cost of one gateway hop against nginx proxy_pass, same machine.
#
#   direct : wrk -> backend                                  (the baseline)
#   nginx  : wrk -> nginx proxy_pass (keepalive upstream) -> backend
#   open   : wrk -> gateway-shim (backend ID token from cache + proxy) -> backend
#   gateway: wrk -> gateway-shim (Firebase JWT verify + backend token + proxy) -> backend
#
# The proxy under test (nginx with one worker, or the gateway's release binary) is pinned to
# core 0; wrk, the backend and the fakes (key server, metadata server: examples/bench_fakes.rs)
# share core 1. With the proxy alone on its core, requests per second measure its cost per hop:
# the ratio nginx_rps / gateway_rps is "how many nginx hops one gateway hop costs". Everything
# listens on 127.0.0.1. Installs nginx-light and wrk from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
# Rounds of all four runs, interleaved; the best round of each counts (other work on a shared
# machine only ever slows a run down).
ROUNDS=${ROUNDS:-3}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release -q -p gateway-shim --bin gateway-shim --example bench_fakes

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

taskset -c 1 target/release/examples/bench_fakes "$work/openapi.yaml" > "$work/fakes.json" &
pids+=($!)
for _ in $(seq 200); do [ -s "$work/fakes.json" ] && break; sleep 0.05; done
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/fakes.json" "$1"; }
backend=$(field backend); metadata=$(field metadata); token=$(field token)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    upstream backend { server $backend; keepalive 64; }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
taskset -c 0 "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)

gw_port=$(free_port)
PORT=$gw_port RUST_LOG=warn taskset -c 0 target/release/gateway-shim \
    --openapi "$work/openapi.yaml" --service-name bench.endpoints.example.cloud.goog \
    --metadata-host "$metadata" > "$work/gateway.log" 2>&1 &
pids+=($!)

wait_for() { for _ in $(seq 200); do curl -sf -o /dev/null "$@" && return 0; sleep 0.05; done; echo "not ready: $*" >&2; exit 1; }
wait_for "http://$backend/bench"
wait_for "http://127.0.0.1:$nginx_port/bench"
wait_for -H "Authorization: Bearer $token" "http://127.0.0.1:$gw_port/bench"

run() { # name url [header]
    local name=$1 url=$2; shift 2
    # Warm up (connection pools, caches), then measure.
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s "$@" "$url" > /dev/null
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" > "$work/$name.txt"
    local rps p99 non2xx
    rps=$(awk '/Requests\/sec/ {print $2}' "$work/$name.txt")
    p99=$(awk '$1=="99%" {print $2}' "$work/$name.txt")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/$name.txt")
    printf '%-8s %10s req/s   p99 %-9s %s\n' "$name" "$rps" "$p99" "${non2xx:+non-2xx: $non2xx}"
    echo "$name $rps $p99" >> "$work/summary"
}

echo "== wrk -t1 -c$CONNECTIONS -d$DURATION, $ROUNDS rounds; proxy on core 0, wrk + backend + fakes on core 1"
for round in $(seq "$ROUNDS"); do
    echo "-- round $round"
    run direct "http://$backend/bench"
    run nginx "http://127.0.0.1:$nginx_port/bench"
    run open "http://127.0.0.1:$gw_port/open"
    run gateway "http://127.0.0.1:$gw_port/bench" -H "Authorization: Bearer $token"
done

python3 - "$work/summary" <<'PY'
import sys
def ms(v):
    for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if v.endswith(unit) and not (unit == "s" and v.endswith(("us", "ms"))):
            return float(v[: -len(unit)]) * f
    return float(v)
rows = {}
for n, r, p in (l.split() for l in open(sys.argv[1])):
    best = rows.get(n)
    if best is None or float(r) > best[0]:
        rows[n] = (float(r), ms(p))
print("== best round of each")
for name, (rps, p99) in rows.items():
    print(f"{name:8s} {rps:10.0f} req/s   p99 {p99:.2f} ms")
n_rps, n_p99 = rows["nginx"]
print("== ratios against nginx proxy_pass (cost per hop = 1/rps of the proxy's core)")
for name in ("open", "gateway"):
    rps, p99 = rows[name]
    print(f"{name:8s} cost per hop x{n_rps / rps:.2f}   rps x{rps / n_rps:.2f}   p99 x{p99 / n_p99:.2f}")
PY
