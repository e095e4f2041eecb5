package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/transport/v3/stdnet"
	"github.com/pion/turn/v4"

	"github.com/natkit/natkit/internal/tcpturn"
	"github.com/natkit/natkit/reports"
)

// firstChannel is the channel number every allocation binds (channels are
// per allocation, so they may all use the same one).
const firstChannel = 0x4000

// maintainEvery renews allocations, permissions (5 min) and channels
// (10 min) during long traffic runs.
var maintainEvery = 4 * time.Minute

// Snapshot is the live state passed to Config.Progress.
type Snapshot struct {
	Elapsed     time.Duration
	Phase       string // "allocating", "traffic", "draining", "deleting"
	Active      int64  // allocations up
	Allocated   int64  // successful allocations so far
	AllocFailed int64
	SentPPS     float64 // over the last interval
	RecvPPS     float64
	Sent        int64
	Received    int64
	LossPercent float64 // so far; packets in flight count as lost
	P99         time.Duration
}

type engine struct {
	cfg        Config
	log        *slog.Logger
	serverAddr *net.UDPAddr
	peerAddr   *net.UDPAddr
	// family is REQUESTED-ADDRESS-FAMILY's value in Allocates
	// (tcpturn.FamilyIPv4 or FamilyIPv6), 0 for none.
	family     byte
	user, pass string
	t0         time.Time
	phase      atomic.Value // string

	refused, readErrors, foreign, dups, echoed atomic.Int64
	sendErrors                                 atomic.Int64
	lastRx                                     atomic.Int64
	received, bytesRx, sent, bytesTx, late     atomic.Int64
	allocOK, allocFail, active, peakActive     atomic.Int64
	relayedIPv6                                atomic.Int64
	unauthorized, timeouts, netErrors          atomic.Int64

	mu       sync.Mutex
	outcomes map[[2]string]int64
	latency  map[string]*reports.Recorder

	allocLatency, allocLatencySched *reports.Recorder
	connectLatency                  *reports.Recorder
	tlsErrors                       atomic.Int64
	lastTLSErr                      atomic.Pointer[TLSError]
	rtt, rttSched, sendLag, jitter  *reports.Recorder

	trafficStart time.Duration
	buckets      int
	sentBySec    []atomic.Int64
	recvBySec    []atomic.Int64

	stopOnce sync.Once
	stopErr  error
	cancel   context.CancelFunc

	seriesMu sync.Mutex
	series   map[string]*reports.Series

	// fast is the batched Linux data path (nil: one reader goroutine per
	// session). polling switches it from waking on every packet to
	// polling every fastTick, while traffic flows and drains.
	fast    fastPath
	polling atomic.Bool
	// rxWakeStamped counts fast-path datagrams without a usable kernel
	// receive timestamp, timestamped at the thread's wake instead.
	rxWakeStamped atomic.Int64
}

func (e *engine) now() time.Duration { return time.Since(e.t0) }

func (e *engine) credentials() (string, string) { return e.user, e.pass }

func (e *engine) outcome(method, label string) {
	e.mu.Lock()
	e.outcomes[[2]string{method, label}]++
	e.mu.Unlock()
	switch label {
	case "401":
		if method == methodAllocate {
			e.unauthorized.Add(1)
		}
	case OutcomeTimeout:
		e.timeouts.Add(1)
	case OutcomeNetwork:
		e.netErrors.Add(1)
	}
}

func (e *engine) requestLatency(method string, d time.Duration) {
	e.mu.Lock()
	r := e.latency[method]
	if r == nil {
		r = reports.NewLatencyRecorder("turn." + method + ".latency")
		e.latency[method] = r
	}
	e.mu.Unlock()
	r.RecordDuration(d)
}

func (e *engine) onEcho(size int, sched, rtt, rttSched time.Duration) {
	e.received.Add(1)
	e.bytesRx.Add(int64(size))
	e.rtt.RecordDuration(rtt)
	e.rttSched.RecordDuration(rttSched)
	if i := int((sched - e.trafficStart) / time.Second); i >= 0 && i < e.buckets {
		e.recvBySec[i].Add(1)
	}
}

// stop ends the run early for a reason that makes going on pointless.
func (e *engine) stop(err error) {
	e.stopOnce.Do(func() {
		e.stopErr = err
		e.log.Debug("stopping early", "reason", err)
		e.cancel()
	})
}

// hopeless stops the run when the first allocations prove that no
// allocation can succeed, rather than waiting out every attempt.
func (e *engine) hopeless() {
	if e.allocOK.Load() > 0 {
		return
	}
	enough := int64(min(3, e.cfg.Allocations))
	switch {
	case e.tlsErrors.Load() >= enough:
		e.stop(e.lastTLSErr.Load()) // a *TLSError: errors.Is(err, ErrTLS)
	case e.unauthorized.Load() >= enough:
		e.stop(fmt.Errorf("%w: the credentials are wrong or expired", ErrUnauthorized))
	case e.timeouts.Load()+e.netErrors.Load() >= enough && e.lastRx.Load() == 0:
		e.stop(fmt.Errorf("%w within %s: it is down, unreachable, or not a TURN server on %s", ErrUnreachable, e.cfg.RequestTimeout, e.cfg.Transport))
	}
}

func (e *engine) sleepUntil(ctx context.Context, at time.Duration) bool {
	d := at - e.now()
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (e *engine) point(name, unit string, at time.Duration, v float64) {
	e.seriesMu.Lock()
	defer e.seriesMu.Unlock()
	s := e.series[name]
	if s == nil {
		s = &reports.Series{Name: name, Unit: unit}
		e.series[name] = s
	}
	s.Points = append(s.Points, reports.Point{Offset: reports.Duration(at), Value: v})
}

// Run runs the load described by cfg until its duration is over, ctx is
// cancelled, or the server proves unusable. It returns a Result in every
// case where the run started (with Interrupted or Stopped set); an error
// alone means the run could not start (bad config, unresolvable address).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &engine{
		cfg: cfg, log: cfg.Logger,
		outcomes:          map[[2]string]int64{},
		latency:           map[string]*reports.Recorder{},
		allocLatency:      reports.NewLatencyRecorder(MetricTimeToRelay),
		connectLatency:    reports.NewLatencyRecorder(MetricConnect),
		allocLatencySched: reports.NewLatencyRecorder("turn.allocate.time_to_relay_from_schedule"),
		rtt:               reports.NewLatencyRecorder(MetricRTT),
		rttSched:          reports.NewLatencyRecorder("relay.rtt_from_schedule"),
		sendLag:           reports.NewLatencyRecorder("bench.send_lag"),
		jitter:            reports.NewLatencyRecorder("relay.jitter"),
		series:            map[string]*reports.Series{},
	}
	var err error
	// The server and the peer are reached in their own families: an
	// IPv6 server is dialed over IPv6 whatever family it relays in.
	if e.serverAddr, err = cfg.Net.ResolveUDPAddr("udp", cfg.Server); err != nil {
		return nil, cfgErr("server", cfg.Server, "cannot resolve: %v", err)
	}
	if cfg.Peer != "" {
		if e.peerAddr, err = cfg.Net.ResolveUDPAddr("udp", cfg.Peer); err != nil {
			return nil, cfgErr("--peer", cfg.Peer, "cannot resolve: %v", err)
		}
	}
	if e.family, err = requestedFamily(cfg.RelayFamily, e.peerAddr, cfg.Peer); err != nil {
		return nil, err
	}
	if cfg.Secret != "" {
		if e.user, e.pass, err = turn.GenerateLongTermTURNRESTCredentials(cfg.Secret, cfg.SecretUser, 24*time.Hour); err != nil {
			return nil, fmt.Errorf("mint rest credentials: %w", err)
		}
	} else {
		e.user, e.pass = cfg.Username, cfg.Password
	}
	e.phase.Store("allocating")
	cpu0 := cpuTime()
	e.t0 = time.Now()
	res := &Result{Started: e.t0, Server: cfg.Server, Transport: cfg.Transport, Mode: cfg.Mode,
		Allocations: cfg.Allocations, Rate: cfg.Rate, PPS: cfg.PPS, Size: cfg.Size, Pair: cfg.Pair, Peer: cfg.Peer,
		Duration: cfg.Duration}

	runCtx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	defer cancel()
	if cfg.PPS > 0 && cfg.Transport == "udp" && e.serverAddr.IP.To4() != nil { // the batched path is IPv4 only
		if _, real := cfg.Net.(*stdnet.Net); real {
			if e.fast, err = newFastPath(e); err != nil {
				e.log.Debug("fast path unavailable", "err", err)
			}
			if e.fast != nil {
				defer e.fast.close()
			}
		}
	}
	tickDone := make(chan struct{})
	tickStop := make(chan struct{})
	go e.ticker(tickStop, tickDone)

	switch {
	case cfg.TCPAllocations: // RFC 6062 (tcpalloc.go)
		res.Mode, res.Kind = ModeTCPRelay, KindAllocation
		if cfg.PPS > 0 {
			res.Kind = KindTraffic
			e.runTCPTraffic(ctx, runCtx, res)
		} else {
			e.runTCPAllocations(runCtx)
		}
	case cfg.PPS == 0:
		res.Kind = KindAllocation
		e.runAllocations(runCtx)
	default:
		res.Kind = KindTraffic
		e.runTraffic(ctx, runCtx, res)
	}
	close(tickStop)
	<-tickDone

	res.Elapsed = e.now()
	res.DataPath = DataPathPerSession
	if e.fast != nil {
		res.DataPath = DataPathBatched
		res.SendPath = e.fast.path()
	}
	res.RxWakeStamped = e.rxWakeStamped.Load()
	res.CPU = cpuTime() - cpu0
	res.MaxRSS = maxRSS()
	res.Interrupted = ctx.Err() != nil
	res.Stopped = e.stopErr
	if e.stopErr != nil {
		res.StopReason = e.stopErr.Error()
	}
	res.Cause = causeOf(e.stopErr, res.Interrupted)
	e.fill(res)
	return res, nil
}

// requestedFamily is the REQUESTED-ADDRESS-FAMILY value for relayFamily
// (Config.RelayFamily), defaulting to the peer's when it is IPv6; a peer
// of the other family than the one asked for is a ConfigError.
func requestedFamily(relayFamily string, peer *net.UDPAddr, rawPeer string) (byte, error) {
	peerIPv6 := peer != nil && peer.IP.To4() == nil
	switch {
	case relayFamily == "" && peerIPv6:
		return tcpturn.FamilyIPv6, nil
	case relayFamily == "":
		return 0, nil
	case peer != nil && peerIPv6 != (relayFamily == FamilyIPv6):
		return 0, cfgErr("--peer", rawPeer, "is of the other family than --relay-family %s: a relay relays between addresses of one family only (RFC 6156 answers 443); give a peer of the relayed family, or change --relay-family", relayFamily)
	case relayFamily == FamilyIPv6:
		return tcpturn.FamilyIPv6, nil
	}
	return tcpturn.FamilyIPv4, nil
}

// countRelayed counts a granted relayed address by family.
func (e *engine) countRelayed(ip net.IP) {
	if ip.To4() == nil {
		e.relayedIPv6.Add(1)
	}
}

// samePeerFamily checks a relayed address against the echo peer (when
// there is one): a mismatch stops the run, since every packet would be
// refused (443).
func (e *engine) samePeerFamily(relayed net.IP) error {
	if e.peerAddr == nil || (relayed.To4() == nil) == (e.peerAddr.IP.To4() == nil) {
		return nil
	}
	return &PeerFamilyError{Relayed: relayed.String(), Peer: e.cfg.Peer, IPv6: relayed.To4() == nil}
}

// ticker samples the time series and feeds Progress every Interval, and
// stops a traffic run whose server went silent.
func (e *engine) ticker(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(e.cfg.Interval)
	defer t.Stop()
	var lastSent, lastRecv, lastOK, lastFail int64
	last := time.Duration(0)
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := e.now()
		dt := (now - last).Seconds()
		last = now
		sent, recv, ok, fail := e.sent.Load(), e.received.Load(), e.allocOK.Load(), e.allocFail.Load()
		e.point("allocations up", "allocations", now, float64(e.active.Load()))
		e.point("allocations/s", "allocations/s", now, float64(ok-lastOK)/dt)
		e.point("failed allocations/s", "allocations/s", now, float64(fail-lastFail)/dt)
		phase, _ := e.phase.Load().(string)
		if e.cfg.PPS > 0 {
			e.point("sent packets/s", "packets/s", now, float64(sent-lastSent)/dt)
			e.point("received packets/s", "packets/s", now, float64(recv-lastRecv)/dt)
			if phase == "traffic" && sent > 0 {
				silent := now - time.Duration(e.lastRx.Load())
				if silent > e.cfg.ServerSilence {
					e.stop(fmt.Errorf("%w at %s: no packet or response for %s", ErrServerStopped,
						(now - silent).Round(time.Millisecond), silent.Round(time.Millisecond)))
				}
			}
		}
		if e.cfg.Progress != nil {
			s := Snapshot{Elapsed: now, Phase: phase, Active: e.active.Load(), Allocated: ok, AllocFailed: fail,
				SentPPS: float64(sent-lastSent) / dt, RecvPPS: float64(recv-lastRecv) / dt, Sent: sent, Received: recv}
			if sent > 0 {
				s.LossPercent = 100 * float64(sent-recv) / float64(sent)
			}
			if e.cfg.PPS > 0 {
				s.P99 = time.Duration(e.rtt.Metric().P99 * float64(time.Millisecond))
			} else {
				s.P99 = time.Duration(e.allocLatency.Metric().P99 * float64(time.Millisecond))
			}
			e.cfg.Progress(s)
		}
		lastSent, lastRecv, lastOK, lastFail = sent, recv, ok, fail
	}
}

func (e *engine) upActive() {
	n := e.active.Add(1)
	for {
		p := e.peakActive.Load()
		if n <= p || e.peakActive.CompareAndSwap(p, n) {
			return
		}
	}
}

// establish dials and allocates one session at its scheduled time. A 437
// on the first Allocate means the server still holds state for a recently
// closed 5-tuple that the kernel handed out again; like a real client, it
// retries from a fresh socket (the 437 stays counted in the outcomes).
func (e *engine) establish(ctx context.Context, id uint32, sched time.Duration) *session {
	start := e.now()
	for attempt := 0; ; attempt++ {
		s, err := e.dial(ctx, id)
		if err != nil {
			var te *TLSError
			if errors.As(err, &te) {
				e.lastTLSErr.Store(te)
				e.tlsErrors.Add(1)
			}
			e.outcome(methodAllocate, OutcomeNetwork)
			e.allocFail.Add(1)
			e.log.Debug("dial", "err", err)
			if ctx.Err() == nil {
				e.hopeless()
			}
			return nil
		}
		if err := s.allocate(ctx); err != nil {
			s.close()
			var re *ResponseError
			if attempt < 4 && errors.As(err, &re) && re.Code == 437 && ctx.Err() == nil {
				continue
			}
			if ctx.Err() == nil {
				e.allocFail.Add(1)
				e.log.Debug("allocate", "session", id, "err", err)
				e.hopeless()
			}
			return nil
		}
		end := e.now()
		e.allocOK.Add(1)
		e.countRelayed(s.relayed.IP)
		e.upActive()
		e.allocLatency.RecordDuration(end - start)
		e.allocLatencySched.RecordDuration(end - sched)
		return s
	}
}

// runAllocations starts allocate → refresh → delete cycles at Rate, with
// at most Allocations cycles in flight, for Duration.
func (e *engine) runAllocations(ctx context.Context) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range e.cfg.Allocations {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1) - 1
				sched := rampSchedule(k, e.cfg.Rate, e.cfg.Ramp)
				if sched >= e.cfg.Duration || !e.sleepUntil(ctx, sched) {
					return
				}
				s := e.establish(ctx, uint32(k), sched)
				if s == nil {
					continue
				}
				_ = s.refresh(ctx, 10*time.Minute)
				// Delete even after Ctrl-C, briefly, so the server is left clean.
				delCtx, cancel := ctx, context.CancelFunc(func() {})
				if ctx.Err() != nil {
					delCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), min(e.cfg.RequestTimeout, 2*time.Second))
				}
				_ = s.refresh(delCtx, 0)
				cancel()
				e.active.Add(-1)
				s.close()
			}
		}()
	}
	wg.Wait()
}

// rampSchedule is the start time of the k-th event (from 0) when the rate
// rises linearly from 0 to rate over ramp, then stays: during the ramp k
// events have started by t = sqrt(2·k·ramp/rate).
func rampSchedule(k int64, rate float64, ramp time.Duration) time.Duration {
	r := ramp.Seconds()
	inRamp := rate * r / 2 // events started during the ramp
	var t float64
	if float64(k) < inRamp {
		t = math.Sqrt(2 * float64(k) * r / rate)
	} else {
		t = r + (float64(k)-inRamp)/rate
	}
	return time.Duration(t * float64(time.Second))
}

// pool runs f(i) for i in [0,n) on up to width goroutines.
func pool(n, width int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, width) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

func (e *engine) runTraffic(parent, ctx context.Context, res *Result) {
	cfg := e.cfg
	n := cfg.Allocations
	sessions := make([]*session, n)
	period := float64(time.Second) / cfg.Rate
	pool(n, 512, func(i int) {
		sched := time.Duration(float64(i) * period)
		if !e.sleepUntil(ctx, sched) {
			return
		}
		s := e.establish(ctx, uint32(i+1), sched)
		if s == nil {
			return
		}
		if !cfg.Pair {
			if err := e.samePeerFamily(s.relayed.IP); err != nil {
				e.stop(err) // s is still deleted with the others
			} else if err := s.connectPeer(ctx, e.peerAddr, firstChannel); err != nil {
				e.log.Debug("connect peer", "session", s.id, "err", err)
				s.sendBuf = nil
			}
		}
		sessions[i] = s
	})
	var all []*session
	for _, s := range sessions {
		if s != nil {
			all = append(all, s)
		}
	}
	if cfg.Pair {
		pool(len(all)/2, 256, func(i int) {
			a, b := all[2*i], all[2*i+1]
			if a.connectPeer(ctx, b.relayed, firstChannel) != nil || b.connectPeer(ctx, a.relayed, firstChannel) != nil {
				a.sendBuf, b.sendBuf = nil, nil
			}
		})
	}
	var active []*session
	for _, s := range all {
		if s.sendBuf != nil {
			active = append(active, s)
		}
	}
	res.PeerSetupFailed = int64(len(all) - len(active))
	if cfg.Pair && len(all)%2 == 1 {
		res.PeerSetupFailed-- // the odd one out has no partner; not a failure
	}
	res.Senders = len(active)
	maint := make(chan struct{})
	maintDone := make(chan struct{})
	if len(active) > 0 && ctx.Err() == nil {
		e.trafficStart = e.now()
		e.buckets = int(cfg.Duration/time.Second) + 2
		e.sentBySec = make([]atomic.Int64, e.buckets)
		e.recvBySec = make([]atomic.Int64, e.buckets)
		e.lastRx.Store(int64(e.trafficStart))
		e.phase.Store("traffic")
		e.polling.Store(true)
		go e.maintain(ctx, all, maint, maintDone)
		e.sendAll(ctx, active)
		close(maint)
		<-maintDone
		res.TrafficDuration = e.now() - e.trafficStart
		if e.stopErr == nil && parent.Err() == nil {
			e.phase.Store("draining")
			deadline := e.now() + cfg.Drain
			for e.now() < deadline && e.received.Load() < e.sent.Load() {
				time.Sleep(10 * time.Millisecond)
			}
		}
	} else {
		close(maint)
	}
	// Per-session receive statistics; the readers stop touching rx once
	// the session is closed.
	e.phase.Store("deleting")
	e.polling.Store(false)
	serverGone := errors.Is(e.stopErr, ErrServerStopped) || errors.Is(e.stopErr, ErrUnreachable)
	delCtx, cancel := context.WithTimeout(context.WithoutCancel(parent), min(cfg.RequestTimeout, 2*time.Second))
	defer cancel()
	pool(len(all), 256, func(i int) {
		s := all[i]
		if !serverGone {
			_ = s.refresh(delCtx, 0)
		}
		e.active.Add(-1)
		s.close()
	})
	for _, s := range active {
		res.Sent += s.sent
		res.Late += s.late
		res.Received += s.rx.received
		res.Duplicates += s.rx.dups
		res.Reordered += s.rx.reordered
		if s.rx.haveTransit {
			e.jitter.RecordDuration(time.Duration(s.rx.jitter))
		}
	}
}

// maintain renews allocations, permissions and channels in long runs.
func (e *engine) maintain(ctx context.Context, all []*session, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(maintainEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, s := range all {
			if ctx.Err() != nil {
				return
			}
			if s.refresh(ctx, 10*time.Minute) == nil && s.peer != nil {
				_ = s.refreshPeer(ctx)
			}
		}
	}
}

// sendAll drives the send schedule on one goroutine per CPU. Shard j
// sends to its sessions in turn, one every 1/(n·PPS); a send's scheduled
// time is fixed in advance, so a late tool shows up as send lag and in the
// RTT measured from the schedule.
func (e *engine) sendAll(ctx context.Context, active []*session) {
	if e.fast != nil {
		e.fast.sendAll(ctx, active)
		return
	}
	shards := min(runtime.GOMAXPROCS(0), len(active))
	var wg sync.WaitGroup
	for j := range shards {
		mine := e.shard(active, j, shards)
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.sendShard(ctx, mine)
		}()
	}
	wg.Wait()
}

// shard returns the j-th of shards interleaved slices of active and sets
// their sessions' ramp start times.
func (e *engine) shard(active []*session, j, shards int) []*session {
	var mine []*session
	for i := j; i < len(active); i += shards {
		mine = append(mine, active[i])
	}
	for i, s := range mine {
		s.firstTx = time.Duration(float64(e.cfg.Ramp) * float64(i) / float64(len(mine)))
	}
	return mine
}

func (e *engine) sendShard(ctx context.Context, mine []*session) {
	n := int64(len(mine))
	interval := float64(time.Second) / (float64(n) * e.cfg.PPS)
	end := e.trafficStart + e.cfg.Duration
	for k := int64(0); ; k++ {
		sched := e.trafficStart + time.Duration(float64(k)*interval)
		if sched >= end {
			return
		}
		now := e.now()
		if sched > now {
			if ctx.Err() != nil {
				return
			}
			// Sleep at least one tick, as the batched path does: a wake
			// per packet costs more CPU than the ≤ 1 ms of send lag saved.
			time.Sleep(max(sched-now, fastTick))
			now = e.now()
		} else if k&1023 == 0 && ctx.Err() != nil {
			return
		}
		s := mine[k%n]
		if sched-e.trafficStart < s.firstTx {
			continue
		}
		e.sendOne(s, k/n, sched, now)
	}
}

// sendOne sends session s's packet seq, scheduled at sched, now, and
// counts it.
func (e *engine) sendOne(s *session, seq int64, sched, now time.Duration) {
	lag := now - sched
	if lag > e.cfg.LateAfter {
		s.late++
		e.late.Add(1)
	}
	e.sendLag.RecordDuration(lag)
	if err := s.send(seq, sched, now); err != nil {
		if !errors.Is(err, syscall.ECONNREFUSED) {
			e.sendErrors.Add(1)
		}
	}
	s.sent++
	e.sent.Add(1)
	e.bytesTx.Add(int64(e.cfg.Size))
	if i := int((sched - e.trafficStart) / time.Second); i < e.buckets {
		e.sentBySec[i].Add(1)
	}
}

// fill copies the engine's measurements into res.
func (e *engine) fill(res *Result) {
	res.AllocationsSucceeded = e.allocOK.Load()
	res.AllocationsFailed = e.allocFail.Load()
	res.RelayedIPv6 = e.relayedIPv6.Load()
	res.PeakAllocations = e.peakActive.Load()
	res.BytesSent, res.BytesReceived = e.bytesTx.Load(), e.bytesRx.Load()
	res.SendErrors = e.sendErrors.Load()
	res.Foreign = e.foreign.Load()
	res.ICMPUnreachable = e.refused.Load()
	if rx := e.lastRx.Load(); rx > 0 {
		res.LastResponse = time.Duration(rx)
	}
	e.mu.Lock()
	for k, v := range e.outcomes {
		res.Outcomes = append(res.Outcomes, Outcome{Method: k[0], Outcome: k[1], Count: v})
	}
	methods := make([]string, 0, len(e.latency))
	for m := range e.latency {
		methods = append(methods, m)
	}
	sort.Strings(methods)
	for _, m := range methods {
		res.RequestLatency = append(res.RequestLatency, e.latency[m].Metric())
	}
	e.mu.Unlock()
	sort.Slice(res.Outcomes, func(i, j int) bool {
		a, b := res.Outcomes[i], res.Outcomes[j]
		if a.Method != b.Method {
			return methodOrder(a.Method) < methodOrder(b.Method)
		}
		return a.Outcome < b.Outcome
	})
	res.AllocLatency = e.allocLatency.Metric()
	if e.cfg.Transport != TransportUDP {
		res.ConnectLatency = e.connectLatency.Metric()
	}
	res.AllocLatencyFromSchedule = e.allocLatencySched.Metric()
	if res.Kind == KindTraffic {
		res.RTT = e.rtt.Metric()
		res.RTTFromSchedule = e.rttSched.Metric()
		res.SendLag = e.sendLag.Metric()
		res.Jitter = e.jitter.Metric()
		for i := 0; i < e.buckets; i++ {
			sent := e.sentBySec[i].Load()
			if sent == 0 {
				continue
			}
			recv := e.recvBySec[i].Load()
			e.point("loss by send second", "%", e.trafficStart+time.Duration(i)*time.Second,
				100*math.Max(0, float64(sent-recv))/float64(sent))
		}
	}
	e.seriesMu.Lock()
	names := make([]string, 0, len(e.series))
	for n := range e.series {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		res.Series = append(res.Series, *e.series[n])
	}
	e.seriesMu.Unlock()
}

func methodOrder(m string) string {
	order := []string{methodAllocate, methodRefresh, methodPermission, methodChannelBind, methodDelete}
	for i, o := range order {
		if o == m {
			return fmt.Sprint(i)
		}
	}
	return "9" + strings.ToLower(m)
}
