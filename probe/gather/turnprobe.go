package gather

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"

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
	t := &turnProbe{g: g, s: s, r: r}
	if !t.open(ctx) {
		return
	}
	defer t.pc.Close()
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: s.Address(),
		Conn:           t.pc,
		Username:       s.Username,
		Password:       s.Credential,
		Net:            g.cfg.Net,
		LoggerFactory:  g.cfg.LoggerFactory,
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

// open connects to the server over the URL's transport.
func (t *turnProbe) open(ctx context.Context) bool {
	g, s, r := t.g, t.s, t.r
	if s.Transport == iceconfig.TransportUDP {
		addr, err := g.resolveUDP(s)
		if err != nil {
			dnsDiagnosis(r, s, err)
			return false
		}
		uc, err := g.cfg.Net.DialUDP("udp4", nil, addr)
		if err != nil {
			r.Cause, r.Diagnosis = CauseNetwork, fmt.Sprintf("cannot open a udp socket to %s: %v", addr, err)
			return false
		}
		t.udp = newConnectedPacketConn(uc)
		t.pc = t.udp
		return true
	}
	if _, err := g.cfg.Net.ResolveTCPAddr("tcp4", s.Address()); err != nil {
		dnsDiagnosis(r, s, err)
		return false
	}
	dialer := g.cfg.Net.CreateDialer(&net.Dialer{Timeout: g.cfg.Timeout})
	type dialed struct {
		c   net.Conn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := dialer.Dial("tcp4", s.Address())
		ch <- dialed{c, err}
	}()
	var conn net.Conn
	select {
	case d := <-ch:
		if d.err != nil {
			if isRefused(d.err) {
				r.Cause = CauseConnRefused
				r.Diagnosis = fmt.Sprintf("TCP connection refused: nothing listens on %s/tcp; the server may not offer TURN over %s on that port", s.Address(), map[bool]string{true: "TLS", false: "TCP"}[s.Scheme == iceconfig.SchemeTURNS])
				return false
			}
			var ne net.Error
			if errors.As(d.err, &ne) && ne.Timeout() {
				r.Cause = CauseNoAnswer
				r.Diagnosis = fmt.Sprintf("TCP connect to %s timed out after %s: a firewall drops it or the host is down", s.Address(), g.cfg.Timeout)
				return false
			}
			r.Cause, r.Diagnosis = CauseNetwork, fmt.Sprintf("TCP connect to %s: %v", s.Address(), d.err)
			return false
		}
		conn = d.c
	case <-ctx.Done():
		go func() {
			if d := <-ch; d.c != nil {
				d.c.Close()
			}
		}()
		r.Cause, r.Diagnosis = CauseNoAnswer, fmt.Sprintf("TCP connect to %s did not complete within %s", s.Address(), g.cfg.Timeout)
		return false
	}
	if s.Scheme == iceconfig.SchemeTURNS {
		cfg := &tls.Config{}
		if g.cfg.TLSConfig != nil {
			cfg = g.cfg.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = s.Host
		}
		tc := tls.Client(conn, cfg)
		hctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			conn.Close()
			r.Cause = CauseTLS
			r.Diagnosis = "TLS handshake failure with " + s.Address() + ": " + tlsProblem(err, s.Host)
			return false
		}
		conn = tc
	}
	t.pc = turn.NewSTUNConn(conn)
	return true
}

// tlsProblem names the certificate problem behind a handshake error.
func tlsProblem(err error, host string) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	var ae tls.AlertError
	switch {
	case errors.As(err, &ua):
		return "the certificate is signed by an unknown authority (self-signed, or the intermediate certificate is missing from the server's chain)"
	case errors.As(err, &he):
		return fmt.Sprintf("the certificate is not valid for %q (%v)", host, he)
	case errors.As(err, &ci):
		switch ci.Reason {
		case x509.Expired:
			return "the certificate has expired or is not yet valid: " + ci.Detail
		default:
			return "the certificate is invalid: " + ci.Error()
		}
	case errors.As(err, &rh):
		return "the server did not answer with TLS (is this a plain TURN port? use turn: instead of turns:)"
	case errors.As(err, &ae):
		return "the server sent TLS alert: " + ae.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "the handshake timed out"
	}
	return err.Error()
}

var udpTransport = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}

func (t *turnProbe) allocate(ctx context.Context) {
	r, s := t.r, t.s
	ctx, cancel := context.WithTimeout(ctx, t.g.cfg.Timeout)
	defer cancel()
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), udpTransport, stun.Fingerprint)
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
		m, err = stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), udpTransport,
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
	reason := strings.TrimSpace(string(ec.Reason))
	if reason == "" {
		reason = reasons[ec.Code]
	}
	return ec.Code, reason
}

// reasons are the RFC 8489/8656 reason phrases, for servers that send an
// empty one.
var reasons = map[stun.ErrorCode]string{
	stun.CodeTryAlternate:          "Try Alternate",
	stun.CodeBadRequest:            "Bad Request",
	stun.CodeUnauthorized:          "Unauthorized",
	stun.CodeForbidden:             "Forbidden",
	stun.CodeUnknownAttribute:      "Unknown Attribute",
	stun.CodeAllocMismatch:         "Allocation Mismatch",
	stun.CodeStaleNonce:            "Stale Nonce",
	stun.CodeWrongCredentials:      "Wrong Credentials",
	stun.CodeUnsupportedTransProto: "Unsupported Transport Protocol",
	stun.CodeAllocQuotaReached:     "Allocation Quota Reached",
	stun.CodeServerError:           "Server Error",
	stun.CodeInsufficientCapacity:  "Insufficient Capacity",
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
		r.Diagnosis = fmt.Sprintf("TURN no answer: %s answered ICMP port unreachable; nothing listens on UDP port %s there", t.s.Address(), portOf(t.s.Address()))
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.Cause, r.Diagnosis = CauseInterrupted, "interrupted before the server answered"
	case ctx.Err() != nil || res.err != nil && strings.Contains(res.err.Error(), "retransmissions failed"):
		n := requests(t.g.cfg.TURNRTO, waited)
		r.Cause, r.Requests = CauseNoAnswer, n
		r.Diagnosis = fmt.Sprintf("TURN no answer: timeout after %d Allocate requests (%d retransmissions) in %s; %s to %s is blocked or nothing listens there", n, n-1, roundMS(waited), strings.ToUpper(string(t.s.Transport)), t.s.Address())
	default:
		r.Cause, r.Diagnosis = CauseNetwork, fmt.Sprintf("TURN %s: %v", t.s.Address(), res.err)
	}
	return false
}

func portOf(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
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
	if r.Public != "" {
		r.Diagnosis += ", public address " + r.Public
	}
	// Free the allocation (Refresh with LIFETIME 0) so that the ICE gathers
	// that follow do not count against a quota.
	if a != nil {
		m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodRefresh, stun.ClassRequest),
			stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0, 0}},
			stun.NewUsername(t.s.Username), a.realm, a.nonce, a.integrity, stun.Fingerprint)
		if err == nil {
			fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			t.do(fctx, m)
			cancel()
		}
	}
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
		r.Diagnosis = head + ": this user already has as many allocations as the server allows; close other sessions or raise the user quota"
	case stun.CodeInsufficientCapacity:
		r.Cause = CauseCapacity
		r.Diagnosis = head + ": the server has no relay capacity left (ports or allocations); try later or another server"
	default:
		r.Cause = CauseErrorResponse
		r.Diagnosis = head + ": the server refused the Allocate"
	}
	if !authenticated && code != stun.CodeUnauthorized {
		r.Diagnosis += " (answer to the first, unauthenticated Allocate)"
	}
}
