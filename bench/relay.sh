#!/usr/bin/env bash
# bench/relay.sh — natkit relay side by side with coturn's turnserver on
# loopback (`make bench-relay`, after `make build`). Both relays get the
# same load, one after the other, with the same echo peer:
#   1. turnutils_uclient -m 100 -n 2000 -l 100 -z 0 toward turnutils_peer
#      (a burst: 100 clients × 2000 packets as fast as uclient can send);
#   2. natkit bench with a paced load (ALLOCS × PPS packets/s, ChannelData).
# Each load runs REPEAT times, alternating the relays. For each it prints relayed packets per second (client→peer plus
# peer→client, as the client counted them), loss, RTT through the relay,
# and the relay process's CPU seconds per million relayed packets (from
# /proc/PID/stat, so only the server's own CPU is counted).
#
# Needs: bin/natkit, turnserver, turnutils_uclient, turnutils_peer
# (apt-get install -y coturn), jq. Everything listens on 127.0.0.1 and
# stops on exit.
set -euo pipefail

NATKIT=${NATKIT:-bin/natkit}
CLIENTS=${CLIENTS:-100}     # uclient -m
MSGS=${MSGS:-2000}          # uclient -n
SIZE=${SIZE:-100}           # uclient -l and natkit bench --size
ALLOCS=${ALLOCS:-50}        # natkit bench allocations
PPS=${PPS:-200}             # natkit bench packets/s per allocation
SECS=${SECS:-5}             # natkit bench seconds of traffic
SOCKETS=${SOCKETS:-1}       # natkit relay --sockets (SO_REUSEPORT)
LOOPS=${LOOPS:-}            # natkit relay --loops (event loops; empty: the relay's default, half the CPUs)
REPEAT=${REPEAT:-3}         # rounds of each load, coturn and natkit alternating (a shared machine is noisy)

[[ -x $NATKIT ]] || { echo "bench/relay.sh: $NATKIT missing: run make build" >&2; exit 3; }
for p in turnserver turnutils_uclient turnutils_peer jq; do
	command -v "$p" >/dev/null || { echo "bench/relay.sh: $p missing: apt-get install -y coturn jq" >&2; exit 3; }
done

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[[ -n ${KEEP:-} ]] || rm -rf "$work"; [[ -z ${KEEP:-} ]] || echo "kept $work" >&2
}
trap cleanup EXIT

base=$((20000 + RANDOM % 20000))
coturn_port=$base
natkit_port=$((base + 4))
peer_port=$((base + 8))
hz=$(getconf CLK_TCK)

turnserver -n --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port "$coturn_port" \
	--realm natkit --lt-cred-mech --user u:p --allow-loopback-peers --no-cli --no-tls --no-dtls \
	--pidfile "$work/ts.pid" --userdb "$work/ts.db" --log-file stdout >"$work/turnserver.log" 2>&1 &
coturn_pid=$!
pids+=("$coturn_pid")
"$NATKIT" relay --listen "udp://127.0.0.1:$natkit_port" --listen "tcp://127.0.0.1:$natkit_port" \
	--user u:p --allow-peer 127.0.0.0/8 --sockets "$SOCKETS" ${LOOPS:+--loops "$LOOPS"} --format json >"$work/natkit-relay.json" 2>"$work/natkit-relay.log" &
natkit_pid=$!
pids+=("$natkit_pid")
turnutils_peer -L 127.0.0.1 -p "$peer_port" >"$work/peer.log" 2>&1 &
pids+=($!)
for p in "$coturn_port" "$natkit_port"; do
	for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/"$p") 2>/dev/null && break; sleep 0.1; done
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now() { date +%s.%N; }

# uclient_run NAME PID PORT: one uclient burst; prints a table row.
uclient_run() {
	local name=$1 pid=$2 port=$3 c0 c1 t0 t1
	c0=$(cpu_ticks "$pid"); t0=$(now)
	turnutils_uclient -m "$CLIENTS" -n "$MSGS" -l "$SIZE" -z 0 -e 127.0.0.1 -r "$peer_port" \
		-u u -w p -p "$port" 127.0.0.1 >"$work/uclient-$name.out" 2>&1 || true
	t1=$(now); c1=$(cpu_ticks "$pid")
	local out="$work/uclient-$name.out"
	local sent recv loss rtt ttime
	ttime=$(grep -o 'Total transmit time is [0-9]*' "$out" | awk '{print $5}')
	sent=$(grep -o 'tot_send_msgs=[0-9]*' "$out" | tail -1 | cut -d= -f2)
	recv=$(grep -o 'tot_recv_msgs=[0-9]*' "$out" | tail -1 | cut -d= -f2)
	loss=$(grep -o 'Total lost packets [0-9]* ([0-9.]*%)' "$out" | sed 's/.*(\(.*\)%)/\1/')
	rtt=$(grep -o 'Average round trip delay [0-9.]*' "$out" | awk '{print $5}')
	awk -v n="$name" -v s="${sent:-0}" -v r="${recv:-0}" -v l="${loss:-100}" -v rtt="${rtt:-0}" \
		-v c="$(( c1 - c0 ))" -v hz="$hz" -v t0="$t0" -v t1="$t1" -v tt="${ttime:-0}" 'BEGIN {
		wall = t1 - t0; cpu = c / hz; pk = s + r; if (tt < 1) tt = 1
		printf "%-14s %9d %9d %8.3f %10.0f %7d %9.2f %8.2f %12.2f %10.3f\n", n, s, r, l, pk / tt, tt, wall, cpu, (pk > 0 ? 1e6 * cpu / pk : 0), rtt
	}'
}

# bench_run NAME PID PORT: one paced natkit bench run; prints a table row.
bench_run() {
	local name=$1 pid=$2 port=$3 c0 c1 t0 t1
	c0=$(cpu_ticks "$pid"); t0=$(now)
	"$NATKIT" bench "turn:127.0.0.1:$port" --user u --credential p --allocations "$ALLOCS" --pps "$PPS" \
		--size "$SIZE" --duration "${SECS}s" --peer "127.0.0.1:$peer_port" --max-loss 100 --format json \
		>"$work/bench-$name.json" 2>"$work/bench-$name.log" || true
	t1=$(now); c1=$(cpu_ticks "$pid")
	jq -r --arg n "$name" --arg c "$(( c1 - c0 ))" --arg hz "$hz" '
		(.metrics | map({(.name): .}) | add) as $m
		| ($m["packets.sent"].value // 0) as $s | ($m["packets.received"].value // 0) as $r
		| (($c|tonumber) / ($hz|tonumber)) as $cpu
		| [$n, $s, $r, (if $s > 0 then 100 * ($m["packets.lost"].value // 0) / $s else 100 end),
		   (($m["packets.sent_rate"].value // 0) * (if $s > 0 then ($s + $r) / $s else 0 end)), $cpu,
		   (if ($s + $r) > 0 then 1e6 * $cpu / ($s + $r) else 0 end),
		   ($m["relay.rtt"].mean // 0), ($m["relay.rtt"].p99 // 0)]
		| "\(.[0])\t\(.[1])\t\(.[2])\t\(.[3])\t\(.[4])\t\(.[5])\t\(.[6])\t\(.[7])\t\(.[8])"' "$work/bench-$name.json" |
		awk -F'\t' '{printf "%-14s %9d %9d %8.3f %10.0f %8.2f %12.2f %10.3f %10.3f\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}'
}

echo "== turnutils_uclient -m $CLIENTS -n $MSGS -l $SIZE -z 0 → turnutils_peer (coturn :$coturn_port, natkit :$natkit_port, --sockets $SOCKETS${LOOPS:+ --loops $LOOPS})"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
printf "%-14s %9s %9s %8s %10s %7s %9s %8s %12s %10s\n" relay sent recv loss% "relayed/s" "xmit s" "wall s" "srv CPU" "CPU s/Mpkt" "RTT ms"
for _ in $(seq "$REPEAT"); do
	uclient_run coturn "$coturn_pid" "$coturn_port"
	uclient_run natkit "$natkit_pid" "$natkit_port"
done

echo
echo "== natkit bench: $ALLOCS allocations × $PPS pps × $SIZE B, ChannelData, ${SECS}s → turnutils_peer"
printf "%-14s %9s %9s %8s %10s %8s %12s %10s %10s\n" relay sent recv loss% "relayed/s" "srv CPU" "CPU s/Mpkt" "RTT ms" "p99 ms"
for _ in $(seq "$REPEAT"); do
	bench_run coturn "$coturn_pid" "$coturn_port"
	bench_run natkit "$natkit_pid" "$natkit_port"
done
echo
echo "(relayed/s counts client→peer plus peer→client packets, over uclient's own transmit time (whole seconds) or natkit bench's send rate;"
echo " wall s includes uclient's allocation setup; CPU is the relay process only, from /proc/PID/stat)"
