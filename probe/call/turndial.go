package call

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/transport/v3"
	"github.com/pion/webrtc/v4"
)

// turnTLSHandshakeTimeout bounds the TLS handshake with a turns: server.
const turnTLSHandshakeTimeout = 10 * time.Second

// turnDialer is pion's proxy dialer for TURN over TLS with roots of the
// caller's: pion's ICE agent (v4.1.0) verifies turns: servers against the
// system roots only, with no setting for others. With a proxy dialer pion
// leaves TLS to the dialer, so the dialer does it for every turns: server
// (tlsHosts) and verifies against roots. n is the peer's Net as pion sees
// it (forFamilies), so an IPv6-only host's "tcp4" is answered in IPv6.
type turnDialer struct {
	n     transport.Net
	roots *x509.CertPool
	// tlsHosts maps the "host:port" pion dials for each turns: URL over
	// TCP to the name its certificate must hold.
	tlsHosts map[string]string
	// watch records a failed TLS handshake (pion only logs the error the
	// dialer returns). May be nil.
	watch *turnWatch
}

// newTURNDialer returns the dialer a peer needs: for turns: URLs with
// roots of the caller's; nil when pion's own dialing will do.
func newTURNDialer(n transport.Net, roots *x509.CertPool, servers []webrtc.ICEServer) *turnDialer {
	d := &turnDialer{n: n, roots: roots, tlsHosts: map[string]string{}}
	for _, s := range servers {
		for _, raw := range s.URLs {
			u, err := stun.ParseURI(raw)
			if err != nil || u.Scheme != stun.SchemeTypeTURNS || u.Proto != stun.ProtoTypeTCP {
				continue
			}
			// pion's own form of the address it dials.
			d.tlsHosts[fmt.Sprintf("%s:%d", u.Host, u.Port)] = u.Host
		}
	}
	if roots == nil || len(d.tlsHosts) == 0 {
		return nil
	}
	return d
}

func (d *turnDialer) Dial(network, addr string) (net.Conn, error) {
	conn, err := d.n.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	host, ok := d.tlsHosts[addr]
	if !ok {
		return d.watched(conn), nil
	}
	tc := tls.Client(conn, &tls.Config{ServerName: host, RootCAs: d.roots, MinVersion: tls.VersionTLS12})
	_ = conn.SetDeadline(time.Now().Add(turnTLSHandshakeTimeout))
	if err := tc.Handshake(); err != nil {
		_ = conn.Close()
		if d.watch != nil {
			d.watch.handshakeFailed(addr, "tls", err.Error())
		}
		return nil, fmt.Errorf("TURN over TLS to %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return d.watched(tc), nil
}

// watched hands pion the connection with its STUN traffic watched: over
// TLS the dialer sees the plaintext, which pion's own TLS would hide.
func (d *turnDialer) watched(c net.Conn) net.Conn {
	if d.watch == nil {
		return c
	}
	return newWatchedStream(c, d.watch)
}

// overStream says when the peer's own relay candidate reaches its TURN
// server over TCP, TLS or DTLS rather than plain UDP.
func (p Path) overStream() string {
	if p.Pair == nil || p.Pair.Local.Type != "relay" {
		return ""
	}
	switch rp := p.Pair.Local.RelayProtocol; rp {
	case "", "udp":
		return ""
	default:
		return " (reached over " + strings.ToUpper(rp) + ")"
	}
}
