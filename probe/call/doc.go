// Package call is natkit's one call engine: a two-peer WebRTC call with
// pion/webrtc, a data channel of probe messages echoed by the answerer,
// over any transport.Net (the real network, or a vnet topology) and any
// signaling transport (an in-process Pipe, or signaling protocol v1).
//
// A Peer records a timeline: gathering start and end, each candidate, each
// signaling message sent and received, ICE and peer-connection state
// changes, the selected pair, DTLS and SCTP up, the first data-channel
// message. Probe messages measure data-channel RTT into an HDR histogram and
// count losses. The path is classified in the user's words: direct between
// host addresses, direct through NAT (server- or peer-reflexive), or relayed
// (and through which side's relay).
package call
