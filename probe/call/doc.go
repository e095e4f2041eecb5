// Package call is natkit's one call engine: a two-peer WebRTC call with
// pion/webrtc, a data channel of probe messages echoed by the answerer,
// over any transport.Net (the real network, or a vnet topology) and any
// signaling transport (an in-process Pipe, or signaling protocol v1 through
// signalserver/client.Signaler).
//
// A Peer records a typed timeline: gathering start and end, each candidate,
// each signaling message sent and received (Event.Signal), ICE,
// peer-connection and DTLS states (Event.State), the selected pair, SCTP
// up, the first data-channel message, and the TURN servers' error
// responses (Event.TURN), read from the sockets its TURN clients use.
// Probe messages measure data-channel RTT into an HDR histogram and count
// losses. The path is classified in the user's words: direct between host
// addresses, direct through NAT (server- or peer-reflexive), or relayed
// (and through which side's relay).
//
// Run, RunWith and RunSolo return a Result with a typed Cause (why the
// call ended as it did) and a Diagnosis() that names it with the next
// step; Result.Report makes its report.
package call
