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
