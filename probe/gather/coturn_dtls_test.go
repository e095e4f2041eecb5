package gather

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/relay"
)

// TestCoturnDTLS probes Debian's coturn over TURN over DTLS (its
// tls-listening-port serves DTLS): trusted it allocates, untrusted it is
// the unknown-authority cause, and coturn's plain UDP port (which also
// accepts DTLS, see docs/gather-nat.md) allocates too.
func TestCoturnDTLS(t *testing.T) {
	c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"alice:right"}, DTLS: true})
	pem, err := os.ReadFile(c.CertFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	dtlsURL := fmt.Sprintf("turns:127.0.0.1:%d?transport=udp", c.TLSPort)
	for _, tt := range []struct {
		name  string
		url   string
		roots *x509.CertPool
		cause Cause
		want  string
	}{
		{"trusted", dtlsURL, roots, CauseTURNOK, "TURN OK: relay address 127.0.0.1:"},
		{"unknown authority", dtlsURL, nil, CauseDTLS, "signed by an unknown authority"},
		{"dtls on the plain port", "turns:" + c.Addr() + "?transport=udp", roots, CauseTURNOK, "TURN OK"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Run(context.Background(), Config{
				Servers: servers(t, "alice", "right", tt.url), Timeout: 3 * time.Second,
				TLSConfig: &tls.Config{RootCAs: tt.roots, MinVersion: tls.VersionTLS12},
			})
			require.NoError(t, err)
			s := res.Servers[0]
			assert.Equal(t, tt.cause, s.Cause, s.Diagnosis)
			assert.Contains(t, s.Diagnosis, tt.want)
		})
	}
}

// TestDTLSOverIPv6 probes TURN over DTLS on ::1: natkit relay's dtls://[::1]
// listener and coturn's DTLS port on ::1 (coturn listening on both
// families) both allocate.
func TestDTLSOverIPv6(t *testing.T) {
	freeUDP6(t)
	cert, roots := testCert6(t)
	srv, err := relay.New(relay.Config{
		Listen: []relay.Listener{{Network: relay.NetworkDTLS, Addr: "[::1]:0"}}, Users: map[string]string{"alice": "right"},
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"alice:right"}, DTLS: true, IPv6: true})
	pem, err := os.ReadFile(c.CertFile)
	require.NoError(t, err)
	require.True(t, roots.AppendCertsFromPEM(pem))
	for _, u := range []string{
		"turns:" + srv.Addrs()[0].Addr + "?transport=udp",
		fmt.Sprintf("turns:[::1]:%d?transport=udp", c.TLSPort),
	} {
		res, err := Run(context.Background(), Config{
			Servers: servers(t, "alice", "right", u), Timeout: 3 * time.Second,
			TLSConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12},
		})
		require.NoError(t, err)
		s := res.Servers[0]
		assert.Equal(t, CauseTURNOK, s.Cause, "%s: %s", u, s.Diagnosis)
		assert.Equal(t, FamilyIPv6, s.Family, u)
	}
}

// testCert6 is testCert's certificate (valid for 127.0.0.1) with its pool.
func testCert6(t *testing.T) (tls.Certificate, *x509.CertPool) {
	return testCert(t, time.Now().Add(time.Hour))
}
