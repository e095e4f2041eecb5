package relay

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v3"
)

// origin is where a packet came in: the transport, and how to answer.
type origin struct {
	transport string // "udp", "tcp" (tls is tcp here) or "dtls"
	// natIdx is the socket's place in the RFC 5780 set (ipBit<<1|portBit),
	// or -1 when it is not part of one.
	natIdx int
	// turn is false on the extra RFC 5780 sockets, which serve only STUN
	// Binding.
	turn  bool
	local net.Addr
	write func(b []byte, dst net.Addr) error
	// authenticated, if set, is told of each request whose credentials
	// verified (TCP/TLS: it stops the AuthTimeout).
	authenticated func()
	// famHeld: this connection holds Server.fam for the Allocate pion is
	// handling (see family.go).
	// Atomic: pion also writes Data indications from other goroutines.
	famHeld atomic.Bool
	// hijack, on TCP/TLS connections only, hands the connection to run
	// once the current frame is handled: a ConnectionBind turns it into an
	// RFC 6062 data connection (tcpalloc.go).
	hijack func(run func(conn net.Conn, r io.Reader))
}

// knownAttrs are the comprehension-required attributes the relay
// understands in requests; any other one below 0x8000 gets 420.
var knownAttrs = map[stun.AttrType]bool{
	stun.AttrMappedAddress: true, stun.AttrChangeRequest: true, stun.AttrUsername: true,
	stun.AttrMessageIntegrity: true, stun.AttrErrorCode: true, stun.AttrUnknownAttributes: true,
	stun.AttrChannelNumber: true, stun.AttrLifetime: true, stun.AttrXORPeerAddress: true,
	stun.AttrData: true, stun.AttrRealm: true, stun.AttrNonce: true, stun.AttrXORRelayedAddress: true,
	stun.AttrRequestedAddressFamily: true, stun.AttrEvenPort: true, stun.AttrRequestedTransport: true,
	stun.AttrDontFragment: true, stun.AttrXORMappedAddress: true, stun.AttrReservationToken: true,
	stun.AttrPriority: true, stun.AttrUseCandidate: true, stun.AttrPadding: true,
	stun.AttrResponsePort: true, stun.AttrConnectionID: true,
}

// inspect looks at one inbound frame before pion does. It answers what the
// relay handles itself (Binding with RFC 5780, refused credentials with
// 401, refused peers with 403, unknown attributes with 420), drops
// malformed input, and may rewrite a request (LIFETIME clamped to
// MaxLifetime, re-signed). pass=false means pion never sees the frame;
// out, when not nil, replaces it.
func (s *Server) inspect(b []byte, src net.Addr, o *origin) (out []byte, pass bool) {
	if len(b) >= 4 && b[0]&0xC0 == 0x40 {
		// ChannelData: the hot path. Only check the length.
		if !o.turn {
			return nil, false
		}
		if int(binary.BigEndian.Uint16(b[2:4]))+4 > len(b) {
			s.ctr.bad.inc(BadTruncatedChannel)
			s.logBad(BadTruncatedChannel, src, o)
			return nil, false
		}
		return nil, true
	}
	if !stun.IsMessage(b) {
		s.ctr.bad.inc(BadNotSTUN)
		s.logBad(BadNotSTUN, src, o)
		return nil, false
	}
	m := &stun.Message{Raw: b}
	if err := m.Decode(); err != nil {
		s.ctr.bad.inc(BadMalformedSTUN)
		s.logBad(BadMalformedSTUN, src, o)
		return nil, false
	}
	// RFC 8489 section 14.7: a message whose FINGERPRINT does not match
	// is discarded, whatever else it carries.
	if m.Contains(stun.AttrFingerprint) && stun.Fingerprint.Check(m) != nil {
		s.ctr.bad.inc(BadFingerprint)
		s.logBad(BadFingerprint, src, o)
		return nil, false
	}
	switch m.Type.Class {
	case stun.ClassIndication:
		if !o.turn || m.Type.Method != stun.MethodSend {
			return nil, false
		}
		// Permissions are per IP, so a permission to the relay's own IP
		// (granted for another allocation's relayed address) must not
		// carry data to the relay's own ports.
		if rule, peer, denied := s.checkSelf(m, src, o); denied {
			s.ctr.denied.inc(rule)
			s.log.Debug("relay: send to own address dropped", "peer", peer, "client", src.String())
			return nil, false
		}
		if peer, mismatch := s.peerFamilyMismatch(m, src, o); mismatch {
			s.ctr.denied.inc(RuleFamily)
			s.log.Debug("relay: send to a peer of the other family dropped", "peer", peer, "client", src.String())
			return nil, false
		}
		return nil, true
	case stun.ClassRequest:
	default:
		s.ctr.bad.inc(BadUnexpectedClass)
		return nil, false
	}
	var unknown stun.UnknownAttributes
	for _, a := range m.Attributes {
		if a.Type < 0x8000 && !knownAttrs[a.Type] {
			unknown = append(unknown, a.Type)
		}
	}
	if len(unknown) > 0 {
		s.ctr.bad.inc(BadUnknownAttribute)
		s.replyError(m, src, o, stun.CodeUnknownAttribute, nil, unknown)
		return nil, false
	}
	if m.Type.Method == stun.MethodBinding {
		s.handleBinding(m, src, o)
		return nil, false
	}
	if !o.turn {
		return nil, false
	}
	switch m.Type.Method {
	case stun.MethodAllocate, stun.MethodRefresh, stun.MethodCreatePermission, stun.MethodChannelBind:
	default:
		if takesTCP(m.Type.Method) {
			break // RFC 6062, served by natkit (tcpalloc.go)
		}
		return nil, true // pion answers unknown methods
	}
	if !m.Contains(stun.AttrMessageIntegrity) {
		if takesTCP(m.Type.Method) { // pion does not know these methods
			s.replyError(m, src, o, stun.CodeUnauthorized, nil, nil,
				stun.NewRealm(s.cfg.Realm), stun.NewNonce(s.nonces.mint(nonceTuple(o.transport, src, o.local))))
			return nil, false
		}
		return nil, true // pion sends 401 with REALM and NONCE
	}
	var user stun.Username
	var realm stun.Realm
	var nonce stun.Nonce
	if user.GetFrom(m) != nil || realm.GetFrom(m) != nil || nonce.GetFrom(m) != nil {
		if takesTCP(m.Type.Method) {
			s.replyError(m, src, o, stun.CodeBadRequest, nil, nil)
			return nil, false
		}
		return nil, true // pion sends 400
	}
	key, reason := s.verify(m, user.String(), realm.String())
	if key == nil {
		s.ctr.authFailures.inc(reason)
		if m.Type.Method == stun.MethodAllocate {
			s.ctr.allocations.inc(OutcomeUnauthorized)
		}
		s.log.Info("relay: refused credentials", "reason", reason, "user", user.String(),
			"client", src.String(), "transport", o.transport, "method", m.Type.Method.String())
		if s.cfg.OnAuthFailure != nil {
			s.cfg.OnAuthFailure(AuthFailure{User: user.String(), Client: src, Reason: reason,
				Transport: string(o.transport), Method: m.Type.Method.String()})
		}
		s.replyError(m, src, o, stun.CodeUnauthorized, nil, nil,
			stun.NewRealm(s.cfg.Realm), stun.NewNonce(s.nonces.mint(nonceTuple(o.transport, src, o.local))))
		return nil, false
	}
	// The credentials are right; the nonce must be one the relay gave
	// this very 5-tuple, lately. A request replayed from elsewhere, or
	// signed with an old nonce, gets 438 and a fresh nonce.
	tuple := nonceTuple(o.transport, src, o.local)
	if !s.nonces.valid(nonce.String(), tuple) && !s.tcp.bindNonce(m, nonce.String()) {
		s.ctr.staleNonces.Add(1)
		s.log.Debug("relay: stale or foreign nonce", "user", user.String(), "client", src.String(),
			"transport", o.transport, "method", m.Type.Method.String())
		s.replyError(m, src, o, stun.CodeStaleNonce, nil, nil,
			stun.NewRealm(s.cfg.Realm), stun.NewNonce(s.nonces.mint(tuple)))
		return nil, false
	}
	if o.authenticated != nil {
		o.authenticated()
	}
	if s.tcp.handle(m, src, o, key, user.String()) {
		return nil, false
	}
	// pion checks its own nonce: give it back the latest it issued (its
	// nonces are valid from any 5-tuple), re-signed with the user's key.
	replace := map[stun.AttrType][]byte{}
	if pn, ok := s.nonces.pionNonce(); ok {
		replace[stun.AttrNonce] = pn
	}
	switch m.Type.Method {
	case stun.MethodCreatePermission, stun.MethodChannelBind:
		if peer, mismatch := s.peerFamilyMismatch(m, src, o); mismatch {
			s.ctr.denied.inc(RuleFamily)
			s.log.Info("relay: peer refused", "rule", RuleFamily, "peer", peer, "user", user.String(),
				"client", src.String(), "method", m.Type.Method.String())
			s.replyError(m, src, o, stun.CodePeerAddrFamilyMismatch, key, nil)
			return nil, false
		}
		if rule, peer, denied := s.checkPeers(m, src, o); denied {
			s.ctr.denied.inc(rule)
			s.log.Info("relay: peer refused", "rule", rule, "peer", peer, "user", user.String(),
				"client", src.String(), "method", m.Type.Method.String())
			s.replyError(m, src, o, stun.CodeForbidden, key, nil)
			return nil, false
		}
	case stun.MethodAllocate, stun.MethodRefresh:
		value, lifetime := s.clampLifetime(m)
		if value != nil {
			replace[stun.AttrLifetime] = value
		}
		if m.Type.Method == stun.MethodAllocate {
			if !s.requestFamily(m, src, o, key) {
				return nil, false
			}
			s.noteLifetime(fiveTupleKey(src, o.local), lifetime)
		}
	}
	if len(replace) == 0 {
		return nil, true
	}
	out, err := rebuild(m, key, replace)
	if err != nil {
		return nil, true
	}
	return out, true
}

func fiveTupleKey(src, dst net.Addr) string { return src.String() + "|" + dst.String() }

// verify checks MESSAGE-INTEGRITY against every key the username may use,
// and returns the one that matches.
func (s *Server) verify(m *stun.Message, user, realm string) ([]byte, string) {
	keys, reason := s.auth.keys(user, realm)
	if reason != "" {
		return nil, reason
	}
	for _, k := range keys {
		if stun.MessageIntegrity(k).Check(m) == nil {
			s.auth.remember(user, k)
			return k, ""
		}
	}
	return nil, ReasonWrongPassword
}

// checkPeers applies the peer policy, and refuses the relay's own
// addresses, for every XOR-PEER-ADDRESS.
func (s *Server) checkPeers(m *stun.Message, src net.Addr, o *origin) (rule, peer string, denied bool) {
	for _, a := range m.Attributes {
		if a.Type != stun.AttrXORPeerAddress {
			continue
		}
		ip, port, ok := decodeXORAddr(a.Value, m.TransactionID)
		if !ok {
			return RuleInvalid, "malformed XOR-PEER-ADDRESS", true
		}
		if ok, rule := s.cfg.PeerPolicy.Check(ip.AsSlice()); !ok {
			return rule, ip.String(), true
		}
		if s.self.isSelf(ip, port, func() string { return fiveTupleKey(src, o.local) }) {
			return RuleSelf, netip.AddrPortFrom(ip, port).String(), true
		}
	}
	return "", "", false
}

// checkSelf refuses a Send indication toward the relay's own addresses.
func (s *Server) checkSelf(m *stun.Message, src net.Addr, o *origin) (rule, peer string, denied bool) {
	v, err := m.Get(stun.AttrXORPeerAddress)
	if err != nil {
		return "", "", false // pion drops it
	}
	ip, port, ok := decodeXORAddr(v, m.TransactionID)
	if ok && s.self.isSelf(ip, port, func() string { return fiveTupleKey(src, o.local) }) {
		return RuleSelf, netip.AddrPortFrom(ip, port).String(), true
	}
	return "", "", false
}

func decodeXORAddr(v []byte, tid [stun.TransactionIDSize]byte) (netip.Addr, uint16, bool) {
	if len(v) < 8 {
		return netip.Addr{}, 0, false
	}
	var xor [16]byte
	binary.BigEndian.PutUint32(xor[0:4], magicCookie)
	copy(xor[4:], tid[:])
	port := binary.BigEndian.Uint16(v[2:4]) ^ uint16(magicCookie>>16)
	switch {
	case v[1] == 0x01 && len(v) == 8:
		var b [4]byte
		for i := range b {
			b[i] = v[4+i] ^ xor[i]
		}
		return netip.AddrFrom4(b), port, true
	case v[1] == 0x02 && len(v) == 20:
		var b [16]byte
		for i := range b {
			b[i] = v[4+i] ^ xor[i]
		}
		return netip.AddrFrom16(b), port, true
	}
	return netip.Addr{}, 0, false
}

// defaultLifetime is what pion grants when a request carries no LIFETIME.
const defaultLifetime = 10 * time.Minute

// clampLifetime caps LIFETIME at MaxLifetime (and below pion's one-hour
// cut-off). It returns the granted lifetime, and the LIFETIME value to put
// in the request when it differs from what the client asked for.
func (s *Server) clampLifetime(m *stun.Message) ([]byte, time.Duration) {
	requested := defaultLifetime
	has := false
	if a, err := m.Get(stun.AttrLifetime); err == nil && len(a) == 4 {
		requested = time.Duration(binary.BigEndian.Uint32(a)) * time.Second
		has = true
	}
	if has && requested == 0 {
		return nil, 0 // Refresh with 0 deletes the allocation
	}
	want := requested
	if has && want >= time.Hour {
		want = maxPionLifetime // pion would fall back to 10 minutes
	}
	want = min(want, s.cfg.MaxLifetime, maxPionLifetime)
	if want == requested {
		return nil, requested
	}
	var lt [4]byte
	binary.BigEndian.PutUint32(lt[:], uint32(want/time.Second))
	return lt[:], want
}

type rawAttr stun.RawAttribute

func (r rawAttr) AddTo(m *stun.Message) error {
	m.Add(r.Type, r.Value)
	return nil
}

// replyError answers m with an error code, signed with key when not nil.
func (s *Server) replyError(m *stun.Message, src net.Addr, o *origin, code stun.ErrorCode, key []byte,
	unknown stun.UnknownAttributes, extra ...stun.Setter,
) {
	setters := []stun.Setter{
		stun.NewTransactionIDSetter(m.TransactionID),
		stun.NewType(m.Type.Method, stun.ClassErrorResponse),
		code,
	}
	if len(unknown) > 0 {
		setters = append(setters, unknown)
	}
	setters = append(setters, extra...)
	resp, err := signAndBuild(setters, key, m.Contains(stun.AttrFingerprint))
	if err != nil {
		return
	}
	_ = o.write(resp, src)
}

func (s *Server) logBad(reason string, src net.Addr, o *origin) {
	s.log.Debug("relay: dropped bad packet", "reason", reason, "client", src.String(), "transport", o.transport)
}

// magicCookie is STUN's fixed header value (RFC 8489 section 5).
const magicCookie = 0x2112A442
