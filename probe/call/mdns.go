package call

import (
	"net"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v3"
	"github.com/pion/webrtc/v4"
)

// MDNSMode is how a peer treats mDNS (.local) host candidates.
type MDNSMode string

// mDNS modes of PeerConfig.MDNS.
const (
	// MDNSOff neither gathers nor resolves .local candidates: a remote
	// .local candidate is dropped (pion's MulticastDNSModeDisabled).
	MDNSOff MDNSMode = "off"
	// MDNSQuery resolves the remote's .local candidates and gathers plain
	// host addresses (pion's QueryOnly).
	MDNSQuery MDNSMode = "query"
	// MDNSGather hides the peer's host addresses behind a .local name,
	// answers queries for it, and resolves the remote's, as Chromium does
	// (pion's QueryAndGather).
	MDNSGather MDNSMode = "gather"
)

func (m MDNSMode) valid() bool {
	switch m {
	case "", MDNSOff, MDNSQuery, MDNSGather:
		return true
	}
	return false
}

// iceMode is pion's setting for m; "" is off.
func (m MDNSMode) iceMode() ice.MulticastDNSMode {
	switch m {
	case MDNSQuery:
		return ice.MulticastDNSModeQueryOnly
	case MDNSGather:
		return ice.MulticastDNSModeQueryAndGather
	}
	return ice.MulticastDNSModeDisabled
}

// isMDNSAddress reports whether a candidate's address is an mDNS name: a
// browser's (or an MDNSGather peer's) hidden host address.
func isMDNSAddress(addr string) bool { return strings.HasSuffix(addr, ".local") }

// namespaced is a Net that can run code inside its network namespace (the
// kernel lab's lab.Net).
type namespaced interface {
	Do(fn func() error) error
}

// createAgentIn creates pc's ICE agent, and with it pion's mDNS server,
// inside n's namespace when mDNS is on and n has one. That server opens
// its unicast sockets and reads interface addresses with the net package,
// in whatever namespace the calling thread is in, not through the
// transport.Net: created elsewhere it finds "no usable interfaces" and
// mDNS stays off. Everything else the agent opens goes through n anyway.
func (m MDNSMode) createAgentIn(n transport.Net, pc *webrtc.PeerConnection) error {
	if m.iceMode() == ice.MulticastDNSModeDisabled {
		return nil
	}
	ns, ok := n.(namespaced)
	if !ok {
		return nil
	}
	return ns.Do(func() error {
		_, err := pc.SCTP().Transport().ICETransport().GetLocalParameters()
		return err
	})
}

// resolvesTo reports whether c, one of the partner's mDNS host candidates,
// is the peer-reflexive candidate learned from its checks: a check that
// arrives before the name resolves makes the candidate prflx at its
// resolved address. pion keeps the resolved address to itself, so the port
// tells (it is the host socket's, with no NAT between them).
func resolvesTo(c, learned Candidate) bool {
	if !c.MDNS || c.Type != "host" || learned.Type != "prflx" {
		return false
	}
	_, cp, err1 := net.SplitHostPort(c.Address)
	_, lp, err2 := net.SplitHostPort(learned.Address)
	return err1 == nil && err2 == nil && cp == lp
}
