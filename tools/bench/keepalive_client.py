"""N requests, one after another, over one keep-alive connection (HTTP or HTTPS, the
certificate not checked: a local throwaway), for tools/bench/instructions.sh. Exits non-zero on
any answer that is not 2xx, so a count of refusals can never pass for a hop's cost.

usage: keepalive_client.py HOST PORT PATH N plain|tls [HEADER: VALUE]...
"""
import http.client
import ssl
import sys

host, port, path, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
headers = dict(h.split(": ", 1) for h in sys.argv[6:])
if mode == "tls":
    conn = http.client.HTTPSConnection(host, port, context=ssl._create_unverified_context(), timeout=120)
else:
    conn = http.client.HTTPConnection(host, port, timeout=120)
for _ in range(n):
    conn.request("GET", path, headers=headers)
    answer = conn.getresponse()
    answer.read()
    if not 200 <= answer.status < 300:
        sys.exit(f"{path}: status {answer.status}")
