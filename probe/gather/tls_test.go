package gather

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

func testCert(t *testing.T, notAfter time.Time) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "relay.test"},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"relay.test"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestTURNSDirectProbe(t *testing.T) {
	good, goodPool := testCert(t, time.Now().Add(time.Hour))
	expired, expiredPool := testCert(t, time.Now().Add(-time.Hour))
	tests := []struct {
		name    string
		cert    tls.Certificate
		roots   *x509.CertPool
		host    string
		cause   Cause
		message string
	}{
		{"trusted certificate", good, goodPool, "127.0.0.1", CauseTURNOK, "TURN OK: relay address 127.0.0.1:"},
		{"unknown authority", good, nil, "127.0.0.1", CauseTLS, "signed by an unknown authority"},
		{"expired certificate", expired, expiredPool, "127.0.0.1", CauseTLS, "has expired or is not yet valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := net.Listen("tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			addr := l.Addr().String()
			require.NoError(t, l.Close())
			srv, err := relay.New(relay.Config{
				Listen: []relay.Listener{{Network: relay.NetworkTLS, Addr: addr}}, Users: map[string]string{"alice": "right"},
				TLSConfig: &tls.Config{Certificates: []tls.Certificate{tt.cert}},
			})
			require.NoError(t, err)
			t.Cleanup(func() { _ = srv.Close() })
			res, err := Run(context.Background(), Config{
				Servers:   servers(t, "alice", "right", fmt.Sprintf("turns:%s", addr)),
				Timeout:   2 * time.Second,
				TLSConfig: &tls.Config{RootCAs: tt.roots, MinVersion: tls.VersionTLS12},
			})
			require.NoError(t, err)
			s := res.Servers[0]
			assert.Equal(t, tt.cause, s.Cause, s.Diagnosis)
			assert.Contains(t, s.Diagnosis, tt.message)
			require.Len(t, res.Transports, 1)
			want := "failed"
			if tt.cause.OK() {
				want = "ok"
			}
			assert.Equal(t, want, res.Transports[0].TLS)
		})
	}
}
