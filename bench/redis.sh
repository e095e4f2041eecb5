#!/usr/bin/env bash
# bench/redis.sh — the Redis hub against the memory hub (run by
# `make bench-signal` after bench/signal.sh; or on its own after
# `make build`). Three set-ups, alternating within each round:
#   memory     one `natkit signal` (memory hub): the peer to match;
#   redis-old  two instances sharing one redis-server, with the Redis hub
#              as it was before issue 15 (built from OLD_REF);
#   redis-new  two instances with this tree's Redis hub ($NATKIT).
# In each, cmd/signalbench runs 1000 rooms of 2 with the peers placed at
# random over the instances (so about half the rooms span both):
#   1. throughput, closed loop, WINDOW messages in flight per room;
#   2. latency at RATE messages/s (open loop), p50/p99.
# CPU per message is measured over the measurement window only (not the
# connection set-up): the signal instances (signalbench -cpu-pids) and
# redis-server (-pid) separately.
#
# Environment: NATKIT (bin/natkit), OLD_REF (487a772; "" skips redis-old),
# ROUNDS (3), DURATION (5s), ROOMS (1000), WINDOW (16), RATE (10000),
# OUT (jsonl file). Needs redis-server; everything listens on 127.0.0.1
# and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

NATKIT=${NATKIT:-bin/natkit}
OLD_REF=${OLD_REF-487a772}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
ROOMS=${ROOMS:-1000}
WINDOW=${WINDOW:-16}
RATE=${RATE:-10000}
OUT=${OUT:-$(mktemp -t natkit-redis-bench.XXXXXX.jsonl)}
[ -x "$NATKIT" ] || { echo "bench/redis.sh: $NATKIT not found; run 'make build' first" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "bench/redis.sh: redis-server not found (apt-get install -y redis-server): no Redis-hub benchmark"; exit 0; }

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
SETUPS="memory redis-new"
if [ -n "$OLD_REF" ]; then
	mkdir "$TMP/old"
	git archive "$OLD_REF" | tar -x -C "$TMP/old"
	(cd "$TMP/old" && go build -o "$TMP/natkit-old" ./cmd/natkit)
	SETUPS="memory redis-old redis-new"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
load() { cut -d' ' -f1 /proc/loadavg; }

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no >"$TMP/redis.out" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
for _ in $(seq 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

SERVERS=()
URLS=""
start_servers() { # setup
	local bin=$NATKIT n=1 extra=()
	case $1 in
	redis-old) bin=$TMP/natkit-old; n=2; extra=(--redis "redis://127.0.0.1:$RPORT") ;;
	redis-new) n=2; extra=(--redis "redis://127.0.0.1:$RPORT") ;;
	esac
	SERVERS=(); URLS=""
	for i in $(seq "$n"); do
		local port; port=$(free_port)
		"$bin" signal --listen "127.0.0.1:$port" --rate 1000000 --rate-burst 1000000 \
			--max-connections 100000 --max-rooms 100000 --log-level error "${extra[@]}" >"$TMP/server-$i.out" 2>&1 &
		SERVERS+=("$!"); PIDS+=("$!")
		local up=""
		for _ in $(seq 100); do
			curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && { up=1; break; }
			sleep 0.1
		done
		[ -n "$up" ] || { echo "natkit signal ($1) did not start:" >&2; cat "$TMP/server-$i.out" >&2; exit 3; }
		URLS="${URLS:+$URLS,}ws://127.0.0.1:$port/ws"
	done
}
stop_servers() {
	for p in "${SERVERS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${SERVERS[@]}"; do wait "$p" 2>/dev/null || true; done
}
# run SETUP ROUND LABEL ARGS... — one generator run; appends a JSON line.
run() {
	local setup=$1 round=$2 label=$3; shift 3
	local l0; l0=$(load)
	local pids; pids=$(IFS=,; echo "${SERVERS[*]}")
	local redis_pid=0
	case $setup in redis-*) redis_pid=$REDIS_PID ;; esac
	local line; line=$("$GEN" -url "$URLS" -pid "$redis_pid" -cpu-pids "$pids" "$@")
	python3 - "$line" "$setup" "$round" "$label" "$l0" "$(load)" >>"$OUT" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
d.update(setup=sys.argv[2], round=int(sys.argv[3]), label=sys.argv[4],
         servers_cpu_seconds=d.get("cpu_pids_seconds_measured", 0),
         redis_cpu_seconds=d.get("server_cpu_seconds_measured", 0),
         load_start=float(sys.argv[5]), load_end=float(sys.argv[6]))
print(json.dumps(d))
PY
	tail -n 1 "$OUT"
}

echo "== Redis hub benchmark ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)); set-ups: $SETUPS; results in $OUT"
for round in $(seq "$ROUNDS"); do
	# Rotate the order each round, so no set-up always runs first.
	set -- $SETUPS
	order=("$@")
	for _ in $(seq $(( (round - 1) % ${#order[@]} ))); do order=("${order[@]:1}" "${order[0]}"); done
	for setup in "${order[@]}"; do
		start_servers "$setup"
		run "$setup" "$round" throughput -mode throughput -rooms "$ROOMS" -window "$WINDOW" -duration "$DURATION" -prefix "t$round$setup"
		run "$setup" "$round" latency -mode latency -rooms "$ROOMS" -rate "$RATE" -duration "$DURATION" -prefix "l$round$setup"
		stop_servers
	done
done

echo
echo "== summary (load average now $(cut -d' ' -f1-3 /proc/loadavg)); min–max over $ROUNDS rounds"
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def rng(vals, fmt):
    return f"{fmt.format(min(vals))}–{fmt.format(max(vals))}" if vals else "–"
setups = [s for s in ("memory", "redis-old", "redis-new") if any(r["setup"] == s for r in rows)]
tp = {s: [r for r in rows if r["setup"] == s and r["label"] == "throughput" and "messages" in r] for s in setups}
lat = {s: [r for r in rows if r["setup"] == s and r["label"] == "latency" and "p99_ms" in r] for s in setups}
print(f"{'':10} {'throughput msgs/s':>20} {'servers CPU µs/msg':>20} {'redis CPU µs/msg':>18} {'p50 ms @rate':>14} {'p99 ms @rate':>14} {'CPU µs/msg @rate':>18} {'load':>10}")
for s in setups:
    t, l = tp[s], lat[s]
    print(f"{s:10} {rng([r['messages_per_second'] for r in t], '{:,.0f}'):>20} "
          f"{rng([r['servers_cpu_seconds'] / max(r['messages'], 1) * 1e6 for r in t], '{:.1f}'):>20} "
          f"{rng([r['redis_cpu_seconds'] / max(r['messages'], 1) * 1e6 for r in t], '{:.1f}'):>18} "
          f"{rng([r['p50_ms'] for r in l], '{:.2f}'):>14} {rng([r['p99_ms'] for r in l], '{:.2f}'):>14} "
          f"{rng([(r['servers_cpu_seconds'] + r['redis_cpu_seconds']) / max(r['sent'], 1) * 1e6 for r in l], '{:.1f}'):>18} "
          f"{rng([r['load_start'] for r in t + l], '{:.1f}'):>10}")
if "redis-new" in tp and tp["redis-new"]:
    new = [r["messages_per_second"] for r in tp["redis-new"]]
    for s in ("memory", "redis-old"):
        if tp.get(s):
            # Same round, side by side: the ratio per round, then its range.
            by = {r["round"]: r["messages_per_second"] for r in tp[s]}
            ratios = [r["messages_per_second"] / by[r["round"]] for r in tp["redis-new"] if r["round"] in by]
            print(f"redis-new / {s:9} throughput {rng(ratios, '{:.2f}')}x (per round)")
errs = sum(r.get("error_frames", 0) for r in rows)
lost = [(r["setup"], r["round"], r["sent"] - r["received"]) for r in rows if r["label"] == "latency" and r.get("sent", 0) != r.get("received", 0)]
print(f"error frames {errs}; latency runs with messages not received: {lost or 'none'}")
PY
