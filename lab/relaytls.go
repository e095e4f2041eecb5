package lab

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/natkit/natkit/relay"
)

// RelayTLSPort is where natkit relay takes TURN over TLS with
// Config.RelayTLS: 443, which udp-blocked lets out.
const RelayTLSPort = 443

// RelayDTLSPort is where natkit relay takes TURN over DTLS with
// Config.RelayDTLS: 5349 over UDP, the turns: port of RFC 7350.
const RelayDTLSPort = 5349

// relayTLS makes the certificate of the relay's TLS and DTLS listeners
// when the config asks for one, and keeps it as the pool RelayRootCAs
// returns: a self-signed certificate in the pool is its own root, so a
// client that trusts the pool verifies the chain and the name for real.
func (t *Topology) relayTLS() (*tls.Config, error) {
	if !t.cfg.RelayTLS && !t.cfg.RelayDTLS {
		return nil, nil
	}
	conf, _, err := relay.SelfSignedTLS([]string{RelayName, RelayIP}, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	der := conf.Certificates[0].Certificate[0]
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("relay certificate: %w", err)
	}
	t.roots = x509.NewCertPool()
	t.roots.AddCert(leaf)
	t.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return conf, nil
}

// RelayRootCAs is the pool that trusts the relay's TLS and DTLS
// certificate, nil without Config.RelayTLS or RelayDTLS.
func (t *Topology) RelayRootCAs() *x509.CertPool { return t.roots }

// RelayCertPEM is that certificate in PEM, the lab's CA for a process of
// its own: e.g. its SSL_CERT_FILE, as a device with the CA installed. nil
// without Config.RelayTLS or RelayDTLS.
func (t *Topology) RelayCertPEM() []byte { return t.certPEM }

// TURNTLSURL is the relay's TURN URL over TLS, by the name its certificate
// holds ("" without Config.RelayTLS).
func (t *Topology) TURNTLSURL() string {
	if !t.cfg.RelayTLS {
		return ""
	}
	return fmt.Sprintf("turns:%s:%d?transport=tcp", RelayName, RelayTLSPort)
}

// TURNDTLSURL is the relay's TURN URL over DTLS ("" without
// Config.RelayDTLS). It names the relay by its address, which the
// certificate holds too: the peers that need it run in processes of their
// own (pion verifies TURN/DTLS against the system roots only), where the
// lab's resolver, which lives in lab.Net, does not answer.
func (t *Topology) TURNDTLSURL() string {
	if !t.cfg.RelayDTLS {
		return ""
	}
	return fmt.Sprintf("turns:%s:%d?transport=udp", RelayIP, RelayDTLSPort)
}
