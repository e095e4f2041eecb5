package relay

import (
	"net"
	"net/netip"
	"sync"

	"github.com/pion/stun/v3"
)

// Address families of relayed addresses (RFC 6156). pion/turn v4.1.3's
// server never reads REQUESTED-ADDRESS-FAMILY: it asks the generator for
// "udp4" whatever the request says. natkit honours it here:
//   - inspect answers 440 when the relay has no relayed address of the
//     requested family, before pion sees the request;
//   - on a relay with both families, every authenticated Allocate takes
//     familyGate and records its family; pion handles the request
//     synchronously in the goroutine that read it (one per UDP socket,
//     one per TCP connection), so relayGen.AllocatePacketConn, called in
//     that goroutine, reads it; the same connection's next read releases
//     the gate. Allocates are thus serialized on a dual-stack relay only;
//     a single-family relay never takes the gate.
//
// Without the attribute the relay allocates IPv4 (RFC 6156 section 4.2),
// or IPv6 when it has no IPv4 relay address: RFC 6156 would answer 440
// there, but pion's client and ICE agent never send the attribute, and
// an IPv6-only relay would be unusable for them.
const (
	familyIPv4 byte = 0x01
	familyIPv6 byte = 0x02
	// familyDual is natkit's own value for a dual allocation (RFC 8656
	// ADDITIONAL-ADDRESS-FAMILY IPv6 on a relay with both families).
	familyDual byte = 0x03
)

// RFC 8656 attributes pion/stun does not name.
const (
	attrAdditionalAddressFamily stun.AttrType = 0x8000
	attrAddressErrorCode        stun.AttrType = 0x8001
)

// familyGate hands the requested family from inspect to the generator.
type familyGate struct {
	mu   sync.Mutex
	want byte // guarded by mu; 0 on a single-family relay
	// missing is the family a dual request could not get (0 when none),
	// and key signs the answer the relay completes (dual.go). Guarded by
	// mu.
	missing byte
	key     []byte
	// reserved maps RESERVATION-TOKENs (EVEN-PORT with R) to their
	// family: an Allocate redeeming one carries no family (RFC 6156
	// section 4.2) and gets the reservation's. Guarded by mu.
	reserved map[string]byte
}

// defaultRelayIPv6 is RelayIPv6's default: the first concrete IPv6
// listener IP when RelayIP is IPv4.
func (c Config) defaultRelayIPv6() net.IP {
	if c.RelayIP == nil || c.RelayIP.To4() == nil {
		return nil
	}
	for _, l := range c.Listen {
		host, _, err := net.SplitHostPort(l.Addr)
		if ip := net.ParseIP(host); err == nil && ip != nil && ip.To4() == nil && !ip.IsUnspecified() {
			return ip
		}
	}
	return nil
}

// validateRelayIPv6 checks RelayIPv6 after withDefaults.
func (c Config) validateRelayIPv6() error {
	switch {
	case c.RelayIPv6 == nil:
		return nil
	case c.RelayIPv6.To4() != nil || c.RelayIPv6.IsUnspecified():
		return configErr("RelayIPv6", c.RelayIPv6.String(), "want a concrete IPv6 address")
	case c.RelayIP.To4() == nil:
		return configErr("RelayIPv6", c.RelayIPv6.String(), "RelayIP %s is already IPv6: set RelayIP to the IPv4 relay address, RelayIPv6 to the IPv6 one", c.RelayIP)
	}
	return nil
}

// defaultFamily is the family allocated when the request has no
// REQUESTED-ADDRESS-FAMILY: RelayIP's.
func (s *Server) defaultFamily() byte {
	if s.cfg.RelayIP.To4() != nil {
		return familyIPv4
	}
	return familyIPv6
}

// hasFamily reports whether the relay has a relayed address of family f.
func (s *Server) hasFamily(f byte) bool {
	return f == s.defaultFamily() || (f == familyIPv6 && s.cfg.RelayIPv6 != nil)
}

// requestFamily applies REQUESTED-ADDRESS-FAMILY and RFC 8656's
// ADDITIONAL-ADDRESS-FAMILY to an authenticated Allocate. It returns
// false when it answered (400 or 440) itself.
//
// Dual allocation (RFC 8656 section 7.2): ADDITIONAL-ADDRESS-FAMILY must
// be IPv6 and comes without REQUESTED-ADDRESS-FAMILY (else 400). On a
// relay with both families the allocation gets an IPv4 and an IPv6
// relayed address; with one family it gets that one, and the success
// response carries ADDRESS-ERROR-CODE 440 for the other (as coturn does).
// EVEN-PORT cannot be dual: 440, as coturn answers.
func (s *Server) requestFamily(m *stun.Message, src net.Addr, o *origin, key []byte) bool {
	f := s.defaultFamily()
	tok, hasToken := m.Get(stun.AttrReservationToken)
	requested, reqErr := m.Get(stun.AttrRequestedAddressFamily)
	additional, addErr := m.Get(attrAdditionalAddressFamily)
	if reqErr == nil {
		f = 0
		if len(requested) == 4 {
			f = requested[0]
		}
	}
	var missing byte // the family a dual request cannot have
	if addErr == nil {
		var reason string
		switch {
		case reqErr == nil:
			reason = "REQUESTED-ADDRESS-FAMILY and ADDITIONAL-ADDRESS-FAMILY together"
		case len(additional) != 4 || additional[0] != familyIPv6:
			reason = "ADDITIONAL-ADDRESS-FAMILY other than IPv6"
		}
		if reason != "" {
			s.ctr.allocations.inc(OutcomeFamily)
			s.log.Info("relay: allocation refused", "reason", reason, "client", src.String())
			s.replyError(m, src, o, stun.CodeBadRequest, key, nil)
			return false
		}
		if m.Contains(stun.AttrEvenPort) {
			s.ctr.allocations.inc(OutcomeFamily)
			s.log.Info("relay: allocation refused", "reason", "dual allocation with EVEN-PORT", "client", src.String())
			s.replyError(m, src, o, stun.CodeAddrFamilyNotSupported, key, nil)
			return false
		}
		switch {
		case s.hasFamily(familyIPv4) && s.hasFamily(familyIPv6):
			f = familyDual
		case s.hasFamily(familyIPv4):
			missing = familyIPv6
		default:
			missing = familyIPv4
		}
	}
	if f != familyDual && ((f != familyIPv4 && f != familyIPv6) || !s.hasFamily(f)) {
		s.ctr.allocations.inc(OutcomeFamily)
		s.log.Info("relay: allocation refused", "reason", "address family not supported", "family", familyName(f),
			"client", src.String(), "relay_ip", s.cfg.RelayIP.String())
		s.replyError(m, src, o, stun.CodeAddrFamilyNotSupported, key, nil)
		return false
	}
	if s.cfg.RelayIPv6 != nil || addErr == nil {
		s.releaseFamily(o) // a previous frame's Allocate, if still held
		s.fam.mu.Lock()
		if rf, ok := s.fam.reserved[string(tok)]; ok && hasToken == nil {
			f = rf
			delete(s.fam.reserved, string(tok))
		}
		s.fam.want, s.fam.missing, s.fam.key = f, missing, key
		o.famHeld.Store(true)
	}
	return true
}

// noteReservation records the family of a RESERVATION-TOKEN in pion's
// answer to the gated Allocate (written before the connection's next read).
func (s *Server) noteReservation(o *origin, b []byte) {
	if !o.famHeld.Load() || len(b) < 20 || b[0]&0xC0 != 0 {
		return
	}
	m := &stun.Message{Raw: b}
	if m.Decode() != nil || m.Type != stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse) {
		return
	}
	if tok, err := m.Get(stun.AttrReservationToken); err == nil {
		if s.fam.reserved == nil || len(s.fam.reserved) > 4096 {
			s.fam.reserved = map[string]byte{} // unredeemed tokens expire in pion after 30 s
		}
		s.fam.reserved[string(tok)] = s.fam.want
	}
}

// releaseFamily ends a gated Allocate: called before the connection's
// next read, when pion has answered it.
func (s *Server) releaseFamily(o *origin) {
	if o.famHeld.Load() {
		o.famHeld.Store(false)
		s.fam.want, s.fam.missing, s.fam.key = 0, 0, nil
		s.fam.mu.Unlock()
	}
}

// wantsIPv6 is read by the generator in the goroutine that holds the
// gate (dual-stack relay), or never written (single-family relay).
func (s *Server) wantsIPv6() bool {
	return s.fam.want == familyIPv6
}

// allocateIPv6 opens an IPv6 relayed socket on RelayIPv6 (pion's path:
// the epoll fast path is IPv4 only).
func (s *Server) allocateIPv6(requestedPort int) (net.PacketConn, net.Addr, error) {
	pc, _, err := s.listenRelayed("udp6", s.cfg.RelayIPv6.String(), requestedPort)
	if err != nil {
		return nil, nil, err
	}
	return pc, &net.UDPAddr{IP: s.cfg.RelayIPv6, Port: pc.LocalAddr().(*net.UDPAddr).Port}, nil
}

func familyName(f byte) string {
	switch f {
	case familyIPv4:
		return "IPv4"
	case familyIPv6:
		return "IPv6"
	case familyDual:
		return "IPv4 and IPv6"
	}
	return "unknown"
}

// peerFamilyMismatch reports an XOR-PEER-ADDRESS whose family (the
// attribute's family field: an IPv4-mapped IPv6 address is IPv6) the
// allocation on this 5-tuple has no relayed address of. Without a known
// allocation it says nothing: pion answers 437 then.
func (s *Server) peerFamilyMismatch(m *stun.Message, src net.Addr, o *origin) (string, bool) {
	v4, v6, ok := s.self.families(fiveTupleKey(src, o.local))
	if !ok {
		return "", false
	}
	for _, a := range m.Attributes {
		if a.Type != stun.AttrXORPeerAddress || len(a.Value) < 2 {
			continue
		}
		if f := a.Value[1]; f == familyIPv4 && !v4 || f == familyIPv6 && !v6 {
			ip, port, _ := decodeXORAddr(a.Value, m.TransactionID)
			return netip.AddrPortFrom(ip, port).String(), true
		}
	}
	return "", false
}
