#!/usr/bin/env bash
# bench/load-dtls.sh — natkit bench over TLS (turns:) and DTLS
# (turns:…?transport=udp, RFC 7350) against natkit relay and Debian's coturn
# on loopback, the same load each time (ALLOCS allocations × PPS packets/s ×
# SIZE bytes through ChannelData to natkit peer for SECS seconds), REPS
# rounds alternating server and transport. Prints, per run,
# turn.connect.time p50/p99 (the TLS or DTLS handshake), relay RTT p50 and
# loss, with the load average before and after. Needs bin/natkit, openssl,
# jq and turnserver. Everything listens on 127.0.0.1 and stops on exit.
set -euo pipefail

NATKIT=${NATKIT:-bin/natkit}
ALLOCS=${ALLOCS:-20}
PPS=${PPS:-50}
SECS=${SECS:-3}
SIZE=${SIZE:-100}
REPS=${REPS:-3}

[[ -x $NATKIT ]] || { echo "bench/load-dtls.sh: $NATKIT missing: run make build" >&2; exit 3; }
for p in openssl jq turnserver python3; do
	command -v "$p" >/dev/null || { echo "bench/load-dtls.sh: $p missing" >&2; exit 3; }
done
NATKIT=$(realpath "$NATKIT")
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout key.pem -out cert.pem \
	-days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
free() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
np=$(free) ns=$(free) cp=$(free) cs=$(free) pp=$(free)
"$NATKIT" relay --listen "udp://127.0.0.1:$np" --listen "tls://127.0.0.1:$ns" --listen "dtls://127.0.0.1:$ns" \
	--tls-cert cert.pem --tls-key key.pem --user u:p --allow-peer 127.0.0.0/8 >relay.log 2>&1 &
pids+=($!)
"$NATKIT" peer --listen "127.0.0.1:$pp" >peer.log 2>&1 &
pids+=($!)
turnserver -n --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port "$cp" --tls-listening-port "$cs" \
	--cert cert.pem --pkey key.pem --realm natkit --lt-cred-mech --user u:p --allow-loopback-peers --no-cli \
	--log-file stdout --pidfile "$dir/ts.pid" --userdb "$dir/turndb" >coturn.log 2>&1 &
pids+=($!)
sleep 2
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-7s %-5s %22s %12s %6s\n' round server tr "connect p50/p99 ms" "rtt p50 ms" loss
for round in $(seq "$REPS"); do
	for srv in natkit coturn; do
		port=$ns
		[[ $srv == coturn ]] && port=$cs
		for tr in tls dtls; do
			url="turns:127.0.0.1:$port"
			[[ $tr == dtls ]] && url="$url?transport=udp"
			"$NATKIT" bench "$url" --user u --credential p --tls-ca cert.pem --peer "127.0.0.1:$pp" \
				--allocations "$ALLOCS" --pps "$PPS" --size "$SIZE" --duration "${SECS}s" --report r.json >/dev/null 2>&1 || true
			jq -r --arg r "$round" --arg s "$srv" --arg t "$tr" '
				(.metrics | map({(.name): .}) | add) as $m |
				[$r, $s, $t, "\($m["turn.connect.time"].p50)/\($m["turn.connect.time"].p99)", "\($m["relay.rtt"].p50)",
				 (.summary | capture("loss (?<l>[0-9.]+%)").l // "-")] | @tsv' r.json |
				awk -F'\t' '{printf "%-6s %-7s %-5s %22s %12s %6s\n", $1, $2, $3, $4, $5, $6}'
		done
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
