package gather

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/probe/natbehavior"
)

// resolveUDP resolves a server's address; a failure is a DNS diagnosis.
// "udp" keeps an IPv6 literal IPv6 and picks a name's IPv4 address when
// it has one, else its IPv6 address.
func (g *gatherer) resolveUDP(s iceconfig.Server) (*net.UDPAddr, error) {
	return g.cfg.Net.ResolveUDPAddr("udp", s.Address())
}

func dnsDiagnosis(r *ServerResult, s iceconfig.Server, err error) {
	r.Cause = CauseDNS
	var de *net.DNSError
	detail := err.Error()
	if errors.As(err, &de) {
		detail = de.Err
		if de.IsNotFound {
			detail = "no such host"
		}
	}
	r.Diagnosis = fmt.Sprintf("DNS failure: cannot resolve %s (%s); check the host name in %s", s.Host, detail, s.URL())
}

// probeSTUN sends a Binding request over a connected UDP socket, so that
// ICMP port unreachable is seen.
func (g *gatherer) probeSTUN(ctx context.Context, s iceconfig.Server, r *ServerResult) {
	addr, err := g.resolveUDP(s)
	if err != nil {
		dnsDiagnosis(r, s, err)
		return
	}
	r.Family = familyOfIP(addr.IP)
	uc, err := g.cfg.Net.DialUDP("udp", nil, addr)
	if err != nil {
		r.Cause, r.Diagnosis = CauseNetwork, fmt.Sprintf("cannot open a udp socket to %s: %v", addr, err)
		return
	}
	pc := newConnectedPacketConn(uc)
	c := natbehavior.NewClient(pc, g.cfg.Retransmit)
	defer c.Close()
	req, err := natbehavior.BindingRequest(0, 0)
	if err != nil {
		r.Cause, r.Diagnosis = CauseNetwork, err.Error()
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-pc.Refused():
			cancel()
		case <-pctx.Done():
		}
	}()
	resp, err := c.Do(pctx, addr, req)
	if resp != nil {
		r.RTT, r.Requests = resp.RTT, resp.Requests
	}
	var na *natbehavior.NoAnswerError
	var re *natbehavior.ResponseError
	switch {
	case pc.refused.Load():
		r.Cause = CauseUnreachable
		r.Diagnosis = portUnreachable("STUN", addr.String())
	case err == nil && resp.Mapped != nil:
		r.Cause = CauseSTUNOK
		r.Public = resp.Mapped.String()
		r.Diagnosis = fmt.Sprintf("STUN OK: public address %s, round trip %s", r.Public, roundMS(resp.RTT))
		if resp.Requests > 1 {
			r.Diagnosis += fmt.Sprintf(" (after %d retransmissions)", resp.Requests-1)
		}
	case err == nil:
		r.Cause, r.Diagnosis = CauseBadResponse, fmt.Sprintf("%s answered the Binding request without XOR-MAPPED-ADDRESS; it is not a working STUN server", addr)
	case errors.As(err, &na):
		r.Cause, r.Requests = CauseNoAnswer, na.Requests
		r.Diagnosis = fmt.Sprintf("STUN no answer: timeout after %d requests (%d retransmissions) in %s; UDP to %s is blocked or nothing listens there", na.Requests, na.Requests-1, roundMS(na.Waited), addr)
	case errors.As(err, &re):
		r.Cause, r.ErrorCode, r.ErrorReason = CauseErrorResponse, re.Code, re.Reason
		r.Diagnosis = fmt.Sprintf("STUN error: %s answered %d %s to a Binding request", addr, re.Code, re.Reason)
	case ctx.Err() != nil:
		r.Cause, r.Diagnosis = CauseInterrupted, "interrupted before the server answered"
	default:
		r.Cause, r.Diagnosis = CauseNetwork, err.Error()
	}
}

func roundMS(d time.Duration) string {
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}
