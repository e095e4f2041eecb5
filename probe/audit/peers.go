package audit

import (
	"net/netip"
)

// peerCase is one internal-address encoding the peer-policy check asks a
// permission and a channel for. Range is the prefix a fix must deny.
type peerCase struct {
	Group    string // e.g. "ipv4 loopback"
	Addr     netip.Addr
	Range    netip.Prefix
	Severity Severity
	// Embedded is the IPv4 address an IPv6 encoding carries, if any.
	Embedded netip.Addr
}

func pc(group, addr, rng string, sev Severity, embedded string) peerCase {
	c := peerCase{Group: group, Addr: netip.MustParseAddr(addr), Range: netip.MustParsePrefix(rng), Severity: sev}
	if embedded != "" {
		c.Embedded = netip.MustParseAddr(embedded)
	}
	return c
}

// peerCases lists every encoding of an internal address the audit tries.
// High: the relay becomes a proxy into the operator's network (loopback,
// private, link-local with cloud metadata). Medium: special-purpose ranges
// that should never be peers but rarely host a service.
var peerCases = []peerCase{
	pc("ipv4 loopback", "127.0.0.1", "127.0.0.0/8", SeverityHigh, ""),
	pc("ipv4 loopback", "127.0.0.2", "127.0.0.0/8", SeverityHigh, ""),
	pc("ipv4 loopback", "127.255.255.254", "127.0.0.0/8", SeverityHigh, ""),
	pc("ipv4 this network", "0.0.0.0", "0.0.0.0/8", SeverityHigh, ""),
	pc("ipv4 this network", "0.1.2.3", "0.0.0.0/8", SeverityHigh, ""),
	pc("ipv4 private (rfc 1918)", "10.0.0.1", "10.0.0.0/8", SeverityHigh, ""),
	pc("ipv4 private (rfc 1918)", "172.16.0.1", "172.16.0.0/12", SeverityHigh, ""),
	pc("ipv4 private (rfc 1918)", "172.31.255.254", "172.16.0.0/12", SeverityHigh, ""),
	pc("ipv4 private (rfc 1918)", "192.168.1.1", "192.168.0.0/16", SeverityHigh, ""),
	pc("ipv4 shared cgnat", "100.64.0.1", "100.64.0.0/10", SeverityHigh, ""),
	pc("ipv4 link-local", "169.254.0.1", "169.254.0.0/16", SeverityHigh, ""),
	pc("ipv4 cloud metadata", "169.254.169.254", "169.254.0.0/16", SeverityHigh, ""),
	pc("ipv4 ietf protocol assignments", "192.0.0.8", "192.0.0.0/24", SeverityMedium, ""),
	pc("ipv4 benchmarking", "198.18.0.1", "198.18.0.0/15", SeverityMedium, ""),
	pc("ipv4 multicast", "224.0.0.1", "224.0.0.0/4", SeverityMedium, ""),
	pc("ipv4 multicast", "239.255.255.250", "224.0.0.0/4", SeverityMedium, ""),
	pc("ipv4 broadcast", "255.255.255.255", "255.255.255.255/32", SeverityMedium, ""),
	pc("ipv4 reserved", "240.0.0.1", "240.0.0.0/4", SeverityMedium, ""),
	pc("ipv6 loopback", "::1", "::1/128", SeverityHigh, ""),
	pc("ipv6 unspecified", "::", "::/128", SeverityHigh, ""),
	pc("ipv4-mapped ipv6", "::ffff:127.0.0.1", "::ffff:0:0/96", SeverityHigh, "127.0.0.1"),
	pc("ipv4-mapped ipv6", "::ffff:169.254.169.254", "::ffff:0:0/96", SeverityHigh, "169.254.169.254"),
	pc("ipv4-mapped ipv6", "::ffff:10.0.0.1", "::ffff:0:0/96", SeverityHigh, "10.0.0.1"),
	pc("ipv4-compatible ipv6", "::127.0.0.1", "::/96", SeverityHigh, "127.0.0.1"),
	pc("siit ipv4-translated", "::ffff:0:127.0.0.1", "::ffff:0:0:0/96", SeverityHigh, "127.0.0.1"),
	pc("nat64 well-known prefix", "64:ff9b::127.0.0.1", "64:ff9b::/96", SeverityHigh, "127.0.0.1"),
	pc("nat64 well-known prefix", "64:ff9b::169.254.169.254", "64:ff9b::/96", SeverityHigh, "169.254.169.254"),
	pc("nat64 local-use prefix", "64:ff9b:1::7f00:1", "64:ff9b:1::/48", SeverityHigh, ""),
	pc("6to4 embedding ipv4", "2002:7f00:1::1", "2002::/16", SeverityHigh, "127.0.0.1"),
	pc("6to4 embedding ipv4", "2002:a9fe:a9fe::1", "2002::/16", SeverityHigh, "169.254.169.254"),
	// Teredo: server IPv4 in bits 32–63, client IPv4 inverted in the last
	// 32 bits. 8.8.8.8 stands for a public side.
	pc("teredo internal server", "2001:0:7f00:1:0:0:f7f7:f7f7", "2001::/32", SeverityHigh, "127.0.0.1"),
	pc("teredo internal client", "2001:0:808:808:0:0:80ff:fffe", "2001::/32", SeverityHigh, "127.0.0.1"),
	pc("ipv6 link-local", "fe80::1", "fe80::/10", SeverityHigh, ""),
	pc("ipv6 unique local", "fc00::1", "fc00::/7", SeverityHigh, ""),
	pc("ipv6 unique local", "fd00::1", "fc00::/7", SeverityHigh, ""),
	pc("ipv6 site-local (deprecated)", "fec0::1", "fec0::/10", SeverityMedium, ""),
	pc("ipv6 multicast", "ff02::1", "ff00::/8", SeverityMedium, ""),
	pc("ipv6 multicast", "ff05::2", "ff00::/8", SeverityMedium, ""),
}

// coturnRange writes a prefix as coturn's denied-peer-ip range.
func coturnRange(p netip.Prefix) string {
	p = p.Masked()
	first := p.Addr()
	last := lastAddr(p)
	if first == last {
		return first.String()
	}
	return first.String() + "-" + last.String()
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// peerFix is the fix for a granted permission toward c.
func peerFix(c peerCase) Fix {
	f := Fix{
		NatkitRelay: "natkit relay refuses " + c.Range.String() + " by default: remove any --allow-peer that opens it (and upgrade natkit if it is an older version)",
		Coturn:      "denied-peer-ip=" + coturnRange(c.Range),
	}
	switch {
	case c.Range.Addr().Is4() && c.Range.Contains(netip.MustParseAddr("127.0.0.1")), c.Addr == netip.MustParseAddr("::1"):
		f.Coturn = "remove allow-loopback-peers (coturn refuses loopback by default), and denied-peer-ip=" + coturnRange(c.Range)
	case c.Group == "ipv4 multicast" || c.Group == "ipv6 multicast":
		f.Coturn = "no-multicast-peers and denied-peer-ip=" + coturnRange(c.Range)
	}
	return f
}
