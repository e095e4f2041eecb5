package relay

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v3"
)

// nonceBook issues the relay's nonces and checks them. pion's nonces are
// a stateless HMAC valid for an hour from any 5-tuple, so an Allocate
// replayed byte for byte from elsewhere got its own allocation. The relay
// therefore replaces every NONCE pion sends with one bound to the
// client's 5-tuple and to a lifetime, checks it on every authenticated
// request (438 Stale Nonce otherwise, as coturn answers), and hands pion
// back the latest nonce pion issued, re-signing the request.
type nonceBook struct {
	key      [32]byte
	lifetime time.Duration
	now      func() time.Time // a seam for tests
	pion     atomic.Pointer[string]
}

// nonceMACSize is how much of the HMAC a nonce carries: 128 bits.
const nonceMACSize = 16

func newNonceBook(lifetime time.Duration) (*nonceBook, error) {
	b := &nonceBook{lifetime: lifetime, now: time.Now}
	if _, err := rand.Read(b.key[:]); err != nil {
		return nil, fmt.Errorf("relay: nonce key: %w", err)
	}
	return b, nil
}

// tuple names a client's 5-tuple for nonce binding; the transport keeps a
// UDP and a TCP client on the same ports apart.
func nonceTuple(transport string, src, local net.Addr) string {
	return transport + " " + fiveTupleKey(src, local)
}

func (b *nonceBook) mac(issued uint64, tuple string) []byte {
	h := hmac.New(sha256.New, b.key[:])
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], issued)
	h.Write(ts[:])
	h.Write([]byte(tuple))
	return h.Sum(nil)[:nonceMACSize]
}

// mint returns a fresh nonce for tuple: hex(issued unix seconds ‖ MAC).
func (b *nonceBook) mint(tuple string) string {
	issued := uint64(b.now().Unix()) //nolint:gosec // a clock after 1970
	raw := make([]byte, 8, 8+nonceMACSize)
	binary.BigEndian.PutUint64(raw, issued)
	return hex.EncodeToString(append(raw, b.mac(issued, tuple)...))
}

// valid reports whether nonce was minted for tuple within the lifetime.
func (b *nonceBook) valid(nonce, tuple string) bool {
	raw, err := hex.DecodeString(nonce)
	if err != nil || len(raw) != 8+nonceMACSize {
		return false
	}
	issued := binary.BigEndian.Uint64(raw[:8])
	age := b.now().Sub(time.Unix(int64(issued), 0)) //nolint:gosec // checked below
	if issued > 1<<62 || age < -time.Minute || age > b.lifetime {
		return false
	}
	return hmac.Equal(raw[8:], b.mac(issued, tuple))
}

// isNonceChallenge reports, from the header only, whether b is a STUN
// error response: the only kind that carries pion's NONCE. It is on the
// path of every frame pion sends, so it reads two bytes.
func isNonceChallenge(b []byte) bool {
	return len(b) >= 20 && b[0]&0xC0 == 0 && b[0]&0x01 != 0 && b[1]&0x10 != 0
}

// rebind rewrites an error response from pion toward tuple: its NONCE
// becomes the relay's, and pion's is kept to hand back to pion. Responses
// it cannot rewrite (no NONCE, signed) are returned as they are.
func (b *nonceBook) rebind(resp []byte, tuple string) []byte {
	m := &stun.Message{Raw: resp}
	if m.Decode() != nil || m.Contains(stun.AttrMessageIntegrity) {
		return resp
	}
	v, err := m.Get(stun.AttrNonce)
	if err != nil {
		return resp
	}
	pion := string(v)
	b.pion.Store(&pion)
	out, err := rebuild(m, nil, map[stun.AttrType][]byte{stun.AttrNonce: []byte(b.mint(tuple))})
	if err != nil {
		return resp
	}
	return out
}

// pionNonce returns the latest nonce pion issued, if any.
func (b *nonceBook) pionNonce() ([]byte, bool) {
	p := b.pion.Load()
	if p == nil {
		return nil, false
	}
	return []byte(*p), true
}

// rebuild re-encodes m with some attribute values replaced, and signs it
// with key when key is not nil (MESSAGE-INTEGRITY and FINGERPRINT are
// recomputed, FINGERPRINT only if m had one).
func rebuild(m *stun.Message, key []byte, replace map[stun.AttrType][]byte) ([]byte, error) {
	setters := []stun.Setter{stun.NewTransactionIDSetter(m.TransactionID), m.Type}
	for _, a := range m.Attributes {
		switch a.Type {
		case stun.AttrMessageIntegrity, stun.AttrFingerprint:
			continue
		}
		if v, ok := replace[a.Type]; ok {
			a.Value = v
			delete(replace, a.Type)
		}
		setters = append(setters, rawAttr(a))
	}
	for t, v := range replace { // attributes m did not have
		setters = append(setters, rawAttr{Type: t, Value: v})
	}
	return signAndBuild(setters, key, m.Contains(stun.AttrFingerprint))
}

// signAndBuild ends a message with MESSAGE-INTEGRITY (when key is not nil)
// and FINGERPRINT (when fingerprint), in that order, and encodes it.
func signAndBuild(setters []stun.Setter, key []byte, fingerprint bool) ([]byte, error) {
	if key != nil {
		setters = append(setters, stun.MessageIntegrity(key))
	}
	if fingerprint {
		setters = append(setters, stun.Fingerprint)
	}
	m, err := stun.Build(setters...)
	if err != nil {
		return nil, err
	}
	return m.Raw, nil
}
