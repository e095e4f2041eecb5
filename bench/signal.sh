#!/usr/bin/env bash
# bench/signal.sh — load test of `natkit signal` (run by `make bench-signal`
# after `make build`). Many loopback clients against one server process:
#   1. idle connections and the server's RSS per connection
#   2. relay throughput, 1000 rooms of 2 (closed loop, WINDOW in flight per room)
#   3. relay latency at fixed rates (default 5k, 10k and 20k messages/s), p50/p99
#   4. call set-ups per second (join + offer + answer + 10 candidates each way)
# Throughput and set-ups are measured against the memory hub and, as the
# peer in the same run, against the Redis hub (if redis-server exists).
#
# Environment: NATKIT (default bin/natkit), DURATION (10s), ROOMS (1000),
# WINDOW (16), RATES (latency rates, "5000 10000 20000"), WORKERS (50), IDLE (total idle connections,
# default: what the open-file limit allows, at most 20000), OUT (jsonl file).
set -euo pipefail
cd "$(dirname "$0")/.."

NATKIT=${NATKIT:-bin/natkit}
DURATION=${DURATION:-10s}
ROOMS=${ROOMS:-1000}
WINDOW=${WINDOW:-16}
RATES=${RATES:-5000 10000 20000}
WORKERS=${WORKERS:-50}
OUT=${OUT:-$(mktemp -t natkit-signal-bench.XXXXXX.jsonl)}
[ -x "$NATKIT" ] || { echo "bench/signal.sh: $NATKIT not found; run 'make build' first" >&2; exit 2; }

TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

go build -o "$TMP/signalbench" ./cmd/signalbench
GEN="$TMP/signalbench"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
clk_tck=$(getconf CLK_TCK)

SERVER_PID=""
PORT=""
start_server() { # extra flags...
	PORT=$(free_port)
	"$NATKIT" signal --listen "127.0.0.1:$PORT" --rate 1000000 --rate-burst 1000000 \
		--max-connections 100000 --max-rooms 100000 --log-level error "$@" >"$TMP/server.out" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	for _ in $(seq 100); do
		curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "natkit signal did not start:" >&2; cat "$TMP/server.out" >&2; exit 3
}
stop_server() {
	kill -INT "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
}
connections() { curl -fsS "http://127.0.0.1:$PORT/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["connections"])'; }

# run_gen LABEL ARGS... — runs the generator, adds the server's CPU time
# over the whole run (server_cpu_seconds, including connection set-up),
# appends the JSON line to $OUT and echoes it. Throughput and latency runs
# also carry both processes' CPU time over the measurement alone
# (server_cpu_seconds_measured, generator_cpu_seconds_measured): the
# per-message figures use those.
run_gen() {
	local label=$1; shift
	local t0; t0=$(cpu_ticks "$SERVER_PID")
	local line; line=$("$GEN" -url "ws://127.0.0.1:$PORT/ws" -pid "$SERVER_PID" "$@")
	local t1; t1=$(cpu_ticks "$SERVER_PID")
	line=$(python3 - "$line" "$label" "$(( t1 - t0 ))" "$clk_tck" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); d["label"] = sys.argv[2]
d["server_cpu_seconds"] = int(sys.argv[3]) / int(sys.argv[4])
print(json.dumps(d))
PY
)
	echo "$line" >>"$OUT"
	echo "$line"
}

echo "== natkit signal benchmark ($(nproc) cores, open-file limit $(ulimit -n), load average $(cut -d' ' -f1-3 /proc/loadavg)); results in $OUT"

# 1. Idle connections. Each process (server and generators) is bound by the
# open-file limit, so two generators share the load.
limit=$(ulimit -n)
IDLE=${IDLE:-$(( limit - 200 < 20000 ? limit - 200 : 20000 ))}
start_server
base=$(rss_kib "$SERVER_PID")
half=$(( IDLE / 2 ))
"$GEN" -url "ws://127.0.0.1:$PORT/ws" -mode idle -n "$half" -hold 30s -prefix i1 >"$TMP/idle1.json" &
g1=$!; PIDS+=("$g1")
"$GEN" -url "ws://127.0.0.1:$PORT/ws" -mode idle -n $(( IDLE - half )) -hold 30s -prefix i2 >"$TMP/idle2.json" &
g2=$!; PIDS+=("$g2")
n=0
for _ in $(seq 600); do
	n=$(connections)
	[ "$n" -ge "$IDLE" ] && break
	sleep 0.1
done
sleep 3 # let the allocator settle
n=$(connections)
rss=$(rss_kib "$SERVER_PID")
kill -INT "$g1" "$g2" 2>/dev/null || true
wait "$g1" "$g2" 2>/dev/null || true
line=$(python3 -c "import json; print(json.dumps({'label':'idle','mode':'idle','target':$IDLE,'connections':$n,'server_rss_base_kib':$base,'server_rss_kib':$rss,'kib_per_connection':($rss-$base)/max($n,1),'kib_per_connection_incl_base':$rss/max($n,1)}))")
echo "$line" >>"$OUT"; echo "$line"
stop_server

# 2-4 against the memory hub.
start_server
run_gen throughput-memory -mode throughput -rooms "$ROOMS" -window "$WINDOW" -duration "$DURATION" -prefix m1
for rate in $RATES; do
	run_gen "latency-memory-$rate" -mode latency -rooms "$ROOMS" -rate "$rate" -duration "$DURATION" -prefix "m2-$rate"
done
run_gen setup-memory -mode setup -workers "$WORKERS" -duration "$DURATION" -prefix m3
stop_server

# The peer in the same run: the Redis hub.
if command -v redis-server >/dev/null; then
	RPORT=$(free_port)
	redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no >"$TMP/redis.out" 2>&1 &
	PIDS+=("$!")
	sleep 0.5
	start_server --redis "redis://127.0.0.1:$RPORT"
	run_gen throughput-redis -mode throughput -rooms "$ROOMS" -window "$WINDOW" -duration "$DURATION" -prefix r1
	run_gen setup-redis -mode setup -workers "$WORKERS" -duration "$DURATION" -prefix r3
	stop_server
else
	echo "redis-server not found (apt-get install -y redis-server): no Redis-hub comparison"
fi

echo
echo "== summary (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$OUT" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    d = json.loads(line); rows[d["label"]] = d
def g(label, key, default=None):
    return rows.get(label, {}).get(key, default)
if "idle" in rows:
    i = rows["idle"]
    print(f"idle connections      {i['connections']} of {i['target']} held; server RSS {i['server_rss_kib']/1024:.0f} MiB, "
          f"{i['kib_per_connection']:.1f} KiB per connection ({i['kib_per_connection_incl_base']:.1f} incl. the base)")
def per_msg(d, n):
    """CPU µs per message of server and generator over the measurement."""
    srv = d.get("server_cpu_seconds_measured", d["server_cpu_seconds"])
    gen = d.get("generator_cpu_seconds_measured", d.get("generator_cpu_seconds", 0))
    return srv / max(n, 1) * 1e6, gen / max(n, 1) * 1e6
for hub in ("memory", "redis"):
    t = rows.get("throughput-" + hub)
    if t:
        cpu, gen = per_msg(t, t["messages"])
        print(f"throughput ({hub:6}) {t['messages_per_second']:,.0f} messages/s, {t['rooms']} rooms of 2, window {t['window']}; CPU per message: server {cpu:.1f} µs, load generator {gen:.1f} µs")
for label, l in rows.items():
    if label.startswith("latency-memory-"):
        cpu, gen = per_msg(l, l["sent"])
        print(f"latency (memory)      at {l['achieved_rate']:,.0f}/s (target {l['target_rate']:,.0f}): p50 {l['p50_ms']:.2f} ms, p90 {l['p90_ms']:.2f} ms, p99 {l['p99_ms']:.2f} ms, max {l['max_ms']:.2f} ms; CPU per message: server {cpu:.1f} µs, generator {gen:.1f} µs")
for hub in ("memory", "redis"):
    s = rows.get("setup-" + hub)
    if s:
        print(f"call set-ups ({hub:6}) {s['setups_per_second']:,.0f}/s with {s['workers']} workers (p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms), {s['failed']} failed")
if "throughput-memory" in rows and "throughput-redis" in rows:
    print(f"ratio memory/redis    throughput {rows['throughput-memory']['messages_per_second']/rows['throughput-redis']['messages_per_second']:.2f}x, "
          f"set-ups {rows['setup-memory']['setups_per_second']/rows['setup-redis']['setups_per_second']:.2f}x")
PY
