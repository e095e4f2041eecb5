#!/usr/bin/env bash
# bench/load.sh — natkit bench side by side with turnutils_uclient against
# the same coturn turnserver on loopback (`make bench-load`, after
# `make build`). For the same load shape (ALLOCS allocations × PPS packets/s
# × SIZE bytes through ChannelData to an echo peer) it runs both tools REPS
# times, alternating, and prints each run's packet rate, loss, RTT and CPU
# cost (user+sys seconds of the whole process per million packets, sent +
# received), then the medians and natkit ÷ uclient in packets per CPU
# second. It repeats that at a high rate (HIGH_PPS per allocation), then
# prints natkit's highest clean packet rate, its allocation rate and its
# memory at 10,000 allocations.
#
# Uses coturn 4.17.1 (turnserver and its threaded turnutils_uclient) from
# ../shared/peers/coturn-latest when it runs, else Debian's coturn
# (COTURN_BIN overrides; see bench/coturn.sh), and says which. Needs
# bin/natkit and jq (apt-get install -y jq). Everything listens on
# 127.0.0.1 and stops on exit. SECTIONS picks what runs (default: all of
# "same high sweep alloc mem").
set -euo pipefail

NATKIT=${NATKIT:-bin/natkit}
ALLOCS=${ALLOCS:-50}        # concurrent allocations (uclient -m)
PPS=${PPS:-200}             # packets/s per allocation (uclient -z 1000/PPS)
HIGH_PPS=${HIGH_PPS:-1000}  # packets/s per allocation for the high-rate comparison
SECS=${SECS:-5}             # seconds of traffic
SIZE=${SIZE:-100}           # payload bytes (uclient -l)
REPS=${REPS:-3}             # runs of each tool per comparison (medians are printed)
SWEEP=${SWEEP:-"1000 2000 4000"}   # per-allocation pps for natkit's max-rate sweep
ALLOC_RATE=${ALLOC_RATE:-2500}     # allocations/s for the allocation-rate run
MEM_ALLOCS=${MEM_ALLOCS:-10000}    # concurrent allocations for the memory run
SECTIONS=${SECTIONS:-"same high sweep alloc mem"}

[[ -x $NATKIT ]] || { echo "bench/load.sh: $NATKIT missing: run make build" >&2; exit 3; }
command -v jq >/dev/null || { echo "bench/load.sh: jq missing: apt-get install -y jq" >&2; exit 3; }
(( 1000 % PPS == 0 && 1000 % HIGH_PPS == 0 )) || {
	echo "bench/load.sh: PPS and HIGH_PPS must divide 1000 (uclient takes a whole-ms interval)" >&2; exit 2; }
# shellcheck source=bench/coturn.sh
source "$(dirname "$0")/coturn.sh"
want() { [[ " $SECTIONS " == *" $1 "* ]]; }

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
"$turnserver" -n --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port "$port" \
	--realm r --lt-cred-mech --user u:p --allow-loopback-peers --no-tls "${coturn_flags[@]}" \
	--pidfile "$work/ts.pid" --userdb "$work/ts.db" --log-file stdout >"$work/turnserver.log" 2>&1 &
pids+=($!)
"$NATKIT" peer --listen "127.0.0.1:$peer_port" >"$work/peer.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

# cpu CMD... runs CMD and writes "user+sys seconds" to $work/cpu and the
# wall-clock seconds to $work/wall.
cpu() {
	local TIMEFORMAT='%U %S %R'
	{ time timeout $((SECS * 10 + 60)) "$@" >"$work/out" 2>"$work/err"; } 2>"$work/time" || true
	tail -1 "$work/time" | awk '{printf "%.3f", $1 + $2}' >"$work/cpu"
	tail -1 "$work/time" | awk '{printf "%.3f", $3}' >"$work/wall"
}

# uclient PPS: one turnutils_uclient run; appends "sent recv secs loss% rtt_ms cpu" to $work/rows.u
uclient() {
	local n=$(($1 * SECS)) z=$((1000 / $1))
	cpu "$uclient_bin" -c -m "$ALLOCS" -n "$n" -z "$z" -l "$SIZE" -e 127.0.0.1 -r "$peer_port" \
		-u u -w p -p "$port" 127.0.0.1
	local sent recv loss rtt
	# A uclient that failed prints none of these: its row shows zeros.
	sent=$(grep -o 'tot_send_msgs=[0-9]*' "$work/out" | tail -1 | cut -d= -f2 || true)
	recv=$(grep -o 'tot_recv_msgs=[0-9]*' "$work/out" | tail -1 | cut -d= -f2 || true)
	loss=$(grep -o 'Total lost packets [0-9]* ([0-9.]*%)' "$work/out" | sed 's/.*(\(.*\)%)/\1/' || true)
	rtt=$(grep -o 'Average round trip delay [0-9.]*' "$work/out" | awk '{print $5}' || true)
	[[ -n $sent ]] || echo "bench/load.sh: turnutils_uclient printed no totals: $(tail -c 300 "$work/out")" >&2
	# uclient's own transmit time is in whole seconds; the process's wall
	# time (setup included) is the finer measure of how long it took.
	echo "${sent:-0} ${recv:-0} $(cat "$work/wall") ${loss:-100} ${rtt:-0} $(cat "$work/cpu")" >>"$work/rows.u"
}

# natkit PPS: one natkit bench run; appends "sent recv secs loss% rtt_ms cpu p99_ms path late%" to $work/rows.n
natkit() {
	cpu "$NATKIT" bench "turn:127.0.0.1:$port" --user u --credential p --allocations "$ALLOCS" --pps "$1" \
		--size "$SIZE" --duration "${SECS}s" --peer "127.0.0.1:$peer_port" --max-loss 100 --format json
	jq -r --arg c "$(cat "$work/cpu")" '(.metrics | map({(.name): .}) | add) as $m
		| [$m["packets.sent"].value, $m["packets.received"].value, ($m["packets.sent"].value / $m["packets.sent_rate"].value),
		   (100 * ($m["packets.lost"].value // 0) / $m["packets.sent"].value), $m["relay.rtt"].mean, ($c|tonumber),
		   $m["relay.rtt"].p99, .details.data_path, (100 * ($m["packets.late_sends"].value // 0) / $m["packets.sent"].value)]
		| map(tostring) | join(" ")' "$work/out" >>"$work/rows.n" ||
		{ echo "natkit bench failed: $(head -c 300 "$work/err")" >&2; echo "0 0 0 100 0 $(cat "$work/cpu") 0 - 100" >>"$work/rows.n"; }
}

# compare PPS: REPS alternating runs of each tool, each run's row, the
# medians and ranges, and the ratio.
compare() {
	local pps=$1
	echo "== $ALLOCS allocations × $pps pps × $SIZE B, channel, ${SECS}s, coturn $coturn_version on 127.0.0.1:$port; $REPS runs each, alternating"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	: >"$work/rows.u"; : >"$work/rows.n"
	for _ in $(seq "$REPS"); do uclient "$pps"; natkit "$pps"; done
	awk '
	function median(t,   i, j, k, a, x) { k = c[t]; for (i = 1; i <= k; i++) a[i] = v[t, i]
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
		return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
	function lo(t,   i, m) { m = v[t, 1]; for (i = 2; i <= c[t]; i++) if (v[t, i] < m) m = v[t, i]; return m }
	function hi(t,   i, m) { m = v[t, 1]; for (i = 2; i <= c[t]; i++) if (v[t, i] > m) m = v[t, i]; return m }
	BEGIN { printf "%-18s %9s %9s %9s %7s %11s %7s %11s %11s\n", "tool", "sent", "recv", "pkts/s", "loss%", "mean RTT ms", "CPU s", "CPU s/Mpkt", "pkts/CPU-s" }
	{
		k = (FILENAME ~ /rows.u$/) ? "u" : "n"
		per = ($6 > 0 && $1 + $2 > 0) ? 1e6 * $6 / ($1 + $2) : 0
		eff = ($6 > 0) ? ($1 + $2) / $6 : 0
		v[k, ++c[k]] = eff
		printf "%-18s %9d %9d %9.0f %7.3f %11.3f %7.2f %11.2f %11.0f%s\n", (k == "n") ? "natkit bench" : "turnutils_uclient", $1, $2, ($3 > 0) ? $1 / $3 : 0, $4, $5, $6, per, eff, (k == "n") ? sprintf("  (%s, late %.2f%%, RTT p99 %s ms)", $8, $9, $7) : ""
	}
	END {
		printf "packets per CPU second: uclient median %.0f (%.0f–%.0f), natkit median %.0f (%.0f–%.0f)\n", median("u"), lo("u"), hi("u"), median("n"), lo("n"), hi("n")
		printf "natkit ÷ uclient: %.2f× (medians; worst–best pairing %.2f–%.2f×; target ≥ 2×)\n", (median("u") > 0) ? median("n") / median("u") : 0,
			(hi("u") > 0) ? lo("n") / hi("u") : 0, (lo("u") > 0) ? hi("n") / lo("u") : 0
	}' "$work/rows.u" "$work/rows.n"
	echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "(CPU is user+sys of the whole process, setup included; packets count sent + received; uclient's rate is sent ÷ its process wall time, as it does not keep the -z schedule under load; natkit's late% is sends more than 10 ms behind schedule)"
}

if want same; then compare "$PPS"; fi
if want high; then echo; compare "$HIGH_PPS"; fi

if want sweep; then
echo
echo "== natkit max packet rate: $ALLOCS allocations, per-allocation pps sweep ($SWEEP), ${SECS}s each"
printf "%-8s %10s %10s %8s %10s %8s %10s\n" "pps/alloc" "target" "pkts/s" "loss%" "late%" "CPU s" "CPU s/Mpkt"
for p in $SWEEP; do
	cpu "$NATKIT" bench "turn:127.0.0.1:$port" --user u --credential p --allocations "$ALLOCS" --pps "$p" \
		--size "$SIZE" --duration "${SECS}s" --peer "127.0.0.1:$peer_port" --max-loss 100 --format json
	jq -r --arg p "$p" --arg a "$ALLOCS" --arg c "$(cat "$work/cpu")" '
		(.metrics | map({(.name): .}) | add) as $m
		| [$p, (($p|tonumber) * ($a|tonumber)), $m["packets.sent_rate"].value,
		   (100 * ($m["packets.lost"].value // 0) / $m["packets.sent"].value),
		   (100 * ($m["packets.late_sends"].value // 0) / $m["packets.sent"].value), ($c|tonumber),
		   (1e6 * ($c|tonumber) / ($m["packets.sent"].value + $m["packets.received"].value))]
		| "\(.[0])\t\(.[1])\t\(.[2]|floor)\t\(.[3]*1000|round/1000)\t\(.[4]*1000|round/1000)\t\(.[5])\t\(.[6]*100|round/100)"' \
		"$work/out" | awk -F'\t' '{printf "%-8s %10s %10s %8s %10s %8s %10s\n", $1, $2, $3, $4, $5, $6, $7}'
done
fi

if want alloc; then
echo
echo "== natkit allocation rate: allocate+refresh+delete at $ALLOC_RATE/s, 400 in flight, ${SECS}s"
"$NATKIT" bench "turn:127.0.0.1:$port" --user u --credential p --allocations 400 --rate "$ALLOC_RATE" \
	--duration "${SECS}s" --format json >"$work/alloc.json" || true
jq -r '.summary' "$work/alloc.json"
fi

if want mem; then
echo
echo "== natkit memory: $MEM_ALLOCS concurrent allocations, 1 pps each, 10s"
"$NATKIT" bench "turn:127.0.0.1:$port" --user u --credential p --allocations "$MEM_ALLOCS" --rate 2000 --pps 1 \
	--duration 10s --peer "127.0.0.1:$peer_port" --format json >"$work/mem.json" || true
jq -r '(.metrics | map({(.name): .}) | add) as $m | "peak allocations \($m["allocations.peak"].value), max RSS \($m["bench.max_rss"].value*10|round/10) MiB; \(.summary)"' "$work/mem.json"
fi
