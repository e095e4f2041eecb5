package load

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
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

// startDualRelay runs natkit relay with udp, tcp, tls and dtls on [::1],
// and with ipv4 on 127.0.0.1 too (RelayIP 127.0.0.1, RelayIPv6 ::1), TCP
// relaying on, loopback peers allowed. It returns the listeners by
// network ("udp" on [::1], "udp4" on 127.0.0.1…) and a client TLS config
// that trusts the relay's certificate.
func startDualRelay(t *testing.T, ipv4 bool) (map[string]string, *tls.Config) {
	t.Helper()
	tc, _, err := relay.SelfSignedTLS([]string{"127.0.0.1", "::1"}, time.Hour)
	require.NoError(t, err)
	ls := []relay.Listener{{Network: "udp", Addr: "[::1]:0"}, {Network: "tcp", Addr: "[::1]:0"},
		{Network: "tls", Addr: "[::1]:0"}, {Network: relay.NetworkDTLS, Addr: "[::1]:0"}}
	if ipv4 {
		ls = append([]relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}, {Network: "tcp", Addr: "127.0.0.1:0"},
			{Network: "tls", Addr: "127.0.0.1:0"}, {Network: relay.NetworkDTLS, Addr: "127.0.0.1:0"}}, ls...)
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

// startPeerOn runs an echo peer on listen until the test ends.
func startPeerOn(t testing.TB, listen string) *Peer {
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

// TestBothFamilies benchmarks natkit relay and both coturns (Debian's
// 4.6.1, upstream 4.17.1) reached over IPv4 and IPv6 on every transport,
// with UDP and RFC 6062 TCP allocations of both families. The echo peer's
// family picks the relayed family: an IPv6 peer asks for IPv6 relayed
// addresses (REQUESTED-ADDRESS-FAMILY), which a relay refuses to relay
// toward a peer of the other family (443), so an echo proves the family;
// an IPv4 peer keeps the server's default, IPv4.
func TestBothFamilies(t *testing.T) {
	skipWithoutIPv6(t)
	peer6 := startPeerOn(t, "[::1]:0").Addr().String()
	peer4 := startPeerOn(t, "127.0.0.1:0").Addr().String()
	tests := []struct {
		name      string
		transport string
		ipv4      bool // reach the server on 127.0.0.1, not [::1]
		cfg       Config
	}{
		{"udp, IPv6 peer", TransportUDP, false, Config{Peer: peer6, PPS: 50}},
		{"udp, IPv4 peer", TransportUDP, false, Config{Peer: peer4, PPS: 50}},
		{"tcp, paired IPv6 relayed", TransportTCP, false, Config{Pair: true, RelayFamily: FamilyIPv6, PPS: 50}},
		{"tls, IPv6 peer, send indications", TransportTLS, false, Config{Peer: peer6, Mode: ModeSend, PPS: 50}},
		{"dtls, IPv6 peer", TransportDTLS, false, Config{Peer: peer6, PPS: 50}},
		{"dtls over IPv4", TransportDTLS, true, Config{Peer: peer4, PPS: 50}},
		{"udp allocation load, IPv6 relayed", TransportUDP, false, Config{RelayFamily: FamilyIPv6}},
		{"tcp allocations, IPv6 relayed, paired", TransportTCP, false, Config{TCPAllocations: true, RelayFamily: FamilyIPv6, PPS: 50}},
		{"tls tcp allocations over IPv4, paired", TransportTLS, true, Config{TCPAllocations: true, PPS: 50}},
		{"udp over IPv4, IPv6 peer", TransportUDP, true, Config{Peer: peer6, PPS: 50}},
		{"tcp allocations over IPv4, IPv6 relayed", TransportTCP, true, Config{TCPAllocations: true, RelayFamily: FamilyIPv6}},
	}
	for _, srv := range []struct {
		name  string
		start func(t *testing.T) (map[string]string, *tls.Config)
	}{
		{"natkit relay", func(t *testing.T) (map[string]string, *tls.Config) { return startDualRelay(t, true) }},
		{"coturn 4.6.1", func(t *testing.T) (map[string]string, *tls.Config) { return startCoturnBothFamilies(t, "") }},
		{"coturn 4.17.1", func(t *testing.T) (map[string]string, *tls.Config) {
			return startCoturnBothFamilies(t, externaltest.LatestCoturnBin(t))
		}},
	} {
		t.Run(srv.name, func(t *testing.T) {
			addrs, trust := srv.start(t)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel() // light runs: 4 allocations × 50 pps
					cfg := tt.cfg
					key := tt.transport
					if key == TransportDTLS {
						key = relay.NetworkDTLS
					}
					if tt.ipv4 {
						key += "4"
					}
					cfg.Transport, cfg.Server = tt.transport, addrs[key]
					require.NotEmpty(t, cfg.Server, key)
					cfg.Username, cfg.Password, cfg.TLSConfig = "u", "p", trust
					cfg.Allocations, cfg.Rate, cfg.Size = 4, 100, 100
					cfg.Duration, cfg.Drain = 300*time.Millisecond, 300*time.Millisecond
					res, err := Run(context.Background(), cfg)
					require.NoError(t, err)
					require.NoError(t, res.Stopped)
					require.Equal(t, CauseCompleted, res.Cause)
					require.Zero(t, res.AllocationsFailed)
					require.Positive(t, res.AllocationsSucceeded)
					if cfg.RelayFamily == FamilyIPv6 || cfg.Peer == peer6 {
						require.Equal(t, res.AllocationsSucceeded, res.RelayedIPv6, "IPv6 relayed addresses")
					} else {
						require.Zero(t, res.RelayedIPv6, "IPv4 relayed addresses")
					}
					if cfg.PPS > 0 {
						require.Positive(t, res.Sent)
						require.Greater(t, res.Received, res.Sent*9/10, "relayed and echoed over loopback")
					}
				})
			}
		})
	}
}

// startCoturnBothFamilies runs coturn (bin, or Debian's) on 127.0.0.1 and
// ::1 with UDP, TCP, TLS and DTLS, relaying from both families; its
// listeners are keyed as startDualRelay's.
func startCoturnBothFamilies(t *testing.T, bin string) (map[string]string, *tls.Config) {
	t.Helper()
	extra := []string{"--min-port", "20000", "--max-port", "39999"}
	if bin != "" {
		extra = append(extra, "--dtls") // coturn 4.17 starts no DTLS listener without it
	}
	c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Realm: "r", Users: []string{"u:p"}, IPv6: true, RelayIPv6: true,
		TLS: true, DTLS: true, AllowLoopbackPeers: true, Bin: bin, Extra: extra})
	pem, err := os.ReadFile(c.CertFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	tls4 := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.TLSPort))
	return map[string]string{"udp": c.Addr6(), "tcp": c.Addr6(), "tls": c.TLSAddr6(), relay.NetworkDTLS: c.TLSAddr6(),
			"udp4": c.Addr(), "tcp4": c.Addr(), "tls4": tls4, relay.NetworkDTLS + "4": tls4},
		&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
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
