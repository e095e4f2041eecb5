package call

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/pion/dtls/v3/pkg/protocol/alert"
	"github.com/pion/transport/v3"
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
	return &dtlsWatchedConn{UDPConn: c, w: n.w, server: raddr.String()}, nil
}

// dtlsWatchedConn reads the plaintext DTLS records of a TURN-over-DTLS
// connection for a fatal alert: the one this peer sends says why it
// refused the server (bad_certificate when the certificate did not
// verify), the one the server sends why it refused the peer.
type dtlsWatchedConn struct {
	transport.UDPConn
	w      *turnWatch
	server string
}

func (c *dtlsWatchedConn) Write(b []byte) (int, error) {
	if a := fatalAlert(b); a != "" {
		c.w.handshakeFailed(c.server, "dtls", "this peer sent the fatal alert "+a)
	}
	return c.UDPConn.Write(b)
}

func (c *dtlsWatchedConn) Read(b []byte) (int, error) {
	n, err := c.UDPConn.Read(b)
	if n > 0 {
		if a := fatalAlert(b[:n]); a != "" {
			c.w.handshakeFailed(c.server, "dtls", "the server sent the fatal alert "+a)
		}
	}
	return n, err
}

const (
	dtlsRecordHeader = 13 // type, version, epoch, sequence number, length
	dtlsAlertRecord  = 21
)

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
