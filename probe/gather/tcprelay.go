package gather

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/natkit/natkit/internal/tcpturn"
	"github.com/natkit/natkit/internal/turnconn"
	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/reports"
)

// The relayed TCP candidate check (RFC 6062, Config.TCPRelay): two TCP
// allocations on the same server, A and B; B permits A's relayed IP, A
// Connects to B's relayed address, both bind a data connection, and a
// message goes A → relay → B and back. It needs no peer outside the
// relay, so it works from behind any NAT, as turnutils_uclient -T does.

// Causes of the TCP relay check.
const (
	CauseTCPRelayOK Cause = "tcp-relay-ok"
	// CauseTCPUnsupported: 442, the server does not relay TCP.
	CauseTCPUnsupported Cause = "442-unsupported-transport-protocol"
	// CauseConnectFailed: 447, the relay could not connect to the peer.
	CauseConnectFailed Cause = "447-connection-timeout-or-failure"
	// CauseNoAttempt: the peer allocation never heard of the connection.
	CauseNoAttempt Cause = "no-connection-attempt"
	// CauseNoData: the data connections were bound but the bytes did not
	// come through.
	CauseNoData Cause = "no-data"
)

// TCPRelayResult is the RFC 6062 check of one TURN server reached over TCP
// or TLS.
type TCPRelayResult struct {
	Cause Cause `json:"cause"`
	// Diagnosis is the sentence for people: cause and next step.
	Diagnosis string `json:"diagnosis"`
	// Step is where it stopped: allocate, permission, connect, attempt,
	// bind, data or done.
	Step string `json:"step"`
	// Relayed and PeerRelayed are the two allocations' relayed addresses.
	Relayed     string `json:"relayed,omitempty"`
	PeerRelayed string `json:"peer_relayed,omitempty"`
	// ErrorCode and ErrorReason are the server's STUN error, if any.
	ErrorCode   int    `json:"error_code,omitempty"`
	ErrorReason string `json:"error_reason,omitempty"`
	// RTT is one message's round trip through both allocations.
	RTT      time.Duration `json:"rtt,omitempty"`
	Duration time.Duration `json:"duration"`
}

// wantsTCPRelay reports whether the server gets the TCP relay check.
func (g *gatherer) wantsTCPRelay(s iceconfig.Server, r *ServerResult) bool {
	return g.cfg.TCPRelay && s.IsTURN() && s.Transport == iceconfig.TransportTCP && r.Cause.OK()
}

// tcpRelayCheck runs the check against one server, within Config.Timeout.
func (g *gatherer) tcpRelayCheck(parent context.Context, s iceconfig.Server) *TCPRelayResult {
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, g.cfg.Timeout)
	defer cancel()
	res := &TCPRelayResult{}
	g.runTCPRelay(ctx, s, res)
	res.Duration = time.Since(start)
	if res.Cause == "" {
		res.Cause, res.Step = CauseTCPRelayOK, "done"
		res.Diagnosis = fmt.Sprintf("TCP relaying works: two TCP allocations (%s, %s) connected through the relay and a message went both ways in %s",
			res.Relayed, res.PeerRelayed, roundMS(res.RTT))
	}
	return res
}

func (g *gatherer) runTCPRelay(ctx context.Context, s iceconfig.Server, res *TCPRelayResult) {
	cfg := tcpturn.Config{Dial: g.streamDialer(s), Username: s.Username, Password: s.Credential}
	res.Step = "allocate"
	a, err := tcpturn.Open(ctx, cfg)
	if err != nil {
		res.fail(err, s)
		return
	}
	defer a.Close()
	ra, err := a.Allocate(ctx)
	if err != nil {
		res.fail(err, s)
		return
	}
	res.Relayed = ra.Relayed.String()
	b, err := tcpturn.Open(ctx, cfg)
	if err != nil {
		res.fail(err, s)
		return
	}
	defer b.Close()
	rb, err := b.Allocate(ctx)
	if err != nil {
		res.fail(err, s)
		return
	}
	res.PeerRelayed = rb.Relayed.String()
	res.Step = "permission"
	if err := b.CreatePermission(ctx, ra.Relayed.Addr()); err != nil {
		res.fail(err, s)
		return
	}
	res.Step = "connect"
	id, err := a.Connect(ctx, rb.Relayed)
	if err != nil {
		res.fail(err, s)
		return
	}
	res.Step = "attempt"
	var at tcpturn.Attempt
	select {
	case at = <-b.Attempts():
	case <-ctx.Done():
		res.Cause = CauseNoAttempt
		res.Diagnosis = fmt.Sprintf("Connect from %s to %s succeeded but the peer allocation got no ConnectionAttempt: the relay accepted the connection without announcing it (RFC 6062 section 5.3)",
			res.Relayed, res.PeerRelayed)
		return
	}
	res.Step = "bind"
	da, err := a.Bind(ctx, id)
	if err != nil {
		res.fail(err, s)
		return
	}
	defer da.Close()
	db, err := b.Bind(ctx, at.ID)
	if err != nil {
		res.fail(err, s)
		return
	}
	defer db.Close()
	res.Step = "data"
	rtt, err := echoThrough(ctx, da, db)
	if err != nil {
		res.Cause = CauseNoData
		res.Diagnosis = fmt.Sprintf("both data connections were bound (ConnectionBind) but a message did not come through the relay: %v", err)
		return
	}
	res.RTT = rtt
}

// echoThrough sends a random message from a to b and back, and times it.
func echoThrough(ctx context.Context, a, b net.Conn) (time.Duration, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = a.SetDeadline(dl)
		_ = b.SetDeadline(dl)
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	msg := []byte("natkit tcp relay check " + hex.EncodeToString(nonce[:]))
	start := time.Now()
	if _, err := a.Write(msg); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(b, got); err != nil {
		return 0, fmt.Errorf("peer side: %w", err)
	}
	if string(got) != string(msg) {
		return 0, errors.New("the peer side received other bytes than were sent")
	}
	if _, err := b.Write(got); err != nil {
		return 0, fmt.Errorf("reply: %w", err)
	}
	if _, err := io.ReadFull(a, got); err != nil {
		return 0, fmt.Errorf("reply: %w", err)
	}
	return time.Since(start), nil
}

// fail words a failed step.
func (res *TCPRelayResult) fail(err error, s iceconfig.Server) {
	var se *tcpturn.Error
	if !errors.As(err, &se) {
		res.Cause = CauseNetwork
		res.Diagnosis = fmt.Sprintf("TCP relay check (%s): %v", res.Step, err)
		return
	}
	res.ErrorCode, res.ErrorReason = se.Code, se.Reason
	what := fmt.Sprintf("the server answered %s with %d %s", se.Method, se.Code, se.Reason)
	switch se.Code {
	case 442:
		res.Cause = CauseTCPUnsupported
		res.Diagnosis = what + ": it does not relay TCP (RFC 6062); TCP relay candidates are impossible through " + s.URL() +
			". To offer them: coturn without no-tcp-relay, natkit relay with --tcp-relay. TURN over TCP with a UDP relay still works"
	case 403:
		res.Cause = CauseForbidden
		res.Diagnosis = what + ": the peer is refused by the server's peer policy (here another allocation's relayed address " + res.PeerRelayed +
			"); a relay on a private or loopback address needs its relay range allowed (coturn allowed-peer-ip, natkit relay --allow-peer)"
	case 401:
		res.Cause = CauseUnauthorized
		res.Diagnosis = what + ": the credentials were refused for the TCP allocation"
	case 486:
		res.Cause = CauseQuota
		res.Diagnosis = what + ": the check needs two allocations at once and the user's quota allows fewer"
	case 508:
		res.Cause = CauseCapacity
		res.Diagnosis = what + ": the server has no capacity (or no free relayed TCP port) for another allocation"
	case 447:
		res.Cause = CauseConnectFailed
		res.Diagnosis = what + ": the relay could not open a TCP connection from " + res.Relayed + " to its own relayed address " + res.PeerRelayed +
			"; a firewall on the relay host blocks its relayed TCP ports"
	case 437:
		res.Cause = CauseMismatch
		res.Diagnosis = what
	default:
		res.Cause = CauseErrorResponse
		res.Diagnosis = what
	}
}

// streamDialer opens TCP or TLS connections to a turn: (transport=tcp) or
// turns: server through Config.Net, with the dialing seam the direct
// probe uses.
func (g *gatherer) streamDialer(s iceconfig.Server) func(context.Context) (net.Conn, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if g.cfg.TLSConfig != nil {
		tc = g.cfg.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = s.Host
	}
	return func(ctx context.Context) (net.Conn, error) {
		c, err := turnconn.Dial(ctx, turnconn.Config{Net: g.cfg.Net, Network: turnconn.NetworkOf(s), Addr: s.Address(), TLS: tc, Timeout: g.cfg.Timeout})
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return c, nil
	}
}

// tcpRelayCheck is the report check of a server's TCP relay check.
func (s ServerResult) tcpRelayCheck() (reports.Check, bool) {
	t := s.TCPRelay
	if t == nil {
		return reports.Check{}, false
	}
	verdict := reports.VerdictPass
	if t.Cause != CauseTCPRelayOK {
		verdict = reports.VerdictFail
	}
	return reports.Check{
		ID: "tcp-relay/" + s.URL, Name: "TCP relay (RFC 6062) " + s.URL, Verdict: verdict,
		Expected: string(CauseTCPRelayOK), Observed: string(t.Cause), Message: t.Diagnosis,
		Duration: reports.Duration(t.Duration),
	}, true
}

// hasStreamTURN reports whether some TURN server is reached over TCP or
// TLS, the only control connections RFC 6062 allows.
func hasStreamTURN(ss iceconfig.Servers) bool {
	for _, s := range ss {
		if s.IsTURN() && s.Transport == iceconfig.TransportTCP {
			return true
		}
	}
	return false
}
