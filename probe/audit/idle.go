package audit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pion/stun/v3"

	"github.com/natkit/natkit/internal/turnconn"
)

// checkIdle opens a few TCP (or TLS) connections that never authenticate
// and measures how long the server keeps them: the first sends nothing,
// the others half a STUN header. Each open connection costs the server a
// descriptor and buffers, so one it never closes is a slow exhaustion.
func (a *auditor) checkIdle(ctx context.Context) Check {
	c := Check{ID: "idle-connections", Name: "idle unauthenticated TCP/TLS connections", Severity: SeverityMedium, Fix: fixIdle}
	start := time.Now()
	defer func() { c.Duration = time.Since(start) }()
	proto := a.network() // tcp, tls or dtls: a DTLS association holds state too
	if proto == turnconn.UDP {
		proto = turnconn.TCP // a turn: URL's port usually serves TCP as well
	}
	type outcome struct {
		sent   string
		closed time.Duration
		open   bool
		err    string
	}
	n := a.cfg.IdleConns
	outs := make([]outcome, n)
	var wg sync.WaitGroup
	ictx, cancel := context.WithTimeout(ctx, a.cfg.IdleWait+a.cfg.Timeout)
	defer cancel()
	half, _ := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	for i := range n {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			conn, err := a.dialConn(ictx, proto)
			if err != nil {
				outs[i].err = err.Error()
				return
			}
			defer conn.Close()
			outs[i].sent = "nothing"
			if i > 0 {
				part := half.Raw[:10]
				a.sent.add(a.cfg.Server.Address(), len(part))
				if _, err := conn.Write(part); err != nil {
					outs[i].err = err.Error()
					return
				}
				outs[i].sent = fmt.Sprintf("%d bytes of a %d-byte Binding request", len(part), len(half.Raw))
			}
			opened := time.Now()
			_ = conn.SetReadDeadline(opened.Add(a.cfg.IdleWait))
			buf := make([]byte, 512)
			for {
				if _, err := conn.Read(buf); err != nil {
					if isTimeout(err) {
						outs[i].open = true
					} else {
						outs[i].closed = time.Since(opened)
					}
					return
				}
			}
		}(i)
	}
	wg.Wait()
	open, failed := 0, 0
	var closedTimes []string
	for i, o := range outs {
		ex := Exchange{Request: fmt.Sprintf("%s connection %d to %s, sending %s", proto, i+1, a.cfg.Server.Address(), o.sent)}
		switch {
		case o.err != "":
			failed++
			ex.Answer = "could not connect: " + o.err
		case o.open:
			open++
			ex.Answer = fmt.Sprintf("still open after %s", a.cfg.IdleWait)
		default:
			ex.Answer = fmt.Sprintf("closed by the server after %s", o.closed.Round(10*time.Millisecond))
			closedTimes = append(closedTimes, o.closed.Round(10*time.Millisecond).String())
		}
		c.Evidence = append(c.Evidence, ex)
	}
	switch {
	case ctx.Err() != nil:
		c.Verdict, c.Message = VerdictSkip, "interrupted"
	case failed == n:
		c.Verdict, c.Message = VerdictSkip, fmt.Sprintf("no %s listener answered on %s: nothing to hold open", proto, a.cfg.Server.Address())
	case open > 0:
		c.Verdict = VerdictFinding
		c.Message = fmt.Sprintf("%d of %d unauthenticated %s connections still open after %s: many such connections exhaust the server's descriptors and memory", open, n-failed, proto, a.cfg.IdleWait)
	default:
		c.Verdict = VerdictPass
		c.Message = fmt.Sprintf("the server closed every unauthenticated %s connection (after %s)", proto, strings.Join(closedTimes, ", "))
	}
	return c
}
