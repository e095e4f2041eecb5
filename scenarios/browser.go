package scenarios

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/probe/browser"
	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/reports"
	"github.com/natkit/natkit/signalserver"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/vnet"
)

func (s SideSpec) isChromium() bool { return s.Peer == PeerChromium }

// hasChromium reports whether either side runs a chromium peer.
func (t Topology) hasChromium() bool { return t.A.isChromium() || t.B.isChromium() }

// chromiumSteps are the steps a browser peer can take.
var chromiumSteps = []string{"connect", "wait_connected", "send", "ice_restart", "hangup"}

// validateChromium refuses what a chromium peer cannot do: the runner
// drives a page, not the network or the browser's ICE agent.
func (s *Spec) validateChromium() error {
	for i, st := range s.Steps {
		name, _ := st.action()
		if !contains(chromiumSteps, name) {
			return s.errAt(fmt.Sprintf("step %d: %s is not available with peer: chromium (a browser peer can do: %s)", i+1, name, strings.Join(chromiumSteps, ", ")), "steps", fmt.Sprint(i))
		}
		if name == "ice_restart" && !s.Topology.A.isChromium() {
			return s.errAt(fmt.Sprintf("step %d: ice_restart with peer: chromium needs side a (the offerer) to be the chromium peer: natkit's engine across signaling runs its call on its own", i+1), "steps", fmt.Sprint(i))
		}
	}
	sg := s.Signaling
	if sg.Delay > 0 || sg.Jitter > 0 || sg.Reorder || len(sg.DropCandidates) > 0 || sg.CandidatesBeforeOffer > 0 {
		return s.errAt("signaling settings are not available with peer: chromium (it signals through natkit signal)", "signaling")
	}
	if s.Media.Audio {
		return s.errAt("media.audio is not available with peer: chromium (its calls carry the data channel)", "media")
	}
	if s.ICE.Timeouts != "" || s.ICE.DisconnectedTimeout != nil || s.ICE.FailedTimeout != nil || s.ICE.KeepAlive != nil ||
		s.ICE.HostWait != nil || s.ICE.SrflxWait != nil || s.ICE.PrflxWait != nil || s.ICE.RelayWait != nil {
		return s.errAt("ice timeouts are not available with peer: chromium (Chromium's ICE agent keeps its own)", "ice")
	}
	e := s.Expect
	for _, k := range []struct {
		set bool
		key string
	}{{e.RecoversWithin > 0, "recovers_within"}, {e.AudioDelivered != nil, "audio_delivered"},
		{e.DetectedWithin > 0, "detected_within"}, {e.Rebound != "", "rebound"}} {
		if k.set {
			return s.errAt(fmt.Sprintf("expect %s is not available with peer: chromium (connected, path, within, delivered, auth_failure)", k.key), "expect", k.key)
		}
	}
	return nil
}

// refuseChromium is the error for a chromium peer on a backend without
// network namespaces.
func (s *Spec) refuseChromium(backend string) error {
	side := "a"
	if !s.Topology.A.isChromium() {
		side = "b"
	}
	return s.errAt(fmt.Sprintf("peer: chromium needs the kernel backend (use --net kernel): it runs headless Chromium inside the side's network namespace, which the %s backend does not have", backend), "topology", side, "peer")
}

// chromiumSlots hold at most one browser per side at a time in this
// process, whatever Options.Parallel says: on 2 cores, two Chromiums per
// call are already the bottleneck, and more only slow every call down.
var chromiumSlots = map[string]chan struct{}{vnet.SideA: make(chan struct{}, 1), vnet.SideB: make(chan struct{}, 1)}

// takeChromiumSlots takes the slots of s's chromium sides (in side order,
// so two runs never hold one each) and returns their release.
func takeChromiumSlots(ctx context.Context, s *Spec) (func(), error) {
	var held []chan struct{}
	release := func() {
		for _, c := range held {
			<-c
		}
	}
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		if !s.Topology.side(side).isChromium() {
			continue
		}
		select {
		case chromiumSlots[side] <- struct{}{}:
			held = append(held, chromiumSlots[side])
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		}
	}
	return release, nil
}

// wanSignal is natkit signal started in the WAN namespace for peers that
// signal across the lab (command and chromium peers).
type wanSignal struct {
	addr, room string
	close      func()
}

func (w wanSignal) wsURL() string   { return "ws://" + w.addr + "/ws" }
func (w wanSignal) pageURL() string { return "http://" + w.addr + "/peer.html" }

// runChromium runs a call with at least one chromium peer: natkit signal in
// the WAN namespace, one browser per chromium side inside its namespace,
// natkit's engine through the signaling server on the other side, the
// steps, and the call's result from both views.
func runChromium(ctx context.Context, s *Spec, top Network, o Options, res *Result) error {
	cn, ok := top.(commandNetwork)
	if !ok {
		return s.refuseChromium(o.Net)
	}
	if _, err := browser.Find(""); err != nil {
		return err
	}
	release, err := takeChromiumSlots(ctx, s)
	if err != nil {
		return err
	}
	defer release()
	sig, err := startWANSignal(s, cn, o)
	if err != nil {
		return err
	}
	defer sig.close()
	timeout := o.WaitTimeout
	for _, st := range s.Steps {
		if st.WaitConnected != nil && st.WaitConnected.Timeout > 0 {
			timeout = st.WaitConnected.Timeout.D()
		}
	}

	// Browsers first, both at once: their start-up is not the call's time.
	peers := map[string]*browser.Peer{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var startErr error
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		if !s.Topology.side(side).isChromium() {
			continue
		}
		role := browser.RoleOffer
		if side == vnet.SideB {
			role = browser.RoleAnswer
		}
		var servers []browser.ICEServer
		for _, is := range s.iceServers(top, side) {
			servers = append(servers, browser.ICEServer{URLs: is.URLs, Username: is.Username, Credential: fmt.Sprint(is.Credential)})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := browser.Launch(ctx, browser.Config{Namespace: cn.Namespaces()[side], Logger: o.Logger})
			var p *browser.Peer
			if err == nil {
				p, err = b.Open(ctx, browser.PeerConfig{Name: side, PageURL: sig.pageURL(), Room: sig.room, Role: role,
					ICEServers: servers, RelayOnly: s.ICE.Policy == "relay"})
				if err != nil {
					_ = b.Close()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				startErr = errors.Join(startErr, fmt.Errorf("side %s: %w", side, err))
				return
			}
			peers[side] = p
		}()
	}
	wg.Wait()
	defer func() {
		for _, p := range peers {
			_ = p.Browser().Close()
		}
	}()
	if startErr != nil {
		return startErr
	}

	cctx, cancel := context.WithTimeout(ctx, 2*timeout+10*time.Second)
	defer cancel()
	d := &chromiumDriver{spec: s, peers: peers, timeout: timeout, res: res}
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		if p := peers[side]; p != nil {
			if err := p.Start(cctx); err != nil {
				d.fail(side, err)
			}
		}
	}
	// natkit's engine, if a side runs it, joins once the browser is in the
	// room, and runs its side of the call on its own.
	var pionDone chan struct{}
	var pion *call.Result
	if d.crash == nil && len(peers) == 1 {
		pionDone = make(chan struct{})
		side := vnet.SideB
		if !s.Topology.A.isChromium() {
			side = vnet.SideA
		}
		cfg, err := pionCallConfig(s, top, o, side, sig, timeout)
		if err != nil {
			return err
		}
		go func() {
			defer close(pionDone)
			cr, err := client.Call(cctx, cfg)
			if cr == nil {
				cr = call.NotStarted(cctx, time.Now(), &call.Timeline{}, err)
			}
			pion = cr
		}()
	}
	if d.crash == nil {
		// A browser answering the engine stops waiting when the engine
		// is done.
		sctx, stop := context.WithCancel(cctx)
		if pionDone != nil {
			go func() {
				select {
				case <-pionDone:
				case <-sctx.Done():
				}
				stop()
			}()
		}
		d.steps(sctx)
		stop()
	}
	if d.crash != nil {
		cancel() // the engine's call is over too
	}
	if pionDone != nil {
		<-pionDone
	}
	// Read back even after Ctrl-C, but never wait on a hung page.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer rcancel()
	results := map[string]*browser.Result{}
	for side, p := range peers {
		results[side] = p.Result(rctx)
	}
	res.Browsers = results
	res.Call = chromiumCall(s, results, pion, d)
	if pion == nil && ctx.Err() != nil && d.crash == nil {
		res.Call.Cause = call.CauseInterrupted
	}
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		if r := results[side]; r != nil && r.Crashed {
			res.Diagnoses = append(res.Diagnoses, fmt.Sprintf("side %s: chromium crashed during the call: %s", side, r.Error))
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if d.crash != nil {
		return d.crash
	}
	return nil
}

// startWANSignal starts natkit signal in the WAN namespace, on the relay's
// address, with a fresh room.
func startWANSignal(s *Spec, cn commandNetwork, o Options) (wanSignal, error) {
	srv, err := signalserver.NewServer(signalserver.Config{Net: cn.WANNet(), Logger: o.Logger})
	if err != nil {
		return wanSignal{}, fmt.Errorf("scenario %s: signaling server: %w", s.Name, err)
	}
	addr := net.JoinHostPort(lab.RelayIP, fmt.Sprint(SignalPort))
	l, err := srv.Listen(addr)
	if err != nil {
		_ = srv.Close()
		return wanSignal{}, fmt.Errorf("scenario %s: signaling server on %s: %w", s.Name, addr, err)
	}
	go func() { _ = srv.Serve(l, srv) }() // ends with srv.Close
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	return wanSignal{addr: addr, room: "scenario-" + hex.EncodeToString(rnd[:]), close: func() { _ = srv.Close() }}, nil
}

// pionCallConfig is natkit's engine on side, through the WAN's signaling
// server.
func pionCallConfig(s *Spec, top Network, o Options, side string, sig wanSignal, timeout time.Duration) (client.CallConfig, error) {
	n, err := top.Net(side)
	if err != nil {
		return client.CallConfig{}, fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	ice, err := s.iceSettings()
	if err != nil {
		return client.CallConfig{}, s.errAt(err.Error(), "ice")
	}
	role := client.RoleOffer
	if side == vnet.SideB {
		role = client.RoleAnswer
	}
	dial := func(_ context.Context, network, address string) (net.Conn, error) { return n.Dial(network, address) }
	cfg := client.CallConfig{
		URL: sig.wsURL(), Room: sig.room, Role: role, ConnectTimeout: timeout,
		Peer: call.PeerConfig{Net: n, ICEServers: s.iceServers(top, side), RelayOnly: s.ICE.Policy == "relay", ICE: &ice, Logger: o.Logger},
		Dial: &client.Options{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dial}}},
	}
	for _, st := range s.Steps {
		if st.Send != nil {
			cfg.Probe = call.ProbeConfig{Count: st.Send.Messages, Size: st.Send.Size, Interval: st.Send.Interval.D()}
		}
	}
	return cfg, nil
}

// chromiumStepHook, when set (by tests), runs after each step, e.g. to
// kill a browser mid-call.
var chromiumStepHook func(step string, peers map[string]*browser.Peer)

// chromiumDriver runs the scenario's steps on the browser peers: side a
// drives (it offers, probes, restarts and hangs up); side b follows.
type chromiumDriver struct {
	spec    *Spec
	peers   map[string]*browser.Peer
	timeout time.Duration
	res     *Result
	t0      time.Time
	crash   *browser.CrashError
	errs    []string
}

// fail notes a step's error: a crash ends the call.
func (d *chromiumDriver) fail(side string, err error) {
	var ce *browser.CrashError
	if errors.As(err, &ce) {
		if d.crash == nil {
			d.crash = ce
		}
		return
	}
	d.errs = append(d.errs, fmt.Sprintf("side %s: %v", side, err))
}

func (d *chromiumDriver) steps(ctx context.Context) {
	steps := d.spec.Steps
	if len(steps) == 0 {
		steps = defaultSteps
	}
	d.t0 = time.Now()
	hungUp := false
	for _, st := range steps {
		if d.crash != nil || ctx.Err() != nil {
			return
		}
		if st.At != nil {
			if sleepCtx(ctx, time.Until(d.t0.Add(st.At.D()))) != nil {
				return
			}
		}
		name, _ := st.action()
		hungUp = hungUp || name == "hangup"
		d.step(ctx, name, st)
		if chromiumStepHook != nil {
			chromiumStepHook(name, d.peers)
		}
	}
	// The answerer stays until the offerer's bye (a pion offerer's too).
	a, b := d.peers[vnet.SideA], d.peers[vnet.SideB]
	if b != nil && d.crash == nil && (hungUp || a == nil) {
		wctx, cancel := context.WithTimeout(ctx, d.timeout)
		defer cancel()
		if err := b.WaitHangUp(wctx); err != nil {
			d.fail(vnet.SideB, err)
		}
	}
}

// step runs one step: side a acts (when it is a browser), both wait.
func (d *chromiumDriver) step(ctx context.Context, name string, st Step) {
	a := d.peers[vnet.SideA]
	switch name {
	case "wait_connected":
		t := d.timeout
		if st.WaitConnected.Timeout > 0 {
			t = st.WaitConnected.Timeout.D()
		}
		d.waitConnected(ctx, t)
	case "send":
		if a != nil {
			if err := a.Probe(ctx, call.ProbeConfig{Count: st.Send.Messages, Size: st.Send.Size, Interval: st.Send.Interval.D()}); err != nil {
				d.fail(vnet.SideA, err)
			}
		}
	case "ice_restart":
		if err := a.RestartICE(ctx); err != nil {
			d.fail(vnet.SideA, err)
			return
		}
		d.waitConnected(ctx, d.timeout)
	case "hangup":
		if a != nil {
			if err := a.HangUp(ctx); err != nil {
				d.fail(vnet.SideA, err)
			}
		}
	}
}

// waitConnected waits for every browser peer to be connected with its
// data channel open.
func (d *chromiumDriver) waitConnected(ctx context.Context, t time.Duration) {
	wctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		if p := d.peers[side]; p != nil {
			if err := p.WaitConnected(wctx); err != nil {
				d.fail(side, err)
			}
		}
	}
}

// chromiumCall is the call's result in probe/call's model: for two
// browsers, built from their getStats and page timings; with natkit's
// engine on one side, the engine's own result with the browser's probes
// and events added. The browsers' events join the timeline either way.
func chromiumCall(s *Spec, br map[string]*browser.Result, pion *call.Result, d *chromiumDriver) *call.Result {
	a, b := br[vnet.SideA], br[vnet.SideB]
	var r *call.Result
	if pion != nil {
		r = pion
		if a != nil {
			// The engine answers: the probes and their RTT are the
			// browser's.
			r.Messages, r.RTT = a.Probes, a.ProbeRTT
		}
	} else {
		r = &call.Result{Started: earliest(a.Started, b.Started), Candidates: map[string][]call.Candidate{},
			RelayOnly: s.ICE.Policy == "relay", Messages: a.Probes, RTT: a.ProbeRTT, Cause: call.CauseOK}
		r.Connected = a.Connected && b.Connected
		if r.Connected {
			last := a.Started.Add(a.Timings.Connected)
			if bt := b.Started.Add(b.Timings.Connected); bt.After(last) {
				last = bt
			}
			r.TimeToConnected = last.Sub(r.Started)
		}
		r.Path = call.PathOf(a.Pair, vnet.SideA, vnet.SideB, b.Candidates)
		r.RelayConfigured = s.ICE.TURN
		r.NoDirectPath = vnet.WhyNoDirectPath(sideSpec(s.Topology.A).Behavior(), sideSpec(s.Topology.B).Behavior())
		switch {
		case r.Connected && a.Probes.Sent > 0 && a.Probes.Received == 0:
			r.Cause = call.CauseDataChannelFailed
		case r.Connected:
		case len(a.Candidates) == 0 || len(b.Candidates) == 0:
			r.Cause = call.CauseNoCandidates
		case d.timedOut():
			r.Cause = call.CauseTimeout
		case r.NoDirectPath != "" && !hasRelay(a.Candidates, b.Candidates):
			r.Cause = call.CauseNoDirectPath
		default:
			r.Cause = call.CauseRelayedPathFailed
			if !hasRelay(a.Candidates, b.Candidates) {
				r.Cause = call.CauseNoRelay
			}
		}
		if len(d.errs) > 0 {
			r.Error = strings.Join(d.errs, "; ")
		}
	}
	for side, br := range br {
		r.Candidates[side] = br.Candidates
		r.Events = append(r.Events, br.Events...)
	}
	sort.SliceStable(r.Events, func(i, j int) bool { return r.Events[i].At.Before(r.Events[j].At) })
	if d.crash != nil {
		r.Cause, r.Error = call.CausePeerCrashed, d.crash.Error()
	}
	return r
}

// timedOut: a wait ended without a verdict from the browsers (no
// "failed" state).
func (d *chromiumDriver) timedOut() bool {
	for _, e := range d.errs {
		if strings.Contains(e, call.ErrNotConnected.Error()) {
			return true
		}
	}
	return false
}

func hasRelay(lists ...[]call.Candidate) bool {
	for _, l := range lists {
		for _, c := range l {
			if c.Type == "relay" {
				return true
			}
		}
	}
	return false
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// runChromiumScenario is Run for a scenario with a chromium peer, on the
// network already built.
func runChromiumScenario(ctx context.Context, s *Spec, top Network, o Options, relayName string) (*Result, error) {
	res := &Result{Name: s.Name, Description: s.Description, Started: time.Now(), Relay: relayName,
		Topology: map[string]string{vnet.SideA: top.Describe(vnet.SideA), vnet.SideB: top.Describe(vnet.SideB)}}
	runErr := runChromium(ctx, s, top, o, res)
	var pe *ParseError
	if errors.As(runErr, &pe) || res.Call == nil {
		return nil, runErr
	}
	res.Duration = time.Since(res.Started)
	res.AuthFailures = top.AuthFailures()
	res.Drops = map[string]vnet.Drops{vnet.SideA: top.Drops(vnet.SideA), vnet.SideB: top.Drops(vnet.SideB)}
	(&runner{spec: s, res: res}).judge()
	return res, runErr
}

// addBrowsers adds each chromium peer's figures to rep: metrics named
// "<side>.<metric>" (browser start and page load apart from the call's ICE
// times, so the report shows where the time goes), a table of those times
// side by side, and each browser's version, flags, selected pair and
// candidates.
func (r *Result) addBrowsers(rep *reports.Report) {
	if len(r.Browsers) == 0 {
		return
	}
	ms := func(d time.Duration) string {
		if d <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	t := reports.Table{Title: "chromium: where the time goes", Columns: []string{"side", "browser start", "page load",
		"first candidate", "first srflx", "first relay", "ice connected", "connected", "first message", "ice rtt"}}
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		br := r.Browsers[side]
		if br == nil {
			continue
		}
		rep.Metrics = append(rep.Metrics, br.Metrics(side+".")...)
		tm := br.Timings
		t.Rows = append(t.Rows, []string{side, ms(br.Browser.StartTime), ms(br.PageLoad), ms(tm.FirstCandidate), ms(tm.FirstSrflx),
			ms(tm.FirstRelay), ms(tm.ICEConnected), ms(tm.Connected), ms(tm.FirstMessage), ms(br.ICERTT)})
	}
	if len(r.Browsers) == 2 {
		// pion's ICE settings (all zero here) say nothing of Chromium's.
		kept := rep.Tables[:0]
		for _, tb := range rep.Tables {
			if tb.Title != "ice settings" {
				kept = append(kept, tb)
			}
		}
		rep.Tables = kept
	}
	rep.Tables = append(rep.Tables, t)
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		if br := r.Browsers[side]; br != nil {
			// Its candidates are in the call's table already.
			rep.Tables = append(rep.Tables, br.InfoTable())
		}
	}
}
