#!/usr/bin/env bash
# bench/tcpalloc.sh — RFC 6062 TCP allocations: natkit relay --tcp-relay and
# coturn side by side on loopback, under the same natkit bench load, REPS
# rounds alternating the relays. Each round runs
#   - allocation load: natkit bench --tcp-allocations, ALLOCS in flight at
#     RATE/s for SECS s (allocate, delete);
#   - traffic: PAIRS×2 TCP allocations paired through the relay (Connect,
#     ConnectionBind), each pair echoing PPS messages/s of SIZE bytes for
#     SECS s;
# and prints allocations/s, time to relayed address p50/p99, messages/s,
# RTT p50/p99, and the relay process's CPU seconds for the round (from
# /proc/PID/stat), with the load average before and after.
#
# coturn is Debian's turnserver unless COTURN_BIN names a bin directory.
# Needs bin/natkit and jq. Everything listens on 127.0.0.1 and stops on exit.
set -euo pipefail

NATKIT=${NATKIT:-bin/natkit}
ALLOCS=${ALLOCS:-20}
RATE=${RATE:-200}
PAIRS=${PAIRS:-10}
PPS=${PPS:-100}
SIZE=${SIZE:-200}
SECS=${SECS:-3}
REPS=${REPS:-3}

[[ -x $NATKIT ]] || { echo "bench/tcpalloc.sh: $NATKIT missing: run make build" >&2; exit 3; }
command -v jq >/dev/null || { echo "bench/tcpalloc.sh: jq missing: apt-get install -y jq" >&2; exit 3; }
turnserver=${COTURN_BIN:+$COTURN_BIN/}turnserver
command -v "$turnserver" >/dev/null || { echo "bench/tcpalloc.sh: coturn missing: apt-get install -y coturn" >&2; exit 3; }
version=$("$turnserver" --version 2>/dev/null | head -1)
old_flags=()
[[ $version == 4.6* ]] && old_flags=(--no-cli --no-dtls)

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

port=$((20000 + RANDOM % 20000))
cport=$((port + 2))
"$NATKIT" relay --listen "tcp://127.0.0.1:$port" --tcp-relay --allow-peer 127.0.0.0/8 --user u:p \
	--log-level error >"$work/natkit.log" 2>&1 &
npid=$!
pids+=($npid)
"$turnserver" -n --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port "$cport" --no-tls \
	--realm natkit --lt-cred-mech --user u:p --allow-loopback-peers "${old_flags[@]}" \
	--pidfile "$work/ts.pid" --userdb "$work/ts.db" --log-file stdout >"$work/turnserver.log" 2>&1 &
cpid=$!
pids+=($cpid)
for p in "$port" "$cport"; do
	for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/"$p") 2>/dev/null && break; sleep 0.1; done
done
echo "natkit relay (pid $npid, port $port) vs $version (pid $cpid, port $cport)"
echo "load: $ALLOCS in flight at $RATE/s; traffic: $PAIRS pairs × $PPS msg/s × $SIZE B; $SECS s each; $REPS rounds"

# cpu PID: user+sys seconds of a process so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

run() { # run NAME PID PORT
	local name=$1 pid=$2 p=$3 url="turn:127.0.0.1:$3?transport=tcp" c0 c1 a t
	c0=$(cpu "$pid")
	a=$("$NATKIT" bench "$url" --user u --credential p --tcp-allocations --allocations "$ALLOCS" --rate "$RATE" \
		--duration "${SECS}s" --format json 2>/dev/null || true)
	t=$("$NATKIT" bench "$url" --user u --credential p --tcp-allocations --allocations $((PAIRS * 2)) --rate "$RATE" \
		--pps "$PPS" --size "$SIZE" --duration "${SECS}s" --format json 2>/dev/null || true)
	c1=$(cpu "$pid")
	jq -rn --arg name "$name" --argjson a "$a" --argjson t "$t" --arg cpu "$(echo "$c1 - $c0" | bc)" '
		def m(r; n): (r.metrics[] | select(.name == n));
		($a.details.allocations_succeeded / ($a.details.elapsed / 1e9)) as $aps
		| ($t.details.sent / ($t.details.traffic_duration / 1e9)) as $mps
		| "\($name)\t\($aps | floor) alloc/s (\($a.details.allocations_failed // 0) failed)\ttime to relay p50 \(m($a; "turn.allocate.time_to_relay").p50) p99 \(m($a; "turn.allocate.time_to_relay").p99) ms\t\($mps | floor) msg/s, \($t.details.received)/\($t.details.sent) echoed\tRTT p50 \(m($t; "relay.rtt").p50) p99 \(m($t; "relay.rtt").p99) ms\trelay CPU \($cpu) s"'
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$REPS"); do
	if (( r % 2 )); then
		run natkit "$npid" "$port"; run coturn "$cpid" "$cport"
	else
		run coturn "$cpid" "$cport"; run natkit "$npid" "$port"
	fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
