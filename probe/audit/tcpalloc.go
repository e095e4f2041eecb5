package audit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pion/stun/v3"

	"github.com/natkit/natkit/internal/tcpturn"
	"github.com/natkit/natkit/probe/iceconfig"
)

// The TCP relay checks (RFC 6062, Config.TCPRelay): a TCP allocation, then
// Connect toward the loopback encodings of the peer-policy list. A granted
// Connect makes the relay open a TCP connection into its own host: a proxy
// to every service listening on its loopback. Only loopback targets are
// tried, so whatever the server lets through never leaves its host; when
// the server is on this host too, the target port is natkit's own TCP
// sink, which then proves the connection landed.

// tcpPeerCases are the peer cases whose target is the server's loopback.
func tcpPeerCases() []peerCase {
	loop4 := netip.MustParsePrefix("127.0.0.0/8")
	var out []peerCase
	for _, c := range peerCases {
		if loop4.Contains(c.Addr) || c.Addr == netip.IPv6Loopback() || (c.Embedded.IsValid() && loop4.Contains(c.Embedded)) {
			out = append(out, c)
		}
	}
	return out
}

func tcpFix(c peerCase) Fix {
	f := peerFix(c)
	f.NatkitRelay = "natkit relay applies its peer policy to Connect: remove the --allow-peer that opens " + c.Range.String() +
		", or leave TCP relaying off (no --tcp-relay)"
	f.Coturn += "; coturn checks Connect against the same lists (or set no-tcp-relay)"
	return f
}

// runTCPRelay adds the TCP relay checks.
func (a *auditor) runTCPRelay(ctx context.Context) {
	if !a.cfg.TCPRelay {
		return
	}
	if a.cfg.Server.Transport != iceconfig.TransportTCP {
		a.add(Check{ID: "tcp-connect", Name: "TCP relay (RFC 6062) peer policy", Verdict: VerdictSkip,
			Message: "TCP allocations need a TCP or TLS control connection: audit a turn:HOST:PORT?transport=tcp or turns: URL"})
		return
	}
	start := time.Now()
	c := Check{ID: "tcp-connect", Name: "TCP relay (RFC 6062) allocation", Severity: SeverityHigh}
	cl, err := tcpturn.Open(ctx, tcpturn.Config{Dial: a.dialControl, Username: a.cfg.Server.Username, Password: a.cfg.Server.Credential})
	if err != nil {
		c.Verdict, c.Message, c.Duration = VerdictError, "cannot open a control connection: "+err.Error(), time.Since(start)
		a.add(c)
		return
	}
	defer cl.Close()
	actx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	alloc, err := cl.Allocate(actx)
	cancel()
	a.sent.add(a.cfg.Server.Address(), 0)
	c.Duration = time.Since(start)
	var se *tcpturn.Error
	switch {
	case errors.As(err, &se):
		c.Evidence = []Exchange{{Request: "Allocate REQUESTED-TRANSPORT tcp", Answer: fmt.Sprintf("%d %s", se.Code, se.Reason)}}
		c.Verdict = VerdictPass
		c.Message = fmt.Sprintf("no TCP allocation (%d %s): Connect cannot reach internal addresses", se.Code, se.Reason)
		if se.Code != 442 {
			c.Verdict, c.Message = VerdictError, fmt.Sprintf("TCP Allocate refused with %d %s; Connect was not tested", se.Code, se.Reason)
		}
		a.add(c)
		return
	case err != nil:
		c.Verdict, c.Message = VerdictError, "TCP Allocate: "+err.Error()
		a.add(c)
		return
	}
	sink := a.openTCPSink()
	if sink != nil {
		defer sink.Close()
	}
	// IPv6 peers go through an IPv6 TCP allocation, as for UDP
	// (runPeerPolicy): from the IPv4 one a server answers 443 before its
	// IPv6 peer policy.
	cl6, alloc6, note := a.ipv6TCPAllocation(ctx)
	if cl6 != nil {
		defer cl6.Close()
	}
	for _, pcase := range tcpPeerCases() {
		if ctx.Err() != nil {
			return
		}
		on, relayed := cl, alloc.Relayed
		ipv6 := pcase.Addr.Is6() && !pcase.Addr.Is4In6() // tcpturn sends IPv4-mapped addresses as IPv4
		if ipv6 && cl6 != nil {
			on, relayed = cl6, alloc6.Relayed
		}
		c := a.checkConnect(ctx, on, relayed, pcase, sink)
		if ipv6 && note != "" {
			c.Evidence = append([]Exchange{{Request: "Allocate REQUESTED-TRANSPORT tcp, REQUESTED-ADDRESS-FAMILY IPv6, for the IPv6 peers", Answer: note}}, c.Evidence...)
			if strings.HasPrefix(c.Message, "refused: 443") {
				c.Message += noIPv6Relay
			}
		}
		a.add(c)
	}
}

// ipv6TCPAllocation opens a TCP allocation with an IPv6 relayed address
// for the IPv6 peer cases; nil (and what the server answered) when it
// gives none.
func (a *auditor) ipv6TCPAllocation(ctx context.Context) (*tcpturn.Client, tcpturn.Allocation, string) {
	cl, err := tcpturn.Open(ctx, tcpturn.Config{Dial: a.dialControl, Username: a.cfg.Server.Username,
		Password: a.cfg.Server.Credential, Family: tcpturn.FamilyIPv6})
	if err != nil {
		return nil, tcpturn.Allocation{}, "could not connect: " + err.Error()
	}
	actx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	alloc, err := cl.Allocate(actx)
	a.sent.add(a.cfg.Server.Address(), 0)
	var se *tcpturn.Error
	switch {
	case errors.As(err, &se):
		cl.Close()
		return nil, alloc, fmt.Sprintf("%d %s", se.Code, se.Reason)
	case err != nil:
		cl.Close()
		return nil, alloc, "no answer: " + err.Error()
	}
	return cl, alloc, ""
}

func (a *auditor) checkConnect(ctx context.Context, cl *tcpturn.Client, relayed netip.AddrPort, pcase peerCase, sink net.Listener) Check {
	c := Check{ID: "tcp-connect/" + pcase.Addr.String(), Name: "TCP relay Connect: " + pcase.Group + " " + pcase.Addr.String(),
		Severity: pcase.Severity, Fix: tcpFix(pcase)}
	start := time.Now()
	defer func() { c.Duration = time.Since(start) }()
	port := uint16(9) // discard: a granted Connect reaches nothing of ours
	if sink != nil {
		port = netip.MustParseAddrPort(sink.Addr().String()).Port()
	}
	peer := netip.AddrPortFrom(pcase.Addr, port)
	cctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	_, err := cl.Connect(cctx, peer)
	a.sent.add(a.cfg.Server.Address(), 0)
	ex := Exchange{Request: "Connect XOR-PEER-ADDRESS " + peer.String() + " from TCP allocation " + relayed.String()}
	var se *tcpturn.Error
	switch {
	case err == nil:
		ex.Answer = "success: the relay connected"
		c.Verdict = VerdictFinding
		c.Message = fmt.Sprintf("the server connected its relayed address %s to %s (%s): TCP relaying reaches services on the relay host's loopback",
			relayed, peer, pcase.Range)
		if sink != nil {
			if from, ok := awaitTCP(sink, a.cfg.Timeout); ok {
				c.Evidence = append(c.Evidence, ex, Exchange{Request: "natkit's own TCP sink " + sink.Addr().String(),
					Answer: "accepted a connection from " + from})
				return c
			}
		}
	case errors.As(err, &se) && se.Code == int(stun.CodeConnTimeoutOrFailure):
		ex.Answer = fmt.Sprintf("%d %s", se.Code, se.Reason)
		c.Verdict = VerdictFinding
		c.Message = fmt.Sprintf("the server tried to connect to %s (%s) and answered 447 only because the connection failed: its peer policy does not cover Connect", peer, pcase.Range)
	case errors.As(err, &se):
		ex.Answer = fmt.Sprintf("%d %s", se.Code, se.Reason)
		c.Verdict, c.Message = VerdictPass, "refused: "+ex.Answer
	default:
		ex.Answer = "no answer: " + err.Error()
		c.Verdict, c.Message = VerdictError, "Connect: "+err.Error()
	}
	c.Evidence = append(c.Evidence, ex)
	return c
}

// dialControl opens a TCP or TLS connection to the server for tcpturn.
func (a *auditor) dialControl(ctx context.Context) (net.Conn, error) {
	c, err := a.dialConn(ctx, a.network())
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return c, nil
}

// openTCPSink listens for TCP on the sink's IP (Config.Sink), or returns
// nil without a sink.
func (a *auditor) openTCPSink() net.Listener {
	if a.cfg.Sink == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(a.cfg.Sink)
	if err != nil {
		return nil
	}
	ta, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil
	}
	ln, err := a.cfg.Net.ListenTCP("tcp", ta)
	if err != nil {
		a.cfg.Logger.Warn("audit: cannot open the TCP sink; Connect is tested without proof", "err", err)
		return nil
	}
	return ln
}

// awaitTCP waits up to d for one connection and returns where it came
// from.
func awaitTCP(ln net.Listener, d time.Duration) (string, bool) {
	type dl interface{ SetDeadline(time.Time) error }
	if l, ok := ln.(dl); ok {
		_ = l.SetDeadline(time.Now().Add(d))
	}
	c, err := ln.Accept()
	if err != nil {
		return "", false
	}
	defer c.Close()
	return c.RemoteAddr().String(), true
}
