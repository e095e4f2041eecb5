#!/usr/bin/env bash
# bench/signal-loops.sh — saturation throughput of `natkit signal` by
# connection handling: --event-loops 1 (the default), 0 (a goroutine per
# connection) and 2, alternating ROUNDS times, 1000 rooms of 2, WINDOW
# messages in flight per room, with the server's CPU per message and the
# load average. Run after `make build`.
set -euo pipefail
cd "$(dirname "$0")/.."
NATKIT=${NATKIT:-bin/natkit}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-5s}
WINDOW=${WINDOW:-16}
LOOPS=${LOOPS:-"1 0 2"}
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -INT "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
go build -o "$TMP/signalbench" ./cmd/signalbench
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
echo "== natkit signal saturation by --event-loops ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
for round in $(seq "$ROUNDS"); do
	for loops in $LOOPS; do
		port=$(free_port)
		"$NATKIT" signal --listen "127.0.0.1:$port" --rate 1000000 --rate-burst 1000000 \
			--max-connections 100000 --max-rooms 100000 --log-level error --event-loops "$loops" >/dev/null 2>&1 &
		PID=$!
		for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
		la=$(cut -d' ' -f1 /proc/loadavg)
		out=$("$TMP/signalbench" -url "ws://127.0.0.1:$port/ws" -pid "$PID" -mode throughput -rooms 1000 -window "$WINDOW" -duration "$DURATION" -prefix "t$round-$loops")
		kill -INT "$PID"; wait "$PID" 2>/dev/null || true; PID=
		python3 - "$out" "$round" "$loops" "$la" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
print(f"round {sys.argv[2]}  --event-loops {sys.argv[3]}  load {sys.argv[4]}  "
      f"{d['messages_per_second']:,.0f} msgs/s  {1e6*d['server_cpu_seconds_measured']/d['messages']:.2f} µs server CPU/msg")
PY
	done
done
