package load

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

func skipWithoutIPv6(t *testing.T) {
	t.Helper()
	pc, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	pc.Close()
}

// startDualRelay runs natkit relay with udp on 127.0.0.1 and udp, tcp,
// tls and dtls on [::1] (RelayIP 127.0.0.1, RelayIPv6 ::1), TCP
// relaying on, loopback peers allowed. It returns the listeners by
// network (the IPv6 ones; "udp4" is the IPv4 one) and a client TLS config
// that trusts the relay's certificate for ::1.
func startDualRelay(t *testing.T, ipv4 bool) (map[string]string, *tls.Config) {
	t.Helper()
	tc, _, err := relay.SelfSignedTLS([]string{"::1"}, time.Hour)
	require.NoError(t, err)
	ls := []relay.Listener{{Network: "udp", Addr: "[::1]:0"}, {Network: "tcp", Addr: "[::1]:0"},
		{Network: "tls", Addr: "[::1]:0"}, {Network: relay.NetworkDTLS, Addr: "[::1]:0"}}
	if ipv4 {
		ls = append([]relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}}, ls...)
	}
	srv, err := relay.New(relay.Config{Listen: ls, TLSConfig: tc, Users: map[string]string{"u": "p"}, TCPRelay: true,
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	addrs := map[string]string{}
	for _, a := range srv.Addrs() {
		n := a.Network
		if netip.MustParseAddrPort(a.Addr).Addr().Is4() {
			n += "4"
		}
		addrs[n] = a.Addr
	}
	leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return addrs, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}

func startPeerOn(t *testing.T, listen string) *Peer {
	t.Helper()
	p, err := ListenPeer(PeerConfig{Listen: listen})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return p
}

// TestIPv6NatkitRelay benchmarks natkit relay reached over IPv6 on every
// transport. The echo peer's family picks the relayed family: an IPv6
// peer asks for IPv6 relayed addresses (REQUESTED-ADDRESS-FAMILY), which
// the relay would refuse to relay toward an IPv4 one (443), so an echo
// proves the family; an IPv4 peer keeps the server's default, IPv4.
func TestIPv6NatkitRelay(t *testing.T) {
	skipWithoutIPv6(t)
	addrs, trust := startDualRelay(t, true)
	peer6 := startPeerOn(t, "[::1]:0").Addr().String()
	peer4 := startPeerOn(t, "127.0.0.1:0").Addr().String()
	tests := []struct {
		name      string
		transport string
		cfg       Config
	}{
		{"udp, IPv6 peer", TransportUDP, Config{Peer: peer6, PPS: 50}},
		{"udp, IPv4 peer", TransportUDP, Config{Peer: peer4, PPS: 50}},
		{"tcp, paired IPv6 relayed", TransportTCP, Config{Pair: true, RelayFamily: FamilyIPv6, PPS: 50}},
		{"tls, IPv6 peer, send indications", TransportTLS, Config{Peer: peer6, Mode: ModeSend, PPS: 50}},
		{"dtls, IPv6 peer", TransportDTLS, Config{Peer: peer6, PPS: 50}},
		{"udp allocation load, IPv6 relayed", TransportUDP, Config{RelayFamily: FamilyIPv6}},
		{"tcp allocations, IPv6 relayed, paired", TransportTCP, Config{TCPAllocations: true, RelayFamily: FamilyIPv6, PPS: 50}},
		{"tls tcp allocations, IPv4 relayed", TransportTLS, Config{TCPAllocations: true, PPS: 50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Transport, cfg.Server = tt.transport, addrs[tt.transport]
			if tt.transport == TransportDTLS {
				cfg.Server = addrs[relay.NetworkDTLS]
			}
			cfg.Username, cfg.Password, cfg.TLSConfig = "u", "p", trust
			cfg.Allocations, cfg.Rate, cfg.Size = 4, 100, 100
			cfg.Duration, cfg.Drain = 500*time.Millisecond, 300*time.Millisecond
			res, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			require.NoError(t, res.Stopped)
			require.Equal(t, CauseCompleted, res.Cause)
			require.Zero(t, res.AllocationsFailed)
			require.Positive(t, res.AllocationsSucceeded)
			if cfg.PPS > 0 {
				require.Positive(t, res.Sent)
				require.Greater(t, res.Received, res.Sent*9/10, "relayed and echoed over loopback")
			}
		})
	}
}

// TestPeerFamilyMismatch: a peer of the other family than the relayed
// addresses is the user's mistake, named before the run (--relay-family
// given) or at the first allocation (the relay chose the family).
func TestPeerFamilyMismatch(t *testing.T) {
	skipWithoutIPv6(t)
	addrs, _ := startDualRelay(t, false) // IPv6 only: relays over IPv6 by default
	peer4 := startPeerOn(t, "127.0.0.1:0").Addr().String()
	base := Config{Server: addrs["udp"], Username: "u", Password: "p", Allocations: 2, PPS: 20, Size: 64,
		Duration: 300 * time.Millisecond, Drain: 200 * time.Millisecond}

	cfg := base
	cfg.Peer, cfg.RelayFamily = peer4, FamilyIPv6
	_, err := Run(context.Background(), cfg)
	require.ErrorIs(t, err, ErrConfig)
	require.ErrorContains(t, err, "--peer")

	cfg = base
	cfg.Peer = peer4
	res, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.ErrorIs(t, res.Stopped, ErrPeerFamily)
	require.Equal(t, CausePeerFamily, res.Cause)
	require.Contains(t, res.StopReason, "--relay-family ipv4")
	require.Zero(t, res.Sent)
	require.Equal(t, res.AllocationsSucceeded, res.Count(methodDelete, OutcomeOK), "the allocations are still deleted")

	cfg = base
	cfg.Peer, cfg.RelayFamily = peer4, FamilyIPv4
	res, err = Run(context.Background(), cfg)
	require.NoError(t, err)
	require.Positive(t, res.Count(methodAllocate, "440"), "an IPv6-only relay has no IPv4 relayed address")
}
