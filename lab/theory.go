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
// aFirst says that a's first check reaches b's router before b's reaches
// a's (in natkit's matrix the offerer a checks first: it holds its
// candidates until it has b's answer, so b learns of a only after a starts
// checking).
func ExpectDirect(a, b Preset, aFirst bool) bool {
	if a.UDPBlocked || b.UDPBlocked {
		return false
	}
	return !(a.mapsPerPeer(!aFirst) && b.FiltersByPort()) && !(b.mapsPerPeer(aFirst) && a.FiltersByPort())
}

// Theory is the kernel matrix's expectation for a call from a (offerer)
// to b: connected and "direct" or "relay". With TURN (offered over UDP and
// TCP) every pair connects.
//
// Which side's check reaches the other's router first matters only for a
// clash NAT. With STUN only each peer has one server-reflexive socket and
// the offerer checks first. With a TURN server each peer also gathers a
// server-reflexive candidate per TURN URL, each from its own socket, so
// there are several socket pairs and on some of them the answerer's check
// arrives first: a direct path exists when either order gives one.
func Theory(a, b string, turn bool) (connected bool, path string, err error) {
	pa, err := LookupPreset(a)
	if err != nil {
		return false, "", err
	}
	pb, err := LookupPreset(b)
	if err != nil {
		return false, "", err
	}
	switch {
	case ExpectDirect(pa, pb, true), turn && ExpectDirect(pa, pb, false):
		return true, "direct", nil
	case turn:
		return true, "relay", nil
	}
	return false, "", nil
}
