# Sourced, not run: what every "cost of one hop" benchmark shares (the IAP hop in
# iap-lb-emulator/bench/iap.sh, the gateway hop in gateway-shim/bench/gateway.sh). nginx with
# proxy_pass is the reference hop; a hop's cost is the CPU time (user + system) its process
# spends per request, read from /proc, which is robust to other work on a shared 2-core machine,
# unlike requests per second. Runs are interleaved in
# rounds and the best round counts (interference only ever slows a run down). Everything listens
# on 127.0.0.1; wrk and nginx-light come from Debian when missing.
#
# The caller sets: DURATION, CONNECTIONS_LIST, ROUNDS (defaults below) and uses
#   hop_setup                      -> $work (removed at exit), $pids (killed at exit)
#   free_port, wait_for CURL-ARGS..., cpu_ticks PID
#   nginx_conf DIR BACKEND [tls] [EXTRA] -> DIR/nginx.conf, $nginx_port
#   start_nginx BACKEND [tls]      -> $nginx_port, $nginx_worker (one worker, keepalive upstream)
#   hop_run NAME PID URL [WRK-ARGS...]   appends one line to $work/summary
#   hop_summarize BASELINE NAME...       best round of each, then ratios against BASELINE
#                                        (NAME/OTHER: against OTHER instead, e.g. a hop against
#                                        nginx forwarding the very same request)

DURATION=${DURATION:-10s}
# Where cargo puts release binaries (CARGO_TARGET_DIR is honoured, e.g. an unstripped build for
# perf).
release=${CARGO_TARGET_DIR:-target}/release
# One connection: latency-bound (every process sleeps between requests, so each hop pays its
# wake-ups). 32: throughput-bound (the proxy's core is saturated).
CONNECTIONS_LIST=${CONNECTIONS_LIST:-1 32}
ROUNDS=${ROUNDS:-3}

hop_setup() {
    command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] \
        || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
    work=$(mktemp -d)
    pids=()
    trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
    hz=$(getconf CLK_TCK)
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Polls until curl succeeds (10 s at most), so a broken start fails the run instead of hanging.
wait_for() {
    for _ in $(seq 200); do curl -sfk -o /dev/null "$@" && return 0; sleep 0.05; done
    echo "not ready: $*" >&2
    exit 1
}

# CPU time a process has used so far, in clock ticks: "USER SYSTEM". The split says where a hop's
# cost lies: user space is the hop's own work; system time is mostly loopback TCP and wake-ups,
# the same syscalls for every hop here (strace -c: two writev, two recvfrom, two epoll_wait a
# request for nginx and fortress alike), whose cost still varies with how long the other core
# has been idle when a wake-up reaches it.
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }

# Writes DIR/nginx.conf: one worker, proxy_pass with a keepalive upstream to BACKEND
# (host:port), on a free port (-> $nginx_port). With `tls`, it terminates TLS with a throwaway
# self-signed certificate, as a load balancer does. EXTRA goes to the main context (e.g.
# `master_process off;` for a single process under callgrind).
nginx_conf() {
    local dir=$1 backend=$2 tls=${3:-} extra=${4:-} listen ssl_conf=""
    nginx_port=$(free_port)
    mkdir -p "$dir"
    listen="127.0.0.1:$nginx_port"
    if [ "$tls" = tls ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
            -subj /CN=localhost -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
        listen="$listen ssl"
        ssl_conf="ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem;"
    fi
    cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
$extra
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    upstream backend { server $backend; keepalive 64; }
    server {
        listen $listen;
        $ssl_conf
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
}

# nginx as written by nginx_conf, its worker pinned to core 0 (-> $nginx_port, $nginx_worker).
start_nginx() {
    local backend=$1 tls=${2:-}
    nginx_conf "$work/nginx" "$backend" "$tls"
    taskset -c 0 "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
    local master=$!
    pids+=("$master")
    local scheme=http
    [ "$tls" = tls ] && scheme=https
    # Any HTTP answer will do: nginx is up (what the backend says about `/` is its business).
    for _ in $(seq 200); do curl -sk -o /dev/null "$scheme://127.0.0.1:$nginx_port/" && break; sleep 0.05; done
    nginx_worker=$(pgrep -P "$master" | head -1)
}

# One measured wrk run (after a 2 s warm-up for connection pools and caches). PID 0: no CPU
# figure (the direct baseline has no hop). Fails the run on any non-2xx answer: a benchmark of
# refusals measures nothing.
hop_run() {
    local name=$1 pid=$2 url=$3
    shift 3
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s "$@" "$url" > /dev/null
    local t0="0 0" t1="0 0"
    [ "$pid" != 0 ] && t0=$(cpu_ticks "$pid")
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" > "$work/$name.txt"
    [ "$pid" != 0 ] && t1=$(cpu_ticks "$pid")
    local rps p50 p99 requests non2xx cpu_us user_us sys_us
    rps=$(awk '/Requests\/sec/ {print $2}' "$work/$name.txt")
    p50=$(awk '$1=="50%" {print $2}' "$work/$name.txt")
    p99=$(awk '$1=="99%" {print $2}' "$work/$name.txt")
    requests=$(awk '/requests in/ {print $1}' "$work/$name.txt")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/$name.txt")
    if [ -n "$non2xx" ]; then
        echo "$name: $non2xx non-2xx answers out of $requests" >&2
        exit 1
    fi
    cpu_us=- user_us=- sys_us=-
    if [ "$pid" != 0 ]; then
        read -r user_us sys_us cpu_us < <(awk -v a="$t0" -v b="$t1" -v n="$requests" -v hz="$hz" 'BEGIN {
            split(a, x, " "); split(b, y, " ")
            u = (y[1] - x[1]) * 1e6 / hz / n; s = (y[2] - x[2]) * 1e6 / hz / n
            printf "%.1f %.1f %.1f\n", u, s, u + s }')
    fi
    printf '%-10s %10s req/s   p50 %-9s p99 %-9s cpu %6s us/req (user %s, sys %s)\n' \
        "$name" "$rps" "$p50" "$p99" "$cpu_us" "$user_us" "$sys_us"
    echo "$name $rps $p50 $p99 $cpu_us $user_us $sys_us" >> "$work/summary"
}

hop_summarize() {
    python3 - "$work/summary" "$@" <<'PY'
import math, sys
def ms(v):
    for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if v.endswith(unit):
            return float(v[: -len(unit)]) * f
    return float(v)
def num(v):
    return math.nan if v == "-" else float(v)
summary, baseline, names = sys.argv[1], sys.argv[2], sys.argv[3:]
# Per hop: the best rate and latencies of any round, and the round with the least CPU per
# request (interference only ever adds to it), with that round's user/system split.
rows = {}
for n, r, p50, p99, c, u, s in (l.split() for l in open(summary)):
    best = rows.setdefault(n, {"rps": 0.0, "p50": math.inf, "p99": math.inf, "cpu": (math.nan,) * 3})
    if float(r) > best["rps"]:
        best.update(rps=float(r), p50=ms(p50), p99=ms(p99))
    cpu = (num(c), num(u), num(s))
    # (A run with no CPU figure is NaN, which never compares less.)
    if math.isnan(best["cpu"][0]) or cpu[0] < best["cpu"][0]:
        best["cpu"] = cpu
print("== best round of each")
for name, b in rows.items():
    cpu, user, system = b["cpu"]
    print(f"{name:10s} {b['rps']:10.0f} req/s   p50 {b['p50']:.3f} ms   p99 {b['p99']:.3f} ms   "
          f"cpu {cpu:.1f} us/req (user {user:.1f}, sys {system:.1f})")
print(f"== against {baseline} (cost per hop = CPU time per request of the hop's process)")
for spec in names:
    name, _, against = spec.partition("/")
    b, base = rows[name], rows[against or baseline]
    if against:
        name = f"{name} (against {against})"
    print(f"{name:8s} cost per hop x{b['cpu'][0] / base['cpu'][0]:.2f} "
          f"(user x{b['cpu'][1] / base['cpu'][1]:.2f}, sys x{b['cpu'][2] / base['cpu'][2]:.2f})   "
          f"rps x{b['rps'] / base['rps']:.2f}   p50 x{b['p50'] / base['p50']:.2f}   "
          f"p99 x{b['p99'] / base['p99']:.2f}")
PY
}
