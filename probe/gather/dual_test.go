package gather

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/relay"
)

// TestDualAllocation asks natkit relay and Debian's coturn for a dual
// allocation (RFC 8656 ADDITIONAL-ADDRESS-FAMILY): with an IPv6 relay
// address both give two relayed addresses, without one both give IPv4 and
// say 440 for IPv6 in ADDRESS-ERROR-CODE.
func TestDualAllocation(t *testing.T) {
	freeUDP6(t)
	natkit := func(t *testing.T, relayIPv6 bool) string {
		cfg := relay.Config{Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: "127.0.0.1:0"}}, Users: map[string]string{"alice": "right"}}
		if relayIPv6 {
			cfg.RelayIPv6 = net.ParseIP("::1")
		}
		srv, err := relay.New(cfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Close() })
		return srv.Addrs()[0].Addr
	}
	coturn := func(t *testing.T, relayIPv6 bool) string {
		return externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"alice:right"}, RelayIPv6: relayIPv6}).Addr()
	}
	for _, server := range []struct {
		name  string
		start func(*testing.T, bool) string
	}{{"natkit relay", natkit}, {"coturn", coturn}} {
		for _, tt := range []struct {
			name      string
			relayIPv6 bool
			dual      string
			want      string
		}{
			{"both families", true, "[::1]:", "dual allocation (RFC 8656 ADDITIONAL-ADDRESS-FAMILY): 127.0.0.1:"},
			{"ipv4 only", false, "440", "the server allocated IPv4 only and answered 440 for IPv6 (ADDRESS-ERROR-CODE)"},
		} {
			t.Run(server.name+"/"+tt.name, func(t *testing.T) {
				addr := server.start(t, tt.relayIPv6)
				res, err := Run(context.Background(), Config{
					Servers: servers(t, "alice", "right", "turn:"+addr), Timeout: 3 * time.Second, Dual: true,
				})
				require.NoError(t, err)
				s := res.Servers[0]
				require.Equal(t, CauseTURNOK, s.Cause, s.Diagnosis)
				assert.Contains(t, s.RelayDual, tt.dual)
				assert.Contains(t, s.Diagnosis, tt.want)
			})
		}
	}
}
