package call

import (
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"sync"

	"github.com/pion/dtls/v3/pkg/protocol/alert"
	"github.com/pion/stun/v3"
	"github.com/pion/transport/v3"
	"github.com/pion/webrtc/v4"
)

// TURNHandshakeError is a TLS or DTLS handshake with a TURN server that
// failed: the server was reached, but no allocation could follow.
type TURNHandshakeError struct {
	// Peer is the side whose TURN client it was.
	Peer string `json:"peer"`
	// Server is the TURN server's address.
	Server string `json:"server"`
	// Transport is "tls" or "dtls".
	Transport string `json:"transport"`
	// Error is what failed: the certificate check's error for TLS (the
	// engine makes those connections), or the fatal DTLS alert seen on
	// the wire (pion makes those and keeps its error in its log).
	Error string `json:"error"`
}

func (e TURNHandshakeError) String() string {
	return fmt.Sprintf("%s handshake with %s failed: %s", e.Transport, e.Server, e.Error)
}

func (w *turnWatch) handshakeFailed(server, transport, detail string) {
	e := TURNHandshakeError{Peer: w.peer, Server: server, Transport: transport, Error: detail}
	w.mu.Lock()
	for _, h := range w.handshakes {
		if h == e {
			w.mu.Unlock()
			return
		}
	}
	w.handshakes = append(w.handshakes, e)
	w.mu.Unlock()
	w.tl.Record(Event{Peer: w.peer, Kind: EvTURNError, Detail: e.String()})
}

func (w *turnWatch) handshakeErrors() []TURNHandshakeError {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]TURNHandshakeError(nil), w.handshakes...)
}

// DialUDP is how pion's ICE agent opens TURN over DTLS (turns:…?transport=udp):
// the connection is watched for fatal DTLS alerts.
func (n *watchedNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.DialUDP(network, laddr, raddr)
	if err != nil {
		return nil, err
	}
	return &dtlsWatchedConn{UDPConn: c, w: n.w, server: raddr.String(), serverName: n.w.dtlsName(raddr.Port)}, nil
}

// dtlsWatchedConn reads the plaintext DTLS records of a TURN-over-DTLS
// connection for a fatal alert: the one this peer sends says why it
// refused the server (bad_certificate when the certificate did not
// verify), the one the server sends why it refused the peer.
type dtlsWatchedConn struct {
	transport.UDPConn
	w      *turnWatch
	server string
	// serverName is the name pion checks the certificate for (the URL's
	// host), "" when unknown.
	serverName string
	cert       certificateMessage
}

func (c *dtlsWatchedConn) Write(b []byte) (int, error) {
	if a := fatalAlert(b); a != "" {
		detail := "this peer sent the fatal alert " + a
		if why := c.cert.verify(c.serverName); why != "" {
			detail += ": " + why
		}
		c.w.handshakeFailed(c.server, "dtls", detail)
	}
	return c.UDPConn.Write(b)
}

func (c *dtlsWatchedConn) Read(b []byte) (int, error) {
	n, err := c.UDPConn.Read(b)
	if n > 0 {
		c.cert.collect(b[:n])
		if a := fatalAlert(b[:n]); a != "" {
			c.w.handshakeFailed(c.server, "dtls", "the server sent the fatal alert "+a)
		}
	}
	return n, err
}

const (
	dtlsRecordHeader     = 13 // type, version, epoch, sequence number, length
	dtlsAlertRecord      = 21
	dtlsHandshakeRecord  = 22
	dtlsHandshakeHeader  = 12 // type, length, message sequence, fragment offset and length
	dtlsCertificateType  = 11
	maxCertificateLength = 64 << 10
)

// certificateMessage reassembles the server's Certificate message from the
// plaintext handshake records (DTLS 1.2 sends it before encryption, in
// fragments that may repeat), so that a refused certificate can be checked
// again here and the check's own error named: pion keeps it in its log.
type certificateMessage struct {
	mu     sync.Mutex
	body   []byte
	filled []bool
}

func (m *certificateMessage) collect(b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(b) >= dtlsRecordHeader {
		epoch := binary.BigEndian.Uint16(b[3:5])
		size := int(binary.BigEndian.Uint16(b[11:13]))
		if len(b) < dtlsRecordHeader+size {
			return
		}
		if b[0] == dtlsHandshakeRecord && epoch == 0 {
			m.fragment(b[dtlsRecordHeader : dtlsRecordHeader+size])
		}
		b = b[dtlsRecordHeader+size:]
	}
}

func (m *certificateMessage) fragment(h []byte) {
	if len(h) < dtlsHandshakeHeader || h[0] != dtlsCertificateType {
		return
	}
	total := uint24(h[1:4])
	off, n := uint24(h[6:9]), uint24(h[9:12])
	if total > maxCertificateLength || off+n > total || len(h) < dtlsHandshakeHeader+n {
		return
	}
	if m.body == nil || len(m.body) != total {
		m.body, m.filled = make([]byte, total), make([]bool, total)
	}
	copy(m.body[off:], h[dtlsHandshakeHeader:dtlsHandshakeHeader+n])
	for i := off; i < off+n; i++ {
		m.filled[i] = true
	}
}

// verify checks the collected chain as pion does (system roots, the URL's
// host) and returns x509's error, "" when there is no whole message or no
// error.
func (m *certificateMessage) verify(serverName string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.body == nil || slices.Contains(m.filled, false) || len(m.body) < 3 {
		return ""
	}
	list := m.body[3:]
	var chain []*x509.Certificate
	for len(list) >= 3 {
		n := uint24(list)
		if len(list) < 3+n {
			return ""
		}
		c, err := x509.ParseCertificate(list[3 : 3+n])
		if err != nil {
			return "its certificate does not parse: " + err.Error()
		}
		chain = append(chain, c)
		list = list[3+n:]
	}
	if len(chain) == 0 {
		return "it sent no certificate"
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: serverName, Intermediates: inter}); err != nil {
		return err.Error()
	}
	return ""
}

func uint24(b []byte) int { return int(b[0])<<16 | int(b[1])<<8 | int(b[2]) }

// fatalAlert returns the description of the first fatal alert among the
// datagram's DTLS records in epoch 0 (before encryption), "" if none.
func fatalAlert(b []byte) string {
	for len(b) >= dtlsRecordHeader {
		epoch := binary.BigEndian.Uint16(b[3:5])
		size := int(binary.BigEndian.Uint16(b[11:13]))
		if len(b) < dtlsRecordHeader+size {
			return ""
		}
		body := b[dtlsRecordHeader : dtlsRecordHeader+size]
		if b[0] == dtlsAlertRecord && epoch == 0 {
			var a alert.Alert
			if a.Unmarshal(body) == nil && a.Level == alert.Fatal {
				return a.Description.String()
			}
		}
		b = b[dtlsRecordHeader+size:]
	}
	return ""
}

// dtlsName is the host of the turns:…?transport=udp URL on port, "" when
// none or several hosts use it.
func (w *turnWatch) dtlsName(port int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dtlsHosts[port]
}

// setDTLSHosts notes, by port, the hosts of servers' DTLS URLs: pion dials
// a resolved address, and checks the certificate for the URL's host.
func (w *turnWatch) setDTLSHosts(servers []webrtc.ICEServer) {
	hosts := map[int]string{}
	seen := map[int]bool{}
	for _, s := range servers {
		for _, raw := range s.URLs {
			u, err := stun.ParseURI(raw)
			if err != nil || u.Scheme != stun.SchemeTypeTURNS || u.Proto != stun.ProtoTypeUDP {
				continue
			}
			if seen[u.Port] && hosts[u.Port] != u.Host {
				hosts[u.Port] = ""
				continue
			}
			seen[u.Port], hosts[u.Port] = true, u.Host
		}
	}
	w.mu.Lock()
	w.dtlsHosts = hosts
	w.mu.Unlock()
}
