package vnet

import (
	"net"
	"sync"

	"github.com/pion/stun/v3"
)

// authWatch wraps the relay's socket and reports every 401 answered to a
// request that carried a USERNAME: the client tried credentials and they
// were wrong (unknown user or wrong password). The first, anonymous request
// of each allocation also gets a 401 (the nonce challenge) and is not a
// failure.
type authWatch struct {
	net.PacketConn
	onFailure func(username string, src net.Addr)

	mu      sync.Mutex
	pending map[[stun.TransactionIDSize]byte]string // transaction → username
}

func newAuthWatch(pc net.PacketConn, onFailure func(string, net.Addr)) *authWatch {
	return &authWatch{PacketConn: pc, onFailure: onFailure, pending: map[[stun.TransactionIDSize]byte]string{}}
}

func (w *authWatch) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := w.PacketConn.ReadFrom(p)
	if err == nil && stun.IsMessage(p[:n]) {
		m := &stun.Message{Raw: append([]byte(nil), p[:n]...)}
		if m.Decode() == nil && m.Type.Class == stun.ClassRequest {
			var u stun.Username
			if u.GetFrom(m) == nil {
				w.mu.Lock()
				if len(w.pending) > 4096 {
					clear(w.pending)
				}
				w.pending[m.TransactionID] = u.String()
				w.mu.Unlock()
			}
		}
	}
	return n, addr, err
}

func (w *authWatch) WriteTo(p []byte, addr net.Addr) (int, error) {
	if stun.IsMessage(p) {
		m := &stun.Message{Raw: append([]byte(nil), p...)}
		if m.Decode() == nil && m.Type.Class != stun.ClassRequest && m.Type.Class != stun.ClassIndication {
			w.mu.Lock()
			user, ok := w.pending[m.TransactionID]
			delete(w.pending, m.TransactionID)
			w.mu.Unlock()
			if ok && m.Type.Class == stun.ClassErrorResponse {
				var code stun.ErrorCodeAttribute
				if code.GetFrom(m) == nil && code.Code == stun.CodeUnauthorized {
					w.onFailure(user, addr)
				}
			}
		}
	}
	return w.PacketConn.WriteTo(p, addr)
}
