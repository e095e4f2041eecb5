# bench/coturn.sh — sourced by the bench/ scripts: picks the coturn they
# compare against and sets turnserver, uclient_bin, coturn_version and
# coturn_flags (the flags that version needs to run on loopback). It uses
# coturn 4.17.1 from ../shared/peers/coturn-latest (beside the checkout, or
# beside a worktree's parent) when that runs, else Debian's coturn 4.6.1 on
# PATH; COTURN_BIN=DIR forces a bin directory (COTURN_BIN=/usr/bin: Debian's).
# It prints the version and path it chose.
if [[ -z ${COTURN_BIN:-} ]]; then
	_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	for _latest in "$_root/../shared/peers/coturn-latest" "$_root/../../shared/peers/coturn-latest"; do
		if [[ -x $_latest ]]; then COTURN_BIN=$("$_latest" 2>/dev/null || true); break; fi
	done
fi
if [[ -n ${COTURN_BIN:-} && -x $COTURN_BIN/turnserver ]]; then
	turnserver=$COTURN_BIN/turnserver uclient_bin=$COTURN_BIN/turnutils_uclient
else
	turnserver=$(command -v turnserver || true) uclient_bin=$(command -v turnutils_uclient || true)
	[[ -n $turnserver && -n $uclient_bin ]] || { echo "${0##*/}: coturn missing: apt-get install -y coturn" >&2; exit 3; }
fi
coturn_version=$("$turnserver" --version 2>/dev/null | head -1)
echo "coturn: $coturn_version ($turnserver, $uclient_bin)"
# 4.6 starts its CLI, DTLS and STUN backward compatibility unless told not
# to; 4.17 has them off by default and refuses --no-stun-backward-compatibility.
coturn_flags=()
if [[ $coturn_version == 4.6* ]]; then coturn_flags+=(--no-cli --no-dtls --no-stun-backward-compatibility); fi
