package lab

// FiltersByPort reports whether the NAT drops packets from a known address
// on a port it never sent to (APDF).
func (p Preset) FiltersByPort() bool { return !p.NoNAT && p.Filtering == "APDF" }

// Symmetric reports whether the NAT maps per destination (APDM).
func (p Preset) Symmetric() bool { return !p.NoNAT && p.Mapping == "APDM" }

// mapsPerPeer reports whether p gives peer a different public port than
// the STUN server saw: always for a symmetric NAT; for a clash NAT when the
// peer's first check reaches it before its own first check to the peer
// (peerFirst).
func (p Preset) mapsPerPeer(peerFirst bool) bool {
	return p.Symmetric() || (p.Clash && peerFirst)
}

// ExpectDirect is the theory for a STUN-only call between a and b on the
// kernel: a direct path exists unless UDP is blocked on either side, or one
// side's public port towards the other differs from the one the STUN
// server saw (a symmetric NAT, or a clash NAT that the peer's check reached
// first) while the other side drops packets from ports it has not sent to.
// Two sides with IPv6 connect directly over it; an IPv6-only side and an
// IPv4-only side never do.
// aFirst says that a's first check reaches b's router before b's reaches
// a's.
func ExpectDirect(a, b Preset, aFirst bool) bool {
	if a.HasIPv6() && b.HasIPv6() {
		// Global addresses behind stateful firewalls: no translation,
		// so each side's checks open its firewall for the other's.
		return true
	}
	if !a.HasIPv4() || !b.HasIPv4() {
		// An IPv6-only side reaches IPv4 only through NAT64 (synthesized
		// addresses), but ICE pairs an IPv4 candidate only with IPv4
		// ones: nothing pairs a NAT64 side with an IPv4-only peer.
		return false
	}
	if a.UDPBlocked || b.UDPBlocked {
		return false
	}
	aBlocks := a.mapsPerPeer(!aFirst) && b.FiltersByPort()
	bBlocks := b.mapsPerPeer(aFirst) && a.FiltersByPort()
	return !aBlocks && !bBlocks
}

// LetsOutTCP reports whether a host behind p can open a TCP connection to
// port on the WAN: every preset but udp-blocked lets any out.
func (p Preset) LetsOutTCP(port int) bool {
	if !p.UDPBlocked {
		return true
	}
	for _, q := range UDPBlockedTCPPorts {
		if q == port {
			return true
		}
	}
	return false
}

// ICETCP is what ICE-TCP (RFC 6544) the two peers of a call have.
type ICETCP struct {
	// On: both peers gather ICE-TCP host candidates, passive ones at
	// least.
	On bool
	// Port is the passive candidates' port; 0 is one the system picks,
	// which no firewall that filters by port lets out.
	Port int
	// ActiveA and ActiveB: the side's peer also makes active candidates,
	// which dial the other's passive ones. pion ice v4.1.0 dials with the
	// net package, so only a peer that is its own process inside the
	// side's namespace does (peer: pion-process); natkit's engine in
	// process through lab.Net is passive only.
	ActiveA, ActiveB bool
}

// ExpectDirectTCP is the theory for ICE-TCP between a and b: pion gathers
// TCP host candidates only (no server-reflexive ones, no simultaneous
// open), so a direct TCP path exists when one side's host is on the WAN
// (no NAT: its passive candidate is a public address with nothing in
// front of it) and the other side dials it: its peer makes active
// candidates and its network lets TCP to the passive port out
// (udp-blocked: 443 and 3478 only). Both sides need a family in common.
func ExpectDirectTCP(a, b Preset, t ICETCP) bool {
	if !t.On {
		return false
	}
	dials := func(from Preset, active bool, to Preset) bool {
		sameFamily := (from.HasIPv4() && to.HasIPv4()) || (from.HasIPv6() && to.HasIPv6())
		return active && to.NoNAT && sameFamily && from.LetsOutTCP(t.Port)
	}
	return dials(a, t.ActiveA, b) || dials(b, t.ActiveB, a)
}

// Observed paths of a call.
const (
	PathDirect = "direct"
	PathRelay  = "relay"
	PathFailed = "failed"
)

// Expect is the kernel theory for a call between a and b, with or without
// a TURN server (offered over UDP, and over TCP too where a side blocks
// UDP; an IPv6-only side reaches it through its NAT64 over either): the
// paths the call may take,
// "direct", "relay" or "failed". It is one path, except for a race: a clash
// NAT facing a port-filtering peer connects directly when its own first
// check to the peer leaves before the peer's first check arrives, and
// otherwise behaves as a symmetric NAT. Which check arrives first is a
// matter of microseconds (ICE checks pace, signaling, CPU), so the theory
// accepts both outcomes and says so; every other pair has one outcome.
func Expect(a, b string, turn bool) ([]string, error) {
	return ExpectWithICETCP(a, b, turn, ICETCP{})
}

// ExpectWithICETCP is Expect for peers with ICE-TCP: a pair without a
// direct UDP path connects directly over TCP where ExpectDirectTCP says
// one exists.
func ExpectWithICETCP(a, b string, turn bool, tcp ICETCP) ([]string, error) {
	pa, err := LookupPreset(a)
	if err != nil {
		return nil, err
	}
	pb, err := LookupPreset(b)
	if err != nil {
		return nil, err
	}
	fallback := PathFailed
	if turn {
		fallback = PathRelay
	}
	aFirst, bFirst := ExpectDirect(pa, pb, true), ExpectDirect(pa, pb, false)
	if ExpectDirectTCP(pa, pb, tcp) {
		// Whoever's check is first, the TCP pair works.
		aFirst, bFirst = true, true
	}
	switch {
	case aFirst && bFirst:
		return []string{PathDirect}, nil
	case aFirst || bFirst:
		return []string{PathDirect, fallback}, nil
	}
	return []string{fallback}, nil
}

// TURN transports, as a relay candidate names how it reaches its server.
const (
	RelayOverUDP  = "udp"
	RelayOverTCP  = "tcp"
	RelayOverTLS  = "tls"
	RelayOverDTLS = "dtls"
)

// ReachesRelayOver reports whether a host behind p reaches the lab's TURN
// relay over transport: over UDP and DTLS (UDP port 5349) unless the side
// blocks UDP, over TCP and TLS (ports 3478 and 443) from every preset. An IPv6-only side reaches
// the IPv4 relay through its NAT64 over each of them: the relay's name
// resolves (DNS64) to its synthesized address, and the call engine opens
// pion's IPv4-only TURN sockets in IPv6 there (probe/call/family.go).
func (p Preset) ReachesRelayOver(transport string) bool {
	switch transport {
	case RelayOverUDP, RelayOverDTLS:
		return !p.UDPBlocked
	case RelayOverTCP, RelayOverTLS:
		return true
	}
	return false
}

// ExpectRelayProtocol is the kernel theory for how side a's relay
// candidate reaches the relay when a's peer is offered the TURN
// transports offered: every one of them a reaches (pion gives relay
// candidates of every transport the same priority, so any of them may
// carry the call), none when it reaches none.
func ExpectRelayProtocol(a string, offered []string) ([]string, error) {
	p, err := LookupPreset(a)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range offered {
		if p.ReachesRelayOver(t) {
			out = append(out, t)
		}
	}
	return out, nil
}
