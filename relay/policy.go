package relay

import (
	"net"
	"net/netip"
)

// PeerPolicy decides which peer addresses clients may create permissions
// and channels toward. The built-in denied ranges (see DeniedRanges) always
// apply unless an Allow prefix matches: allow wins over every deny.
type PeerPolicy struct {
	// Allow opens these prefixes even if Deny or a built-in range matches
	// (e.g. 127.0.0.0/8 for a lab whose peers run on loopback). Default: none.
	Allow []netip.Prefix
	// Deny refuses these prefixes in addition to the built-in ranges.
	// Default: none.
	Deny []netip.Prefix
}

// DeniedRange is one built-in refused range and the rule name reported in
// metrics and logs.
type DeniedRange struct {
	Prefix netip.Prefix
	Rule   string
}

// Rule names used in metrics (natkit_relay_permissions_denied_total{rule}).
const (
	RuleLoopback    = "loopback"
	RuleUnspecified = "unspecified"
	RulePrivate     = "private"
	RuleCGNAT       = "cgnat"
	RuleLinkLocal   = "link-local"
	RuleMulticast   = "multicast"
	RuleBroadcast   = "broadcast"
	RuleReserved    = "reserved"
	RuleDenyPeer    = "deny-peer"
	RuleInvalid     = "invalid"
	// RuleSelf refuses the relay's own listening addresses and the
	// allocation's own relayed address: a loop through the relay.
	RuleSelf = "self"
	// RuleFamily counts peers of a family the allocation has no relayed
	// address of: answered 443 Peer Address Family Mismatch (RFC 6156
	// section 6.1, RFC 8656 section 7.3), Send indications dropped.
	RuleFamily = "family"
)

var deniedRanges = func() []DeniedRange {
	r := []struct{ p, rule string }{
		{"0.0.0.0/8", RuleUnspecified},
		{"10.0.0.0/8", RulePrivate},
		{"100.64.0.0/10", RuleCGNAT},
		{"127.0.0.0/8", RuleLoopback},
		{"169.254.0.0/16", RuleLinkLocal},
		{"172.16.0.0/12", RulePrivate},
		{"192.168.0.0/16", RulePrivate},
		{"224.0.0.0/4", RuleMulticast},
		{"255.255.255.255/32", RuleBroadcast},
		{"240.0.0.0/4", RuleReserved},
		// IETF protocol assignments (DS-Lite, NAT64 discovery, …) and the
		// benchmarking range: neither is a peer on the Internet.
		{"192.0.0.0/24", RuleReserved},
		{"198.18.0.0/15", RuleReserved},
		{"::/128", RuleUnspecified},
		{"::1/128", RuleLoopback},
		{"fc00::/7", RulePrivate},
		{"fe80::/10", RuleLinkLocal},
		// Deprecated site-local addresses (RFC 3879), IPv6's old private.
		{"fec0::/10", RulePrivate},
		{"ff00::/8", RuleMulticast},
		// RFC 8215 local-use NAT64 prefix: the IPv4 address may sit
		// anywhere in it, so the whole prefix is refused.
		{"64:ff9b:1::/48", RulePrivate},
	}
	out := make([]DeniedRange, len(r))
	for i, x := range r {
		out[i] = DeniedRange{Prefix: netip.MustParsePrefix(x.p), Rule: x.rule}
	}
	return out
}()

// DeniedRanges returns the built-in refused peer ranges. IPv6 encodings of
// IPv4 addresses (IPv4-mapped ::ffff:0:0/96, SIIT ::ffff:0:0:0/96,
// IPv4-compatible ::/96, 6to4 2002::/16, NAT64 64:ff9b::/96, Teredo
// 2001::/32 and ISATAP interface identifiers) are decoded and the embedded
// IPv4 address is checked against the same ranges.
func DeniedRanges() []DeniedRange { return append([]DeniedRange(nil), deniedRanges...) }

var (
	pfxMapped = netip.MustParsePrefix("::ffff:0:0/96")
	pfxSIIT   = netip.MustParsePrefix("::ffff:0:0:0/96")
	pfxCompat = netip.MustParsePrefix("::/96")
	pfx6to4   = netip.MustParsePrefix("2002::/16")
	pfxNAT64  = netip.MustParsePrefix("64:ff9b::/96")
	pfxTeredo = netip.MustParsePrefix("2001::/32")
)

// candidates returns ip and every IPv4 address embedded in it.
func candidates(a netip.Addr) []netip.Addr {
	out := []netip.Addr{a}
	if !a.Is6() {
		return out
	}
	b := a.As16()
	v4 := func(x []byte) netip.Addr { return netip.AddrFrom4([4]byte{x[0], x[1], x[2], x[3]}) }
	switch {
	case pfxMapped.Contains(a), pfxSIIT.Contains(a), pfxNAT64.Contains(a):
		out = append(out, v4(b[12:16]))
	case pfxCompat.Contains(a):
		// ::/128 and ::1 are IPv6's own unspecified and loopback; the
		// rest of ::/96 is the deprecated IPv4-compatible encoding.
		out = append(out, v4(b[12:16]))
	case pfx6to4.Contains(a):
		out = append(out, v4(b[2:6]))
	case pfxTeredo.Contains(a):
		out = append(out, v4(b[4:8]))
		out = append(out, v4([]byte{^b[12], ^b[13], ^b[14], ^b[15]}))
	}
	// ISATAP (RFC 5214): the interface identifier 0000:5efe:V4 or
	// 0200:5efe:V4 tunnels to V4 under any prefix.
	if (b[8] == 0 || b[8] == 2) && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe {
		out = append(out, v4(b[12:16]))
	}
	return out
}

// Check reports whether peer is allowed, and if not the rule that refused
// it.
func (p PeerPolicy) Check(peer net.IP) (ok bool, rule string) {
	a, valid := netip.AddrFromSlice(peer)
	if !valid {
		return false, RuleInvalid
	}
	a = a.WithZone("")
	cands := candidates(a)
	for _, c := range cands {
		for _, pfx := range p.Allow {
			if pfx.Contains(c) {
				return true, ""
			}
		}
	}
	for _, c := range cands {
		for _, pfx := range p.Deny {
			if pfx.Contains(c) {
				return false, RuleDenyPeer
			}
		}
	}
	for _, c := range cands {
		for _, d := range deniedRanges {
			if d.Prefix.Contains(c) {
				return false, d.Rule
			}
		}
	}
	return true, ""
}
