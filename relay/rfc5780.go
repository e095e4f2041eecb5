package relay

import (
	"encoding/binary"
	"net"

	"github.com/pion/stun/v3"
)

// CHANGE-REQUEST flags (RFC 5780 section 7.2).
const (
	changeIP   = 0x04
	changePort = 0x02
)

// natSockets are the four RFC 5780 sockets, indexed ipBit<<1|portBit:
// 0 = (IP, port), 1 = (IP, alt port), 2 = (alt IP, port),
// 3 = (alt IP, alt port). Socket 0 is the first UDP listener, shared with
// TURN.
type natSockets [4]net.PacketConn

// handleBinding answers a Binding request: XOR-MAPPED-ADDRESS (and
// MAPPED-ADDRESS for RFC 3489 clients), RESPONSE-ORIGIN, and with an
// alternate address OTHER-ADDRESS; CHANGE-REQUEST and RESPONSE-PORT are
// honoured over UDP.
func (s *Server) handleBinding(m *stun.Message, src net.Addr, o *origin) {
	s.ctr.bindingRequests.Add(1)
	var flags uint32
	if v, err := m.Get(stun.AttrChangeRequest); err == nil {
		if len(v) != 4 {
			s.ctr.bad.inc(BadMalformedSTUN)
			s.replyError(m, src, o, stun.CodeBadRequest, nil, nil)
			return
		}
		flags = binary.BigEndian.Uint32(v) & (changeIP | changePort)
	}
	ip, port := addrIPPort(src)
	if ip == nil {
		return
	}
	dst := src
	if v, err := m.Get(stun.AttrResponsePort); err == nil {
		if len(v) != 4 || o.transport != NetworkUDP {
			s.ctr.bad.inc(BadMalformedSTUN)
			s.replyError(m, src, o, stun.CodeBadRequest, nil, nil)
			return
		}
		dst = &net.UDPAddr{IP: ip, Port: int(binary.BigEndian.Uint16(v))}
	}
	write := o.write
	origin := o.local
	var other net.Addr
	if s.nat != nil && o.natIdx >= 0 {
		idx := o.natIdx
		if flags&changeIP != 0 {
			idx ^= 2
		}
		if flags&changePort != 0 {
			idx ^= 1
		}
		sock := s.nat[idx]
		origin = sock.LocalAddr()
		write = func(b []byte, d net.Addr) error { _, err := sock.WriteTo(b, d); return err }
		other = s.nat[o.natIdx^3].LocalAddr()
	} else if flags != 0 {
		// No alternate address here (RFC 5780 section 6.1): the
		// server cannot honour CHANGE-REQUEST, so it answers 420.
		s.replyError(m, src, o, stun.CodeUnknownAttribute, nil, stun.UnknownAttributes{stun.AttrChangeRequest})
		return
	}
	setters := []stun.Setter{
		stun.NewTransactionIDSetter(m.TransactionID),
		stun.BindingSuccess,
		&stun.XORMappedAddress{IP: ip, Port: port},
		&stun.MappedAddress{IP: ip, Port: port},
	}
	if oip, oport := addrIPPort(origin); oip != nil {
		setters = append(setters, &stun.ResponseOrigin{IP: oip, Port: oport})
	}
	if other != nil {
		oip, oport := addrIPPort(other)
		setters = append(setters, &stun.OtherAddress{IP: oip, Port: oport})
	}
	// No SOFTWARE attribute: it tells an attacker what to look up (natkit audit).
	setters = append(setters, stun.Fingerprint)
	resp, err := stun.Build(setters...)
	if err != nil {
		return
	}
	_ = write(resp.Raw, dst)
}

func addrIPPort(a net.Addr) (net.IP, int) {
	switch v := a.(type) {
	case *net.UDPAddr:
		return v.IP, v.Port
	case *net.TCPAddr:
		return v.IP, v.Port
	}
	return nil, 0
}
