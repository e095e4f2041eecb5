package lab

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/natkit/natkit/relay"
)

// RelayTLSPort is where natkit relay takes TURN over TLS with
// Config.RelayTLS: 443, which udp-blocked lets out.
const RelayTLSPort = 443

// relayTLS makes the certificate of the relay's TLS listener when the
// config asks for one, and keeps it as the pool RelayRootCAs returns: a
// self-signed certificate in the pool is its own root, so a client that
// trusts the pool verifies the chain and the name for real.
func (t *Topology) relayTLS() (*tls.Config, error) {
	if !t.cfg.RelayTLS {
		return nil, nil
	}
	conf, _, err := relay.SelfSignedTLS([]string{RelayName, RelayIP}, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(conf.Certificates[0].Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("relay certificate: %w", err)
	}
	t.roots = x509.NewCertPool()
	t.roots.AddCert(leaf)
	return conf, nil
}

// RelayRootCAs is the pool that trusts the relay's TLS certificate, nil
// without Config.RelayTLS.
func (t *Topology) RelayRootCAs() *x509.CertPool { return t.roots }

// TURNTLSURL is the relay's TURN URL over TLS, by the name its certificate
// holds ("" without Config.RelayTLS).
func (t *Topology) TURNTLSURL() string {
	if t.roots == nil {
		return ""
	}
	return fmt.Sprintf("turns:%s:%d?transport=tcp", RelayName, RelayTLSPort)
}
