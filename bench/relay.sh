#!/usr/bin/env bash
# bench/relay.sh — natkit relay side by side with coturn's turnserver on
# loopback (`make bench-relay`, after `make build`). Every relay gets the
# same loads, in rounds that alternate the relays, toward the same echo
# peer (natkit peer):
#   1. burst: turnutils_uclient -c -m 100 -n 2000 -l 100 -z 0 (100 clients ×
#      2000 packets as fast as uclient sends them; with coturn 4.17 also
#      --no-even-port, which --multiplex-peer needs);
#   2. paced: natkit bench, ALLOCS allocations × PPS packets/s, ChannelData;
#   3. memory: a fresh relay of each kind holds MEM_ALLOCS allocations
#      (natkit bench at 1 pps each); RSS growth ÷ allocations.
# With coturn 4.17 two coturns run: `--udp-recvmmsg` (its default) and
# `--multiplex-peer --udp-gso` (one shared relayed socket per thread,
# sendmmsg and UDP GSO); with Debian's 4.6 one, with its defaults.
# --multiplex-peer tells sessions apart by peer address, so of N
# allocations talking to one echo peer only one per relay thread gets its
# permission: it runs the memory section only, unless MUX_TRAFFIC=1.
# For loads 1 and 2 it prints, per run, relayed packets (2 × the echoes
# the client got back: each went through the relay twice), loss, RTT and
# the relay process's CPU seconds (utime+stime of all its threads, /proc/PID/stat),
# then per relay the median and range of relayed packets per CPU second and
# natkit ÷ each coturn. The load average is printed before and after each
# load.
#
# Uses coturn 4.17.1 from ../shared/peers/coturn-latest when it runs, else
# Debian's (COTURN_BIN overrides; bench/coturn.sh), and says which. Needs
# bin/natkit and jq. Everything listens on 127.0.0.1 and stops on exit.
set -euo pipefail

NATKIT=${NATKIT:-bin/natkit}
CLIENTS=${CLIENTS:-100}       # uclient -m
MSGS=${MSGS:-2000}            # uclient -n
SIZE=${SIZE:-100}             # uclient -l and natkit bench --size
ALLOCS=${ALLOCS:-50}          # natkit bench allocations
PPS=${PPS:-1000}              # natkit bench packets/s per allocation
SECS=${SECS:-5}               # natkit bench seconds of traffic
MEM_ALLOCS=${MEM_ALLOCS:-2000} # allocations held for the memory figure
SOCKETS=${SOCKETS:-1}         # natkit relay --sockets (SO_REUSEPORT)
LOOPS=${LOOPS:-}              # natkit relay --loops (empty: the relay's default, half the CPUs)
REPEAT=${REPEAT:-3}           # rounds of each load, the relays alternating (a shared machine is noisy)
MUX_TRAFFIC=${MUX_TRAFFIC:-}  # non-empty: run the burst and paced loads through coturn --multiplex-peer too
SECTIONS=${SECTIONS:-"burst paced mem"}

[[ -x $NATKIT ]] || { echo "bench/relay.sh: $NATKIT missing: run make build" >&2; exit 3; }
command -v jq >/dev/null || { echo "bench/relay.sh: jq missing: apt-get install -y jq" >&2; exit 3; }
# shellcheck source=bench/coturn.sh
source "$(dirname "$0")/coturn.sh"
want() { [[ " $SECTIONS " == *" $1 "* ]]; }

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[[ -n ${KEEP:-} ]] || rm -rf "$work"; [[ -z ${KEEP:-} ]] || echo "kept $work" >&2
}
trap cleanup EXIT

base=$((20000 + RANDOM % 20000))
peer_port=$base
hz=$(getconf CLK_TCK)
uclient_extra=()
if [[ $coturn_version == 4.6* ]]; then
	relays=(coturn natkit)
	declare -A coturn_mode=([coturn]="")
else
	relays=(coturn-mmsg coturn-mux natkit)
	if [[ -z $MUX_TRAFFIC ]]; then traffic=(coturn-mmsg natkit); fi
	declare -A coturn_mode=([coturn-mmsg]="--udp-recvmmsg" [coturn-mux]="--multiplex-peer --udp-gso")
	uclient_extra=(--no-even-port)
fi
declare -A port pid
[[ -n ${traffic+x} ]] || traffic=("${relays[@]}")

# start_relay NAME PORT: starts relay NAME listening on 127.0.0.1:PORT; sets pid[NAME].
start_relay() {
	local name=$1 p=$2
	port[$name]=$p
	if [[ $name == natkit ]]; then
		"$NATKIT" relay --listen "udp://127.0.0.1:$p" --listen "tcp://127.0.0.1:$p" --user u:p --allow-peer 127.0.0.0/8 --sockets "$SOCKETS" \
			${LOOPS:+--loops "$LOOPS"} --format json >"$work/$name.json" 2>"$work/$name.log" &
	else
		# shellcheck disable=SC2086 # the mode is a list of flags
		"$turnserver" -n --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port "$p" \
			--realm natkit --lt-cred-mech --user u:p --allow-loopback-peers --no-tls "${coturn_flags[@]}" \
			${coturn_mode[$name]} $([[ ${coturn_mode[$name]} == *multiplex* ]] && echo --multiplex-peer-port $((p + 100))) \
			--pidfile "$work/$name.pid" --userdb "$work/$name.db" --log-file stdout >"$work/$name.log" 2>&1 &
	fi
	pid[$name]=$!
	pids+=("$!")
	for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/"$p") 2>/dev/null && return; sleep 0.1; done
}

"$NATKIT" peer --listen "127.0.0.1:$peer_port" >"$work/peer.log" 2>&1 &
pids+=($!)
i=0
for r in "${relays[@]}"; do i=$((i + 1)); start_relay "$r" $((base + 10 * i)); done
echo "relays: $(for r in "${relays[@]}"; do printf '%s :%s %s; ' "$r" "${port[$r]}" "${coturn_mode[$r]:-}"; done)natkit relay --loops ${LOOPS:-default} --sockets $SOCKETS"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now() { date +%s.%N; }

# uclient_run NAME: one uclient burst through relay NAME; appends
# "name sent recv loss% secs cpu rtt_ms" to $work/rows.
uclient_run() {
	local name=$1 c0 c1 out="$work/uclient.out"
	c0=$(cpu_ticks "${pid[$name]}")
	timeout 120 "$uclient_bin" -c "${uclient_extra[@]}" -m "$CLIENTS" -n "$MSGS" -l "$SIZE" -z 0 -e 127.0.0.1 -r "$peer_port" \
		-u u -w p -p "${port[$name]}" 127.0.0.1 >"$out" 2>&1 || true
	c1=$(cpu_ticks "${pid[$name]}")
	local sent recv loss rtt ttime
	ttime=$(grep -o 'Total transmit time is [0-9]*' "$out" | awk '{print $5}' || true)
	sent=$(grep -o 'tot_send_msgs=[0-9]*' "$out" | tail -1 | cut -d= -f2 || true)
	recv=$(grep -o 'tot_recv_msgs=[0-9]*' "$out" | tail -1 | cut -d= -f2 || true)
	loss=$(grep -o 'Total lost packets [0-9]* ([0-9.]*%)' "$out" | sed 's/.*(\(.*\)%)/\1/' || true)
	rtt=$(grep -o 'Average round trip delay [0-9.]*' "$out" | awk '{print $5}' || true)
	echo "$name ${sent:-0} ${recv:-0} ${loss:-100} ${ttime:-0} $(awk -v c=$((c1 - c0)) -v hz="$hz" 'BEGIN{print c / hz}') ${rtt:-0}" >>"$work/rows"
}

# bench_run NAME: one paced natkit bench run through relay NAME; appends
# "name sent recv loss% secs cpu rtt_ms p99_ms" to $work/rows.
bench_run() {
	local name=$1 c0 c1
	c0=$(cpu_ticks "${pid[$name]}")
	timeout $((SECS * 10 + 30)) "$NATKIT" bench "turn:127.0.0.1:${port[$name]}" --user u --credential p --allocations "$ALLOCS" \
		--pps "$PPS" --size "$SIZE" --duration "${SECS}s" --peer "127.0.0.1:$peer_port" --max-loss 100 --format json \
		>"$work/bench.json" 2>"$work/bench.log" || true
	c1=$(cpu_ticks "${pid[$name]}")
	jq -r --arg n "$name" --arg cpu "$(awk -v c=$((c1 - c0)) -v hz="$hz" 'BEGIN{print c / hz}')" '
		(.metrics | map({(.name): .}) | add) as $m
		| ($m["packets.sent"].value // 0) as $s | ($m["packets.received"].value // 0) as $r
		| [$n, $s, $r, (if $s > 0 then 100 * ($m["packets.lost"].value // 0) / $s else 100 end),
		   (if $s > 0 then $s / $m["packets.sent_rate"].value else 0 end), $cpu,
		   ($m["relay.rtt"].mean // 0), ($m["relay.rtt"].p99 // 0),
		   (if $s > 0 then 100 * ($m["packets.late_sends"].value // 0) / $s else 0 end)] | map(tostring) | join(" ")' \
		"$work/bench.json" >>"$work/rows" ||
		{ echo "bench/relay.sh: natkit bench failed: $(head -c 300 "$work/bench.log")" >&2; echo "$name 0 0 100 0 0 0 0 0" >>"$work/rows"; }
}

# summarize: each run's row, then per relay the median and range of relayed
# packets per CPU second, and natkit ÷ each coturn.
summarize() {
	awk '
	function sortv(k,   i, j, x) { for (i = 1; i <= c[k]; i++) for (j = i + 1; j <= c[k]; j++) if (v[k, j] < v[k, i]) { x = v[k, i]; v[k, i] = v[k, j]; v[k, j] = x } }
	function med(k) { return (c[k] % 2) ? v[k, (c[k] + 1) / 2] : (v[k, c[k] / 2] + v[k, c[k] / 2 + 1]) / 2 }
	BEGIN { printf "%-12s %8s %8s %7s %10s %8s %13s %13s %9s %9s\n", "relay", "sent", "recv", "loss%", "relayed/s", "srv CPU", "relayed/CPU-s", "(s+r)/CPU-s", "RTT ms", "p99 ms" }
	{
		# Relayed: each echo the client got was relayed twice (to the peer
		# and back). Sent + received also counts packets the relay never
		# forwarded, which flatters a relay that drops under load.
		pk = 2 * $3; eff = ($6 > 0) ? pk / $6 : 0
		if (!($1 in c)) order[++nr] = $1
		v[$1, ++c[$1]] = eff
		printf "%-12s %8d %8d %7.3f %10.0f %8.2f %13.0f %13.0f %9.3f %9s%s\n", $1, $2, $3, $4, ($5 > 0) ? pk / $5 : 0, $6, eff, ($6 > 0) ? ($2 + $3) / $6 : 0, $7, ($8 == "") ? "-" : $8, ($9 != "") ? sprintf("  (late %.2f%%)", $9) : ""
	}
	END {
		for (i = 1; i <= nr; i++) { k = order[i]; sortv(k); m[k] = med(k)
			printf "%-12s relayed packets per CPU second: median %.0f (%.0f–%.0f)\n", k, m[k], v[k, 1], v[k, c[k]] }
		for (i = 1; i <= nr; i++) { k = order[i]; if (k == "natkit" || !("natkit" in m) || m[k] <= 0) continue
			printf "natkit ÷ %s: %.2f× (medians; worst–best pairing %.2f–%.2f×; target ≥ 1.25×)\n", k, m["natkit"] / m[k],
				v["natkit", 1] / v[k, c[k]], v["natkit", c["natkit"]] / v[k, 1] }
	}' "$work/rows"
}

# compare RUN TITLE NOTE: REPEAT rounds of RUN through each relay in turn,
# then the summary and the load average before and after.
compare() {
	local run=$1 title=$2 note=$3
	echo
	echo "== $title; $REPEAT rounds, relays alternating"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
	: >"$work/rows"
	for _ in $(seq "$REPEAT"); do for r in "${traffic[@]}"; do "$run" "$r"; done; done
	summarize
	echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "($note; CPU is the relay process only)"
}

if want burst; then
	compare uclient_run "burst: $uclient_bin -c ${uclient_extra[*]} -m $CLIENTS -n $MSGS -l $SIZE -z 0 → natkit peer" \
		"relayed/s over uclient's own transmit time, whole seconds; RTT is uclient's average"
fi
if want paced; then
	compare bench_run "paced: natkit bench $ALLOCS allocations × $PPS pps × $SIZE B, ChannelData, ${SECS}s → natkit peer" \
		"relayed/s over natkit bench's send time; late = sends more than 10 ms behind schedule"
fi

if want mem; then
	# A fresh relay of each kind per round, so the figure is what this many
	# allocations cost, not what earlier loads left behind.
	for r in "${relays[@]}"; do kill "${pid[$r]}" 2>/dev/null || true; done
	echo
	echo "== memory: a fresh relay holds $MEM_ALLOCS allocations (natkit bench --rate 1000 --pps 1, channel); $REPEAT rounds"
	printf "%-12s %10s %10s %12s %14s\n" relay "RSS idle" "RSS held" "allocations" "KiB per alloc"
	rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
	for round in $(seq "$REPEAT"); do
		i=0
		for r in "${relays[@]}"; do
			i=$((i + 1)); start_relay "$r" $((base + 1000 + 100 * round + 10 * i)); sleep 0.5
			r0=$(rss "${pid[$r]}")
			secs=$((MEM_ALLOCS / 1000 + 4))
			"$NATKIT" bench "turn:127.0.0.1:${port[$r]}" --user u --credential p --allocations "$MEM_ALLOCS" --rate 1000 --pps 1 \
				--size "$SIZE" --duration "${secs}s" --peer "127.0.0.1:$peer_port" --max-loss 100 --format json >"$work/mem.json" 2>"$work/mem.log" &
			bp=$!
			peak=$r0
			while kill -0 "$bp" 2>/dev/null; do x=$(rss "${pid[$r]}" || echo 0); ((x > peak)) && peak=$x; sleep 0.2; done
			wait "$bp" || true
			held=$(jq -r '(.metrics | map({(.name): .}) | add) as $m | $m["allocations.peak"].value // 0' "$work/mem.json")
			awk -v n="$r" -v a="$r0" -v b="$peak" -v h="$held" 'BEGIN { printf "%-12s %7.1f MiB %7.1f MiB %12d %14.2f\n", n, a / 1024, b / 1024, h, (h > 0) ? (b - a) / h : 0 }'
			kill "${pid[$r]}" 2>/dev/null || true
		done
	done
	echo "(RSS from /proc/PID/status, sampled every 0.2 s while the allocations are held; per allocation = (held − idle) ÷ allocations)"
fi
