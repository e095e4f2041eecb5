package load

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natkit/natkit/internal/tcpturn"
)

// RFC 6062 TCP allocations (Config.TCPAllocations). Allocation load opens
// a control connection per allocation, allocates a relayed TCP address,
// and deletes it (Refresh 0). Traffic pairs the allocations: B permits A's
// relayed IP, A Connects to B's relayed address, both bind a data
// connection, and A sends PPS messages of Size bytes a second that B
// echoes back through the relay; the RTT is A's send to A's receive.

// ModeTCPRelay is Result.Mode for TCP allocations.
const ModeTCPRelay = "tcp-relay"

// Methods counted in the outcomes of TCP allocations.
const (
	methodAllocateTCP = "allocate-tcp"
	methodConnect     = "connect"
	methodBind        = "connection-bind"
)

// validateTCP checks the fields TCP allocations constrain.
func (c Config) validateTCP() error {
	if !c.TCPAllocations {
		return nil
	}
	if c.Transport == TransportUDP {
		return cfgErr("transport", c.Transport, "TCP allocations (RFC 6062) need a tcp or tls connection to the relay")
	}
	if c.PPS > 0 && (c.Peer != "" || c.Allocations < 2) {
		return cfgErr("allocations", strconv.Itoa(c.Allocations), "TCP allocation traffic pairs allocations through the relay: want at least 2 and no --peer")
	}
	if c.Mode == ModeSend {
		return cfgErr("mode", c.Mode, "TCP allocations carry raw bytes on data connections: no Send indications or channels")
	}
	return nil
}

// tcpDial opens one connection to the relay (TCP, or TLS over it) and
// records its connect time.
func (e *engine) tcpDial(ctx context.Context) (net.Conn, error) {
	start := time.Now()
	c, err := e.cfg.Net.CreateDialer(&net.Dialer{Timeout: e.cfg.RequestTimeout}).Dial("tcp", e.cfg.Server)
	if err != nil {
		return nil, err
	}
	if e.cfg.Transport == TransportTLS {
		tc := tls.Client(c, e.cfg.TLSConfig)
		hctx, cancel := context.WithTimeout(ctx, e.cfg.RequestTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			te := &TLSError{Server: e.cfg.Server, Err: err}
			e.lastTLSErr.Store(te)
			e.tlsErrors.Add(1)
			return nil, te
		}
		c = tc
	}
	e.connectLatency.RecordDuration(time.Since(start))
	return c, nil
}

// tcpOutcome counts one request's outcome by its error.
func (e *engine) tcpOutcome(method string, err error) {
	var se *tcpturn.Error
	switch {
	case err == nil:
		e.outcome(method, OutcomeOK)
	case errors.As(err, &se):
		e.outcome(method, strconv.Itoa(se.Code))
	case errors.Is(err, context.DeadlineExceeded):
		e.outcome(method, OutcomeTimeout)
	default:
		e.outcome(method, OutcomeNetwork)
	}
}

// tcpAllocate opens a control connection and allocates; nil on failure
// (counted).
func (e *engine) tcpAllocate(ctx context.Context) (*tcpturn.Client, tcpturn.Allocation) {
	start := e.now()
	rctx, cancel := context.WithTimeout(ctx, e.cfg.RequestTimeout)
	defer cancel()
	c, err := tcpturn.Open(rctx, tcpturn.Config{Dial: e.tcpDial, Username: e.user, Password: e.pass, Family: e.family})
	if err == nil {
		var a tcpturn.Allocation
		t0 := e.now()
		a, err = c.Allocate(rctx)
		e.requestLatency(methodAllocateTCP, e.now()-t0)
		e.tcpOutcome(methodAllocateTCP, err)
		if err == nil {
			e.lastRx.Store(int64(e.now()))
			e.allocOK.Add(1)
			e.countRelayed(a.Relayed.Addr().AsSlice())
			e.upActive()
			e.allocLatency.RecordDuration(e.now() - start)
			return c, a
		}
		c.Close()
	} else {
		e.tcpOutcome(methodAllocateTCP, err)
	}
	if ctx.Err() == nil {
		e.allocFail.Add(1)
		e.log.Debug("tcp allocate", "err", err)
		e.tcpHopeless()
	}
	return nil, tcpturn.Allocation{}
}

// tcpHopeless stops the run when no TCP allocation can succeed.
func (e *engine) tcpHopeless() {
	e.mu.Lock()
	refused := e.outcomes[[2]string{methodAllocateTCP, "442"}]
	e.mu.Unlock()
	if e.allocOK.Load() == 0 && refused >= int64(min(3, e.cfg.Allocations)) {
		e.stop(fmt.Errorf("%w: the server answers 442 to every TCP Allocate (coturn: remove no-tcp-relay; natkit relay: --tcp-relay)", ErrTCPUnsupported))
		return
	}
	e.hopeless()
}

// tcpRelease deletes an allocation (Refresh 0) and closes its control
// connection.
func (e *engine) tcpRelease(ctx context.Context, c *tcpturn.Client) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(e.cfg.RequestTimeout, 2*time.Second))
	err := c.Refresh(dctx, 0)
	cancel()
	e.tcpOutcome(methodDelete, err)
	c.Close()
	e.active.Add(-1)
}

// runTCPAllocations is allocation load with TCP allocations: allocate →
// delete cycles at Rate, at most Allocations in flight, for Duration.
func (e *engine) runTCPAllocations(ctx context.Context) {
	var next atomic.Int64
	pool(e.cfg.Allocations, e.cfg.Allocations, func(int) {
		for {
			k := next.Add(1) - 1
			sched := rampSchedule(k, e.cfg.Rate, e.cfg.Ramp)
			if sched >= e.cfg.Duration || !e.sleepUntil(ctx, sched) {
				return
			}
			if c, _ := e.tcpAllocate(ctx); c != nil {
				e.tcpRelease(ctx, c)
			}
		}
	})
}

// tcpPair is two TCP allocations connected through the relay.
type tcpPair struct {
	a, b         *tcpturn.Client
	dataA, dataB net.Conn
	sent, echoed int64
}

// connectPair makes a's relay connect to b's relayed address and binds
// both data connections.
func (e *engine) connectPair(ctx context.Context, p *tcpPair, ra, rb tcpturn.Allocation) error {
	rctx, cancel := context.WithTimeout(ctx, e.cfg.RequestTimeout)
	defer cancel()
	err := p.b.CreatePermission(rctx, ra.Relayed.Addr())
	e.tcpOutcome(methodPermission, err)
	if err != nil {
		return err
	}
	id, err := p.a.Connect(rctx, rb.Relayed)
	e.tcpOutcome(methodConnect, err)
	if err != nil {
		return err
	}
	var at tcpturn.Attempt
	select {
	case at = <-p.b.Attempts():
	case <-rctx.Done():
		return fmt.Errorf("no ConnectionAttempt for %s: %w", ra.Relayed, rctx.Err())
	}
	p.dataA, err = p.a.Bind(rctx, id)
	e.tcpOutcome(methodBind, err)
	if err != nil {
		return err
	}
	p.dataB, err = p.b.Bind(rctx, at.ID)
	e.tcpOutcome(methodBind, err)
	return err
}

// runTCPTraffic relays paced messages through pairs of TCP allocations.
func (e *engine) runTCPTraffic(parent, ctx context.Context, res *Result) {
	cfg := e.cfg
	pairs := make([]*tcpPair, cfg.Allocations/2)
	period := float64(time.Second) / cfg.Rate
	pool(len(pairs), 256, func(i int) {
		if !e.sleepUntil(ctx, time.Duration(float64(2*i)*period)) {
			return
		}
		a, ra := e.tcpAllocate(ctx)
		if a == nil {
			return
		}
		b, rb := e.tcpAllocate(ctx)
		if b == nil {
			e.tcpRelease(ctx, a)
			return
		}
		p := &tcpPair{a: a, b: b}
		if err := e.connectPair(ctx, p, ra, rb); err != nil {
			e.log.Debug("tcp pair", "err", err)
			e.closePair(ctx, p)
			return
		}
		pairs[i] = p
	})
	var active []*tcpPair
	for _, p := range pairs {
		if p != nil {
			active = append(active, p)
		}
	}
	res.PeerSetupFailed = int64(len(pairs) - len(active))
	res.Senders = len(active)
	if len(active) > 0 && ctx.Err() == nil {
		e.trafficStart = e.now()
		e.buckets = int(cfg.Duration/time.Second) + 2
		e.sentBySec = make([]atomic.Int64, e.buckets)
		e.recvBySec = make([]atomic.Int64, e.buckets)
		e.phase.Store("traffic")
		var wg sync.WaitGroup
		for _, p := range active {
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(p.dataB, p.dataB) }() // B echoes
			go func() { defer wg.Done(); e.readEchoes(p) }()
		}
		e.sendTCP(ctx, active)
		res.TrafficDuration = e.now() - e.trafficStart
		if e.stopErr == nil && parent.Err() == nil {
			e.phase.Store("draining")
			deadline := e.now() + cfg.Drain
			for e.now() < deadline && e.received.Load() < e.sent.Load() {
				time.Sleep(10 * time.Millisecond)
			}
		}
		e.phase.Store("deleting")
		for _, p := range active {
			e.closePair(parent, p)
		}
		wg.Wait()
	}
	for _, p := range active {
		res.Sent += p.sent
		res.Received += atomic.LoadInt64(&p.echoed)
	}
	res.Late = e.late.Load()
}

func (e *engine) closePair(ctx context.Context, p *tcpPair) {
	for _, c := range []net.Conn{p.dataA, p.dataB} {
		if c != nil {
			c.Close()
		}
	}
	e.tcpRelease(ctx, p.a)
	e.tcpRelease(ctx, p.b)
}

// sendTCP sends PPS messages a second on every pair's data connection,
// for Duration, each pair on its own schedule.
func (e *engine) sendTCP(ctx context.Context, active []*tcpPair) {
	cfg := e.cfg
	interval := time.Duration(float64(time.Second) / cfg.PPS)
	end := e.trafficStart + cfg.Duration
	pool(len(active), len(active), func(i int) {
		p := active[i]
		buf := make([]byte, cfg.Size) // sequence number, send time (since t0), padding
		offset := time.Duration(i) * interval / time.Duration(len(active))
		for seq := int64(0); ; seq++ {
			sched := e.trafficStart + offset + time.Duration(seq)*interval
			if sched >= end || !e.sleepUntil(ctx, sched) {
				return
			}
			now := e.now()
			e.sendLag.RecordDuration(now - sched)
			if now-sched > cfg.LateAfter {
				e.late.Add(1)
			}
			binary.BigEndian.PutUint64(buf[0:8], uint64(seq))
			binary.BigEndian.PutUint64(buf[8:16], uint64(now))
			if _, err := p.dataA.Write(buf); err != nil {
				e.sendErrors.Add(1)
				return
			}
			p.sent++
			e.sent.Add(1)
			e.bytesTx.Add(int64(len(buf)))
			if b := int((sched - e.trafficStart) / time.Second); b >= 0 && b < e.buckets {
				e.sentBySec[b].Add(1)
			}
		}
	})
}

// readEchoes reads A's echoed messages and records their RTT.
func (e *engine) readEchoes(p *tcpPair) {
	buf := make([]byte, e.cfg.Size)
	for {
		if _, err := io.ReadFull(p.dataA, buf); err != nil {
			return
		}
		now := e.now()
		sent := time.Duration(binary.BigEndian.Uint64(buf[8:16])) //nolint:gosec // our own timestamp
		atomic.AddInt64(&p.echoed, 1)
		e.lastRx.Store(int64(now))
		e.onEcho(len(buf), sent, now-sent, now-sent)
	}
}
