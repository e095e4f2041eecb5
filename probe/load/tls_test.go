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

// startTLSRelay runs natkit's relay on loopback with tcp:// and tls://
// listeners (a self-signed certificate) and loopback peers allowed; it
// returns the two addresses and a client TLS config that trusts the
// certificate.
func startTLSRelay(t *testing.T) (tcpAddr, tlsAddr string, trust *tls.Config) {
	t.Helper()
	certFile, keyFile := externaltest.SelfSignedCert(t, t.TempDir())
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	srv, err := relay.New(relay.Config{
		Listen: []relay.Listener{
			{Network: relay.NetworkTCP, Addr: "127.0.0.1:0"},
			{Network: relay.NetworkTLS, Addr: "127.0.0.1:0"},
		},
		TLSConfig:  &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		Users:      map[string]string{"u": "p"},
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	for _, l := range srv.Addrs() {
		switch l.Network {
		case relay.NetworkTCP:
			tcpAddr = l.Addr
		case relay.NetworkTLS:
			tlsAddr = l.Addr
		}
	}
	pem, err := os.ReadFile(certFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	return tcpAddr, tlsAddr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// TestTLSAndTCPNatkitRelay runs allocation load and relayed traffic over
// TCP and TLS control connections against natkit relay; every allocation's
// connect time is recorded, and the report names the turns: URL.
func TestTLSAndTCPNatkitRelay(t *testing.T) {
	tcpAddr, tlsAddr, trust := startTLSRelay(t)
	peer := startPeer(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"tls channel to echo peer", Config{Transport: TransportTLS, Server: tlsAddr, Peer: peer.Addr().String(), PPS: 50}},
		{"tls paired send indications", Config{Transport: TransportTLS, Server: tlsAddr, Pair: true, Mode: ModeSend, PPS: 50}},
		{"tcp channel to echo peer", Config{Transport: TransportTCP, Server: tcpAddr, Peer: peer.Addr().String(), PPS: 50}},
		{"tls allocation load", Config{Transport: TransportTLS, Server: tlsAddr}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Username, cfg.Password, cfg.TLSConfig = "u", "p", trust
			cfg.Allocations, cfg.Rate, cfg.Size, cfg.Duration = 4, 200, 120, time.Second
			res, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			require.NoError(t, res.Stopped)
			require.EqualValues(t, 0, res.AllocationsFailed)
			require.Equal(t, res.AllocationsSucceeded, res.ConnectLatency.Count, "one connect per allocation")
			require.Greater(t, res.ConnectLatency.P50, 0.0)
			require.Equal(t, MetricConnect, res.ConnectLatency.Name)
			if cfg.PPS > 0 {
				require.EqualValues(t, 4, res.AllocationsSucceeded)
				require.InDelta(t, 4*50, res.Sent, 8, "one second at 4×50 pps")
				require.Equal(t, res.Sent, res.Received, "loopback TCP loses nothing")
			} else {
				require.Greater(t, res.AllocationsSucceeded, int64(50))
				require.Equal(t, res.AllocationsSucceeded, res.Count(methodDelete, OutcomeOK))
			}
			rep := res.Report(DefaultSLO())
			found := false
			for _, m := range rep.Metrics {
				found = found || m.Name == MetricConnect
			}
			require.True(t, found, "report has %s", MetricConnect)
			if cfg.Transport == TransportTLS {
				require.Equal(t, "turns:"+tlsAddr+"?transport=tcp", rep.Target)
			}
		})
	}
}

// TestTLSUntrustedCertificate: a relay whose certificate the client does
// not trust stops the run at once with CauseTLS and the verifier's reason;
// no Allocate is ever sent.
func TestTLSUntrustedCertificate(t *testing.T) {
	_, tlsAddr, _ := startTLSRelay(t)
	start := time.Now()
	res, err := Run(context.Background(), Config{Transport: TransportTLS, Server: tlsAddr, Username: "u", Password: "p",
		Allocations: 4, Rate: 100, Duration: 5 * time.Second})
	require.NoError(t, err)
	require.ErrorIs(t, res.Stopped, ErrTLS)
	require.Equal(t, CauseTLS, res.Cause)
	require.Contains(t, res.Stopped.Error(), "unknown authority")
	require.Less(t, time.Since(start), 4*time.Second, "stopped early, not after --duration")
	require.EqualValues(t, 0, res.AllocationsSucceeded)
}

// TestTLSNotTLS: turns: against a plain TCP listener is a TLS failure too.
func TestTLSNotTLS(t *testing.T) {
	tcpAddr, _, trust := startTLSRelay(t)
	res, err := Run(context.Background(), Config{Transport: TransportTLS, Server: tcpAddr, Username: "u", Password: "p", TLSConfig: trust,
		Allocations: 3, Rate: 100, Duration: 5 * time.Second, RequestTimeout: time.Second})
	require.NoError(t, err)
	require.ErrorIs(t, res.Stopped, ErrTLS)
	require.Equal(t, CauseTLS, res.Cause)
}

// TestCoturnTLS runs relayed traffic and allocation load over TLS against
// coturn's turnserver (its self-signed certificate is not verified).
func TestCoturnTLS(t *testing.T) {
	c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Realm: "r", Users: []string{"u:p"}, TLS: true, AllowLoopbackPeers: true,
		Extra: []string{"--no-stun-backward-compatibility", "--min-port", "20000", "--max-port", "39999"}})
	peer := startPeer(t)
	server := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.TLSPort))
	insecure := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // coturn's self-signed test certificate
	for _, cfg := range []Config{
		{Peer: peer.Addr().String(), PPS: 50},
		{Pair: true, PPS: 50},
		{},
	} {
		cfg.Transport, cfg.Server, cfg.TLSConfig, cfg.Username, cfg.Password = TransportTLS, server, insecure, "u", "p"
		cfg.Allocations, cfg.Rate, cfg.Size, cfg.Duration = 4, 200, 120, time.Second
		res, err := Run(context.Background(), cfg)
		require.NoError(t, err)
		require.NoError(t, res.Stopped)
		require.EqualValues(t, 0, res.AllocationsFailed)
		require.Equal(t, res.AllocationsSucceeded, res.ConnectLatency.Count)
		if cfg.PPS > 0 {
			require.InDelta(t, 4*50, res.Sent, 8)
			require.Equal(t, res.Sent, res.Received)
		}
	}
}
