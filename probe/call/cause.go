package call

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Cause is why a call ended the way it did, in one word a program can
// switch on. Diagnosis says it in a sentence, with the next step.
type Cause string

// Causes, from the first thing that went wrong. The empty Cause is a
// Result nobody classified (one built by hand).
const (
	// CauseOK: both peers connected, the data channel opened and the
	// probes ran.
	CauseOK Cause = "ok"
	// CauseSignalingFailed: the call could not start: joining the room or
	// finding the other peer failed.
	CauseSignalingFailed Cause = "signaling-failed"
	// CauseNoDescription: no offer or answer arrived through signaling.
	CauseNoDescription Cause = "no-offer-or-answer"
	// CauseNoCandidates: no local candidate was gathered.
	CauseNoCandidates Cause = "no-candidates"
	// CauseServersUnreachable: a side was given STUN or TURN servers but
	// gathered neither a server-reflexive nor a relay candidate: none of
	// them answered (UDP blocked, or the servers are down). It comes before
	// a relay's refusals, which are then only of that side's private host
	// addresses.
	CauseServersUnreachable Cause = "servers-unreachable"
	// CauseTURNHandshakeFailed: a side gathered no relay candidate because
	// the TLS or DTLS handshake with its TURN server failed (an untrusted
	// certificate, most often). Result.TURNHandshakeErrors says how.
	CauseTURNHandshakeFailed Cause = "turn-handshake-failed"
	// CauseTURNAuthFailed: a side gathered no relay candidate because its
	// TURN server refused its credentials (401 to an authenticated
	// request, or 441).
	CauseTURNAuthFailed Cause = "turn-auth-failed"
	// CauseRelayRefusedPeer: the TURN relay refused (403) every permission
	// for the other peer's addresses: its peer policy denies them.
	CauseRelayRefusedPeer Cause = "relay-refused-peer"
	// CauseNoDirectPath: ICE failed, the NATs rule out a direct path
	// (Config.NoDirectPath says why), and no relay candidate was gathered.
	CauseNoDirectPath Cause = "no-direct-path"
	// CauseNoRelay: the direct pairs failed and no relay candidate was
	// gathered.
	CauseNoRelay Cause = "direct-failed-no-relay"
	// CauseRelayNotGathered: ICE failed, and a side given TURN servers
	// gathered no relay candidate and read no error from them, while the
	// other side did gather one: the other relay alone could not carry
	// the call. Result.RelayNotGathered names the side.
	CauseRelayNotGathered Cause = "relay-not-gathered"
	// CauseRelayedPathFailed: relay candidates were gathered, but no pair
	// worked, relayed ones included.
	CauseRelayedPathFailed Cause = "relayed-path-failed"
	// CauseTimeout: the connect timeout ended while ICE was still checking.
	CauseTimeout Cause = "timeout"
	// CauseDTLSFailed: ICE connected but the DTLS handshake failed.
	CauseDTLSFailed Cause = "dtls-failed"
	// CauseDataChannelFailed: the peers connected but the data channel did
	// not open, or the probes could not be sent.
	CauseDataChannelFailed Cause = "data-channel-failed"
	// CauseInterrupted: the caller's context ended the call early (Ctrl-C).
	CauseInterrupted Cause = "interrupted"
	// CauseNotRun: the call never started.
	CauseNotRun Cause = "not-run"
	// CausePeerCrashed: a peer's process (e.g. a browser) died during the
	// call; Error says which and how.
	CausePeerCrashed Cause = "peer-crashed"
)

// Completed reports whether the call ran to its verdict: neither
// interrupted, never started, nor cut by a crashed peer. Only a completed
// call can be compared with a theory or an expectation.
func (c Cause) Completed() bool {
	return c != CauseInterrupted && c != CauseNotRun && c != CausePeerCrashed
}

// loopbackHint is the next step when a relay on loopback refuses a peer on
// loopback: natkit relay refuses loopback peers unless told otherwise.
const loopbackHint = "for a relay on loopback use `natkit relay --allow-peer 127.0.0.0/8`"

// Diagnosis names the cause of a call that did not complete, and the next
// step; "" for a call that did (or a Result nobody classified).
func (r *Result) Diagnosis() string {
	switch r.Cause {
	case CauseOK, "":
		return ""
	case CauseSignalingFailed:
		return "the call could not start: " + r.Error + ": check the signaling URL, the room and the server's logs"
	case CauseNoDescription:
		return "no offer or answer arrived through the signaling server: is the other peer in the same room?"
	case CauseNoCandidates:
		if r.RelayOnly {
			return "no local candidate was gathered: with a relay-only policy, the TURN server gave no relay candidate (check it with natkit gather --expect relay)"
		}
		return "no local candidate was gathered: the peer has no usable network address"
	case CauseServersUnreachable:
		return fmt.Sprintf("side %s gathered no server-reflexive or relay candidate: none of its STUN or TURN servers answered, so it could offer only its private host addresses. UDP to them is blocked or they are down: on a network that blocks UDP, use TURN over TCP or TLS (turn:HOST:PORT?transport=tcp, turns:HOST:443?transport=tcp); otherwise check them with natkit gather", strings.Join(r.Unreached, " and "))
	case CauseTURNHandshakeFailed:
		return r.handshakeDiagnosis()
	case CauseTURNAuthFailed:
		var parts []string
		for _, e := range r.authRefused() {
			parts = append(parts, "side "+e.Side+"'s TURN server "+e.Server+" answered "+strconv.Itoa(e.Code)+" "+e.Reason+" to its authenticated "+e.Method)
		}
		return strings.Join(parts, "; ") + ": the username or password is wrong, or (TURN REST credentials) expired or minted with another secret, so that side gathered no relay candidate. Check them with natkit gather --expect relay"
	case CauseRelayRefusedPeer:
		return r.refusedDiagnosis()
	case CauseTimeout:
		return "the connect timeout ended while ICE was still checking; " + r.iceDiagnosis(r.iceCause())
	case CauseDTLSFailed:
		return "ICE connected but the DTLS handshake failed: a middlebox may drop large UDP packets (check the path MTU), or a certificate fingerprint did not match the signaled one"
	case CauseDataChannelFailed:
		return "the peers connected but the data channel did not carry the probes: SCTP over DTLS did not come up, so check that both descriptions carry an m=application section and that the path passes full-size UDP packets after ICE (path MTU, a firewall that drops packets once the flow is established)"
	case CauseInterrupted:
		return "cut short before the call completed (Ctrl-C, or the caller's deadline)"
	case CauseNotRun:
		return "not run"
	case CausePeerCrashed:
		return "a peer's process died during the call: " + r.Error + "; the call's outcome says nothing about the network"
	}
	return r.iceDiagnosis(r.Cause)
}

// iceDiagnosis words the ICE failures, with the NAT theory when the
// caller gave it.
func (r *Result) iceDiagnosis(c Cause) string {
	why := r.NoDirectPath
	switch {
	case c == CauseNoDirectPath && !r.RelayConfigured:
		return "ICE failed: " + why + "; only a TURN relay can carry this call, and none was given. A TURN server (relay candidates that reach the peer) is needed for this pair."
	case c == CauseNoDirectPath:
		return "ICE failed: " + why + "; only a TURN relay can carry this call, and the TURN server gave no relay candidate (check it with natkit gather --expect relay)"
	case c == CauseRelayNotGathered:
		side := strings.Join(r.RelayNotGathered, " and ")
		if len(r.RelayNotGatheredWhy) > 0 {
			var whys []string
			for _, name := range r.RelayNotGathered {
				if why := r.RelayNotGatheredWhy[name]; why != "" {
					whys = append(whys, "side "+name+": "+why)
				}
			}
			return fmt.Sprintf("side %s was given a TURN server but gathered no relay candidate, so the other side's relay alone had to carry the call and no pair worked. %s: use the TURN server's name or an IPv6 address", side, strings.Join(whys, "; "))
		}
		return fmt.Sprintf("side %s was given a TURN server but gathered no relay candidate, and no error answer from it was read, so the other side's relay alone had to carry the call and no pair worked: the server did not answer %s over that transport, or %s's client could not use it. Check it from %s's network with natkit gather --expect relay (its verdict names the cause), or offer it over TCP or TLS", side, side, side, side)
	case c == CauseNoRelay:
		return "no relay candidate was gathered, and the direct paths failed: add a TURN server, or check its credentials with natkit gather --expect relay"
	case why != "":
		return "ICE failed: " + why + "; relay candidates were gathered but no relayed pair worked — check that both sides' relay candidates reached the other (signaling) and that the relay is reachable"
	}
	return "ICE checks failed on every candidate pair, relayed ones included: check that the relay can reach the other peer's relay address"
}

func (r *Result) refusedDiagnosis() string {
	var refused *TURNError
	for i := range r.TURNErrors {
		if r.TURNErrors[i].refusesPeer() {
			refused = &r.TURNErrors[i]
			break
		}
	}
	if refused == nil {
		return "the relay refused the peer address (403 Forbidden): its peer policy denies it"
	}
	host, _, err := net.SplitHostPort(refused.PeerAddr)
	if err != nil {
		host = refused.PeerAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return "the relay refused the peer address (403 Forbidden): its peer policy denies it — " + loopbackHint
	}
	return fmt.Sprintf("the relay refused the peer address %s (403 Forbidden): its peer policy denies it — allow it on the relay (natkit relay --allow-peer PREFIX, coturn --allowed-peer-ip)", host)
}

// Classify sets Cause from what the call did, for a Result built from
// another implementation's view of a call (a browser's timeline and
// stats): runErr is why it ended early (ErrNoDataChannel, ErrFailed,
// ErrNotConnected; nil if it completed). Events, Candidates, Connected and
// the TURN fields must be filled first.
func (r *Result) Classify(runErr error, interrupted bool) {
	r.Cause = r.classify(runErr, interrupted)
}

// classify computes the Cause from what the call did. runErr is why the
// run stopped early (nil if it did not), interrupted whether the caller's
// context ended it.
func (r *Result) classify(runErr error, interrupted bool) Cause {
	switch {
	case interrupted && (runErr != nil || !r.Connected):
		return CauseInterrupted
	case r.Connected && runErr == nil:
		return CauseOK
	case r.Connected:
		return CauseDataChannelFailed
	case !r.gotDescription():
		return CauseNoDescription
	case len(r.TURNHandshakeErrors) > 0:
		return CauseTURNHandshakeFailed
	case len(r.authRefused()) > 0:
		return CauseTURNAuthFailed
	case r.candidateCount("") == 0:
		return CauseNoCandidates
	case len(r.Unreached) > 0:
		return CauseServersUnreachable
	case r.peerRefused():
		return CauseRelayRefusedPeer
	case r.reached(EvDTLSState, "failed"):
		return CauseDTLSFailed
	case !r.reached(EvICEState, "failed") && !r.reached(EvICEState, "connected"):
		return CauseTimeout
	}
	return r.iceCause()
}

func (r *Result) iceCause() Cause {
	switch {
	case r.candidateCount("relay") > 0 && len(r.RelayNotGathered) > 0:
		return CauseRelayNotGathered
	case r.candidateCount("relay") > 0:
		return CauseRelayedPathFailed
	case r.NoDirectPath != "":
		return CauseNoDirectPath
	}
	return CauseNoRelay
}

func (r *Result) gotDescription() bool {
	for _, e := range r.Events {
		if e.Kind == EvSignalRecv && (e.Signal == MsgOffer || e.Signal == MsgAnswer) {
			return true
		}
	}
	return false
}

func (r *Result) reached(kind EventKind, state string) bool {
	for _, e := range r.Events {
		if e.Kind == kind && e.State == state {
			return true
		}
	}
	return false
}

// candidateCount counts the gathered candidates of type typ ("" for all).
func (r *Result) candidateCount(typ string) int {
	n := 0
	for _, cs := range r.Candidates {
		for _, c := range cs {
			if typ == "" || c.Type == typ {
				n++
			}
		}
	}
	return n
}

// peerRefused: a relay refused a permission and granted none.
func (r *Result) peerRefused() bool {
	refused := false
	for _, e := range r.TURNErrors {
		refused = refused || e.refusesPeer()
	}
	return refused && r.PermissionsGranted == 0
}

func isRelayURL(u string) bool {
	return strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:")
}

func (r *Result) handshakeDiagnosis() string {
	var parts []string
	for _, e := range r.TURNHandshakeErrors {
		parts = append(parts, "side "+e.Peer+"'s "+e.String())
	}
	return strings.Join(parts, "; ") + ": that side gathered no relay candidate. An untrusted certificate (signed by an authority the peer does not know, for another name, or expired) is the usual cause; natkit gather 'turns:HOST:PORT' (add ?transport=udp for DTLS) names which, and a private CA must be in the peer's trust store"
}

// authRefused are the credential refusals of the sides that gathered no
// relay candidate.
func (r *Result) authRefused() []TURNError {
	var out []TURNError
	for _, e := range r.TURNErrors {
		if e.refusesCredentials() && !hasType(r.Candidates[e.Side], "relay") {
			out = append(out, e)
		}
	}
	return out
}
