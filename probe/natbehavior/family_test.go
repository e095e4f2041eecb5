package natbehavior

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

// TestIPv6Loopback classifies the mapping towards two natkit relays on
// [::1]: loopback has no NAT, which the probe sees (the mapped address is
// the local one), and every socket is IPv6.
func TestIPv6Loopback(t *testing.T) {
	var addrs []string
	for range 2 {
		pc, err := net.ListenPacket("udp6", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		addr := pc.LocalAddr().String()
		require.NoError(t, pc.Close())
		srv, err := relay.New(relay.Config{Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: addr}}, Users: map[string]string{"u": "p"}})
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Close() })
		addrs = append(addrs, addr)
	}
	res, err := Run(context.Background(), Config{Server: addrs[0], AltServer: addrs[1], Retransmit: fastRetransmit})
	require.NoError(t, err)
	assert.Equal(t, MappingNoNAT, res.Mapping, "%v", res.Notes)
	require.NotEmpty(t, res.Tests)
	for _, tt := range res.Tests {
		if tt.Mapped != "" {
			h, _, err := net.SplitHostPort(tt.Mapped)
			require.NoError(t, err)
			assert.Equal(t, "::1", h, tt.Name)
		}
	}
}
