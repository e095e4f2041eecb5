// Package turnconn is the one way natkit's probes open a connection to a
// TURN server: UDP, TCP, TLS over TCP (RFC 5766 turns:) or DTLS over UDP
// (RFC 7350, turns:…?transport=udp), always through a transport.Net. It
// also names why a TLS or DTLS handshake failed (Classify), so that
// gather, bench and audit give the same causes.
package turnconn
