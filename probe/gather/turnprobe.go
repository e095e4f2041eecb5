package gather

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"

	"github.com/natkit/natkit/internal/turnconn"
	"github.com/natkit/natkit/probe/iceconfig"
)

// turnProbe is one direct Allocate through pion/turn's client.
type turnProbe struct {
	g      *gatherer
	s      iceconfig.Server
	r      *ServerResult
	addr   net.Addr
	client *turn.Client
	pc     net.PacketConn
	udp    *connectedPacketConn
	// parent is Run's context: the Allocate's own context has expired by
	// the time a no-answer verdict is made.
	parent context.Context
	// askIPv6 adds REQUESTED-ADDRESS-FAMILY IPv6 to the Allocates.
	askIPv6 bool
	// askDual adds ADDITIONAL-ADDRESS-FAMILY IPv6 (dual allocation).
	askDual bool
}

type txResult struct {
	msg     *stun.Message
	retries int
	rtt     time.Duration
	err     error
}

// do runs one transaction, bounded by ctx: on cancellation the client is
// closed, which fails the transaction.
func (t *turnProbe) do(ctx context.Context, m *stun.Message) txResult {
	ch := make(chan txResult, 1)
	start := time.Now()
	go func() {
		res, err := t.client.PerformTransaction(m, t.addr, false)
		ch <- txResult{msg: res.Msg, retries: res.Retries, rtt: time.Since(start), err: err}
	}()
	var refused <-chan struct{}
	if t.udp != nil {
		refused = t.udp.Refused()
	}
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		t.client.Close()
		r := <-ch
		r.err = ctx.Err()
		return r
	case <-refused:
		t.client.Close()
		r := <-ch
		r.err = errRefused
		return r
	}
}

var errRefused = errors.New("port unreachable")

// requests estimates how many requests pion's client sent in d: it doubles
// its RTO after each and sends at most 7.
func requests(rto, d time.Duration) int {
	n, at := 1, rto
	for n < 7 && at <= d {
		n++
		rto *= 2
		at += rto
	}
	return n
}

func (g *gatherer) probeTURN(ctx context.Context, s iceconfig.Server, r *ServerResult) {
	(&turnProbe{g: g, s: s, r: r, parent: ctx, askDual: g.cfg.Dual}).run(ctx)
}

// run opens the connection and allocates.
func (t *turnProbe) run(ctx context.Context) {
	g, s, r := t.g, t.s, t.r
	if !t.open(ctx) {
		return
	}
	defer t.pc.Close()
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: s.Address(),
		Conn:           t.pc,
		Username:       s.Username,
		Password:       s.Credential,
		Net:            &familyNet{Net: g.cfg.Net}, // pion resolves the server with "udp4"
		LoggerFactory:  g.pionLogs,
		RTO:            g.cfg.TURNRTO,
	})
	if err != nil {
		r.Cause, r.Diagnosis = CauseNetwork, fmt.Sprintf("turn client for %s: %v", s.Address(), err)
		return
	}
	t.client = client
	defer client.Close()
	t.addr = client.TURNServerAddr()
	if err := client.Listen(); err != nil {
		r.Cause, r.Diagnosis = CauseNetwork, fmt.Sprintf("turn client for %s: %v", s.Address(), err)
		return
	}
	t.allocate(ctx)
}

// open connects to the server over the URL's transport (turnconn: udp,
// tcp, tls, or dtls for turns:…?transport=udp).
func (t *turnProbe) open(ctx context.Context) bool {
	g, s, r := t.g, t.s, t.r
	var addr string
	if s.Transport == iceconfig.TransportUDP {
		ua, err := g.resolveUDP(s)
		if err != nil {
			dnsDiagnosis(r, s, err)
			return false
		}
		r.Family, addr = familyOfIP(ua.IP), ua.String()
	} else {
		ta, err := g.cfg.Net.ResolveTCPAddr("tcp", s.Address())
		if err != nil {
			dnsDiagnosis(r, s, err)
			return false
		}
		r.Family, addr = familyOfIP(ta.IP), ta.String()
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if g.cfg.TLSConfig != nil {
		tc = g.cfg.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = s.Host
	}
	network := turnconn.NetworkOf(s)
	conn, err := turnconn.Dial(ctx, turnconn.Config{Net: g.cfg.Net, Network: network, Addr: addr, TLS: tc, Timeout: g.cfg.Timeout})
	if err != nil {
		t.dialFailure(ctx, network, tc.ServerName, err)
		return false
	}
	if network == turnconn.UDP {
		t.udp = newConnectedPacketConn(conn)
		t.pc = t.udp
		return true
	}
	t.pc = conn.PacketConn()
	return true
}

// dialFailure words a failed connect or TLS/DTLS handshake.
func (t *turnProbe) dialFailure(ctx context.Context, network, serverName string, err error) {
	s, r := t.s, t.r
	var de *turnconn.DialError
	if !errors.As(err, &de) {
		r.Cause, r.Diagnosis = CauseNetwork, fmt.Sprintf("connect to %s: %v", s.Address(), err)
		return
	}
	if !de.Handshake {
		switch {
		case network == turnconn.UDP || network == turnconn.DTLS:
			r.Cause, r.Diagnosis = CauseNetwork, fmt.Sprintf("cannot open a udp socket to %s: %v", s.Address(), de.Err)
		case isRefused(de.Err):
			r.Cause = CauseConnRefused
			r.Diagnosis = fmt.Sprintf("TCP connection refused: nothing listens on %s/tcp; the server may not offer TURN over %s on that port", s.Address(), map[bool]string{true: "TLS", false: "TCP"}[network == turnconn.TLS])
		case ctx.Err() == nil && isTimeout(de.Err):
			r.Cause = CauseNoAnswer
			r.Diagnosis = fmt.Sprintf("TCP connect to %s timed out after %s: a firewall drops it or the host is down", s.Address(), t.g.cfg.Timeout)
		case ctx.Err() != nil:
			r.Cause, r.Diagnosis = CauseNoAnswer, fmt.Sprintf("TCP connect to %s did not complete within %s", s.Address(), t.g.cfg.Timeout)
		default:
			r.Cause, r.Diagnosis = CauseNetwork, fmt.Sprintf("TCP connect to %s: %v", s.Address(), de.Err)
		}
		return
	}
	proto, failed, notSecure := "TLS", CauseTLS, CauseNotTLS
	if network == turnconn.DTLS {
		proto, failed, notSecure = "DTLS", CauseDTLS, CauseNotDTLS
	}
	problem := turnconn.Classify(de.Err)
	if network == turnconn.DTLS && problem == turnconn.ProblemRefused {
		r.Cause = CauseUnreachable
		r.Diagnosis = portUnreachable("TURN over DTLS", s.Address())
		return
	}
	// A plain TURN port may reset or close the connection on the
	// ClientHello, or (TCP: wait for the rest of a STUN message; UDP:
	// drop the record) until the handshake times out.
	if ctx.Err() == nil && (problem == turnconn.ProblemNotSecure || problem == turnconn.ProblemTimeout) {
		if plain := t.speaksPlainSTUN(ctx, network); plain || problem == turnconn.ProblemNotSecure {
			r.Cause = notSecure
			r.Diagnosis = t.notSecureDiagnosis(network, de.Err, plain)
			return
		}
	}
	r.Cause = failed
	r.Diagnosis = proto + " handshake failure with " + s.Address() + ": " + turnconn.Describe(de.Err, proto, serverName)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

// notSecureDiagnosis says that a turns: port is not TLS (or DTLS) at all;
// plainSTUN (a Binding answered over a fresh plain connection of the
// same transport) means the URL should have been a plain turn: one.
func (t *turnProbe) notSecureDiagnosis(network string, herr error, plainSTUN bool) string {
	s := t.s
	proto, plainTransport, port := "TLS", iceconfig.TransportTCP, "usually 5349"
	if network == turnconn.DTLS {
		proto, plainTransport, port = "DTLS", iceconfig.TransportUDP, "coturn serves DTLS on its tls-listening-port, usually 5349"
	}
	head := fmt.Sprintf("not %s at all: %s did not answer the %s handshake with %s (%s)", proto, s.Address(), proto, proto, t.handshakeSymptom(herr))
	if plainSTUN {
		plain := s
		plain.Scheme, plain.Transport, plain.ExplicitTransport = iceconfig.SchemeTURN, plainTransport, true
		return head + fmt.Sprintf("; it answers plain STUN over %s, so this is a plain TURN port: use %s, or the server's %s port (%s) for turns:", strings.ToUpper(string(plainTransport)), plain.URL(), proto, port)
	}
	return head + fmt.Sprintf("; check the port: turns: needs the server's %s listener (%s)", proto, port)
}

func (t *turnProbe) handshakeSymptom(err error) string {
	var rh tls.RecordHeaderError
	switch {
	case errors.As(err, &rh):
		return "it sent bytes that are not a TLS record"
	case errors.Is(err, syscall.ECONNRESET):
		return "it reset the connection on the ClientHello"
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("it did not answer the ClientHello within %s", t.g.cfg.Timeout)
	}
	return "it closed the connection on the ClientHello"
}

// speaksPlainSTUN sends a Binding request over a new plain connection of
// the handshake's transport (TCP for tls, UDP for dtls).
func (t *turnProbe) speaksPlainSTUN(ctx context.Context, network string) bool {
	plain := turnconn.TCP
	if network == turnconn.DTLS {
		plain = turnconn.UDP
	}
	budget := min(bindingProbeBudget, t.g.cfg.Timeout)
	conn, err := turnconn.Dial(ctx, turnconn.Config{Net: t.g.cfg.Net, Network: plain, Addr: t.s.Address(), Timeout: budget})
	if err != nil {
		return false
	}
	defer conn.Close()
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return false
	}
	pc := conn.PacketConn()
	buf := make([]byte, 1500)
	_ = conn.SetDeadline(time.Now().Add(budget))
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	// Over UDP the request may be lost: send it twice, half the budget
	// apart.
	for range 2 {
		if _, err := pc.WriteTo(m.Raw, nil); err != nil {
			return false
		}
		_ = conn.SetReadDeadline(time.Now().Add(budget / 2))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			if isTimeout(err) && conn.Datagram() {
				continue
			}
			return false
		}
		resp := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		return resp.Decode() == nil && resp.TransactionID == m.TransactionID && resp.Type.Method == stun.MethodBinding
	}
	return false
}

var udpTransport = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}

func (t *turnProbe) allocate(ctx context.Context) {
	r, s := t.r, t.s
	ctx, cancel := context.WithTimeout(ctx, t.g.cfg.Timeout)
	defer cancel()
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), udpTransport, t.family(), stun.Fingerprint)
	if err != nil {
		r.Cause, r.Diagnosis = CauseNetwork, err.Error()
		return
	}
	start := time.Now()
	res := t.do(ctx, m)
	if !t.answered(ctx, res, start) {
		return
	}
	if res.msg.Type.Class == stun.ClassSuccessResponse {
		t.success(ctx, res, nil)
		r.Diagnosis += " (the server allowed an unauthenticated Allocate)"
		return
	}
	code, reason := errorCode(res.msg)
	if code != stun.CodeUnauthorized {
		t.failure(code, reason, false)
		return
	}
	var realm stun.Realm
	var nonce stun.Nonce
	if realm.GetFrom(res.msg) != nil || nonce.GetFrom(res.msg) != nil {
		r.Cause, r.Diagnosis = CauseBadResponse, fmt.Sprintf("%s answered 401 without REALM and NONCE; it is not a working TURN server", s.Address())
		return
	}
	for attempt := 0; ; attempt++ {
		integrity := stun.NewLongTermIntegrity(s.Username, realm.String(), s.Credential)
		m, err = stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), udpTransport, t.family(),
			stun.NewUsername(s.Username), realm, nonce, integrity, stun.Fingerprint)
		if err != nil {
			r.Cause, r.Diagnosis = CauseNetwork, err.Error()
			return
		}
		authStart := time.Now()
		res = t.do(ctx, m)
		if !t.answered(ctx, res, authStart) {
			return
		}
		if res.msg.Type.Class == stun.ClassSuccessResponse {
			t.success(ctx, res, &auth{integrity: integrity, realm: realm, nonce: nonce})
			return
		}
		code, reason = errorCode(res.msg)
		if code == stun.CodeStaleNonce && attempt == 0 {
			if nonce.GetFrom(res.msg) == nil {
				continue
			}
		}
		t.failure(code, reason, true)
		return
	}
}

type auth struct {
	integrity stun.MessageIntegrity
	realm     stun.Realm
	nonce     stun.Nonce
}

func errorCode(m *stun.Message) (stun.ErrorCode, string) {
	var ec stun.ErrorCodeAttribute
	if ec.GetFrom(m) != nil {
		return 0, "(no ERROR-CODE)"
	}
	reason := strings.Trim(string(ec.Reason), " \t\r\n\x00") // coturn pads with NULs
	if reason == "" {
		reason = reasons[ec.Code]
	}
	return ec.Code, reason
}

// reasons are the RFC 8489/8656 reason phrases, for servers that send an
// empty one.
var reasons = map[stun.ErrorCode]string{
	stun.CodeTryAlternate:           "Try Alternate",
	stun.CodeBadRequest:             "Bad Request",
	stun.CodeUnauthorized:           "Unauthorized",
	stun.CodeForbidden:              "Forbidden",
	stun.CodeUnknownAttribute:       "Unknown Attribute",
	stun.CodeAllocMismatch:          "Allocation Mismatch",
	stun.CodeStaleNonce:             "Stale Nonce",
	stun.CodeWrongCredentials:       "Wrong Credentials",
	stun.CodeUnsupportedTransProto:  "Unsupported Transport Protocol",
	stun.CodeAllocQuotaReached:      "Allocation Quota Reached",
	stun.CodeServerError:            "Server Error",
	stun.CodeInsufficientCapacity:   "Insufficient Capacity",
	stun.CodeAddrFamilyNotSupported: "Address Family not Supported",
	stun.CodePeerAddrFamilyMismatch: "Peer Address Family Mismatch",
}

// answered turns a transaction without a response into a diagnosis.
func (t *turnProbe) answered(ctx context.Context, res txResult, start time.Time) bool {
	r := t.r
	if res.err == nil && res.msg != nil {
		r.Requests = res.retries + 1
		return true
	}
	waited := time.Since(start)
	switch {
	case errors.Is(res.err, errRefused):
		r.Cause = CauseUnreachable
		r.Diagnosis = portUnreachable("TURN", t.s.Address())
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.Cause, r.Diagnosis = CauseInterrupted, "interrupted before the server answered"
	case ctx.Err() != nil || res.err != nil && strings.Contains(res.err.Error(), "retransmissions failed"):
		n := requests(t.g.cfg.TURNRTO, waited)
		r.Cause, r.Requests = CauseNoAnswer, n
		timeout := fmt.Sprintf("timeout after %d Allocate requests (%d retransmissions) in %s", n, n-1, roundMS(waited))
		if t.bindingAnswered(t.parent) {
			r.Cause = CauseTURNDisabled
			r.Diagnosis = fmt.Sprintf("STUN answers on this address but TURN Allocate gets no answer: TURN is disabled there, or a firewall drops only TURN (%s; a Binding request from the same local address and port to %s was answered)", timeout, t.s.Address())
			return false
		}
		r.Diagnosis = fmt.Sprintf("TURN no answer: %s; %s to %s is blocked or nothing listens there", timeout, strings.ToUpper(string(t.s.Transport)), t.s.Address())
	default:
		r.Cause, r.Diagnosis = CauseNetwork, fmt.Sprintf("TURN %s: %v", t.s.Address(), res.err)
	}
	return false
}

// portUnreachable words an ICMP port unreachable once: the host is there
// and answered, the port is closed.
func portUnreachable(what, address string) string {
	_, port, _ := net.SplitHostPort(address)
	return fmt.Sprintf("%s port unreachable: %s answered ICMP port unreachable, so nothing listens on UDP port %s there; check the port, or whether the server runs", what, address, port)
}

// bindingProbeBudget bounds the Binding request that tells a server with
// TURN disabled from one that does not answer at all.
const bindingProbeBudget = 2 * time.Second

// bindingAnswered sends a STUN Binding request on the Allocate's 5-tuple
// (same socket or TCP connection) after the Allocate got no answer: a
// STUN-only server (coturn --stun-only) or a firewall that filters TURN
// methods answers it.
func (t *turnProbe) bindingAnswered(parent context.Context) bool {
	if parent.Err() != nil {
		return false
	}
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(parent, min(bindingProbeBudget, t.g.cfg.Timeout))
	defer cancel()
	res := t.do(ctx, m)
	return res.err == nil && res.msg != nil && res.msg.Type == stun.BindingSuccess
}

func (t *turnProbe) success(ctx context.Context, res txResult, a *auth) {
	r := t.r
	var relayed, mapped stun.XORMappedAddress
	if err := relayed.GetFromAs(res.msg, stun.AttrXORRelayedAddress); err != nil {
		r.Cause, r.Diagnosis = CauseBadResponse, fmt.Sprintf("%s accepted the Allocate but sent no XOR-RELAYED-ADDRESS", t.s.Address())
		return
	}
	if mapped.GetFrom(res.msg) == nil {
		r.Public = mapped.String()
	}
	if v, err := res.msg.Get(stun.AttrLifetime); err == nil && len(v) == 4 {
		r.Lifetime = time.Duration(binary.BigEndian.Uint32(v)) * time.Second
	}
	r.Relay = relayed.String()
	r.AllocateRTT = res.rtt
	r.Cause = CauseTURNOK
	r.Diagnosis = fmt.Sprintf("TURN OK: relay address %s, lifetime %s, Allocate round trip %s", r.Relay, r.Lifetime, roundMS(res.rtt))
	if t.askDual {
		t.dualVerdict(res.msg)
	}
	if r.Public != "" {
		r.Diagnosis += ", public address " + r.Public
	}
	// Free the allocation (Refresh with LIFETIME 0) so that the ICE gathers
	// that follow do not count against a quota.
	if a != nil {
		t.free(ctx, a)
		if !t.askIPv6 && !t.askDual && r.Family == FamilyIPv6 && familyOf(r.Relay) == FamilyIPv4 {
			t.mismatch(ctx)
		}
	}
}

// free releases the allocation on this 5-tuple (Refresh, LIFETIME 0).
func (t *turnProbe) free(ctx context.Context, a *auth) {
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodRefresh, stun.ClassRequest),
		stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0, 0}},
		stun.NewUsername(t.s.Username), a.realm, a.nonce, a.integrity, stun.Fingerprint)
	freed := false
	if err == nil {
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fr := t.do(fctx, m)
		cancel()
		freed = fr.err == nil && fr.msg != nil && fr.msg.Type.Class == stun.ClassSuccessResponse
	}
	if !freed {
		t.g.hold(t.s.Address())
	}
}

// quotaReason explains a 486: coturn sends it both when the user's own
// quota (user-quota) is reached and when the server's total quota
// (total-quota) is, so both are named, and whether natkit itself held
// allocations there, which rules its own probes in or out.
func (t *turnProbe) quotaReason() string {
	who := fmt.Sprintf("user %q", t.s.Username)
	if t.s.Username == "" {
		who = "this client"
	}
	why := fmt.Sprintf("the user's quota or the server's total quota is reached: either %s already holds as many allocations as it may (other sessions with the same credentials), or the server is full for everyone (coturn: user-quota or total-quota)", who)
	if n := t.g.held(t.s.Address()); n > 0 {
		return why + fmt.Sprintf("; natkit itself still holds %d allocation(s) on %s that it could not free, which count against both quotas: wait for their lifetime to end", n, t.s.Address())
	}
	return why + fmt.Sprintf("; natkit held no allocation on %s when it asked, so others hold them: close other sessions, or ask the operator whether the server is at its total quota", t.s.Address())
}

func (t *turnProbe) failure(code stun.ErrorCode, reason string, authenticated bool) {
	r, s := t.r, t.s
	r.ErrorCode, r.ErrorReason = int(code), reason
	head := fmt.Sprintf("%d %s", code, reason)
	switch code {
	case stun.CodeUnauthorized:
		r.Cause = CauseUnauthorized
		if _, rest := iceconfig.RESTExpiry(s.Username); rest {
			r.Diagnosis = fmt.Sprintf("%s: wrong username or password: the server rejected the REST credentials for %q; the shared secret differs from the server's (static-auth-secret), or the server's clock disagrees", head, s.Username)
		} else {
			r.Diagnosis = fmt.Sprintf("%s: wrong username or password: the server rejected user %q; check --user/--credential", head, s.Username)
		}
	case stun.CodeForbidden:
		r.Cause = CauseForbidden
		r.Diagnosis = head + ": the server refuses this client or user (blocked address, disabled user, or policy); ask the TURN operator"
	case stun.CodeAllocMismatch:
		r.Cause = CauseMismatch
		r.Diagnosis = head + ": an allocation already exists for this client address and port; wait for it to expire or use another local port"
	case stun.CodeStaleNonce:
		r.Cause = CauseStaleNonce
		r.Diagnosis = head + ": the server rejected its own fresh nonce twice; its nonce handling (or a load balancer between servers) is broken"
	case stun.CodeAllocQuotaReached:
		r.Cause = CauseQuota
		r.Diagnosis = head + ": " + t.quotaReason()
	case stun.CodeAddrFamilyNotSupported:
		r.Cause = CauseFamily
		r.Diagnosis = head + ": " + familyAdvice(t.askIPv6, s)
	case stun.CodeInsufficientCapacity:
		r.Cause = CauseCapacity
		r.Diagnosis = head + ": the server has no relay capacity left (ports or allocations); try later or another server"
	case stun.CodeUnsupportedTransProto:
		r.Cause = CauseErrorResponse
		alt := s
		alt.Scheme, alt.Transport, alt.ExplicitTransport = iceconfig.SchemeTURN, iceconfig.TransportTCP, true
		r.Diagnosis = head + ": the server refused the Allocate: it will not relay UDP for this client (REQUESTED-TRANSPORT udp); ask the operator to allow UDP relaying"
		if s.Scheme == iceconfig.SchemeTURN && s.Transport == iceconfig.TransportUDP {
			r.Diagnosis += ", or try " + alt.URL() + " (some servers refuse UDP relaying only to clients that reach them over UDP)"
		}
	default:
		r.Cause = CauseErrorResponse
		r.Diagnosis = head + ": the server refused the Allocate"
	}
	if !authenticated && code != stun.CodeUnauthorized {
		r.Diagnosis += " (answer to the first, unauthenticated Allocate)"
	}
}
