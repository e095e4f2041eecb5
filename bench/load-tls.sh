#!/usr/bin/env bash
# bench/load-tls.sh — natkit bench side by side with turnutils_uclient over
# TCP (uclient -t, turn:…?transport=tcp) and TLS (uclient -S, turns:)
# against the same coturn turnserver on loopback. For each transport it runs
# both tools REPS times, alternating, with the same load (ALLOCS allocations
# × PPS packets/s × SIZE bytes through ChannelData to an echo peer for SECS
# seconds), and prints each run, the medians and natkit ÷ uclient in packets
# per CPU second (user+sys of the whole process, setup and handshakes
# included; packets = sent + received), with the load average before and
# after. natkit's turn.connect.time p50/p99 (TCP connect + TLS handshake) is
# printed per run.
#
# Uses coturn 4.17.1 from ../shared/peers/coturn-latest when it runs, else
# Debian's turnserver/turnutils_uclient (COTURN_BIN overrides), and says
# which. Needs bin/natkit, openssl and jq. Everything listens on 127.0.0.1
# and stops on exit.
set -euo pipefail

NATKIT=${NATKIT:-bin/natkit}
ALLOCS=${ALLOCS:-20}
PPS=${PPS:-200}
SECS=${SECS:-3}
SIZE=${SIZE:-100}
REPS=${REPS:-3}
TRANSPORTS=${TRANSPORTS:-"tcp tls"}

[[ -x $NATKIT ]] || { echo "bench/load-tls.sh: $NATKIT missing: run make build" >&2; exit 3; }
for p in openssl jq; do
	command -v "$p" >/dev/null || { echo "bench/load-tls.sh: $p missing: apt-get install -y $p" >&2; exit 3; }
done
(( 1000 % PPS == 0 )) || { echo "bench/load-tls.sh: PPS must divide 1000 (uclient takes a whole-ms interval)" >&2; exit 2; }
# shellcheck source=bench/coturn.sh
source "$(dirname "$0")/coturn.sh"

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
port=$((20000 + RANDOM % 20000))
tls_port=$((port + 1))
peer_port=$((port + 2))
"$turnserver" -n --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port "$port" \
	--tls-listening-port "$tls_port" --cert "$work/cert.pem" --pkey "$work/key.pem" \
	--realm r --lt-cred-mech --user u:p --allow-loopback-peers "${coturn_flags[@]}" \
	--pidfile "$work/ts.pid" --userdb "$work/ts.db" --log-file stdout >"$work/turnserver.log" 2>&1 &
pids+=($!)
"$NATKIT" peer --listen "127.0.0.1:$peer_port" >"$work/peer.log" 2>&1 &
pids+=($!)
for p in "$port" "$tls_port"; do
	for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/"$p") 2>/dev/null && break; sleep 0.1; done
done

# cpu CMD... runs CMD (bounded to 10× SECS + 30 s) and writes its
# user+sys seconds to $work/cpu and wall seconds to $work/wall.
cpu() {
	local TIMEFORMAT='%U %S %R'
	{ time timeout $((SECS * 10 + 30)) "$@" >"$work/out" 2>"$work/err"; } 2>"$work/time" || true
	tail -1 "$work/time" | awk '{printf "%.3f", $1 + $2}' >"$work/cpu"
	tail -1 "$work/time" | awk '{printf "%.3f", $3}' >"$work/wall"
}

# uclient TRANSPORT: appends "sent recv loss% cpu" to $work/rows.u
uclient() {
	local n=$((PPS * SECS)) z=$((1000 / PPS)) flag=-t p=$port
	[[ $1 == tls ]] && flag="-t -S" p=$tls_port
	# shellcheck disable=SC2086
	cpu "$uclient_bin" $flag -c -m "$ALLOCS" -n "$n" -z "$z" -l "$SIZE" -e 127.0.0.1 -r "$peer_port" \
		-u u -w p -p "$p" 127.0.0.1
	local sent recv loss
	[[ -n ${KEEP_OUT:-} ]] && cp "$work/out" "$KEEP_OUT"
	sent=$(grep -o 'tot_send_msgs=[0-9]*' "$work/out" | tail -1 | cut -d= -f2 || true)
	recv=$(grep -o 'tot_recv_msgs=[0-9]*' "$work/out" | tail -1 | cut -d= -f2 || true)
	loss=$(grep -o 'Total lost packets [0-9]* ([0-9.]*%)' "$work/out" | sed 's/.*(\(.*\)%)/\1/' || true)
	echo "${sent:-0} ${recv:-0} ${loss:-100} $(cat "$work/cpu") - -" >>"$work/rows.u"
}

# natkit TRANSPORT: appends "sent recv loss% cpu connect_p50_ms connect_p99_ms" to $work/rows.n
natkit() {
	local url="turn:127.0.0.1:$port?transport=tcp" extra=()
	[[ $1 == tls ]] && url="turns:127.0.0.1:$tls_port" extra=(--tls-ca "$work/cert.pem")
	cpu "$NATKIT" bench "$url" "${extra[@]}" --user u --credential p --allocations "$ALLOCS" --pps "$PPS" \
		--size "$SIZE" --duration "${SECS}s" --peer "127.0.0.1:$peer_port" --max-loss 100 --format json
	jq -r --arg c "$(cat "$work/cpu")" '(.metrics | map({(.name): .}) | add) as $m
		| [$m["packets.sent"].value, $m["packets.received"].value,
		   (100 * ($m["packets.lost"].value // 0) / $m["packets.sent"].value), ($c|tonumber),
		   $m["turn.connect.time"].p50, $m["turn.connect.time"].p99] | map(tostring) | join(" ")' "$work/out" >>"$work/rows.n" ||
		{ echo "natkit bench failed: $(cat "$work/err")" >&2; echo "0 0 100 $(cat "$work/cpu") - -" >>"$work/rows.n"; }
}

echo "load average before: $(uptime)"
for tr in $TRANSPORTS; do
	echo "== $tr: $ALLOCS allocations × $PPS pps × $SIZE B, channel, ${SECS}s; $REPS runs each, alternating"
	: >"$work/rows.u"; : >"$work/rows.n"
	for _ in $(seq "$REPS"); do uclient "$tr"; natkit "$tr"; done
	awk '
	BEGIN { printf "%-18s %8s %8s %7s %7s %11s %13s\n", "tool", "sent", "recv", "loss%", "CPU s", "pkts/CPU-s", "connect p50/p99 ms" }
	{
		t = (FILENAME ~ /rows.u$/) ? "u" : "n"
		ppc = ($4 > 0) ? ($1 + $2) / $4 : 0
		printf "%-18s %8d %8d %7.2f %7.2f %11.0f %13s\n", (t == "u") ? "turnutils_uclient" : "natkit bench", $1, $2, $3, $4, ppc, $5 "/" $6
		v[t, ++n[t]] = ppc
	}
	function median(t,   i, j, k, a) {
		k = n[t]; for (i = 1; i <= k; i++) a[i] = v[t, i]
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
		return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
	}
	function lo(t,   i, m) { m = v[t, 1]; for (i = 2; i <= n[t]; i++) if (v[t, i] < m) m = v[t, i]; return m }
	function hi(t,   i, m) { m = v[t, 1]; for (i = 2; i <= n[t]; i++) if (v[t, i] > m) m = v[t, i]; return m }
	END {
		printf "packets per CPU second: uclient median %.0f (%.0f–%.0f), natkit median %.0f (%.0f–%.0f); natkit ÷ uclient %.2f× (range %.2f–%.2f×)\n",
			median("u"), lo("u"), hi("u"), median("n"), lo("n"), hi("n"),
			(median("u") > 0) ? median("n") / median("u") : 0, (hi("u") > 0) ? lo("n") / hi("u") : 0, (lo("u") > 0) ? hi("n") / lo("u") : 0
	}' "$work/rows.u" "$work/rows.n"
done
echo "load average after: $(uptime)"
