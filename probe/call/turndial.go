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

// turnDialer is pion's proxy dialer for TURN over TCP and TLS, where the
// engine has to dial itself. pion's ICE agent (v4.1.0) dials TURN servers
// with "tcp4" only, which an IPv6-only host behind NAT64 cannot use
// (anyFamily asks for "tcp"); and it verifies turns: servers against the
// system roots only, with no setting for others (tlsHosts are then
// verified against roots here). With a proxy dialer pion leaves TLS to
// the dialer, so the dialer must do it for every turns: server.
type turnDialer struct {
	n         transport.Net
	anyFamily bool
	roots     *x509.CertPool
	// tlsHosts maps the "host:port" pion dials for each turns: URL over
	// TCP to the name its certificate must hold.
	tlsHosts map[string]string
	// watch records a failed TLS handshake (pion only logs the error the
	// dialer returns). May be nil.
	watch *turnWatch
}

// newTURNDialer returns the dialer a peer needs, or nil when pion's own
// dialing will do: an IPv6-only host using TURN over TCP, or turns: URLs
// with roots of the caller's. An IPv6-only host with turns: URLs and no
// roots keeps pion's TLS (and its tcp4 dial).
func newTURNDialer(n transport.Net, has4, has6 bool, roots *x509.CertPool, servers []webrtc.ICEServer) *turnDialer {
	d := &turnDialer{n: n, anyFamily: has6 && !has4, roots: roots, tlsHosts: map[string]string{}}
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
	switch {
	case roots != nil && len(d.tlsHosts) > 0:
		return d
	case d.anyFamily && len(d.tlsHosts) == 0:
		return d
	}
	return nil
}

func (d *turnDialer) Dial(network, addr string) (net.Conn, error) {
	if d.anyFamily {
		network = strings.TrimRight(network, "46")
	}
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
