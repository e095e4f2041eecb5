package gather

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
)

// TestCoturnIPv6 checks gather over IPv6 against Debian's coturn on ::1:
// with an IPv6 relay address it relays over IPv4 by default (RFC 6156)
// and over IPv6 when asked; without one the IPv6 ask gets 440 and the
// verdict says what to configure.
func TestCoturnIPv6(t *testing.T) {
	freeUDP6(t)
	for _, tt := range []struct {
		name      string
		relayIPv6 bool
		want      string
	}{
		{"ipv6 relay", true, "the server relays over IPv6 too ([::1]:"},
		{"no ipv6 relay", false, "asked for IPv6, it answered 440 Unsupported address family: the server has no IPv6 relay address; coturn: add relay-ip="},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"alice:right"}, IPv6: true, RelayIPv6: tt.relayIPv6})
			res, err := Run(context.Background(), Config{
				Servers: servers(t, "alice", "right", "stun:"+c.Addr6(), "turn:"+c.Addr6()+"?transport=udp"),
				Timeout: 3 * time.Second, Retransmit: fast, IncludeLoopback: true,
			})
			require.NoError(t, err)
			require.Equal(t, CauseSTUNOK, res.Servers[0].Cause, res.Servers[0].Diagnosis)
			assert.Equal(t, FamilyIPv6, familyOf(res.Servers[0].Public))
			s := res.Servers[1]
			require.Equal(t, CauseTURNOK, s.Cause, s.Diagnosis)
			assert.Equal(t, FamilyIPv6, s.Family)
			assert.Equal(t, FamilyIPv4, familyOf(s.Relay), s.Relay)
			assert.Contains(t, s.Diagnosis, "family mismatch: the server allocated an IPv4 relay address to a client that reached it over IPv6")
			assert.Contains(t, s.Diagnosis, tt.want)
			if tt.relayIPv6 {
				assert.Equal(t, FamilyIPv6, familyOf(s.RelayIPv6))
			} else {
				assert.Equal(t, "440", s.RelayIPv6)
			}
		})
	}
}
