// Package audit checks a TURN server for the known TURN security holes,
// as an attacker would try them, and says how to close each one.
//
// Run sends only to the server under test, plus at most one datagram per
// granted range relayed to a sink that natkit itself listens on (the
// data-path proof). Every check is bounded in count and time; there is no
// flood mode. The checks: the peer policy for every encoding of an
// internal address (CreatePermission and ChannelBind, nothing relayed),
// a self-loop to the server's own addresses (proved with a Binding
// request only), an unauthenticated Allocate, the REST username expiry
// bound, a nonce replayed from another 5-tuple, a wrong FINGERPRINT, the
// amplification of unauthenticated answers, idle unauthenticated TCP/TLS
// connections, SOFTWARE disclosure, TLS versions and certificate, the
// per-user allocation quota and the LIFETIME granted to a large request.
//
// Each Check carries its verdict, severity, evidence (what was sent and
// what came back) and the fix for natkit relay and for coturn.
// (*Result).Report turns a Result into a reports.Report.
package audit
