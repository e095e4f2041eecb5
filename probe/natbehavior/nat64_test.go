package natbehavior

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// RFC 6052 2.4's table: 192.0.2.33 under each prefix length, found back
// from the synthesized address and the IPv4 address alone.
func TestNAT64PrefixFromEvidence(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.33")
	for _, tc := range []struct{ prefix, synthesized string }{
		{"2001:db8::/32", "2001:db8:c000:221::"},
		{"2001:db8:100::/40", "2001:db8:1c0:2:21::"},
		{"2001:db8:122::/48", "2001:db8:122:c000:2:2100::"},
		{"2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"},
		{"2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"},
		{"2001:db8:122:344::/96", "2001:db8:122:344::c000:221"},
		{"64:ff9b::/96", "64:ff9b::c000:221"},
	} {
		prefix, want := netip.MustParsePrefix(tc.prefix), netip.MustParseAddr(tc.synthesized)
		require.Equal(t, want, synthesize(prefix, v4), tc.prefix)
		got, ok := nat64Prefix(want, v4)
		require.True(t, ok, tc.prefix)
		require.Equal(t, prefix, got)
	}
	for name, c := range map[string]struct{ server, origin string }{
		"a server on IPv6":            {"2001:db8::1", "2001:db8::1"},
		"an origin not embedded":      {"64:ff9b::c000:221", "192.0.2.34"},
		"an IPv4-mapped server":       {"::ffff:192.0.2.33", "192.0.2.33"},
		"the u octet set":             {"2001:db8:122:344:ffc0:2:2100:0", "192.0.2.33"},
		"an IPv4 server, IPv4 origin": {"192.0.2.33", "192.0.2.33"},
	} {
		_, ok := nat64Prefix(netip.MustParseAddr(c.server), netip.MustParseAddr(c.origin))
		require.False(t, ok, name)
	}
}
