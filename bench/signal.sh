#!/usr/bin/env bash
# bench/signal.sh — load test of `natkit signal` (run by `make bench-signal`
# after `make build`), side by side with a Node `ws` relay of the same
# protocol shape (bench/signal-node.js, `ws` from the npm registry) measured
# in the same run, A/B alternating, ROUNDS times each:
#   1. idle connections (IDLE, default 19,600): the server's RSS per connection,
#      natkit with its event loop, natkit with a goroutine per connection
#      (--event-loops 0, the path before the loop) and Node;
#   2. relay latency and CPU per message at fixed rates (RATES, default
#      10k messages/s), p50/p99, natkit and Node;
#   3. saturation throughput, 1000 rooms of 2 (closed loop, WINDOW in flight
#      per room), natkit and Node;
#   4. call set-ups per second (join + offer + answer + 10 candidates each way).
# Throughput and set-ups are also measured against the Redis hub (if
# redis-server exists).
#
# Environment: NATKIT (default bin/natkit), DURATION (10s), ROOMS (1000),
# WINDOW (16), RATES ("10000"), ROUNDS (3), WORKERS (50), IDLE (total idle
# connections, default 19600 or what the open-file limit allows), HOLD (idle
# hold before measuring, 10s), OUT (jsonl file), NODE=0 to skip Node.
set -euo pipefail
cd "$(dirname "$0")/.."

NATKIT=${NATKIT:-bin/natkit}
DURATION=${DURATION:-10s}
ROOMS=${ROOMS:-1000}
WINDOW=${WINDOW:-16}
RATES=${RATES:-10000}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-50}
HOLD=${HOLD:-10s}
OUT=${OUT:-$(mktemp -t natkit-signal-bench.XXXXXX.jsonl)}
[ -x "$NATKIT" ] || { echo "bench/signal.sh: $NATKIT not found; run 'make build' first" >&2; exit 2; }

# 19,600 idle connections need as many descriptors in the server: raise the
# soft open-file limit as far as the hard limit allows.
hard=$(ulimit -Hn)
want=20000
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then want=$hard; fi
ulimit -n "$want" 2>/dev/null || true

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

# The peer: Node `ws` (npm registry), installed into the run's temp dir.
NODE=${NODE:-1}
if [ "$NODE" = 1 ]; then
	if command -v node >/dev/null && command -v npm >/dev/null &&
		npm install --prefix "$TMP/node" --no-audit --no-fund --silent ws@8 >"$TMP/npm.out" 2>&1; then
		export NODE_PATH="$TMP/node/node_modules"
		NODE_VERSION="node $(node --version), ws $(node -p 'require("ws/package.json").version')"
	else
		echo "Node or its ws package is unavailable (apt-get install -y nodejs npm): no Node comparison"; cat "$TMP/npm.out" 2>/dev/null || true
		NODE=0
	fi
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
clk_tck=$(getconf CLK_TCK)

SERVER_PID=""
PORT=""
PPROF=""
wait_healthy() {
	for _ in $(seq 100); do
		curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "the server did not start:" >&2; cat "$TMP/server.out" >&2; exit 3
}
# start_server KIND [flags...]: KIND is natkit, natkit-goroutines or node.
start_server() {
	local kind=$1; shift
	PORT=$(free_port)
	case $kind in
	node)
		node bench/signal-node.js "$PORT" >"$TMP/server.out" 2>&1 &
		;;
	*)
		local loops=1
		[ "$kind" = natkit-goroutines ] && loops=0
		PPROF=$(free_port)
		"$NATKIT" signal --listen "127.0.0.1:$PORT" --rate 1000000 --rate-burst 1000000 \
			--max-connections 100000 --max-rooms 100000 --log-level error \
			--event-loops "$loops" --pprof "127.0.0.1:$PPROF" "$@" >"$TMP/server.out" 2>&1 &
		;;
	esac
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	wait_healthy
}
stop_server() {
	kill -INT "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
}
connections() { curl -fsS "http://127.0.0.1:$PORT/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["connections"])'; }

# run_gen LABEL KIND ARGS... — runs the generator, adds the server's CPU
# time over the whole run (server_cpu_seconds, including connection
# set-up), appends the JSON line to $OUT and echoes it. Throughput and
# latency runs also carry both processes' CPU time over the measurement
# alone (server_cpu_seconds_measured, generator_cpu_seconds_measured): the
# per-message figures use those.
run_gen() {
	local label=$1 kind=$2; shift 2
	local t0; t0=$(cpu_ticks "$SERVER_PID")
	local la0; la0=$(loadavg)
	local line; line=$("$GEN" -url "ws://127.0.0.1:$PORT/ws" -pid "$SERVER_PID" "$@")
	local t1; t1=$(cpu_ticks "$SERVER_PID")
	line=$(python3 - "$line" "$label" "$kind" "$(( t1 - t0 ))" "$clk_tck" "$la0" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); d["label"] = sys.argv[2]; d["server"] = sys.argv[3]
d["server_cpu_seconds"] = int(sys.argv[4]) / int(sys.argv[5])
d["loadavg"] = sys.argv[6]
print(json.dumps(d))
PY
)
	echo "$line" >>"$OUT"
	echo "$line"
}

echo "== natkit signal benchmark ($(nproc) cores, open-file limit $(ulimit -n), load average $(loadavg)); ${NODE_VERSION:-no Node}; results in $OUT"

KINDS="natkit natkit-goroutines"
CPU_KINDS="natkit natkit-goroutines"
if [ "$NODE" = 1 ]; then KINDS="natkit node natkit-goroutines"; CPU_KINDS="$KINDS"; fi

# 1. Idle connections. Each process (server and generators) is bound by the
# open-file limit, so two generators share the load.
limit=$(ulimit -n)
IDLE=${IDLE:-$(( limit - 400 < 19600 ? limit - 400 : 19600 ))}
idle_round() { # KIND ROUND
	local kind=$1 round=$2
	start_server "$kind"
	sleep 1
	local base; base=$(rss_kib "$SERVER_PID")
	local half=$(( IDLE / 2 ))
	"$GEN" -url "ws://127.0.0.1:$PORT/ws" -mode idle -n "$half" -hold 10m -prefix i1 >"$TMP/idle1.json" &
	local g1=$!; PIDS+=("$g1")
	"$GEN" -url "ws://127.0.0.1:$PORT/ws" -mode idle -n $(( IDLE - half )) -hold 10m -prefix i2 >"$TMP/idle2.json" &
	local g2=$!; PIDS+=("$g2")
	local n=0 t_end=$(( SECONDS + 240 ))
	while [ "$SECONDS" -lt "$t_end" ]; do
		n=$(connections)
		[ "$n" -ge "$IDLE" ] && break
		sleep 0.5
	done
	[ "$n" -ge "$IDLE" ] || echo "idle ($kind): only $n of $IDLE connections after 240 s" >&2
	sleep "${HOLD%s}" # let the allocator settle (the Go runtime returns freed pages within minutes; we do not force it)
	n=$(connections)
	local rss; rss=$(rss_kib "$SERVER_PID")
	local heap=None goroutines=None
	if [ "$kind" != node ]; then
		curl -fsS "http://127.0.0.1:$PPROF/debug/pprof/heap?gc=1" -o "$TMP/heap-$kind-$round.pb.gz" 2>/dev/null &&
			heap=$(go tool pprof -sample_index=inuse_space -top "$TMP/heap-$kind-$round.pb.gz" 2>/dev/null | awk '/total$/ {print $(NF-1)}' | head -1 | python3 -c 'import sys
s=sys.stdin.read().strip()
u={"B":1/1024,"kB":1,"MB":1024,"GB":1024*1024}
print(next((float(s[:-len(k)])*v for k,v in u.items() if s.endswith(k) and s[:-len(k)].replace(".","").isdigit()), "None"))')
		goroutines=$(curl -fsS "http://127.0.0.1:$PPROF/debug/pprof/goroutine?debug=1" | awk 'NR==1 {print $NF}')
	fi
	kill -INT "$g1" "$g2" 2>/dev/null || true
	wait "$g1" "$g2" 2>/dev/null || true
	local line
	line=$(python3 -c "import json; print(json.dumps({'label':'idle','server':'$kind','round':$round,'loadavg':'$(loadavg)','target':$IDLE,'connections':$n,'server_rss_base_kib':$base,'server_rss_kib':$rss,'kib_per_connection':($rss-$base)/max($n,1),'heap_inuse_kib':$heap,'goroutines':$goroutines}))")
	echo "$line" >>"$OUT"; echo "$line"
	stop_server
}
for round in $(seq "$ROUNDS"); do
	for kind in $KINDS; do idle_round "$kind" "$round"; done
done

# 2. CPU per message and latency at fixed rates, alternating.
for round in $(seq "$ROUNDS"); do
	for kind in $CPU_KINDS; do
		start_server "$kind"
		for rate in $RATES; do
			run_gen "latency-$rate" "$kind" -mode latency -rooms "$ROOMS" -rate "$rate" -duration "$DURATION" -prefix "l$round-$rate"
		done
		stop_server
	done
done

# 3. Saturation throughput, alternating.
for round in $(seq "$ROUNDS"); do
	for kind in $CPU_KINDS; do
		start_server "$kind"
		run_gen throughput "$kind" -mode throughput -rooms "$ROOMS" -window "$WINDOW" -duration "$DURATION" -prefix "t$round"
		stop_server
	done
done

# 4. Call set-ups (natkit only: the Node peer has no ICE servers to hand out).
start_server natkit
run_gen setup-memory natkit -mode setup -workers "$WORKERS" -duration "$DURATION" -prefix m3
stop_server

# The Redis hub, against the memory hub above.
if command -v redis-server >/dev/null; then
	RPORT=$(free_port)
	redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no >"$TMP/redis.out" 2>&1 &
	PIDS+=("$!")
	sleep 0.5
	start_server natkit --redis "redis://127.0.0.1:$RPORT"
	run_gen throughput-redis natkit-redis -mode throughput -rooms "$ROOMS" -window "$WINDOW" -duration "$DURATION" -prefix r1
	run_gen setup-redis natkit-redis -mode setup -workers "$WORKERS" -duration "$DURATION" -prefix r3
	stop_server
else
	echo "redis-server not found (apt-get install -y redis-server): no Redis-hub comparison"
fi

echo
echo "== summary (load average now $(loadavg); ranges are min–max over $ROUNDS alternating rounds)"
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def pick(label, server):
    return [r for r in rows if r["label"] == label and r.get("server") == server]
def rng(vals, fmt="{:.1f}"):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    lo, hi = min(vals), max(vals)
    return fmt.format(lo) if lo == hi else fmt.format(lo) + "–" + fmt.format(hi)
def per_msg(d, n):
    srv = d.get("server_cpu_seconds_measured", d["server_cpu_seconds"])
    return srv / max(n, 1) * 1e6
servers = ["natkit", "natkit-goroutines", "node"]
for s in servers:
    rs = pick("idle", s)
    if rs:
        print(f"idle {s:18} {rs[0]['connections']} of {rs[0]['target']} held: {rng([r['kib_per_connection'] for r in rs])} KiB RSS per connection"
              + (f", heap in use {rng([r['heap_inuse_kib'] and r['heap_inuse_kib']/r['connections'] for r in rs], '{:.2f}')} KiB/conn, goroutines {rng([r['goroutines'] for r in rs], '{:.0f}')}" if s != "node" else "")
              + f" (load {', '.join(r['loadavg'] for r in rs)})")
def ratio(a, b):
    """Range of a/b over the rounds (round i of a against round i of b)."""
    return rng([x / y for x, y in zip(a, b) if y], "{:.2f}")
nat, node = pick("idle", "natkit"), pick("idle", "node")
if nat and node:
    print(f"idle natkit/node      {ratio([r['kib_per_connection'] for r in nat], [r['kib_per_connection'] for r in node])}x RSS per connection")
labels = sorted({r["label"] for r in rows if r["label"].startswith("latency-")})
for label in labels:
    for s in servers:
        rs = pick(label, s)
        if rs:
            print(f"{label} {s:17} at {rng([r['achieved_rate'] for r in rs], '{:,.0f}')}/s: server CPU {rng([per_msg(r, r['sent']) for r in rs])} µs/msg, "
                  f"p50 {rng([r['p50_ms'] for r in rs], '{:.2f}')} ms, p99 {rng([r['p99_ms'] for r in rs], '{:.2f}')} ms (load {', '.join(r['loadavg'] for r in rs)})")
    a, b = pick(label, "natkit"), pick(label, "node")
    if a and b:
        print(f"{label} natkit/node CPU per message {ratio([per_msg(r, r['sent']) for r in a], [per_msg(r, r['sent']) for r in b])}x")
for s in servers:
    rs = pick("throughput", s)
    if rs:
        print(f"throughput {s:17} {rng([r['messages_per_second'] for r in rs], '{:,.0f}')} messages/s, {rs[0]['rooms']} rooms of 2, window {rs[0]['window']}; "
              f"server CPU {rng([per_msg(r, r['messages']) for r in rs])} µs/msg (load {', '.join(r['loadavg'] for r in rs)})")
a, b = pick("throughput", "natkit"), pick("throughput", "node")
if a and b:
    print(f"throughput natkit/node {ratio([r['messages_per_second'] for r in a], [r['messages_per_second'] for r in b])}x")
a, b = pick("throughput", "natkit"), pick("throughput", "natkit-goroutines")
if a and b:
    print(f"throughput event loop/goroutines {ratio([r['messages_per_second'] for r in a], [r['messages_per_second'] for r in b])}x")
for label in ("setup-memory", "setup-redis"):
    for r in [r for r in rows if r["label"] == label]:
        print(f"call set-ups ({label[6:]:6}) {r['setups_per_second']:,.0f}/s with {r['workers']} workers (p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms), {r['failed']} failed")
for r in [r for r in rows if r["label"] == "throughput-redis"]:
    print(f"throughput (redis)  {r['messages_per_second']:,.0f} messages/s")
PY
