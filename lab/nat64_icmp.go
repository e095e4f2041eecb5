package lab

import (
	"encoding/binary"
	"net/netip"
)

// ICMP errors through the NAT64 (RFC 7915 sections 4.2 and 5.2, RFC 6146
// section 3.5.3): an error about a packet of a translated session is
// translated with the packet it quotes, so that the host's socket learns
// of a closed port, an expired hop limit or a smaller path MTU on the
// other family's side. The quoted packet is the session's own packet as
// it crossed the other family, so its addresses and port are translated
// back the way the session's packets are; the error does not keep the
// session alive.

// ICMP error types (RFC 792, RFC 4443) and sizes.
const (
	icmpv4DestUnreach  = 3
	icmpv4TimeExceeded = 11
	icmpv4ParamProblem = 12
	icmpv4FragNeeded   = 4 // code of icmpv4DestUnreach
	icmpv6DestUnreach  = 1
	icmpv6PacketTooBig = 2
	icmpv6TimeExceeded = 3
	icmpv6ParamProblem = 4
	icmpHeaderLen      = 8
	// An ICMPv6 error fits the IPv6 minimum MTU (RFC 4443 2.4(c)); an
	// ICMPv4 error, 576 bytes (RFC 1812 4.3.2.3).
	icmpv6ErrorMax = 1280
	icmpv4ErrorMax = 576
)

// mtuPlateaus are RFC 1191's likely path MTUs, for an ICMPv4 "fragmentation
// needed" from a router that leaves the MTU field 0 (RFC 7915 4.2).
var mtuPlateaus = []uint16{32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68}

func isICMPv4Error(t byte) bool {
	return t == icmpv4DestUnreach || t == icmpv4TimeExceeded || t == icmpv4ParamProblem
}

func isICMPv6Error(t byte) bool { return t >= icmpv6DestUnreach && t <= icmpv6ParamProblem }

// icmpHeader4to6 translates an ICMPv4 error's type, code and second word
// (h is the 8-byte header); innerLen is the quoted packet's total length,
// for a zero MTU. ok is false for what RFC 7915 drops.
func icmpHeader4to6(h []byte, innerLen int) (out [icmpHeaderLen]byte, ok bool) {
	typ, code := h[0], h[1]
	switch typ {
	case icmpv4DestUnreach:
		switch code {
		case 0, 1, 5, 6, 7, 8, 11, 12: // net/host unreachable and the like
			out[0], out[1] = icmpv6DestUnreach, 0
		case 9, 10, 13, 15: // administratively prohibited
			out[0], out[1] = icmpv6DestUnreach, 1
		case 3: // port unreachable
			out[0], out[1] = icmpv6DestUnreach, 4
		case 2: // protocol unreachable: a parameter problem at next header
			out[0], out[1] = icmpv6ParamProblem, 1
			binary.BigEndian.PutUint32(out[4:], 6)
		case icmpv4FragNeeded:
			mtu := binary.BigEndian.Uint16(h[6:8])
			if mtu == 0 {
				mtu = plateauBelow(innerLen)
			}
			// The IPv6 header is 20 bytes longer than the IPv4 one.
			out[0] = icmpv6PacketTooBig
			binary.BigEndian.PutUint32(out[4:], uint32(mtu)+ipv6HeaderLen-ipv4HeaderLen)
		default: // 14, precedence violation, and unknown codes
			return out, false
		}
	case icmpv4TimeExceeded:
		out[0], out[1] = icmpv6TimeExceeded, code
	case icmpv4ParamProblem:
		if code != 0 && code != 2 {
			return out, false
		}
		p, ok := pointer4to6(h[4])
		if !ok {
			return out, false
		}
		out[0] = icmpv6ParamProblem
		binary.BigEndian.PutUint32(out[4:], uint32(p))
	default:
		return out, false
	}
	return out, true
}

// icmpHeader6to4 translates an ICMPv6 error's header into ICMPv4's.
func icmpHeader6to4(h []byte) (out [icmpHeaderLen]byte, ok bool) {
	typ, code := h[0], h[1]
	switch typ {
	case icmpv6DestUnreach:
		out[0] = icmpv4DestUnreach
		switch code {
		case 0, 2, 3: // no route, beyond scope, address unreachable
			out[1] = 1
		case 1: // administratively prohibited
			out[1] = 10
		case 4: // port unreachable
			out[1] = 3
		default:
			return out, false
		}
	case icmpv6PacketTooBig:
		mtu := binary.BigEndian.Uint32(h[4:8])
		if mtu < ipv6HeaderLen-ipv4HeaderLen {
			return out, false
		}
		out[0], out[1] = icmpv4DestUnreach, icmpv4FragNeeded
		binary.BigEndian.PutUint16(out[6:], uint16(min(mtu-(ipv6HeaderLen-ipv4HeaderLen), 0xffff))) //nolint:gosec // clamped to 16 bits
	case icmpv6TimeExceeded:
		out[0], out[1] = icmpv4TimeExceeded, code
	case icmpv6ParamProblem:
		switch code {
		case 0:
			p, ok := pointer6to4(binary.BigEndian.Uint32(h[4:8]))
			if !ok {
				return out, false
			}
			out[0], out[4] = icmpv4ParamProblem, p
		case 1: // unrecognized next header
			out[0], out[1] = icmpv4DestUnreach, 2
		default:
			return out, false
		}
	default:
		return out, false
	}
	return out, true
}

// plateauBelow is the largest RFC 1191 plateau below a packet of n bytes.
func plateauBelow(n int) uint16 {
	for _, p := range mtuPlateaus {
		if int(p) < n {
			return p
		}
	}
	return 68
}

// pointer4to6 maps an IPv4 header offset to the IPv6 field's (RFC 7915
// figure 3); fields IPv6 lacks have none.
func pointer4to6(p byte) (byte, bool) {
	switch {
	case p <= 1: // version/IHL, type of service
		return p, true
	case p <= 3: // total length
		return 4, true
	case p == 8: // TTL
		return 7, true
	case p == 9: // protocol
		return 6, true
	case p >= 12 && p <= 15:
		return 8, true
	case p >= 16 && p <= 19:
		return 24, true
	}
	return 0, false
}

// pointer6to4 maps an IPv6 header offset to the IPv4 field's (RFC 7915
// figure 6).
func pointer6to4(p uint32) (byte, bool) {
	switch {
	case p <= 1:
		return byte(p), true
	case p == 4 || p == 5: // payload length
		return 2, true
	case p == 6: // next header
		return 9, true
	case p == 7: // hop limit
		return 8, true
	case p >= 8 && p <= 23:
		return 12, true
	case p >= 24 && p <= 39:
		return 16, true
	}
	return 0, false
}

// icmpErrorTo6Locked translates an ICMPv4 error (msg, the ICMP message)
// sent to the pool address by src4 with ttl and tos, about a packet the
// translator sent from the pool. x.mu is held.
func (x *nat64) icmpErrorTo6Locked(msg []byte, src4 netip.Addr, ttl, tos byte) ([]byte, error) {
	inner := msg[icmpHeaderLen:]
	if len(inner) < ipv4HeaderLen || inner[0]>>4 != 4 {
		return nil, x.drop(errNAT64Malformed)
	}
	ihl := int(inner[0]&0x0f) * 4
	if ihl < ipv4HeaderLen || len(inner) < ihl+8 { // RFC 792: the header and 8 bytes
		return nil, x.drop(errNAT64Malformed)
	}
	if netip.AddrFrom4([4]byte(inner[12:16])) != x.pool {
		return nil, x.drop(errNAT64NotOurs)
	}
	proto := inner[9]
	l4 := inner[ihl:]
	var poolPort, rport uint16
	switch proto {
	case protoUDP, protoTCP:
		poolPort, rport = binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	case protoICMP:
		if l4[0] != icmpv4EchoRequest && l4[0] != icmpv4EchoReply {
			return nil, x.drop(errNAT64Protocol)
		}
		poolPort = binary.BigEndian.Uint16(l4[4:6])
	default:
		return nil, x.drop(errNAT64Protocol)
	}
	b := x.byPool[poolKey{proto: proto, port: poolPort}]
	if b == nil {
		return nil, x.drop(errNAT64NoBinding)
	}
	remote4 := netip.AddrFrom4([4]byte(inner[16:20]))
	if b.liveSession(netip.AddrPortFrom(remote4, rport), x.now()) == nil {
		return nil, x.drop(errNAT64Filtered)
	}
	innerTotal := int(binary.BigEndian.Uint16(inner[2:4]))
	hdr, ok := icmpHeader4to6(msg[:icmpHeaderLen], innerTotal)
	if !ok {
		return nil, x.drop(errNAT64ICMPType)
	}

	// The quoted packet as the host sent it: its addresses, its port.
	quoted := l4[:min(len(l4), icmpv6ErrorMax-2*ipv6HeaderLen-icmpHeaderLen)]
	out := make([]byte, 2*ipv6HeaderLen+icmpHeaderLen+len(quoted))
	q := out[ipv6HeaderLen+icmpHeaderLen:]
	remote6 := Synthesize(remote4).As16()
	host6 := b.key.addr.As16()
	binary.BigEndian.PutUint32(q[0:4], 6<<28|uint32(inner[1])<<20)
	binary.BigEndian.PutUint16(q[4:6], uint16(max(innerTotal-ihl, 0))) //nolint:gosec // from a 16-bit field
	q[6], q[7] = proto, inner[8]
	copy(q[8:24], host6[:])
	copy(q[24:40], remote6[:])
	ql4 := q[ipv6HeaderLen:]
	copy(ql4, quoted)
	switch proto {
	case protoUDP, protoTCP:
		quotedPort(proto, ql4, 0, b.key.port, inner[12:20], q[8:40])
	case protoICMP:
		q[6] = protoICMPv6
		quotedEcho(ql4, b.key.port, icmpv6EchoRequest, icmpv6EchoReply, pseudoSum6(q[8:40], protoICMPv6, innerTotal-ihl), 0)
	}

	h := out[:ipv6HeaderLen]
	binary.BigEndian.PutUint32(h[0:4], 6<<28|uint32(tos)<<20)
	binary.BigEndian.PutUint16(h[4:6], uint16(len(out)-ipv6HeaderLen)) //nolint:gosec // at most 1280
	h[6], h[7] = protoICMPv6, ttl
	from6 := Synthesize(src4).As16()
	copy(h[8:24], from6[:])
	copy(h[24:40], host6[:])
	m := out[ipv6HeaderLen:]
	copy(m, hdr[:])
	binary.BigEndian.PutUint16(m[2:4], l4Checksum6(h[8:24], h[24:40], protoICMPv6, m))
	x.to6++
	return out, nil
}

// icmpErrorTo4Locked translates an ICMPv6 error (msg) the host sent
// towards dst4 with hop and tclass, about a packet the translator brought
// it from dst4. x.mu is held.
func (x *nat64) icmpErrorTo4Locked(msg []byte, host, dst4 netip.Addr, hop, tclass byte) ([]byte, error) {
	inner := msg[icmpHeaderLen:]
	if len(inner) < ipv6HeaderLen+8 || inner[0]>>4 != 6 {
		return nil, x.drop(errNAT64Malformed)
	}
	src6 := netip.AddrFrom16([16]byte(inner[8:24]))
	if !NAT64Prefix.Contains(src6) || netip.AddrFrom16([16]byte(inner[24:40])) != host {
		return nil, x.drop(errNAT64NotOurs)
	}
	next := inner[6]
	l4 := inner[ipv6HeaderLen:]
	var hostPort, rport uint16
	proto := next
	switch next {
	case protoUDP, protoTCP:
		rport, hostPort = binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	case protoICMPv6:
		if l4[0] != icmpv6EchoRequest && l4[0] != icmpv6EchoReply {
			return nil, x.drop(errNAT64Protocol)
		}
		proto, hostPort = protoICMP, binary.BigEndian.Uint16(l4[4:6])
	default:
		return nil, x.drop(errNAT64Protocol)
	}
	b := x.bindings[bindKey{proto: proto, addr: host, port: hostPort}]
	if b == nil {
		return nil, x.drop(errNAT64NoBinding)
	}
	remote4 := netip.AddrFrom4([4]byte(inner[20:24]))
	if b.liveSession(netip.AddrPortFrom(remote4, rport), x.now()) == nil {
		return nil, x.drop(errNAT64Filtered)
	}
	hdr, ok := icmpHeader6to4(msg[:icmpHeaderLen])
	if !ok {
		return nil, x.drop(errNAT64ICMPType)
	}
	innerPayload := int(binary.BigEndian.Uint16(inner[4:6]))

	// The quoted packet as the IPv4 endpoint sent it: to the pool port.
	quoted := l4[:min(len(l4), icmpv4ErrorMax-2*ipv4HeaderLen-icmpHeaderLen)]
	out := make([]byte, 2*ipv4HeaderLen+icmpHeaderLen+len(quoted))
	q := out[ipv4HeaderLen+icmpHeaderLen:]
	pool4 := x.pool.As4()
	q[0] = 0x45
	q[1] = byte(binary.BigEndian.Uint16(inner[0:2]) >> 4)                               //nolint:gosec // the traffic class
	binary.BigEndian.PutUint16(q[2:4], uint16(min(ipv4HeaderLen+innerPayload, 0xffff))) //nolint:gosec // clamped
	q[8], q[9] = inner[7], proto
	copy(q[12:16], inner[20:24])
	copy(q[16:20], pool4[:])
	binary.BigEndian.PutUint16(q[10:12], checksum(q[:ipv4HeaderLen]))
	ql4 := q[ipv4HeaderLen:]
	copy(ql4, quoted)
	switch proto {
	case protoUDP, protoTCP:
		quotedPort(proto, ql4, 2, b.poolPort, inner[8:40], q[12:20])
	case protoICMP:
		quotedEcho(ql4, b.poolPort, icmpv4EchoRequest, icmpv4EchoReply, 0, pseudoSum6(inner[8:40], protoICMPv6, innerPayload))
	}

	h := out[:ipv4HeaderLen]
	h[0], h[1] = 0x45, tclass
	binary.BigEndian.PutUint16(h[2:4], uint16(len(out))) //nolint:gosec // at most 576
	x.ident++
	binary.BigEndian.PutUint16(h[4:6], x.ident)
	h[8], h[9] = hop, protoICMP
	copy(h[12:16], pool4[:])
	a4 := dst4.As4()
	copy(h[16:20], a4[:])
	binary.BigEndian.PutUint16(h[10:12], checksum(h))
	m := out[ipv4HeaderLen:]
	copy(m, hdr[:])
	binary.BigEndian.PutUint16(m[2:4], checksum(m))
	x.to4++
	return out, nil
}

// quotedPort is rewritePort for a quoted (possibly truncated) segment: a
// TCP segment cut after 8 bytes has no checksum to adjust.
func quotedPort(proto uint8, l4 []byte, portOff int, port uint16, oldAddrs, newAddrs []byte) {
	off := 6
	if proto == protoTCP {
		off = 16
	}
	if len(l4) < off+2 || (proto == protoUDP && binary.BigEndian.Uint16(l4[6:8]) == 0) {
		binary.BigEndian.PutUint16(l4[portOff:portOff+2], port)
		return
	}
	rewritePort(proto, l4, portOff, port, oldAddrs, newAddrs)
}

// quotedEcho turns a quoted echo into the other family's (types request
// and reply, identifier ident) and adjusts its checksum incrementally (the
// quote may be cut short): ICMPv6's covers a pseudo-header (sum addPseudo
// going to ICMPv6, subPseudo coming from it), ICMPv4's does not.
func quotedEcho(l4 []byte, ident uint16, request, reply byte, addPseudo, subPseudo uint32) {
	typ := reply
	if l4[0] == icmpv4EchoRequest || l4[0] == icmpv6EchoRequest {
		typ = request
	}
	old := binary.BigEndian.Uint16(l4[2:4])
	was := sum16(subPseudo, l4[0:1])
	was = sum16(was, l4[4:6])
	l4[0] = typ
	binary.BigEndian.PutUint16(l4[4:6], ident)
	now := sum16(addPseudo, l4[0:1])
	now = sum16(now, l4[4:6])
	binary.BigEndian.PutUint16(l4[2:4], adjust(old, was, now))
}

// pseudoSum6 is the sum of IPv6's pseudo-header (RFC 8200 8.1) over the
// 32 address bytes addrs, for an upper-layer packet of n bytes.
func pseudoSum6(addrs []byte, next uint8, n int) uint32 {
	return sum16(0, addrs) + uint32(n>>16) + uint32(n&0xffff) + uint32(next) //nolint:gosec // n is from a 16-bit field
}
