package gather

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

// freeUDP6 returns a free UDP port on ::1, or skips when the machine has
// no IPv6 loopback.
func freeUDP6(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	addr := pc.LocalAddr().String()
	require.NoError(t, pc.Close())
	return addr
}

// TestGatherIPv6Loopback gathers through a natkit relay listening on
// [::1] only: STUN, TURN over UDP and over TCP, all IPv6.
func TestGatherIPv6Loopback(t *testing.T) {
	addr := freeUDP6(t)
	srv, err := relay.New(relay.Config{
		Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: addr}, {Network: relay.NetworkTCP, Addr: addr}},
		Users:  map[string]string{"alice": "right"},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })

	res, err := Run(context.Background(), Config{
		Servers:         servers(t, "alice", "right", "stun:"+addr, "turn:"+addr+"?transport=udp", "turn:"+addr+"?transport=tcp"),
		Timeout:         3 * time.Second,
		Retransmit:      fast,
		IncludeLoopback: true,
	})
	require.NoError(t, err)
	require.Len(t, res.Servers, 3)
	for _, s := range res.Servers {
		assert.Equal(t, FamilyIPv6, s.Family, s.URL)
		require.True(t, s.Cause.OK(), "%s: %s", s.URL, s.Diagnosis)
	}
	assert.Equal(t, "::1", hostOf(res.Servers[0].Public))
	assert.Equal(t, FamilyIPv6, familyOf(res.Servers[1].Relay), res.Servers[1].Relay)

	types := map[string]bool{}
	for _, c := range res.Combined.Candidates {
		require.NotEmpty(t, c.Family, "%+v", c)
		assert.Equal(t, familyOf(c.Address), c.Family)
		if c.Family == FamilyIPv6 {
			types[c.Type] = true
		}
		if c.Type == TypeRelay {
			assert.Contains(t, c.ServerURL, "turn:"+addr, "%+v", c)
		}
	}
	assert.True(t, types[TypeHost] && types[TypeSrflx] && types[TypeRelay], "IPv6 candidate types: %v", types)

	rep := res.Report()
	var fam []string
	for _, row := range rep.Tables[1].Rows {
		fam = append(fam, row[1])
	}
	assert.Equal(t, []string{"IPv6", "IPv6", "IPv6"}, fam)
	assert.Contains(t, fmt.Sprint(rep.Tables[1].Rows[1]), "(IPv6)")
}

func TestBracket(t *testing.T) {
	for in, want := range map[string]string{
		"::1:3478":        "[::1]:3478",
		"[::1]:3478":      "[::1]:3478",
		"1.2.3.4:3478":    "1.2.3.4:3478",
		"relay.test:3478": "relay.test:3478",
		"2001:db8::7:80":  "[2001:db8::7]:80",
	} {
		assert.Equal(t, want, bracket(in), in)
	}
}

// TestFamilyMismatchDiagnosis reaches a dual-stack natkit relay over IPv6:
// without REQUESTED-ADDRESS-FAMILY it relays over IPv4 (RFC 6156), which
// the verdict calls a family mismatch, and asked again for IPv6 it gives
// an IPv6 relayed address.
func TestFamilyMismatchDiagnosis(t *testing.T) {
	addr6 := freeUDP6(t)
	srv, err := relay.New(relay.Config{
		Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: "127.0.0.1:0"}, {Network: relay.NetworkUDP, Addr: addr6}},
		Users:  map[string]string{"alice": "right"},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })

	res, err := Run(context.Background(), Config{
		Servers: servers(t, "alice", "right", "turn:"+addr6+"?transport=udp"),
		Timeout: 3 * time.Second, Retransmit: fast, IncludeLoopback: true,
	})
	require.NoError(t, err)
	s := res.Servers[0]
	require.Equal(t, CauseTURNOK, s.Cause, s.Diagnosis)
	assert.Equal(t, FamilyIPv6, s.Family)
	assert.Equal(t, FamilyIPv4, familyOf(s.Relay), s.Relay)
	assert.Equal(t, FamilyIPv6, familyOf(s.RelayIPv6), s.RelayIPv6)
	assert.Contains(t, s.Diagnosis, "family mismatch: the server allocated an IPv4 relay address to a client that reached it over IPv6")
	assert.Contains(t, s.Diagnosis, "the server relays over IPv6 too ([::1]:")
}
