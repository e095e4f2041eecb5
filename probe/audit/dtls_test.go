package audit_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/probe/audit"
)

// TestDTLS audits turns:…?transport=udp against natkit relay: every
// exchange runs over the DTLS association, the amplification check knows
// the handshake proved the source, the idle check holds DTLS
// associations, and the certificate is judged as over TLS.
func TestDTLS(t *testing.T) {
	cert, pem := certFor(t, 90*24*time.Hour)
	cfg := relayConfig()
	cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	cfg.AuthTimeout = 300 * time.Millisecond
	srv := startRelayOn(t, cfg, "dtls://127.0.0.1:0")
	url := "turns:" + srv.Addrs()[0].Addr + "?transport=udp"

	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	res, err := audit.Run(context.Background(), audit.Config{Server: server(t, url, testSecret), RootCAs: roots, IdleWait: time.Second, IdleConns: 2})
	require.NoError(t, err)
	logFindings(t, res)
	checks := byID(res)
	require.Equal(t, audit.VerdictPass, checks["tls"].Verdict, checks["tls"].Message)
	require.Contains(t, checks["tls"].Message, "DTLS 1.2")
	require.Equal(t, audit.VerdictPass, checks["unauthenticated-allocate"].Verdict)
	require.Equal(t, audit.VerdictPass, checks["peer/169.254.169.254"].Verdict)
	require.Contains(t, checks["amplification"].Message, "over DTLS")
	require.Equal(t, audit.VerdictPass, checks["idle-connections"].Verdict, checks["idle-connections"].Message)
	require.Contains(t, checks["idle-connections"].Message, "dtls")

	// Without the roots, the self-signed certificate is the finding.
	res, err = audit.Run(context.Background(), audit.Config{Server: server(t, url, testSecret), IdleWait: 200 * time.Millisecond, IdleConns: 1})
	require.NoError(t, err)
	tc := byID(res)["tls"]
	require.Equal(t, audit.VerdictFinding, tc.Verdict)
	require.Contains(t, tc.Message, "does not verify for 127.0.0.1")
}

// TestDTLSCoturn audits Debian's coturn over DTLS: every exchange runs
// over the association and the certificate is judged against the roots.
func TestDTLSCoturn(t *testing.T) {
	c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Secret: testSecret, DTLS: true})
	pem, err := os.ReadFile(c.CertFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	url := fmt.Sprintf("turns:127.0.0.1:%d?transport=udp", c.TLSPort)
	res, err := audit.Run(context.Background(), audit.Config{Server: server(t, url, testSecret), Secret: testSecret, RootCAs: roots, IdleWait: time.Second, IdleConns: 2})
	require.NoError(t, err)
	logFindings(t, res)
	checks := byID(res)
	// The test certificate lives 24 h: it verifies, and its near expiry
	// is the one finding.
	require.Equal(t, "the certificate expires in 24h0m0s", checks["tls"].Message)
	require.Equal(t, audit.VerdictPass, checks["unauthenticated-allocate"].Verdict)
	require.Equal(t, audit.VerdictPass, checks["peer/127.0.0.1"].Verdict, checks["peer/127.0.0.1"].Message)
	// coturn keeps unauthenticated DTLS associations open (as it keeps
	// TCP connections without max-allocate-timeout).
	require.Equal(t, audit.VerdictFinding, checks["idle-connections"].Verdict)
	require.Contains(t, checks["amplification"].Message, "over DTLS")
}
