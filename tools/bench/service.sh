#!/usr/bin/env bash
# Benchmark (not a test) of a sample service, as a Cloud Run operator would measure it:
#   - cold start: process start to the first 200 on GET /smoothie (IAP check enforced, keys
#     fetched from a local stand-in for gstatic), median of N runs;
#   - idle RSS after start and after the load;
#   - requests per second with wrk, the service pinned to one core (taskset -c 0) and wrk on the
#     other, with a valid x-goog-iap-jwt-assertion on every request.
# Everything listens on 127.0.0.1. Installs wrk from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-10}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q -p smoothie-service
cargo build --release -q -p google-tokens --example iap_key_server
# Where cargo put them (CARGO_TARGET_DIR is honoured, e.g. an unstripped build for perf).
release=${CARGO_TARGET_DIR:-target}/release
bin=$release/smoothie-service

keys_out=$(mktemp)
"$release/examples/iap_key_server" > "$keys_out" &
keys_pid=$!
pids=("$keys_pid")
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -f "$keys_out"; }
trap cleanup EXIT
for _ in $(seq 200); do [ -s "$keys_out" ] && break; sleep 0.05; done
jwk_url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jwk_url"])' "$keys_out")
audience=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["audience"])' "$keys_out")
assertion=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["assertion"])' "$keys_out")

# Polls until GET /smoothie answers 200; gives up after 10 s so a broken start fails the run.
wait_ready() { # $1 port
    local deadline=$(( $(date +%s) + 10 ))
    until curl -sf -o /dev/null -H "x-goog-iap-jwt-assertion: $assertion" "http://127.0.0.1:$1/smoothie"; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "service on port $1 never became ready" >&2; exit 1; }
    done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_service() { # $1 port; echoes pid
    PORT=$1 IAP_AUDIENCE=$audience IAP_JWK_URL=$jwk_url RUST_LOG=warn \
        taskset -c 0 "$bin" >/dev/null 2>&1 &
    echo $!
}

echo "== cold start: process start to first 200 (median of $RUNS)"
samples=()
for _ in $(seq "$RUNS"); do
    port=$(free_port)
    t0=$(date +%s%N)
    pid=$(start_service "$port")
    wait_ready "$port"
    t1=$(date +%s%N)
    samples+=($(( (t1 - t0) / 1000 )))
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
done
printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR]=$1} END {printf "cold start: median %.1f ms, min %.1f ms, max %.1f ms\n", a[int((NR+1)/2)]/1000, a[1]/1000, a[NR]/1000}'

port=$(free_port)
pid=$(start_service "$port"); pids+=("$pid")
wait_ready "$port"
echo "idle RSS after start: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"

echo "== wrk: $CONNECTIONS connections, $DURATION, service on core 0, wrk on core 1"
taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency \
    -H "x-goog-iap-jwt-assertion: $assertion" "http://127.0.0.1:$port/smoothie/recipes/green-machine" \
    | grep -E 'Requests/sec|Latency|50%|99%|Non-2xx'
echo "RSS after load: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
