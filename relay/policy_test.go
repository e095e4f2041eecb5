package relay_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

func TestPeerPolicyCheck(t *testing.T) {
	lab := relay.PeerPolicy{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Deny:  []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")},
	}
	tests := []struct {
		name   string
		policy relay.PeerPolicy
		ip     string
		ok     bool
		rule   string
	}{
		{"public v4", relay.PeerPolicy{}, "8.8.8.8", true, ""},
		{"public v6", relay.PeerPolicy{}, "2606:4700::1111", true, ""},
		{"loopback", relay.PeerPolicy{}, "127.0.0.1", false, relay.RuleLoopback},
		{"loopback high", relay.PeerPolicy{}, "127.255.0.9", false, relay.RuleLoopback},
		{"unspecified", relay.PeerPolicy{}, "0.0.0.0", false, relay.RuleUnspecified},
		{"this network", relay.PeerPolicy{}, "0.1.2.3", false, relay.RuleUnspecified},
		{"rfc1918 10", relay.PeerPolicy{}, "10.1.2.3", false, relay.RulePrivate},
		{"rfc1918 172", relay.PeerPolicy{}, "172.31.255.255", false, relay.RulePrivate},
		{"rfc1918 172 edge outside", relay.PeerPolicy{}, "172.32.0.1", true, ""},
		{"rfc1918 192", relay.PeerPolicy{}, "192.168.0.1", false, relay.RulePrivate},
		{"cgnat", relay.PeerPolicy{}, "100.64.0.1", false, relay.RuleCGNAT},
		{"cgnat edge outside", relay.PeerPolicy{}, "100.128.0.1", true, ""},
		{"link-local", relay.PeerPolicy{}, "169.254.169.254", false, relay.RuleLinkLocal},
		{"multicast", relay.PeerPolicy{}, "239.1.1.1", false, relay.RuleMulticast},
		{"broadcast", relay.PeerPolicy{}, "255.255.255.255", false, relay.RuleBroadcast},
		{"reserved", relay.PeerPolicy{}, "240.0.0.1", false, relay.RuleReserved},
		{"v6 unspecified", relay.PeerPolicy{}, "::", false, relay.RuleUnspecified},
		{"v6 loopback", relay.PeerPolicy{}, "::1", false, relay.RuleLoopback},
		{"v6 ula", relay.PeerPolicy{}, "fd00::1", false, relay.RulePrivate},
		{"v6 link-local", relay.PeerPolicy{}, "fe80::1", false, relay.RuleLinkLocal},
		{"v6 multicast", relay.PeerPolicy{}, "ff02::1", false, relay.RuleMulticast},
		{"v4-mapped loopback", relay.PeerPolicy{}, "::ffff:127.0.0.1", false, relay.RuleLoopback},
		{"v4-mapped private", relay.PeerPolicy{}, "::ffff:10.0.0.1", false, relay.RulePrivate},
		{"v4-mapped public", relay.PeerPolicy{}, "::ffff:8.8.8.8", true, ""},
		{"v4-compatible loopback", relay.PeerPolicy{}, "::127.0.0.1", false, relay.RuleLoopback},
		{"v4-compatible metadata", relay.PeerPolicy{}, "::169.254.169.254", false, relay.RuleLinkLocal},
		{"6to4 loopback", relay.PeerPolicy{}, "2002:7f00:0001::", false, relay.RuleLoopback},
		{"6to4 cgnat", relay.PeerPolicy{}, "2002:6440:0001::1", false, relay.RuleCGNAT},
		{"6to4 public", relay.PeerPolicy{}, "2002:0808:0808::1", true, ""},
		{"nat64 loopback", relay.PeerPolicy{}, "64:ff9b::127.0.0.1", false, relay.RuleLoopback},
		{"nat64 private", relay.PeerPolicy{}, "64:ff9b::192.168.1.1", false, relay.RulePrivate},
		{"nat64 public", relay.PeerPolicy{}, "64:ff9b::8.8.8.8", true, ""},
		{"nat64 local-use prefix", relay.PeerPolicy{}, "64:ff9b:1::1", false, relay.RulePrivate},
		// Teredo client 10.0.0.1 is stored inverted: f5ff:fffe.
		{"teredo private client", relay.PeerPolicy{}, "2001:0:0808:0808::f5ff:fffe", false, relay.RulePrivate},
		{"teredo loopback server", relay.PeerPolicy{}, "2001:0:7f00:1::f7f7:f7f7", false, relay.RuleLoopback},
		// Special-purpose ranges beyond RFC 1918 (issue 12).
		{"ietf protocol assignments", relay.PeerPolicy{}, "192.0.0.8", false, relay.RuleReserved},
		{"ietf nat64 discovery", relay.PeerPolicy{}, "192.0.0.170", false, relay.RuleReserved},
		{"ietf range edge outside", relay.PeerPolicy{}, "192.0.1.1", true, ""},
		{"benchmarking low", relay.PeerPolicy{}, "198.18.0.1", false, relay.RuleReserved},
		{"benchmarking high", relay.PeerPolicy{}, "198.19.255.254", false, relay.RuleReserved},
		{"benchmarking edge below", relay.PeerPolicy{}, "198.17.255.255", true, ""},
		{"benchmarking edge above", relay.PeerPolicy{}, "198.20.0.1", true, ""},
		{"v6 site-local", relay.PeerPolicy{}, "fec0::1", false, relay.RulePrivate},
		{"v6 site-local high", relay.PeerPolicy{}, "feff:ffff::1", false, relay.RulePrivate},
		{"siit loopback", relay.PeerPolicy{}, "::ffff:0:127.0.0.1", false, relay.RuleLoopback},
		{"siit private", relay.PeerPolicy{}, "::ffff:0:10.1.2.3", false, relay.RulePrivate},
		{"siit metadata", relay.PeerPolicy{}, "::ffff:0:169.254.169.254", false, relay.RuleLinkLocal},
		{"siit unspecified", relay.PeerPolicy{}, "::ffff:0:0.0.0.0", false, relay.RuleUnspecified},
		{"siit public", relay.PeerPolicy{}, "::ffff:0:8.8.8.8", true, ""},
		// Every IPv6 encoding of the new IPv4 ranges.
		{"v4-mapped ietf", relay.PeerPolicy{}, "::ffff:192.0.0.8", false, relay.RuleReserved},
		{"v4-mapped benchmarking", relay.PeerPolicy{}, "::ffff:198.18.0.1", false, relay.RuleReserved},
		{"v4-compatible benchmarking", relay.PeerPolicy{}, "::198.18.0.1", false, relay.RuleReserved},
		{"siit benchmarking", relay.PeerPolicy{}, "::ffff:0:198.18.0.1", false, relay.RuleReserved},
		{"6to4 benchmarking", relay.PeerPolicy{}, "2002:c612:0001::1", false, relay.RuleReserved},
		{"6to4 ietf", relay.PeerPolicy{}, "2002:c000:0008::1", false, relay.RuleReserved},
		{"nat64 ietf", relay.PeerPolicy{}, "64:ff9b::192.0.0.170", false, relay.RuleReserved},
		{"nat64 benchmarking", relay.PeerPolicy{}, "64:ff9b::198.18.0.1", false, relay.RuleReserved},
		{"teredo benchmarking server", relay.PeerPolicy{}, "2001:0:c612:1::f7f7:f7f7", false, relay.RuleReserved},
		// Teredo client 192.0.0.8 inverted: 3fff:fff7.
		{"teredo ietf client", relay.PeerPolicy{}, "2001:0:0808:0808::3fff:fff7", false, relay.RuleReserved},
		// ISATAP interface identifiers (RFC 5214) carry an IPv4 address
		// after 0000:5efe or 0200:5efe, under any prefix.
		{"isatap private", relay.PeerPolicy{}, "2606:4700::5efe:a00:1", false, relay.RulePrivate},
		{"isatap loopback u-bit", relay.PeerPolicy{}, "2606:4700::200:5efe:7f00:1", false, relay.RuleLoopback},
		{"isatap public", relay.PeerPolicy{}, "2606:4700::5efe:808:808", true, ""},
		{"lab allows loopback", lab, "127.0.0.1", true, ""},
		{"lab allows mapped loopback", lab, "::ffff:127.0.0.1", true, ""},
		{"lab still refuses private", lab, "192.168.1.1", false, relay.RulePrivate},
		{"lab deny-peer v4", lab, "203.0.113.5", false, relay.RuleDenyPeer},
		{"lab deny-peer mapped", lab, "::ffff:203.0.113.5", false, relay.RuleDenyPeer},
		{"lab deny-peer v6", lab, "2001:db8::5", false, relay.RuleDenyPeer},
		{"allow wins over deny", relay.PeerPolicy{
			Allow: []netip.Prefix{netip.MustParsePrefix("203.0.113.5/32")},
			Deny:  []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")},
		}, "203.0.113.5", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ip := net.ParseIP(tc.ip)
			require.NotNil(t, ip, tc.ip)
			ok, rule := tc.policy.Check(ip)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.rule, rule)
			if v4 := ip.To4(); v4 != nil {
				ok4, rule4 := tc.policy.Check(v4)
				require.Equal(t, tc.ok, ok4, "4-byte form")
				require.Equal(t, tc.rule, rule4, "4-byte form")
			}
		})
	}
	ok, rule := relay.PeerPolicy{}.Check(net.IP{1, 2, 3})
	require.False(t, ok)
	require.Equal(t, relay.RuleInvalid, rule)
}
