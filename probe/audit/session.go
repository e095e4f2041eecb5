package audit

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v3"
)

// ledger counts every packet the audit sends, so the report states
// exactly what was sent and where.
type ledger struct {
	mu      sync.Mutex
	packets int
	bytes   int
	to      map[string]int
}

func (l *ledger) add(dest string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.to == nil {
		l.to = map[string]int{}
	}
	l.packets++
	l.bytes += n
	l.to[dest]++
}

// session is one 5-tuple to the server with the long-term credential
// state of RFC 8489 §9.2: realm and nonce learnt from a 401 or 438.
type session struct {
	a      *auditor
	w      wire
	user   string
	pass   string
	realm  string
	nonce  string
	queued [][]byte // indications and ChannelData read while waiting for an answer
	// lastSigned is the raw bytes of the last signed request, for the
	// replay check.
	lastSigned []byte
}

func (a *auditor) newSession(ctx context.Context, user, pass string) (*session, error) {
	w, err := a.dial(ctx)
	if err != nil {
		return nil, err
	}
	return &session{a: a, w: w, user: user, pass: pass}, nil
}

func (s *session) Close() error { return s.w.Close() }

// build makes a request of method. signed adds USERNAME, REALM, NONCE,
// MESSAGE-INTEGRITY and FINGERPRINT (RFC 8489 long-term credentials).
func (s *session) build(method stun.Method, signed bool, attrs ...stun.Setter) (*stun.Message, error) {
	setters := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
	setters = append(setters, attrs...)
	if signed {
		setters = append(setters, stun.NewUsername(s.user), stun.NewRealm(s.realm), stun.NewNonce(s.nonce),
			stun.NewLongTermIntegrity(s.user, s.realm, s.pass), stun.Fingerprint)
	}
	return stun.Build(setters...)
}

// send writes raw bytes and counts them.
func (s *session) send(raw []byte) error {
	s.a.sent.add(s.a.cfg.Server.Address(), len(raw))
	return s.w.write(raw)
}

// roundTrip sends raw and waits for the answer with its transaction ID,
// retransmitting over UDP (500 ms, then doubling) until Timeout.
func (s *session) roundTrip(ctx context.Context, raw []byte, tx [stun.TransactionIDSize]byte) (answer, error) {
	deadline := time.Now().Add(s.a.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	rto := 500 * time.Millisecond
	next := time.Now()
	for {
		if ctx.Err() != nil {
			return answer{}, ctx.Err()
		}
		now := time.Now()
		if !now.Before(deadline) {
			return answer{}, fmt.Errorf("%w in %s", ErrNoAnswer, s.a.cfg.Timeout)
		}
		if !now.Before(next) {
			if err := s.send(raw); err != nil {
				return answer{}, fmt.Errorf("%w: send to %s: %w", ErrUnreachable, s.a.cfg.Server.Address(), err)
			}
			if !s.w.datagram() {
				next = deadline
			} else {
				next = now.Add(rto)
				rto *= 2
			}
		}
		wait := next
		if deadline.Before(wait) {
			wait = deadline
		}
		frame, err := s.w.read(wait)
		if err != nil {
			if isTimeout(err) {
				continue
			}
			return answer{}, fmt.Errorf("%w: read from %s: %w", ErrUnreachable, s.a.cfg.Server.Address(), err)
		}
		if !stun.IsMessage(frame) {
			s.queued = append(s.queued, frame)
			continue
		}
		an, err := parseAnswer(frame)
		if err != nil {
			s.a.cfg.Logger.Debug("audit: unparseable answer", "err", err)
			continue
		}
		if an.Type.Class == stun.ClassIndication {
			s.queued = append(s.queued, frame)
			continue
		}
		if an.TxID != tx {
			continue
		}
		return an, nil
	}
}

// request builds, sends and waits: one transaction.
func (s *session) request(ctx context.Context, method stun.Method, signed bool, attrs ...stun.Setter) (answer, *stun.Message, error) {
	m, err := s.build(method, signed, attrs...)
	if err != nil {
		return answer{}, nil, err
	}
	if signed {
		s.lastSigned = append([]byte(nil), m.Raw...)
	}
	an, err := s.roundTrip(ctx, m.Raw, m.TransactionID)
	return an, m, err
}

// do runs an authenticated transaction: it learns realm and nonce from a
// first 401 when it has none, and follows one 438 Stale Nonce.
func (s *session) do(ctx context.Context, method stun.Method, attrs ...stun.Setter) (answer, error) {
	for range 3 {
		if s.nonce == "" {
			an, _, err := s.request(ctx, method, false, attrs...)
			if err != nil || an.Code != 401 || an.Nonce == "" {
				return an, err
			}
			s.realm, s.nonce = an.Realm, an.Nonce
		}
		an, _, err := s.request(ctx, method, true, attrs...)
		if err != nil {
			return an, err
		}
		if an.Code == 438 && an.Nonce != "" {
			s.nonce = an.Nonce
			if an.Realm != "" {
				s.realm = an.Realm
			}
			continue
		}
		return an, nil
	}
	return answer{}, fmt.Errorf("%s: stale nonce three times in a row", method)
}

// allocate asks for a UDP allocation with lifetime (0: the server's
// default).
func (s *session) allocate(ctx context.Context, lifetime time.Duration) (answer, error) {
	attrs := []stun.Setter{requestedTransportUDP}
	if lifetime > 0 {
		attrs = append(attrs, lifetimeAttr(lifetime))
	}
	return s.do(ctx, stun.MethodAllocate, attrs...)
}

// release deletes the session's allocation (Refresh with LIFETIME 0).
func (s *session) release(ctx context.Context) error {
	an, err := s.do(ctx, stun.MethodRefresh, lifetimeAttr(0))
	if err != nil {
		return err
	}
	if !an.success() {
		return &AnswerError{Request: "Refresh", Code: an.Code, Reason: an.Reason}
	}
	return nil
}

// sendIndication relays data to peer through the allocation.
func (s *session) sendIndication(peer netip.AddrPort, data []byte) error {
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
		peerAddr(peer), stun.RawAttribute{Type: stun.AttrData, Value: data}, stun.Fingerprint)
	if err != nil {
		return err
	}
	return s.send(m.Raw)
}

// waitData waits up to d for a Data indication from peer and returns its
// payload.
func (s *session) waitData(ctx context.Context, peer netip.AddrPort, d time.Duration) ([]byte, bool) {
	deadline := time.Now().Add(d)
	for {
		for len(s.queued) > 0 {
			frame := s.queued[0]
			s.queued = s.queued[1:]
			an, err := parseAnswer(frame)
			if err == nil && an.Type == stun.NewType(stun.MethodData, stun.ClassIndication) && an.Peer.Addr().Unmap() == peer.Addr().Unmap() && an.Peer.Port() == peer.Port() {
				return an.Data, true
			}
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return nil, false
		}
		frame, err := s.w.read(deadline)
		if err != nil {
			if isTimeout(err) {
				return nil, false
			}
			return nil, false
		}
		s.queued = append(s.queued, frame)
	}
}
