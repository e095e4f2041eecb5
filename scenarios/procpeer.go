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
	"github.com/natkit/natkit/signalserver"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/vnet"
)

// processPeer is one side's peer in a process of its own inside the side's
// network namespace, signalling through natkit signal in the WAN
// namespace: headless Chromium (peer: chromium; the runner drives its page
// step by step) or natkit call (peer: pion-process; its steps are its
// command line, and it runs its call on its own).
type processPeer interface {
	// start begins the peer's call: it joins the room.
	start(ctx context.Context) error
	// The steps a driven peer takes. A peer that runs its call on its own
	// took them at start, and returns nil.
	waitConnected(ctx context.Context) error
	probe(ctx context.Context, p call.ProbeConfig) error
	restartICE(ctx context.Context) error
	hangUp(ctx context.Context) error
	// waitHangUp waits for the offerer's bye.
	waitHangUp(ctx context.Context) error
	// finished returns once the steps' end is the peer's end too: at once
	// for a driven peer, when its process exits for one that runs its
	// call on its own (or when ctx ends).
	finished(ctx context.Context)
	// view reads the peer's side of the call back into v, never waiting
	// on a hung peer beyond ctx.
	view(ctx context.Context, side string, v *peerViews)
	// close kills its process group, by the PID it started.
	close() error
}

// peerViews are the sides' own views of a call with process peers.
type peerViews struct {
	// browsers are chromium peers' results.
	browsers map[string]*browser.Result
	// engines are natkit's engine's results, in process or pion-process.
	engines map[string]*call.Result
	// procs are the pion-process peers' processes.
	procs map[string]*PeerOutcome
}

// processKinds are the peer kinds that run in a process of their own.
var processKinds = []string{PeerChromium, PeerPionProcess}

func (s SideSpec) isProcess() bool { return contains(processKinds, s.Peer) }

// hasProcessPeer reports whether either side runs a process peer.
func (t Topology) hasProcessPeer() bool { return t.A.isProcess() || t.B.isProcess() }

// processKind is the kind of the first process peer (a, then b), and its
// side.
func (t Topology) processKind() string {
	if t.A.isProcess() {
		return t.A.Peer
	}
	return t.B.Peer
}

// processRules are what each process peer kind can do, and why not the
// rest.
var processRules = map[string]struct {
	steps              []string
	signaling, media   string
	ice, expectAllowed string
	backendDescription string
}{
	PeerChromium: {steps: chromiumSteps, signaling: "it signals through natkit signal", media: "its calls carry the data channel",
		ice: "Chromium's ICE agent keeps its own", expectAllowed: "connected, path, within, delivered, auth_failure",
		backendDescription: "headless Chromium"},
	PeerPionProcess: {steps: pionProcessSteps, signaling: "it signals through natkit signal", media: "natkit call's audio is not wired to scenarios",
		ice: "natkit call keeps pion's defaults, the browser timeouts", expectAllowed: "connected, path, within, delivered, auth_failure, family, relay_protocol",
		backendDescription: "natkit call"},
}

// validateProcessPeers refuses what a process peer cannot do: the runner
// drives a page or starts a program, not the network or the peer's ICE
// agent.
func (s *Spec) validateProcessPeers() error {
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		switch s.Topology.side(side).Peer {
		case PeerChromium:
			if err := s.validateChromiumSteps(); err != nil {
				return err
			}
		case PeerPionProcess:
			if err := s.validatePionProcessSteps(); err != nil {
				return err
			}
		}
	}
	kind := s.Topology.processKind()
	rules := processRules[kind]
	sg := s.Signaling
	if sg.Delay > 0 || sg.Jitter > 0 || sg.Reorder || len(sg.DropCandidates) > 0 || sg.CandidatesBeforeOffer > 0 {
		return s.errAt(fmt.Sprintf("signaling settings are not available with peer: %s (%s)", kind, rules.signaling), "signaling")
	}
	if s.Media.Audio {
		return s.errAt(fmt.Sprintf("media.audio is not available with peer: %s (%s)", kind, rules.media), "media")
	}
	if s.ICE.Timeouts != "" || s.ICE.DisconnectedTimeout != nil || s.ICE.FailedTimeout != nil || s.ICE.KeepAlive != nil ||
		s.ICE.HostWait != nil || s.ICE.SrflxWait != nil || s.ICE.PrflxWait != nil || s.ICE.RelayWait != nil {
		return s.errAt(fmt.Sprintf("ice timeouts are not available with peer: %s (%s)", kind, rules.ice), "ice")
	}
	e := s.Expect
	for _, k := range []struct {
		set bool
		key string
	}{{e.RecoversWithin > 0, "recovers_within"}, {e.AudioDelivered != nil, "audio_delivered"},
		{e.DetectedWithin > 0, "detected_within"}, {e.Rebound != "", "rebound"}} {
		if k.set {
			return s.errAt(fmt.Sprintf("expect %s is not available with peer: %s (%s)", k.key, kind, rules.expectAllowed), "expect", k.key)
		}
	}
	return nil
}

// refuseProcessPeer is the error for a process peer on a backend without
// network namespaces.
func (s *Spec) refuseProcessPeer(backend string) error {
	side := "a"
	if !s.Topology.A.isProcess() {
		side = "b"
	}
	kind := s.Topology.side(side).Peer
	return s.errAt(fmt.Sprintf("peer: %s needs the kernel backend (use --net kernel): it runs %s inside the side's network namespace, which the %s backend does not have",
		kind, processRules[kind].backendDescription, backend), "topology", side, "peer")
}

// wanSignal is natkit signal started in the WAN namespace for peers that
// signal across the lab (command and process peers).
type wanSignal struct {
	addr, room string
	close      func()
}

func (w wanSignal) wsURL() string   { return "ws://" + w.addr + "/ws" }
func (w wanSignal) pageURL() string { return "http://" + w.addr + "/peer.html" }

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
	peer := call.PeerConfig{Net: n, ICEServers: s.iceServers(top, side), RelayOnly: s.ICE.Policy == "relay", ICE: &ice, Logger: o.Logger,
		MDNS: s.Topology.side(side).mdnsMode(o.mdns()), ICETCP: s.ICE.ICETCP, ICETCPPort: s.ICE.ICETCPPort}
	if f, ok := top.(streamURLs); ok {
		peer.TURNRootCAs = f.RelayRootCAs()
	}
	cfg := client.CallConfig{
		URL: sig.wsURL(), Room: sig.room, Role: role, ConnectTimeout: timeout, Peer: peer,
		Dial: &client.Options{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dial}}},
	}
	if st := s.sendStep(); st != nil {
		cfg.Probe = call.ProbeConfig{Count: st.Messages, Size: st.Size, Interval: st.Interval.D()}
	}
	return cfg, nil
}

// sendStep is the scenario's last send step, nil without one.
func (s *Spec) sendStep() *SendStep {
	var out *SendStep
	for _, st := range s.Steps {
		if st.Send != nil {
			out = st.Send
		}
	}
	return out
}

// connectTimeout is the last wait_connected step's timeout, else the
// default wait.
func (s *Spec) connectTimeout(o Options) time.Duration {
	timeout := o.WaitTimeout
	for _, st := range s.Steps {
		if st.WaitConnected != nil && st.WaitConnected.Timeout > 0 {
			timeout = st.WaitConnected.Timeout.D()
		}
	}
	return timeout
}

// launchPeer makes side's process peer, ready to start: a browser with
// the peer page open, or natkit call's command line.
func launchPeer(ctx context.Context, s *Spec, top Network, cn commandNetwork, o Options, side string, sig wanSignal, timeout time.Duration) (processPeer, error) {
	if s.Topology.side(side).Peer == PeerPionProcess {
		return newPionProcess(s, top, cn, o, side, sig, timeout)
	}
	return launchChromium(ctx, s, top, cn, o, side, sig)
}

// runProcessPeers runs a call with at least one process peer: natkit
// signal in the WAN namespace, each process peer inside its side's
// namespace, natkit's engine in process through the signaling server on a
// side without one, the steps, and the call's result from every view.
func runProcessPeers(ctx context.Context, s *Spec, top Network, o Options, res *Result) error {
	cn, ok := top.(commandNetwork)
	if !ok {
		return s.refuseProcessPeer(o.Net)
	}
	if s.Topology.hasChromium() {
		if _, err := browser.Find(""); err != nil {
			return err
		}
		release, err := takeChromiumSlots(ctx, s)
		if err != nil {
			return err
		}
		defer release()
	}
	sig, err := startWANSignal(s, cn, o)
	if err != nil {
		return err
	}
	defer sig.close()
	timeout := s.connectTimeout(o)

	// Every process peer first, all at once: their start-up is not the
	// call's time.
	peers := map[string]processPeer{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var startErr error
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		if !s.Topology.side(side).isProcess() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := launchPeer(ctx, s, top, cn, o, side, sig, timeout)
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
			_ = p.close()
		}
	}()
	if startErr != nil {
		return startErr
	}

	cctx, cancel := context.WithTimeout(ctx, 2*timeout+10*time.Second)
	defer cancel()
	d := &processDriver{spec: s, peers: peers, timeout: timeout}
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		if p := peers[side]; p != nil {
			if err := p.start(cctx); err != nil {
				d.fail(side, err)
			}
		}
	}
	// natkit's engine, if a side runs it in process, joins once the other
	// peer is in the room, and runs its side of the call on its own.
	var pionDone chan struct{}
	var pion *call.Result
	pionSide := vnet.SideB
	if s.Topology.B.isProcess() {
		pionSide = vnet.SideA
	}
	if d.crash == nil && len(peers) == 1 {
		pionDone = make(chan struct{})
		cfg, err := pionCallConfig(s, top, o, pionSide, sig, timeout)
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
		// A peer answering the engine stops waiting when the engine is
		// done.
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
		for _, p := range peers {
			p.finished(cctx)
		}
	}
	if d.crash != nil {
		cancel() // the engine's call is over too
	}
	if pionDone != nil {
		<-pionDone
	}
	// Read back even after Ctrl-C, but never wait on a hung peer.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer rcancel()
	v := peerViews{browsers: map[string]*browser.Result{}, engines: map[string]*call.Result{}, procs: map[string]*PeerOutcome{}}
	for side, p := range peers {
		p.view(rctx, side, &v)
	}
	if pion != nil {
		v.engines[pionSide] = pion
	}
	if len(v.browsers) > 0 {
		res.Browsers = v.browsers
	}
	if len(v.procs) > 0 {
		res.Peers = v.procs
	}
	res.Call = processCall(s, v, d)
	if ctx.Err() != nil && d.crash == nil && (len(v.engines) == 0 || res.Call.Cause == call.CausePeerCrashed) {
		// Two browsers, or a natkit call stopped without its report: no
		// engine said so itself.
		res.Call.Cause = call.CauseInterrupted
	}
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		if r := v.browsers[side]; r != nil && r.Crashed {
			res.Diagnoses = append(res.Diagnoses, fmt.Sprintf("side %s: chromium crashed during the call: %s", side, r.Error))
		}
		if p := v.procs[side]; p != nil && v.engines[side] != nil && v.engines[side].Cause == call.CausePeerCrashed {
			res.Diagnoses = append(res.Diagnoses, fmt.Sprintf("side %s: %s", side, v.engines[side].Error))
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

// processDriver runs the scenario's steps on the process peers: side a
// drives (it offers, probes, restarts and hangs up); side b follows.
type processDriver struct {
	spec    *Spec
	peers   map[string]processPeer
	timeout time.Duration
	crash   *browser.CrashError
	errs    []string
}

// fail notes a step's error: a crash ends the call.
func (d *processDriver) fail(side string, err error) {
	var ce *browser.CrashError
	if errors.As(err, &ce) {
		if d.crash == nil {
			d.crash = ce
		}
		return
	}
	d.errs = append(d.errs, fmt.Sprintf("side %s: %v", side, err))
}

func (d *processDriver) steps(ctx context.Context) {
	steps := d.spec.Steps
	if len(steps) == 0 {
		steps = defaultSteps
	}
	t0 := time.Now()
	hungUp := false
	for _, st := range steps {
		if d.crash != nil || ctx.Err() != nil {
			return
		}
		if st.At != nil {
			if sleepCtx(ctx, time.Until(t0.Add(st.At.D()))) != nil {
				return
			}
		}
		name, _ := st.action()
		hungUp = hungUp || name == "hangup"
		d.step(ctx, name, st)
		if processStepHook != nil {
			processStepHook(name, d.peers)
		}
	}
	// The answerer stays until the offerer's bye (an in-process offerer's
	// too).
	a, b := d.peers[vnet.SideA], d.peers[vnet.SideB]
	if b != nil && d.crash == nil && (hungUp || a == nil) {
		wctx, cancel := context.WithTimeout(ctx, d.timeout)
		defer cancel()
		if err := b.waitHangUp(wctx); err != nil {
			d.fail(vnet.SideB, err)
		}
	}
}

// processStepHook, when set (by tests), runs after each step, e.g. to
// kill a browser mid-call.
var processStepHook func(step string, peers map[string]processPeer)

// step runs one step: side a acts (when it is a process peer), both wait.
func (d *processDriver) step(ctx context.Context, name string, st Step) {
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
			if err := a.probe(ctx, call.ProbeConfig{Count: st.Send.Messages, Size: st.Send.Size, Interval: st.Send.Interval.D()}); err != nil {
				d.fail(vnet.SideA, err)
			}
		}
	case "ice_restart":
		if err := a.restartICE(ctx); err != nil {
			d.fail(vnet.SideA, err)
			return
		}
		d.waitConnected(ctx, d.timeout)
	case "hangup":
		if a != nil {
			if err := a.hangUp(ctx); err != nil {
				d.fail(vnet.SideA, err)
			}
		}
	}
}

// waitConnected waits for every process peer to be connected with its
// data channel open.
func (d *processDriver) waitConnected(ctx context.Context, t time.Duration) {
	wctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		if p := d.peers[side]; p != nil {
			if err := p.waitConnected(wctx); err != nil {
				d.fail(side, err)
			}
		}
	}
}

// timedOut: a wait ended without a verdict from the peers (no "failed"
// state).
func (d *processDriver) timedOut() bool {
	for _, e := range d.errs {
		if strings.Contains(e, call.ErrNotConnected.Error()) {
			return true
		}
	}
	return false
}

// processCall is the call's result in probe/call's model, from the sides'
// views: natkit's engine's own result where a side runs it (the offerer's
// when both do, with the answerer's candidates and events added), with a
// browser's probes and candidates added; for two browsers, built from
// their getStats and page timings. The browsers' events join the timeline
// either way.
func processCall(s *Spec, v peerViews, d *processDriver) *call.Result {
	br := v.browsers
	a, b := br[vnet.SideA], br[vnet.SideB]
	var r *call.Result
	switch {
	case v.engines[vnet.SideA] != nil && v.engines[vnet.SideB] != nil:
		r = joinEngines(s, v.engines[vnet.SideA], v.engines[vnet.SideB])
	case len(v.engines) == 1:
		self, other := vnet.SideA, vnet.SideB
		if v.engines[self] == nil {
			self, other = other, self
		}
		r = v.engines[self]
		bySide(r, self)
		if br[other] != nil && self == vnet.SideB {
			// The engine answers: the probes and their RTT are the
			// browser's.
			r.Messages, r.RTT = br[other].Probes, br[other].ProbeRTT
		}
		// The engine saw its partner only through the pair: with the
		// browser's own candidates, a prflx remote that is the browser's
		// hidden (mDNS) host candidate is named as such.
		if br[other] != nil && r.Path.Pair != nil {
			r.Path = call.PathOf(r.Path.Pair, self, other, br[other].Candidates)
		}
	default:
		r = browsersCall(s, a, b, d)
	}
	for side, br := range br {
		r.Candidates[side] = br.Candidates
		r.Events = append(r.Events, br.Events...)
	}
	sort.SliceStable(r.Events, func(i, j int) bool { return r.Events[i].At.Before(r.Events[j].At) })
	if len(r.Events) > 0 && r.Events[0].At.Before(r.Started) {
		// A process joined the room before its engine's clock started:
		// the timeline starts with the first event.
		r.Started = r.Events[0].At
	}
	if d.crash != nil {
		r.Cause, r.Error = call.CausePeerCrashed, d.crash.Error()
	}
	return r
}

// bySide files a one-peer result's candidates, and the sides its servers
// did not answer, under side rather than the peer's signaling name (offer
// or answer).
func bySide(r *call.Result, side string) {
	if r.Candidates == nil {
		r.Candidates = map[string][]call.Candidate{}
	}
	if len(r.Candidates) != 1 {
		return
	}
	for name, cs := range r.Candidates {
		if name == side {
			continue
		}
		delete(r.Candidates, name)
		r.Candidates[side] = cs
		for _, names := range [][]string{r.Unreached, r.RelayNotGathered} {
			for i, u := range names {
				if u == name {
					names[i] = side
				}
			}
		}
		if why, ok := r.RelayNotGatheredWhy[name]; ok {
			delete(r.RelayNotGatheredWhy, name)
			r.RelayNotGatheredWhy[side] = why
		}
		for i := range r.TURNHandshakeErrors {
			if r.TURNHandshakeErrors[i].Peer == name {
				r.TURNHandshakeErrors[i].Peer = side
			}
		}
		for i := range r.TURNErrors {
			if r.TURNErrors[i].Side == name {
				r.TURNErrors[i].Side = side
			}
		}
	}
}

// joinEngines is the call as both engines saw it: the offerer's result
// (its probes, its pair, its time to connected), with the answerer's
// candidates, events and TURN errors, and the answerer's crash if it
// crashed.
func joinEngines(s *Spec, ra, rb *call.Result) *call.Result {
	bySide(ra, vnet.SideA)
	bySide(rb, vnet.SideB)
	r := ra
	r.Candidates[vnet.SideB] = rb.Candidates[vnet.SideB]
	if r.Path.Pair != nil {
		r.Path = call.PathOf(r.Path.Pair, vnet.SideA, vnet.SideB, r.Candidates[vnet.SideB]).SeenBy(rb.Path.Pair)
	}
	r.Started = earliest(ra.Started, rb.Started)
	r.Events = append(r.Events, rb.Events...)
	r.TURNErrors = append(r.TURNErrors, rb.TURNErrors...)
	r.Unreached = append(r.Unreached, rb.Unreached...)
	r.RelayNotGathered = append(r.RelayNotGathered, rb.RelayNotGathered...)
	for side, why := range rb.RelayNotGatheredWhy {
		if r.RelayNotGatheredWhy == nil {
			r.RelayNotGatheredWhy = map[string]string{}
		}
		r.RelayNotGatheredWhy[side] = why
	}
	r.TURNHandshakeErrors = append(r.TURNHandshakeErrors, rb.TURNHandshakeErrors...)
	r.PermissionsGranted += rb.PermissionsGranted
	r.RelayConfigured = r.RelayConfigured || rb.RelayConfigured
	if r.NoDirectPath == "" {
		r.NoDirectPath = vnet.WhyNoDirectPath(sideSpec(s.Topology.A).Behavior(), sideSpec(s.Topology.B).Behavior())
	}
	switch {
	case r.Cause == call.CausePeerCrashed:
	case rb.Cause == call.CausePeerCrashed:
		r.Cause, r.Error = rb.Cause, rb.Error
	case r.Error == "" && rb.Error != "" && !r.Connected:
		r.Error = "side b: " + rb.Error
	}
	return r
}

// browsersCall is a call between two browsers, from their getStats and
// page timings.
func browsersCall(s *Spec, a, b *browser.Result, d *processDriver) *call.Result {
	r := &call.Result{Started: earliest(a.Started, b.Started), Candidates: map[string][]call.Candidate{},
		RelayOnly: s.ICE.Policy == "relay", Messages: a.Probes, RTT: a.ProbeRTT, Cause: call.CauseOK}
	r.Connected = a.Connected && b.Connected
	if r.Connected {
		last := a.Started.Add(a.Timings.Connected)
		if bt := b.Started.Add(b.Timings.Connected); bt.After(last) {
			last = bt
		}
		r.TimeToConnected = last.Sub(r.Started)
	}
	r.Path = call.PathOf(a.Pair, vnet.SideA, vnet.SideB, b.Candidates).SeenBy(b.Pair)
	r.RelayConfigured = s.ICE.TURN
	r.NoDirectPath = vnet.WhyNoDirectPath(sideSpec(s.Topology.A).Behavior(), sideSpec(s.Topology.B).Behavior())
	r.Candidates[vnet.SideA], r.Candidates[vnet.SideB] = a.Candidates, b.Candidates
	// The pages record the engine's event kinds (signaling, ICE and
	// connection states, candidates): the one classifier reads them.
	// processCall adds them to the timeline.
	r.Events = append(append([]call.Event(nil), a.Events...), b.Events...)
	var runErr error
	switch {
	case r.Connected && a.Probes.Sent > 0 && a.Probes.Received == 0:
		runErr = call.ErrNoDataChannel
	case !r.Connected && d.timedOut():
		runErr = call.ErrNotConnected
	case !r.Connected:
		runErr = call.ErrFailed
	}
	r.Classify(runErr, false)
	r.Events = nil
	if len(d.errs) > 0 {
		r.Error = strings.Join(d.errs, "; ")
	}
	return r
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// runProcessScenario is Run for a scenario with a process peer, on the
// network already built.
func runProcessScenario(ctx context.Context, s *Spec, top Network, o Options, relayName string) (*Result, error) {
	res := &Result{Name: s.Name, Description: s.Description, Started: time.Now(), Relay: relayName,
		Topology: map[string]string{vnet.SideA: top.Describe(vnet.SideA), vnet.SideB: top.Describe(vnet.SideB)}}
	runErr := runProcessPeers(ctx, s, top, o, res)
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

// iceTCPTheory is the scenario's ICE-TCP for the kernel theory: every
// peer gathers passive candidates; only a pion-process peer dials.
func (s *Spec) iceTCPTheory() lab.ICETCP {
	return lab.ICETCP{On: s.ICE.ICETCP, Port: s.ICE.ICETCPPort,
		ActiveA: s.Topology.A.Peer == PeerPionProcess, ActiveB: s.Topology.B.Peer == PeerPionProcess}
}
