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

// startDTLSRelay runs natkit's relay on loopback with a dtls:// listener
// (a self-signed certificate) and loopback peers allowed; it returns the
// address and a client TLS config that trusts the certificate.
func startDTLSRelay(t *testing.T) (string, *tls.Config) {
	t.Helper()
	tc, _, err := relay.SelfSignedTLS([]string{"127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	srv, err := relay.New(relay.Config{
		Listen:     []relay.Listener{{Network: relay.NetworkDTLS, Addr: "127.0.0.1:0"}},
		TLSConfig:  tc,
		Users:      map[string]string{"u": "p"},
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return srv.Addrs()[0].Addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// TestDTLSNatkitRelay runs relayed traffic (ChannelData and Send
// indications) and allocation load over DTLS: one DTLS association per
// allocation, its handshake time recorded as the connect time.
func TestDTLSNatkitRelay(t *testing.T) {
	addr, trust := startDTLSRelay(t)
	peer := startPeer(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"dtls channel to echo peer", Config{Peer: peer.Addr().String(), PPS: 50}},
		{"dtls paired send indications", Config{Pair: true, Mode: ModeSend, PPS: 50}},
		{"dtls allocation load", Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Transport, cfg.Server = TransportDTLS, addr
			cfg.Username, cfg.Password, cfg.TLSConfig = "u", "p", trust
			cfg.Allocations, cfg.Rate, cfg.Size, cfg.Duration = 4, 50, 120, time.Second
			res, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			require.NoError(t, res.Stopped)
			require.EqualValues(t, 0, res.AllocationsFailed)
			require.Equal(t, res.AllocationsSucceeded, res.ConnectLatency.Count, "one handshake per allocation")
			require.Greater(t, res.ConnectLatency.P50, 0.0)
			if cfg.PPS > 0 {
				require.EqualValues(t, 4, res.AllocationsSucceeded)
				require.Greater(t, res.Received, res.Sent*9/10, "loopback DTLS loses (almost) nothing")
			}
			rep := res.Report(DefaultSLO())
			require.Equal(t, "turns:"+addr+"?transport=udp", rep.Target)
		})
	}
}

// TestDTLSUntrustedCertificate: the DTLS handshake fails with the same
// cause and wording as TLS (unknown authority), and the run stops early.
func TestDTLSUntrustedCertificate(t *testing.T) {
	addr, _ := startDTLSRelay(t)
	res, err := Run(context.Background(), Config{Transport: TransportDTLS, Server: addr, Username: "u", Password: "p",
		Allocations: 3, Rate: 100, Duration: 5 * time.Second})
	require.NoError(t, err)
	require.ErrorIs(t, res.Stopped, ErrTLS)
	require.Equal(t, CauseTLS, res.Cause)
	require.Contains(t, res.Stopped.Error(), "dtls handshake with "+addr)
	require.Contains(t, res.Stopped.Error(), "signed by an unknown authority")
	require.EqualValues(t, 0, res.AllocationsSucceeded)
}

// TestDTLSCoturn runs relayed traffic over DTLS against Debian's coturn
// (its tls-listening-port serves DTLS).
func TestDTLSCoturn(t *testing.T) {
	c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"u:p"}, DTLS: true, AllowLoopbackPeers: true})
	pem, err := os.ReadFile(c.CertFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	peer := startPeer(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.TLSPort))
	res, err := Run(context.Background(), Config{Transport: TransportDTLS, Server: addr, Username: "u", Password: "p",
		TLSConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, Peer: peer.Addr().String(),
		Allocations: 4, Rate: 50, PPS: 50, Size: 120, Duration: time.Second})
	require.NoError(t, err)
	require.NoError(t, res.Stopped)
	require.EqualValues(t, 4, res.AllocationsSucceeded)
	require.EqualValues(t, 4, res.ConnectLatency.Count)
	require.Greater(t, res.Received, res.Sent*9/10, "loopback DTLS loses (almost) nothing")
}
