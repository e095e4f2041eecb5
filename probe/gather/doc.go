// Package gather gathers ICE candidates the way a browser does (pion's ICE
// agent over a transport.Net) through each ICE server on its own and
// through all of them together, and gives every server a verdict that
// names the cause.
//
// Beside each ICE gather it probes the server directly, because an ICE
// agent only says "no candidate": a STUN Binding with RFC 5389
// retransmissions (public address, round trip; or no answer, DNS failure,
// port unreachable), and a TURN Allocate with pion/turn's client, which
// yields the exact error code (401, 403, 437, 438, 486, 508, …), the relay
// address, the lifetime and the Allocate round trip, over UDP, TCP or TLS
// as the URL says (TLS handshake failures name the certificate problem).
// An expired TURN REST username is reported locally, before any packet.
//
// It also checks, on one socket, whether the public address differs per
// server, which betrays a destination-dependent (symmetric) NAT.
//
// Sockets are tracked per gather so that each candidate is attributed to
// the server URL it came from, and every socket is closed when Run
// returns.
package gather
