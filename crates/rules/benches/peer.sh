#!/bin/sh
# Rule evaluation beside Debian's Prometheus (docs/BENCHMARKS.md, "Rules"): narthex and
# /usr/bin/prometheus run at the same time, scrape the same generated target every 5 s
# (N instances shaped like benches/rules.rs: `up`, every other one 0, and
# `http_requests_total` for three codes growing at (i+1)/15 per second), and evaluate
# benches/rules.yml every 5 s. After a warm-up, it samples each server's
# prometheus_rule_group_last_duration_seconds every 5 s and prints the median per group.
#
# Usage: crates/rules/benches/peer.sh NARTHEX_BINARY [N=1000] [SAMPLES=24] [WARMUP_SECONDS=90]
set -eu
narthex=$1
n=${2:-1000}
samples=${3:-24}
warmup=${4:-90}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$dir"' EXIT INT TERM

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
target=$(port); prom=$(port); nar=$(port)

cat > "$dir/target.py" <<'EOF'
import http.server, sys, time
n, start = int(sys.argv[2]), time.time()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        t = time.time() - start
        out = []
        for i in range(n):
            base = 'instance="host%d:9100",job="job%d"' % (i, i % 10)
            out.append('up{%s} %d' % (base, i % 2))
            for code in ("200", "404", "500"):
                out.append('http_requests_total{%s,code="%s"} %f' % (base, code, t * (i + 1) / 15))
        body = ("\n".join(out) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
python3 "$dir/target.py" "$target" "$n" & pids="$pids $!"

cp "$here/rules.yml" "$dir/rules.yml"
cat > "$dir/config.yml" <<EOF
global:
  scrape_interval: 5s
  scrape_timeout: 5s
  evaluation_interval: 5s
rule_files: ['rules.yml']
scrape_configs:
  - job_name: gen
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:$target']
EOF
/usr/bin/prometheus --config.file="$dir/config.yml" --storage.tsdb.path="$dir/prom" \
  --web.listen-address="127.0.0.1:$prom" >"$dir/prom.log" 2>&1 & pids="$pids $!"
"$narthex" --config.file="$dir/config.yml" --storage.tsdb.path="$dir/narthex" \
  --web.listen-address="127.0.0.1:$nar" >"$dir/narthex.log" 2>&1 & pids="$pids $!"

sleep "$warmup"
: > "$dir/samples"
i=0
while [ "$i" -lt "$samples" ]; do
  for s in "prometheus $prom" "narthex $nar"; do
    set -- $s
    curl -s "http://127.0.0.1:$2/metrics" | grep '^prometheus_rule_group_last_duration_seconds{' |
      sed -e "s/.*;\([a-z]*\)\"} /$1 \1 /" >> "$dir/samples"
  done
  i=$((i + 1))
  sleep 5
done
echo "N=$n, $samples samples 5 s apart after ${warmup}s; median last group duration (ms):"
for server in prometheus narthex; do
  for group in recording alerting; do
    grep "^$server $group " "$dir/samples" | awk '{print $3 * 1000}' | sort -g |
      awk -v s="$server" -v g="$group" '{v[NR]=$1} END {printf "%-10s %-9s %8.2f  (min %.2f, max %.2f)\n", s, g, v[int((NR+1)/2)], v[1], v[NR]}'
  done
done
curl -s "http://127.0.0.1:$nar/api/v1/query?query=count(ALERTS)" | head -c 200; echo
curl -s "http://127.0.0.1:$prom/api/v1/query?query=count(ALERTS)" | head -c 200; echo
