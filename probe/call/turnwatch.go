package call

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/transport/v3"
)

// TURNError is an error response from a TURN server to one of a peer's
// requests, as the peer's sockets saw it.
type TURNError struct {
	// Side is the peer whose TURN client it was.
	Side string `json:"side,omitempty"`
	// Server is the TURN server's address.
	Server string `json:"server"`
	// Method is the STUN method answered, e.g. "CreatePermission".
	Method string `json:"method"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
	// PeerAddr is the peer address a CreatePermission or ChannelBind asked
	// for, when there was one.
	PeerAddr string `json:"peer_address,omitempty"`
}

func (e TURNError) String() string {
	s := fmt.Sprintf("%s %d %s from %s", e.Method, e.Code, e.Reason, e.Server)
	if e.PeerAddr != "" {
		s += " for peer " + e.PeerAddr
	}
	return s
}

// refusesCredentials: a 401 to a request that carried MESSAGE-INTEGRITY
// (the first, unauthenticated one's 401 is the challenge and not kept), or
// a 441 Wrong Credentials.
func (e TURNError) refusesCredentials() bool {
	return e.Code == int(stun.CodeUnauthorized) || e.Code == int(stun.CodeWrongCredentials)
}

// refusesPeer: a 403 to a request for a peer address is the relay's peer
// policy at work (RFC 8656 §9.1).
func (e TURNError) refusesPeer() bool {
	return e.Code == int(stun.CodeForbidden) && (e.Method == stun.MethodCreatePermission.String() || e.Method == stun.MethodChannelBind.String())
}

// refusedSettle is how long a relay-only peer keeps checking after its
// first refused permission before it gives up, when no permission was
// granted: pion checks every pair every 200ms, so by then it has asked for
// every peer address it knows.
const refusedSettle = time.Second

// turnWatch reads the STUN traffic on the sockets pion's TURN clients use
// and keeps the servers' error responses, so that a call that fails
// because the relay refused it says so instead of "ICE failed".
//
// It wraps transport.Net rather than reading pion's logs: the log lines
// are free text that may change between versions and are off by default,
// while the STUN messages on the wire are a protocol. Only ListenPacket is
// watched: that is how pion's ICE agent opens its TURN-over-UDP sockets;
// TURN over TCP or TLS frames STUN inside a stream and is not watched.
type turnWatch struct {
	peer      string
	tl        *Timeline
	relayOnly bool

	mu        sync.Mutex
	pending   map[[stun.TransactionIDSize]byte]turnRequest
	errs      []TURNError
	seen      map[TURNError]bool
	permitted int
	// handshakes are the failed TLS/DTLS handshakes with TURN servers.
	handshakes []TURNHandshakeError
	// dtlsHosts are the hosts of the DTLS URLs by port.
	dtlsHosts map[int]string
	timer     *time.Timer
	refused   chan struct{} // closed when a relay-only peer can no longer connect
	once      sync.Once
}

type turnRequest struct {
	method stun.Method
	peer   string
	// auth: the request carried MESSAGE-INTEGRITY. A 401 to a request
	// without it is the normal challenge, not a failure.
	auth bool
}

func newTURNWatch(peer string, tl *Timeline, relayOnly bool) *turnWatch {
	return &turnWatch{
		peer: peer, tl: tl, relayOnly: relayOnly,
		pending: map[[stun.TransactionIDSize]byte]turnRequest{}, seen: map[TURNError]bool{},
		refused: make(chan struct{}),
	}
}

// maxPendingTURN bounds the requests waiting for an answer; pion has a
// handful in flight at a time.
const maxPendingTURN = 1024

func (w *turnWatch) sent(b []byte) {
	if !stun.IsMessage(b) {
		return
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil || m.Type.Class != stun.ClassRequest {
		return
	}
	req := turnRequest{method: m.Type.Method, auth: m.Contains(stun.AttrMessageIntegrity)}
	var xa stun.XORMappedAddress
	if xa.GetFromAs(m, stun.AttrXORPeerAddress) == nil {
		req.peer = xa.String()
	}
	w.mu.Lock()
	if len(w.pending) < maxPendingTURN {
		w.pending[m.TransactionID] = req
	}
	w.mu.Unlock()
}

func (w *turnWatch) received(b []byte, from net.Addr) {
	if !stun.IsMessage(b) {
		return
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil || (m.Type.Class != stun.ClassErrorResponse && m.Type.Class != stun.ClassSuccessResponse) {
		return
	}
	w.mu.Lock()
	req, ok := w.pending[m.TransactionID]
	delete(w.pending, m.TransactionID)
	w.mu.Unlock()
	if !ok {
		return
	}
	if m.Type.Class == stun.ClassSuccessResponse {
		if req.method == stun.MethodCreatePermission || req.method == stun.MethodChannelBind {
			w.mu.Lock()
			w.permitted++
			w.mu.Unlock()
		}
		return
	}
	var ec stun.ErrorCodeAttribute
	if ec.GetFrom(m) != nil {
		return
	}
	// 401 to an unauthenticated request is the challenge; 438 asks to
	// retry with a fresh nonce. Both are the protocol working.
	if (ec.Code == stun.CodeUnauthorized && !req.auth) || ec.Code == stun.CodeStaleNonce {
		return
	}
	e := TURNError{Side: w.peer, Server: from.String(), Method: req.method.String(), Code: int(ec.Code), Reason: string(ec.Reason), PeerAddr: req.peer}
	w.mu.Lock()
	first := !w.seen[e]
	w.seen[e] = true
	if first {
		w.errs = append(w.errs, e)
	}
	if e.refusesPeer() && w.relayOnly && w.timer == nil {
		w.timer = time.AfterFunc(refusedSettle, w.settle)
	}
	w.mu.Unlock()
	if first {
		w.tl.Record(Event{Peer: w.peer, Kind: EvTURNError, Detail: e.String(), TURN: &e})
	}
}

// settle gives up for a relay-only peer whose relay refused a peer
// address and granted none: every pair it has goes through that relay.
func (w *turnWatch) settle() {
	w.mu.Lock()
	none := w.permitted == 0
	w.mu.Unlock()
	if none {
		w.once.Do(func() { close(w.refused) })
	}
}

func (w *turnWatch) stop() {
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
}

// errors returns the distinct error responses seen, and how many
// permissions were granted.
func (w *turnWatch) result() ([]TURNError, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]TURNError(nil), w.errs...), w.permitted
}

// watchedNet is a transport.Net whose packet sockets report their STUN
// traffic to a turnWatch.
type watchedNet struct {
	transport.Net
	w *turnWatch
}

func (n *watchedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return &watchedConn{PacketConn: c, w: n.w}, nil
}

type watchedConn struct {
	net.PacketConn
	w *turnWatch
}

func (c *watchedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	if n > 0 && addr != nil {
		c.w.received(b[:n], addr)
	}
	return n, addr, err
}

func (c *watchedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.w.sent(b)
	return c.PacketConn.WriteTo(b, addr)
}
