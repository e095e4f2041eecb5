package gather

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/relay"
)

// The RFC 6062 check against natkit relay, in each state the relay can be
// in: on, off (442), and on with a peer policy that refuses its own
// loopback relayed addresses (403).
func TestTCPRelayCheckNatkit(t *testing.T) {
	loopback := relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	tests := []struct {
		name     string
		cfg      relay.Config
		cause    Cause
		step     string
		contains string
	}{
		{"on", relay.Config{TCPRelay: true, PeerPolicy: loopback}, CauseTCPRelayOK, "done", "TCP relaying works"},
		{"off", relay.Config{}, CauseTCPUnsupported, "allocate", "--tcp-relay"},
		{"policy", relay.Config{TCPRelay: true}, CauseForbidden, "permission", "peer policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Listen = []relay.Listener{{Network: relay.NetworkTCP, Addr: "127.0.0.1:0"}}
			cfg.Users = map[string]string{"alice": "right"}
			srv, err := relay.New(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = srv.Close() })
			res, err := Run(context.Background(), Config{
				Servers:  servers(t, "alice", "right", "turn:"+srv.Addrs()[0].Addr+"?transport=tcp"),
				Policy:   PolicyRelay,
				Timeout:  3 * time.Second,
				TCPRelay: true,
			})
			require.NoError(t, err)
			s := res.Servers[0]
			require.Equal(t, CauseTURNOK, s.Cause, s.Diagnosis)
			require.NotNil(t, s.TCPRelay)
			assert.Equal(t, tt.cause, s.TCPRelay.Cause, s.TCPRelay.Diagnosis)
			assert.Equal(t, tt.step, s.TCPRelay.Step)
			assert.Contains(t, s.TCPRelay.Diagnosis, tt.contains)
			rep := res.Report()
			var found bool
			for _, c := range rep.Checks {
				if c.ID == "tcp-relay/"+s.URL {
					found = true
					assert.Equal(t, string(tt.cause), c.Observed)
				}
			}
			assert.True(t, found, "report has the tcp-relay check")
		})
	}
}

// Ground truth: coturn relays TCP by default and refuses it with
// --no-tcp-relay; the check says so in both cases.
func TestTCPRelayCheckCoturn(t *testing.T) {
	for _, tt := range []struct {
		name  string
		extra []string
		cause Cause
	}{
		{"default", nil, CauseTCPRelayOK},
		{"no-tcp-relay", []string{"--no-tcp-relay"}, CauseTCPUnsupported},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"alice:right"}, AllowLoopbackPeers: true, Extra: tt.extra})
			res, err := Run(context.Background(), Config{
				Servers:  servers(t, "alice", "right", "turn:"+c.Addr()+"?transport=tcp"),
				Policy:   PolicyRelay,
				Timeout:  3 * time.Second,
				TCPRelay: true,
			})
			require.NoError(t, err)
			s := res.Servers[0]
			require.NotNil(t, s.TCPRelay, s.Diagnosis)
			assert.Equal(t, tt.cause, s.TCPRelay.Cause, s.TCPRelay.Diagnosis)
		})
	}
}
