#!/usr/bin/env bash
# bench/load.sh — natkit bench side by side with turnutils_uclient against
# the same coturn turnserver on loopback (`make bench-load`, after
# `make build`). It prints, for the same load shape (ALLOCS allocations ×
# PPS packets/s × SIZE bytes through ChannelData to an echo peer), the
# packet rate, loss, RTT and CPU cost of each tool, then natkit's highest
# clean packet rate, its allocation rate and its memory at 10,000
# allocations.
#
# Needs: bin/natkit, turnserver and turnutils_uclient (apt-get install -y
# coturn), jq. Everything listens on 127.0.0.1 and stops on exit.
set -euo pipefail

NATKIT=${NATKIT:-bin/natkit}
ALLOCS=${ALLOCS:-50}        # concurrent allocations (uclient -m)
PPS=${PPS:-200}             # packets/s per allocation (uclient -z 1000/PPS)
SECS=${SECS:-5}             # seconds of traffic
SIZE=${SIZE:-100}           # payload bytes (uclient -l)
SWEEP=${SWEEP:-"1000 2000 4000"}   # per-allocation pps for natkit's max-rate sweep
ALLOC_RATE=${ALLOC_RATE:-2500}     # allocations/s for the allocation-rate run
MEM_ALLOCS=${MEM_ALLOCS:-10000}    # concurrent allocations for the memory run

for p in "$NATKIT" ; do [[ -x $p ]] || { echo "bench/load.sh: $p missing: run make build" >&2; exit 3; }; done
for p in turnserver turnutils_uclient jq; do
	command -v "$p" >/dev/null || { echo "bench/load.sh: $p missing: apt-get install -y coturn jq" >&2; exit 3; }
done

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

port=$((20000 + RANDOM % 20000))
peer_port=$((port + 2))
turnserver -n --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port "$port" \
	--realm r --lt-cred-mech --user u:p --allow-loopback-peers --no-cli --no-tls --no-dtls \
	--no-stun-backward-compatibility --pidfile "$work/ts.pid" --userdb "$work/ts.db" \
	--log-file stdout >"$work/turnserver.log" 2>&1 &
pids+=($!)
"$NATKIT" peer --listen "127.0.0.1:$peer_port" >"$work/peer.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

# cpu CMD... runs CMD and writes "user+sys seconds" to $work/cpu.
cpu() {
	local TIMEFORMAT='%U %S'
	{ time "$@" >"$work/out" 2>"$work/err"; } 2>"$work/time" || true
	awk '{printf "%.3f", $1 + $2}' "$work/time" >"$work/cpu"
}

echo "== same load: $ALLOCS allocations × $PPS pps × $SIZE B, channel, ${SECS}s, coturn on 127.0.0.1:$port"
n=$((PPS * SECS))
z=$((1000 / PPS))
cpu turnutils_uclient -c -m "$ALLOCS" -n "$n" -z "$z" -l "$SIZE" -e 127.0.0.1 -r "$peer_port" \
	-u u -w p -p "$port" 127.0.0.1
u_cpu=$(cat "$work/cpu")
u_sent=$(grep -o 'tot_send_msgs=[0-9]*' "$work/out" | tail -1 | cut -d= -f2)
u_recv=$(grep -o 'tot_recv_msgs=[0-9]*' "$work/out" | tail -1 | cut -d= -f2)
u_time=$(grep -o 'Total transmit time is [0-9]*' "$work/out" | awk '{print $5}')
u_loss=$(grep -o 'Total lost packets [0-9]* ([0-9.]*%)' "$work/out" | sed 's/.*(\(.*\)%)/\1/')
u_rtt=$(grep -o 'Average round trip delay [0-9.]*' "$work/out" | awk '{print $5}')

cpu "$NATKIT" bench "turn:127.0.0.1:$port" --user u --credential p --allocations "$ALLOCS" --pps "$PPS" \
	--size "$SIZE" --duration "${SECS}s" --peer "127.0.0.1:$peer_port" --max-loss 100 --format json
n_cpu=$(cat "$work/cpu")
cp "$work/out" "$work/same.json"
q() { jq -r "$1" "$work/same.json"; }
n_sent=$(q '.metrics[] | select(.name=="packets.sent") | .value')
n_recv=$(q '.metrics[] | select(.name=="packets.received") | .value')
n_rate=$(q '.metrics[] | select(.name=="packets.sent_rate") | .value')
n_loss=$(q '.metrics[] | select(.name=="packets.lost") | .value')
n_rtt=$(q '.metrics[] | select(.name=="relay.rtt") | .mean')
n_p99=$(q '.metrics[] | select(.name=="relay.rtt") | .p99')

awk -v us="$u_sent" -v ur="$u_recv" -v ut="$u_time" -v ul="$u_loss" -v urtt="$u_rtt" -v uc="$u_cpu" \
	-v ns="$n_sent" -v nr="$n_recv" -v nrate="$n_rate" -v nl="$n_loss" -v nrtt="$n_rtt" -v np99="$n_p99" -v nc="$n_cpu" 'BEGIN {
	urate = (ut > 0) ? us / ut : 0
	printf "%-18s %10s %10s %8s %12s %8s %14s %14s\n", "tool", "sent", "pkts/s", "loss%", "mean RTT ms", "CPU s", "CPU s/Mpkt", "pkts/CPU-s"
	printf "%-18s %10d %10.0f %8.3f %12.3f %8.2f %14.2f %14.0f\n", "turnutils_uclient", us, urate, ul, urtt, uc, 1e6 * uc / (us + ur), us / uc
	printf "%-18s %10d %10.0f %8.3f %12.3f %8.2f %14.2f %14.0f\n", "natkit bench", ns, nrate, 100 * nl / ns, nrtt, nc, 1e6 * nc / (ns + nr), ns / nc
	printf "natkit RTT p99 %.3f ms; pkts per CPU second, natkit / uclient: %.2f×\n", np99, (ns / nc) / (us / uc)
	printf "(uclient counts its transmit time in whole seconds and RTT in whole ms; CPU is the whole process, setup included; CPU s/Mpkt counts sent + received)\n"
}'

echo
echo "== natkit max packet rate: $ALLOCS allocations, per-allocation pps sweep ($SWEEP), ${SECS}s each"
printf "%-8s %10s %10s %8s %10s %8s %10s\n" "pps/alloc" "target" "pkts/s" "loss%" "late%" "CPU s" "CPU s/Mpkt"
for p in $SWEEP; do
	cpu "$NATKIT" bench "turn:127.0.0.1:$port" --user u --credential p --allocations "$ALLOCS" --pps "$p" \
		--size "$SIZE" --duration "${SECS}s" --peer "127.0.0.1:$peer_port" --max-loss 100 --format json
	jq -r --arg p "$p" --arg a "$ALLOCS" --arg c "$(cat "$work/cpu")" '
		(.metrics | map({(.name): .}) | add) as $m
		| [$p, (($p|tonumber) * ($a|tonumber)), $m["packets.sent_rate"].value,
		   (100 * $m["packets.lost"].value / $m["packets.sent"].value),
		   (100 * $m["packets.late_sends"].value / $m["packets.sent"].value), ($c|tonumber),
		   (1e6 * ($c|tonumber) / ($m["packets.sent"].value + $m["packets.received"].value))]
		| "\(.[0])\t\(.[1])\t\(.[2]|floor)\t\(.[3]*1000|round/1000)\t\(.[4]*1000|round/1000)\t\(.[5])\t\(.[6]*100|round/100)"' \
		"$work/out" | awk -F'\t' '{printf "%-8s %10s %10s %8s %10s %8s %10s\n", $1, $2, $3, $4, $5, $6, $7}'
done

echo
echo "== natkit allocation rate: allocate+refresh+delete at $ALLOC_RATE/s, 400 in flight, ${SECS}s"
"$NATKIT" bench "turn:127.0.0.1:$port" --user u --credential p --allocations 400 --rate "$ALLOC_RATE" \
	--duration "${SECS}s" --format json >"$work/alloc.json" || true
jq -r '.summary' "$work/alloc.json"

echo
echo "== natkit memory: $MEM_ALLOCS concurrent allocations, 1 pps each, 10s"
"$NATKIT" bench "turn:127.0.0.1:$port" --user u --credential p --allocations "$MEM_ALLOCS" --rate 2000 --pps 1 \
	--duration 10s --peer "127.0.0.1:$peer_port" --format json >"$work/mem.json" || true
jq -r '(.metrics | map({(.name): .}) | add) as $m | "peak allocations \($m["allocations.peak"].value), max RSS \($m["bench.max_rss"].value*10|round/10) MiB; \(.summary)"' "$work/mem.json"
