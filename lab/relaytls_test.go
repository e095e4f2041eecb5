package lab_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/turnconn"
	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/relay"
)

// RelayDTLS adds a DTLS listener with the lab's certificate: a side that
// trusts RelayCertPEM completes the handshake by the relay's address, and
// a certificate from another CA fails as unknown authority.
func TestRelayDTLSListener(t *testing.T) {
	labtest.Require(t)
	top, err := lab.Build(lab.Config{RelayDTLS: true, A: lab.Side{Preset: "port-restricted-cone"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = top.Close() })
	require.Equal(t, fmt.Sprintf("turns:%s:%d?transport=udp", lab.RelayIP, lab.RelayDTLSPort), top.TURNDTLSURL())
	require.Empty(t, top.TURNTLSURL(), "no TLS listener was asked for")

	block, _ := pem.Decode(top.RelayCertPEM())
	require.NotNil(t, block, "RelayCertPEM is PEM")
	leaf, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)

	n, err := top.Net(lab.SideA)
	require.NoError(t, err)
	dial := func(roots *x509.CertPool) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := turnconn.Dial(ctx, turnconn.Config{Net: n, Network: turnconn.DTLS,
			Addr: net.JoinHostPort(lab.RelayIP, fmt.Sprint(lab.RelayDTLSPort)), TLS: &tls.Config{RootCAs: roots, ServerName: lab.RelayIP, MinVersion: tls.VersionTLS12}})
		if err == nil {
			_ = c.Close()
		}
		return err
	}
	require.NoError(t, dial(roots), "handshake against the lab CA by the relay's address")

	other, _, err := relay.SelfSignedTLS([]string{lab.RelayName, lab.RelayIP}, time.Hour)
	require.NoError(t, err)
	otherLeaf, err := x509.ParseCertificate(other.Certificates[0].Certificate[0])
	require.NoError(t, err)
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(otherLeaf)
	err = dial(otherRoots)
	require.Error(t, err)
	require.Equal(t, turnconn.ProblemUnknownAuthority, turnconn.Classify(err), "%v", err)
}
