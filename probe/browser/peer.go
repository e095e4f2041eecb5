package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/reports"
)

// Timeline event kinds a browser peer adds to call's.
const (
	EvBrowserStarted call.EventKind = "browser-started"
	EvPageLoaded     call.EventKind = "page-loaded"
	EvCallStart      call.EventKind = "call-start"
	// EvCandidateError is Chromium's icecandidateerror (e.g. a TURN 401).
	EvCandidateError call.EventKind = "candidate-error"
	EvCrashed        call.EventKind = "browser-crashed"
)

// Peer is one side of a call placed by a browser's tab on natkit signal's
// automated peer page.
type Peer struct {
	b        *Browser
	cfg      PeerConfig
	opened   time.Time
	pageLoad time.Duration
	started  time.Time
	// last is the latest snapshot, kept for a browser that dies.
	last *snapshot
	err  error
}

// Open loads the peer page in b's tab. Errors are a *ConfigError, an
// *EnvError (ErrPageLoad) or ctx's.
func (b *Browser) Open(ctx context.Context, cfg PeerConfig) (*Peer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if _, err := url.Parse(cfg.PageURL); err != nil {
		return nil, configErrorf("page url", cfg.PageURL, "%v", err)
	}
	p := &Peer{b: b, cfg: cfg, opened: time.Now()}
	lctx, cancel := context.WithTimeout(b.ctx, cfg.PageTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	// chromedp acts on contexts derived from the browser's tab; ctx
	// still bounds the wait through AfterFunc.
	err := chromedp.Do(lctx, chromedp.Navigate(cfg.PageURL)) //nolint:contextcheck // see above
	for err == nil {
		var ready bool
		ready, err = chromedp.Run(lctx, chromedp.Evaluate[bool](`!!(window.natkitPeer && window.natkitPeer.ready)`)) //nolint:contextcheck // the tab's context
		if err == nil && ready {
			break
		}
		if err == nil {
			err = sleep(lctx, 20*time.Millisecond) //nolint:contextcheck // the tab's context
		}
	}
	p.pageLoad = time.Since(p.opened)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ce *CrashError
		if errors.As(b.crashed(cfg.Name, err), &ce) {
			return nil, &EnvError{Kind: ErrStart, What: "chromium died loading " + cfg.PageURL, Err: ce}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("not loaded within %v", cfg.PageTimeout)
		}
		return nil, &EnvError{Kind: ErrPageLoad, What: cfg.PageURL, Err: err}
	}
	return p, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// eval runs expr in the page (awaiting a promise) and decodes its value
// into out (when not nil).
func (p *Peer) eval(ctx context.Context, expr string, out any) error {
	ectx, cancel := context.WithCancel(p.b.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	//nolint:contextcheck // chromedp acts on the tab's context; ctx cancels it through AfterFunc
	s, err := chromedp.Run(ectx, chromedp.Evaluate[string]("Promise.resolve("+expr+").then((v) => JSON.stringify(v === undefined ? null : v))", chromedp.EvalAwaitPromise))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ex *chromedp.ExceptionError
		if errors.As(err, &ex) {
			return fmt.Errorf("%w: peer %s: %w", ErrStep, p.cfg.Name, err)
		}
		return p.fail(err)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal([]byte(s), out)
}

// fail notes a crash (a *CrashError) or returns err.
func (p *Peer) fail(err error) error {
	err = p.b.crashed(p.cfg.Name, err)
	var ce *CrashError
	if errors.As(err, &ce) && p.err == nil {
		p.err = ce
	}
	return err
}

// Browser is the browser the peer's page runs in.
func (p *Peer) Browser() *Browser { return p.b }

// Start joins the room; the offerer offers once the other peer is there.
func (p *Peer) Start(ctx context.Context) error {
	type startConfig struct {
		Room       string      `json:"room"`
		Role       string      `json:"role"`
		Policy     string      `json:"policy"`
		ICEServers []ICEServer `json:"iceServers"`
	}
	sc := startConfig{Room: p.cfg.Room, Role: p.cfg.Role, Policy: "all", ICEServers: p.cfg.ICEServers}
	if p.cfg.RelayOnly {
		sc.Policy = "relay"
	}
	js, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	p.started = time.Now()
	return p.eval(ctx, "natkitPeer.start("+string(js)+")", nil)
}

// pageState is natkitPeer.state(): cheap, for polling.
type pageState struct {
	ICE        string `json:"ice"`
	Connection string `json:"connection"`
	DCOpen     bool   `json:"dcOpen"`
	RemoteBye  bool   `json:"remoteBye"`
}

// WaitConnected waits until the peer connection is connected and the data
// channel open; call.ErrFailed when it fails, ctx's error at its end.
func (p *Peer) WaitConnected(ctx context.Context) error {
	for {
		var st pageState
		if err := p.eval(ctx, "natkitPeer.state()", &st); err != nil {
			return err
		}
		switch {
		case st.Connection == "connected" && st.DCOpen:
			// Keep what the page knows now, for a browser that dies later.
			_, _ = p.snap(ctx)
			return nil
		case st.Connection == "failed" || st.ICE == "failed":
			return fmt.Errorf("%w: peer %s: connection %s, ice %s", call.ErrFailed, p.cfg.Name, st.Connection, st.ICE)
		}
		if err := sleep(ctx, 25*time.Millisecond); err != nil {
			return fmt.Errorf("%w: peer %s: connection %s, ice %s: %w", call.ErrNotConnected, p.cfg.Name, st.Connection, st.ICE, err)
		}
	}
}

// WaitState waits until the page's connection state is one of states (e.g.
// "connected" again after an ICE restart).
func (p *Peer) WaitState(ctx context.Context, states ...string) error {
	for {
		var st pageState
		if err := p.eval(ctx, "natkitPeer.state()", &st); err != nil {
			return err
		}
		for _, s := range states {
			if st.Connection == s {
				return nil
			}
		}
		if err := sleep(ctx, 25*time.Millisecond); err != nil {
			return err
		}
	}
}

// WaitHangUp waits until the other peer says bye, or ctx ends (nil then:
// a peer that never hangs up is no error of this one).
func (p *Peer) WaitHangUp(ctx context.Context) error {
	for {
		var st pageState
		if err := p.eval(ctx, "natkitPeer.state()", &st); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if st.RemoteBye {
			return nil
		}
		if sleep(ctx, 50*time.Millisecond) != nil {
			return nil
		}
	}
}

// Probe sends cfg.Count probe messages (natkit's format, echoed by a pion
// peer or another browser) and waits for the echoes.
func (p *Peer) Probe(ctx context.Context, cfg call.ProbeConfig) error {
	if cfg.Count == 0 {
		cfg.Count = 10
	}
	if cfg.Size == 0 {
		cfg.Size = 64
	}
	if cfg.Interval == 0 {
		cfg.Interval = 20 * time.Millisecond
	}
	if cfg.Grace == 0 {
		cfg.Grace = 2 * time.Second
	}
	return p.eval(ctx, fmt.Sprintf("natkitPeer.probe(%d, %d, %d, %d)", cfg.Count, cfg.Size, cfg.Interval.Milliseconds(), cfg.Grace.Milliseconds()), nil)
}

// RestartICE makes the offerer send an ICE-restart offer.
func (p *Peer) RestartICE(ctx context.Context) error {
	if p.cfg.Role != RoleOffer {
		return fmt.Errorf("%w: peer %s: only the offerer restarts ICE", ErrStep, p.cfg.Name)
	}
	return p.eval(ctx, "natkitPeer.restart()", nil)
}

// HangUp sends bye and closes the peer connection, after the stats are
// read (a closed connection has none).
func (p *Peer) HangUp(ctx context.Context) error {
	if _, err := p.snap(ctx); err != nil {
		return err
	}
	return p.eval(ctx, "natkitPeer.hangup()", nil)
}

// snapshot is natkitPeer.snapshot(): times are epoch milliseconds.
type snapshot struct {
	Loaded     float64            `json:"loaded"`
	CallStart  float64            `json:"callStart"`
	ICE        string             `json:"ice"`
	Connection string             `json:"connection"`
	Times      map[string]float64 `json:"times"`
	Events     []struct {
		At     float64 `json:"at"`
		Kind   string  `json:"kind"`
		Detail string  `json:"detail"`
		State  string  `json:"state"`
		Signal string  `json:"signal"`
	} `json:"events"`
	Errors      []string        `json:"errors"`
	Local       []pageCandidate `json:"local"`
	Remote      []pageCandidate `json:"remote"`
	RelayErrors []struct {
		URL  string `json:"url"`
		Code int    `json:"code"`
		Text string `json:"text"`
	} `json:"relayErrors"`
	Pair *struct {
		Local  pairEnd  `json:"local"`
		Remote pairEnd  `json:"remote"`
		RTT    *float64 `json:"rtt"`
	} `json:"pair"`
	Probes struct {
		Sent     int       `json:"sent"`
		Received int       `json:"received"`
		RTTs     []float64 `json:"rtts"`
	} `json:"probes"`
}

type pageCandidate struct {
	Type           string `json:"type"`
	Protocol       string `json:"protocol"`
	Address        string `json:"address"`
	Port           int    `json:"port"`
	RelatedAddress string `json:"relatedAddress"`
	RelatedPort    int    `json:"relatedPort"`
	RelayProtocol  string `json:"relayProtocol"`
}

func (c pageCandidate) candidate() call.Candidate {
	out := call.Candidate{Type: c.Type, Protocol: c.Protocol, Address: fmt.Sprintf("%s:%d", c.Address, c.Port)}
	if c.RelatedAddress != "" {
		out.Related = fmt.Sprintf("%s:%d", c.RelatedAddress, c.RelatedPort)
	}
	return out
}

type pairEnd struct {
	Type          string `json:"type"`
	Protocol      string `json:"protocol"`
	Address       string `json:"address"`
	RelayProtocol string `json:"relayProtocol"`
}

func (p *Peer) snap(ctx context.Context) (*snapshot, error) {
	var s snapshot
	if err := p.eval(ctx, "natkitPeer.snapshot()", &s); err != nil {
		return p.last, err
	}
	p.last = &s
	return &s, nil
}

// Result reads the call back from the page (or, for a browser that died,
// from the last snapshot read). It never fails: what could not be read is
// missing, and a crash is in Error and Crashed.
func (p *Peer) Result(ctx context.Context) *Result {
	r := &Result{Peer: p.cfg.Name, Role: p.cfg.Role, Browser: p.b.Info(), PageLoad: p.pageLoad, RelayOnly: p.cfg.RelayOnly,
		Started: p.started, ProbeRTT: reports.NewLatencyRecorder("datachannel_rtt")}
	s := p.last
	if p.err == nil {
		if fresh, err := p.snap(ctx); err == nil {
			s = fresh
		}
	}
	if p.err != nil {
		r.Crashed, r.Error = true, p.err.Error()
	}
	ms := func(epoch float64) time.Time { return time.UnixMicro(int64(epoch * 1000)) }
	r.Events = append(r.Events, call.Event{At: p.b.launched, Peer: r.Peer, Kind: EvBrowserStarted,
		Detail: fmt.Sprintf("%s, pid %d, in %v", r.Browser.Version, r.Browser.PID, r.Browser.StartTime.Round(time.Millisecond))})
	if s == nil {
		return r
	}
	r.Started = ms(s.CallStart)
	r.Events = append(r.Events, call.Event{At: ms(s.Loaded), Peer: r.Peer, Kind: EvPageLoaded, Detail: fmt.Sprintf("in %v", r.PageLoad.Round(time.Millisecond))})
	for _, e := range s.Events {
		kind := call.EventKind(e.Kind)
		if e.Kind == "start" {
			kind = EvCallStart
		}
		r.Events = append(r.Events, call.Event{At: ms(e.At), Peer: r.Peer, Kind: kind, Detail: e.Detail, State: e.State, Signal: e.Signal})
	}
	if r.Crashed {
		r.Events = append(r.Events, call.Event{At: time.Now(), Peer: r.Peer, Kind: EvCrashed, Detail: r.Error})
	}
	since := func(name string) time.Duration {
		if v, ok := s.Times[name]; ok && s.CallStart > 0 {
			return time.Duration((v - s.CallStart) * float64(time.Millisecond))
		}
		return 0
	}
	r.Timings = Timings{
		FirstCandidate: since("firstCandidate"), FirstSrflx: since("firstSrflx"), FirstRelay: since("firstRelay"),
		ICEConnected: since("iceConnected"), Connected: since("connected"), DataChannelOpen: since("dcOpen"),
		FirstMessage: since("firstMessage"),
	}
	r.Connected = r.Timings.Connected > 0 && !r.Crashed
	for _, c := range s.Local {
		r.Candidates = append(r.Candidates, c.candidate())
	}
	for _, c := range s.Remote {
		r.RemoteCandidates = append(r.RemoteCandidates, c.candidate())
	}
	for _, e := range s.RelayErrors {
		r.CandidateErrors = append(r.CandidateErrors, fmt.Sprintf("%s: %d %s", e.URL, e.Code, e.Text))
	}
	r.Errors = s.Errors
	if s.Pair != nil && s.Pair.Local.Type != "" {
		r.Pair = &call.Pair{
			Local:  call.Candidate{Type: s.Pair.Local.Type, Protocol: s.Pair.Local.Protocol, Address: s.Pair.Local.Address},
			Remote: call.Candidate{Type: s.Pair.Remote.Type, Protocol: s.Pair.Remote.Protocol, Address: s.Pair.Remote.Address},
		}
		r.RelayProtocol = s.Pair.Local.RelayProtocol
		if s.Pair.RTT != nil {
			r.ICERTT = time.Duration(*s.Pair.RTT * float64(time.Millisecond))
		}
	}
	r.Probes = call.ProbeStats{Sent: s.Probes.Sent, Received: s.Probes.Received}
	for _, v := range s.Probes.RTTs {
		r.ProbeRTT.RecordDuration(time.Duration(v * float64(time.Millisecond)))
	}
	return r
}
