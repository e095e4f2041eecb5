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
# FAMILY=6 runs it all over IPv6: the relays listen and relay on ::1, and
# bench asks for IPv6 relayed addresses (--relay-family ipv6).
#
# coturn is 4.17.1 from ../shared/peers/coturn-latest when it runs, else
# Debian's 4.6.1 (bench/coturn.sh; COTURN_BIN=DIR forces a bin directory).
# Needs bin/natkit and jq. Everything listens on 127.0.0.1 (or ::1) and
# stops on exit.
set -euo pipefail

NATKIT=${NATKIT:-bin/natkit}
ALLOCS=${ALLOCS:-20}
RATE=${RATE:-200}
PAIRS=${PAIRS:-10}
PPS=${PPS:-100}
SIZE=${SIZE:-200}
SECS=${SECS:-3}
REPS=${REPS:-3}
FAMILY=${FAMILY:-4}

[[ -x $NATKIT ]] || { echo "bench/tcpalloc.sh: $NATKIT missing: run make build" >&2; exit 3; }
command -v jq >/dev/null || { echo "bench/tcpalloc.sh: jq missing: apt-get install -y jq" >&2; exit 3; }
# shellcheck source=bench/coturn.sh
. "$(dirname "$0")/coturn.sh"
version=$coturn_version
case $FAMILY in
4) ip=127.0.0.1 host=127.0.0.1 peers=127.0.0.0/8 family=() ;;
6) ip=::1 host='[::1]' peers=::1/128 family=(--relay-family ipv6) ;;
*) echo "bench/tcpalloc.sh: FAMILY=$FAMILY: want 4 or 6" >&2; exit 2 ;;
esac

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
"$NATKIT" relay --listen "tcp://$host:$port" --tcp-relay --allow-peer "$peers" --user u:p \
	--log-level error >"$work/natkit.log" 2>&1 &
npid=$!
pids+=($npid)
"$turnserver" -n --listening-ip "$ip" --relay-ip "$ip" --listening-port "$cport" --no-tls \
	--realm natkit --lt-cred-mech --user u:p --allow-loopback-peers "${coturn_flags[@]}" \
	--pidfile "$work/ts.pid" --userdb "$work/ts.db" --log-file stdout >"$work/turnserver.log" 2>&1 &
cpid=$!
pids+=($cpid)
for p in "$port" "$cport"; do
	for _ in $(seq 150); do (echo >/dev/tcp/"$ip"/"$p") 2>/dev/null && break; sleep 0.1; done
done
echo "natkit relay (pid $npid, port $port) vs $version (pid $cpid, port $cport), IPv$FAMILY"
echo "load: $ALLOCS in flight at $RATE/s; traffic: $PAIRS pairs × $PPS msg/s × $SIZE B; $SECS s each; $REPS rounds"

# cpu PID: user+sys seconds of a process so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

run() { # run NAME PID PORT
	local name=$1 pid=$2 p=$3 url="turn:$host:$3?transport=tcp" c0 c1 a t
	c0=$(cpu "$pid")
	a=$("$NATKIT" bench "$url" --user u --credential p --tcp-allocations "${family[@]}" --allocations "$ALLOCS" --rate "$RATE" \
		--duration "${SECS}s" --format json 2>/dev/null || true)
	t=$("$NATKIT" bench "$url" --user u --credential p --tcp-allocations "${family[@]}" --allocations $((PAIRS * 2)) --rate "$RATE" \
		--pps "$PPS" --size "$SIZE" --duration "${SECS}s" --format json 2>/dev/null || true)
	c1=$(cpu "$pid")
	jq -rn --arg name "$name" --argjson a "$a" --argjson t "$t" --arg cpu "$(echo "$c1 - $c0" | bc)" '
		def m(r; n): (r.metrics[] | select(.name == n));
		($a.details.allocations_succeeded / ($a.details.elapsed / 1e9)) as $aps
		| ($t.details.sent / ($t.details.traffic_duration / 1e9)) as $mps
		| "\($name)\t\($aps | floor) alloc/s (\($a.details.allocations_failed // 0) failed, \($a.details.relayed_ipv6 // 0) relayed over IPv6)\ttime to relay p50 \(m($a; "turn.allocate.time_to_relay").p50) p99 \(m($a; "turn.allocate.time_to_relay").p99) ms\t\($mps | floor) msg/s, \($t.details.received)/\($t.details.sent) echoed\tRTT p50 \(m($t; "relay.rtt").p50) p99 \(m($t; "relay.rtt").p99) ms\trelay CPU \($cpu) s"'
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
