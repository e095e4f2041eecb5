package natbehavior

import (
	"net"
	"net/netip"
)

// Through a NAT64 (an IPv6-only host reaching an IPv4 server at an
// address synthesized from a NAT64 prefix, RFC 6052), the server's
// OTHER-ADDRESS is IPv4, which the host can reach only in the prefix.
// The prefix is taken from evidence, never assumed: the server's IPv6
// address must embed, at one of RFC 6052's prefix lengths, the IPv4
// address it says it answered from (RESPONSE-ORIGIN). That holds for the
// well-known prefix 64:ff9b::/96 and for any network-specific prefix,
// needs no DNS (RFC 7050's ipv4only.arpa would), and fails for a server
// really on IPv6, whose RESPONSE-ORIGIN is IPv6.

// nat64PrefixLengths are RFC 6052's prefix lengths, longest first.
var nat64PrefixLengths = []int{96, 64, 56, 48, 40, 32}

// embeddedOctets are the byte positions of the IPv4 address under a
// prefix of bits (RFC 6052 2.2: byte 8, the "u" octet, holds none).
func embeddedOctets(bits int) [4]int {
	var pos [4]int
	i := bits / 8
	for k := range pos {
		if i == 8 {
			i++
		}
		pos[k] = i
		i++
	}
	return pos
}

// nat64Prefix returns the NAT64 prefix under which server embeds origin,
// the server's own IPv4 address.
func nat64Prefix(server, origin netip.Addr) (netip.Prefix, bool) {
	if !server.Is6() || server.Is4In6() || !origin.Is4() {
		return netip.Prefix{}, false
	}
	s, o := server.As16(), origin.As4()
	for _, bits := range nat64PrefixLengths {
		pos := embeddedOctets(bits)
		if bits < 96 && s[8] != 0 {
			continue
		}
		if s[pos[0]] == o[0] && s[pos[1]] == o[1] && s[pos[2]] == o[2] && s[pos[3]] == o[3] {
			return netip.PrefixFrom(server, bits).Masked(), true
		}
	}
	return netip.Prefix{}, false
}

// synthesize is v4 in prefix (RFC 6052 2.2).
func synthesize(prefix netip.Prefix, v4 netip.Addr) netip.Addr {
	b, a := prefix.Addr().As16(), v4.As4()
	for k, i := range embeddedOctets(prefix.Bits()) {
		b[i] = a[k]
	}
	return netip.AddrFrom16(b)
}

// inServerFamily is addr as the prober's sockets reach it: an IPv4
// address through the NAT64 prefix when one is in evidence, else as it is.
func (p *prober) inServerFamily(addr *net.UDPAddr) *net.UDPAddr {
	if addr == nil || !p.nat64.IsValid() {
		return addr
	}
	ip, ok := netip.AddrFromSlice(addr.IP)
	if !ok || !ip.Unmap().Is4() {
		return addr
	}
	return &net.UDPAddr{IP: synthesize(p.nat64, ip.Unmap()).AsSlice(), Port: addr.Port}
}
