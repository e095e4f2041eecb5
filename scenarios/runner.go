package scenarios

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/reports"
	"github.com/natkit/natkit/vnet"
)

// Check is one expectation judged.
type Check struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Pass     bool   `json:"pass"`
	Expected string `json:"expected"`
	Observed string `json:"observed"`
	Message  string `json:"message,omitempty"`
}

// Result is what a scenario did, and its expectations judged. Users can
// assert on it in their own tests.
type Result struct {
	Name        string        `json:"name"`
	Description string        `json:"description,omitempty"`
	Started     time.Time     `json:"started"`
	Duration    time.Duration `json:"duration"`
	// Call is the call's own result: timeline, path, messages, RTT.
	Call *call.Result `json:"call"`
	// Recovery is the time from the last disruption (impair, cut_direct,
	// silence from its start, rebind from its end, or ice_restart when
	// nothing came before) until both peers are connected again and a
	// probe is echoed, if wait_recovered ran.
	Recovery  time.Duration `json:"recovery,omitempty"`
	Recovered bool          `json:"recovered"`
	// Detection is the time from the last disruption until a peer
	// connection reported disconnected or failed, if wait_disconnected
	// saw it.
	Detection time.Duration `json:"detection,omitempty"`
	Detected  bool          `json:"detected"`
	// AuthFailures are the TURN requests the relay refused with 401.
	AuthFailures []vnet.AuthFailure `json:"auth_failures,omitempty"`
	// MappingChanges are the NAT mappings seen to change, per side: the
	// call's packets to one destination left from a new external port.
	MappingChanges map[string][]vnet.MappingChange `json:"mapping_changes,omitempty"`
	// Drops are the packets the topology dropped on purpose, per side.
	Drops map[string]vnet.Drops `json:"drops"`
	// Checks are the expectations, judged.
	Checks []Check `json:"checks"`
	// Diagnoses explain failures in words.
	Diagnoses []string `json:"diagnoses,omitempty"`
	// Topology describes each side's NAT.
	Topology map[string]string `json:"topology"`
}

// Passed reports whether every expectation held.
func (r *Result) Passed() bool {
	for _, c := range r.Checks {
		if !c.Pass {
			return false
		}
	}
	return true
}

// Options are run-time settings that are not part of a scenario.
type Options struct {
	// LoggerFactory receives pion's logs. Default: discard.
	LoggerFactory logging.LoggerFactory
}

var defaultSteps = []Step{
	{Connect: &struct{}{}},
	{WaitConnected: &WaitStep{}},
	{Send: &SendStep{Messages: 10}},
	{HangUp: &struct{}{}},
}

// Run replays a scenario in its own virtual network and judges its
// expectations. Errors are for broken setups and cancellation; a call that
// misbehaves is a Result with failed checks.
func Run(ctx context.Context, spec *Spec, opts ...Options) (*Result, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if spec.root == nil {
		// Built in Go rather than parsed: validate all the same.
		spec.file = "scenario " + spec.Name
		if err := spec.validate(); err != nil {
			return nil, err
		}
	}
	ice, _ := spec.iceSettings()
	top, err := vnet.Build(vnet.Spec{
		A: sideSpec(spec.Topology.A), B: sideSpec(spec.Topology.B),
		Seed: spec.Topology.Seed, LoggerFactory: o.LoggerFactory,
	})
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", spec.Name, err)
	}
	defer top.Close()
	for name, sp := range map[string]SideSpec{"a": spec.Topology.A, "b": spec.Topology.B} {
		if sp.Firewall == "relay-only" {
			_ = top.SetFirewall(name, true)
		}
	}
	peer := func(side string) call.PeerConfig {
		n, _ := top.Net(side)
		var servers []webrtc.ICEServer
		if spec.ICE.STUN == nil || *spec.ICE.STUN {
			servers = append(servers, webrtc.ICEServer{URLs: []string{top.STUNURL()}})
		}
		if spec.ICE.TURN {
			cred := Credential{Username: "natkit", Password: "natkit"}
			if c, ok := spec.ICE.Credentials[side]; ok {
				cred = c
			}
			servers = append(servers, webrtc.ICEServer{URLs: []string{top.TURNURL()}, Username: cred.Username, Credential: cred.Password})
		}
		return call.PeerConfig{Name: side, Net: n, ICEServers: servers, RelayOnly: spec.ICE.Policy == "relay", ICE: &ice, Audio: spec.Media.Audio, LoggerFactory: o.LoggerFactory}
	}
	c, err := call.New(call.Config{
		A: peer("a"), B: peer("b"),
		Signaling: call.PipeConfig{
			Delay: spec.Signaling.Delay.D(), Jitter: spec.Signaling.Jitter.D(), Reorder: spec.Signaling.Reorder,
			DropCandidateTypes: spec.Signaling.DropCandidates, HoldDescriptions: spec.Signaling.CandidatesBeforeOffer.D(),
			Seed: spec.Topology.Seed,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", spec.Name, err)
	}
	res := &Result{Name: spec.Name, Description: spec.Description, Started: time.Now(),
		Topology: map[string]string{"a": top.Describe("a"), "b": top.Describe("b")}}
	r := &runner{spec: spec, top: top, c: c, res: res}
	runErr := r.steps(ctx)
	r.stopTimers()
	_ = c.Close()
	res.Duration = time.Since(res.Started)
	res.AuthFailures = top.AuthFailures()
	res.Drops = map[string]vnet.Drops{"a": top.Drops("a"), "b": top.Drops("b")}
	for _, side := range []string{"a", "b"} {
		for _, mc := range top.MappingChanges(side) {
			if res.MappingChanges == nil {
				res.MappingChanges = map[string][]vnet.MappingChange{}
			}
			res.MappingChanges[side] = append(res.MappingChanges[side], mc)
			c.Timeline.AddAt(mc.At, "nat-"+side, "mapping-changed",
				fmt.Sprintf("%s → %s now leaves from %s (was %s)", mc.Local, mc.Remote, mc.New, mc.Old))
		}
	}
	res.Call = c.Result()
	r.judge()
	if runErr != nil {
		return res, runErr
	}
	return res, ctx.Err()
}

func sideSpec(s SideSpec) vnet.Side {
	return vnet.Side{
		Preset: s.NAT, Mapping: s.Mapping, Filtering: s.Filtering, MappingLifetime: s.MappingLifetime.D(),
		Latency: s.Latency.D(), Jitter: s.Jitter.D(), LossPercent: s.Loss, BandwidthBPS: int(s.Bandwidth),
	}
}

type runner struct {
	spec       *Spec
	top        *vnet.Topology
	c          *call.Call
	res        *Result
	t0         time.Time
	disrupted  time.Time
	connected  bool
	connectErr error
	mu         sync.Mutex
	timers     []*time.Timer
}

func (r *runner) event(kind, detail string) { r.c.Timeline.Add("scenario", kind, detail) }

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *runner) steps(ctx context.Context) error {
	steps := r.spec.Steps
	if len(steps) == 0 {
		steps = defaultSteps
	}
	for i, st := range steps {
		if st.At != nil && !r.t0.IsZero() {
			if err := sleepCtx(ctx, time.Until(r.t0.Add(st.At.D()))); err != nil {
				return err
			}
		}
		name, _ := st.action()
		r.event("step", fmt.Sprintf("%d %s", i+1, name))
		if err := r.step(ctx, st, name); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.event("step-error", fmt.Sprintf("%d %s: %v", i+1, name, err))
		}
	}
	return nil
}

func (r *runner) step(ctx context.Context, st Step, name string) error {
	needsCall := func() error {
		if !r.connected {
			return fmt.Errorf("skipped: the call is not connected")
		}
		return nil
	}
	switch name {
	case "connect":
		r.t0 = time.Now()
		return r.c.Start(ctx)
	case "wait_connected":
		timeout := st.WaitConnected.Timeout.D()
		if timeout == 0 {
			timeout = 30 * time.Second
		}
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := r.c.WaitConnected(wctx); err != nil {
			r.connectErr = err
			return err
		}
		r.connected = true
	case "send":
		if err := needsCall(); err != nil {
			return err
		}
		_, err := r.c.Probe(ctx, call.ProbeConfig{Count: st.Send.Messages, Size: st.Send.Size, Interval: st.Send.Interval.D()})
		return err
	case "impair":
		im := st.Impair
		if err := r.top.SetImpairment(im.Side, vnet.Impairment{LossPercent: im.Loss, Latency: im.Latency.D()}); err != nil {
			return err
		}
		r.disrupted = time.Now()
		r.event("impair", fmt.Sprintf("side %s: loss %g%%, latency %v, for %v", im.Side, im.Loss, im.Latency.D(), im.For.D()))
		if im.For > 0 {
			side := im.Side
			r.mu.Lock()
			r.timers = append(r.timers, time.AfterFunc(im.For.D(), func() {
				_ = r.top.Restore(side)
				r.event("restore", "side "+side+" back to its topology")
			}))
			r.mu.Unlock()
		}
	case "cut_direct":
		r.top.CutDirect(true)
		r.disrupted = time.Now()
		r.event("cut", "every packet between a and b that does not go through the relay is dropped")
	case "restore_direct":
		r.top.CutDirect(false)
		r.event("restore", "direct path between a and b open again")
	case "ice_restart":
		if err := needsCall(); err != nil {
			return err
		}
		if r.disrupted.IsZero() {
			r.disrupted = time.Now()
		}
		return r.c.A.RestartICE()
	case "silence":
		ss := st.Silence
		if err := r.top.Silence(ss.Side, true); err != nil {
			return err
		}
		r.disrupted = time.Now()
		r.event("silence", fmt.Sprintf("side %s sends nothing for %v: its NAT sees no outbound packet (mapping lifetime %v)", ss.Side, ss.For.D(), r.top.MappingLifetime(ss.Side)))
		side := ss.Side
		r.mu.Lock()
		r.timers = append(r.timers, time.AfterFunc(ss.For.D(), func() {
			_ = r.top.Silence(side, false)
			r.event("silence-end", "side "+side+" sends again")
		}))
		r.mu.Unlock()
	case "rebind":
		side := st.Rebind.Side
		r.event("rebind", fmt.Sprintf("side %s silent at its NAT for its mapping lifetime %v + %v", side, r.top.MappingLifetime(side), vnet.RebindMargin))
		if _, err := r.top.Rebind(ctx, side); err != nil {
			return err
		}
		r.disrupted = time.Now() // the new mapping takes effect now
		r.event("rebind-end", "side "+side+"'s NAT has forgotten its mappings: the next packet from each socket leaves from a new external port")
	case "wait":
		return sleepCtx(ctx, st.Wait.For.D())
	case "wait_disconnected":
		if err := needsCall(); err != nil {
			return err
		}
		timeout := st.WaitDisconnected.Timeout.D()
		if timeout == 0 {
			timeout = 30 * time.Second
		}
		from := r.disrupted
		if from.IsZero() {
			from = time.Now()
		}
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			for _, p := range []*call.Peer{r.c.A, r.c.B} {
				switch st := p.State(); st {
				case webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateFailed:
					r.res.Detection = time.Since(from)
					r.res.Detected = true
					r.event("detected", fmt.Sprintf("peer %s %s %v after the disruption", p.Name(), st, r.res.Detection.Round(time.Millisecond)))
					return nil
				}
			}
			if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
				return err
			}
		}
		return fmt.Errorf("no peer connection disconnected within %v", timeout)
	case "wait_recovered":
		if err := needsCall(); err != nil {
			return err
		}
		timeout := st.WaitRecovered.Timeout.D()
		if timeout == 0 {
			timeout = 30 * time.Second
		}
		from := r.disrupted
		if from.IsZero() {
			from = time.Now()
		}
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			// Recovered means both peer connections are connected again
			// (an ICE restart takes them through "connecting") and a
			// probe makes the round trip.
			if r.c.A.State() != webrtc.PeerConnectionStateConnected || r.c.B.State() != webrtc.PeerConnectionStateConnected {
				if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
					return err
				}
				continue
			}
			s, err := r.c.A.Probe(ctx, call.ProbeConfig{Count: 1, Grace: 250 * time.Millisecond})
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == nil && s.Received == 1 {
				r.res.Recovery = time.Since(from)
				r.res.Recovered = true
				r.event("recovered", fmt.Sprintf("probe echoed %v after the disruption", r.res.Recovery.Round(time.Millisecond)))
				return nil
			}
			if err != nil {
				if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
					return err
				}
			}
		}
		return fmt.Errorf("no probe echoed within %v", timeout)
	case "hangup":
		r.c.HangUp()
	}
	return nil
}

func (r *runner) stopTimers() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.timers {
		t.Stop()
	}
}

func (r *runner) judge() {
	res, e, cr := r.res, r.spec.Expect, r.res.Call
	add := func(id, name string, pass bool, expected, observed, msg string) {
		res.Checks = append(res.Checks, Check{ID: id, Name: name, Pass: pass, Expected: expected, Observed: observed, Message: msg})
	}
	connectedText := "not connected"
	if cr.Connected {
		connectedText = "connected in " + cr.TimeToConnected.Round(time.Millisecond).String()
	}
	if e.Connected != nil {
		want := "connected"
		if !*e.Connected {
			want = "not connected"
		}
		msg := ""
		if cr.Connected != *e.Connected && cr.Error != "" {
			msg = cr.Error
		}
		add("connected", "the call connects", cr.Connected == *e.Connected, want, connectedText, msg)
	}
	if e.Path != "" && e.Path != "any" {
		ok := cr.Connected && ((e.Path == "direct" && cr.Path.Direct()) || (e.Path == "relay" && cr.Path.Class == call.PathRelay))
		add("path", "the media path", ok, e.Path, cr.Path.Describe(), "")
	}
	if e.Within > 0 {
		ok := cr.Connected && cr.TimeToConnected <= e.Within.D()
		add("within", "time to connected", ok, "≤ "+e.Within.D().String(), connectedText, "")
	}
	if e.Delivered != nil {
		obs := "no messages sent"
		ok := false
		if cr.Messages.Sent > 0 {
			pct := 100 * float64(cr.Messages.Received) / float64(cr.Messages.Sent)
			obs = fmt.Sprintf("%.1f%% (%d of %d echoed)", pct, cr.Messages.Received, cr.Messages.Sent)
			ok = pct >= *e.Delivered
		}
		add("delivered", "probe messages delivered", ok, fmt.Sprintf("≥ %g%%", *e.Delivered), obs, "")
	}
	if e.AudioDelivered != nil {
		obs := "no audio sent"
		ok := false
		if cr.Audio != nil && cr.Audio.Sent > 0 {
			pct := 100 * float64(cr.Audio.Received) / float64(cr.Audio.Sent)
			obs = fmt.Sprintf("%.1f%% (%d of %d RTP packets)", pct, cr.Audio.Received, cr.Audio.Sent)
			ok = pct >= *e.AudioDelivered
		}
		add("audio", "audio packets delivered", ok, fmt.Sprintf("≥ %g%%", *e.AudioDelivered), obs, "")
	}
	if e.RecoversWithin > 0 {
		obs := "did not recover"
		if res.Recovered {
			obs = "recovered in " + res.Recovery.Round(time.Millisecond).String()
		}
		add("recovers", "recovery after the disruption", res.Recovered && res.Recovery <= e.RecoversWithin.D(), "≤ "+e.RecoversWithin.D().String(), obs, "")
	}
	if e.DetectedWithin > 0 {
		obs := "no peer connection reported disconnected"
		if res.Detected {
			obs = "disconnected after " + res.Detection.Round(time.Millisecond).String()
		}
		add("detected", "the dead path is detected (disconnected)", res.Detected && res.Detection <= e.DetectedWithin.D(), "≤ "+e.DetectedWithin.D().String(), obs, "")
	}
	if e.Rebound != "" {
		mcs := res.MappingChanges[e.Rebound]
		obs := "no mapping changed: every packet left from the external port it used before"
		if len(mcs) > 0 {
			obs = fmt.Sprintf("%d flow(s) moved, e.g. %s → %s from %s to %s", len(mcs), mcs[0].Local, mcs[0].Remote, mcs[0].Old, mcs[0].New)
		}
		add("rebound", "side "+e.Rebound+"'s NAT rebinds the call to a new external port", len(mcs) > 0,
			"packets to the same destination from a new external port", obs, "")
	}
	bySide := map[string][]vnet.AuthFailure{}
	for _, f := range res.AuthFailures {
		bySide[f.Side] = append(bySide[f.Side], f)
	}
	if e.AuthFailure != "" {
		obs := "no 401 from the relay"
		if fs := bySide[e.AuthFailure]; len(fs) > 0 {
			obs = fmt.Sprintf("%d request(s) answered 401 (%s)", len(fs), fs[0].Reason)
		}
		add("auth-failure", "the relay refuses side "+e.AuthFailure+"'s credentials", len(bySide[e.AuthFailure]) > 0, "401 Unauthorized for side "+e.AuthFailure, obs, "")
	}
	for _, side := range []string{"a", "b"} {
		if fs := bySide[side]; len(fs) > 0 {
			hasRelay := false
			for _, c := range cr.Candidates[side] {
				if c.Type == "relay" {
					hasRelay = true
				}
			}
			d := fmt.Sprintf("side %s: the relay answered 401 Unauthorized (%s) to %d TURN request(s) with username %q from %s: the credentials are wrong or expired",
				side, strings.ReplaceAll(fs[0].Reason, "_", " "), len(fs), fs[0].Username, fs[0].Source)
			if !hasRelay {
				d += fmt.Sprintf(", so side %s has no relay candidate", side)
			}
			res.Diagnoses = append(res.Diagnoses, d+". Check the username and password (or the shared secret that mints them).")
		}
		if d := res.Drops[side]; d.Firewall > 0 {
			res.Diagnoses = append(res.Diagnoses, fmt.Sprintf("side %s: the firewall dropped %d UDP packets that were not for the relay", side, d.Firewall))
		}
	}
	if !cr.Connected && len(res.AuthFailures) == 0 {
		if d := r.whyNotConnected(cr); d != "" {
			res.Diagnoses = append(res.Diagnoses, d)
		}
	}
	if !cr.Connected && r.connectErr != nil {
		res.Diagnoses = append(res.Diagnoses, "no connection: "+r.connectErr.Error())
	}
}

// whyNotConnected names the cause of a failed call from the NAT theory and
// the candidates, and the next step; "" when theory gives no reason.
func (r *runner) whyNotConnected(cr *call.Result) string {
	why := vnet.WhyNoDirectPath(sideSpec(r.spec.Topology.A).Behavior(), sideSpec(r.spec.Topology.B).Behavior())
	if why == "" {
		return ""
	}
	relays := 0
	for _, side := range []string{"a", "b"} {
		for _, c := range cr.Candidates[side] {
			if c.Type == "relay" {
				relays++
			}
		}
	}
	if relays == 0 {
		return "ICE failed: " + why + "; and no relay candidate was gathered, so nothing could carry the call. A TURN server (relay candidates that reach the peer) is needed for this pair."
	}
	return "ICE failed: " + why + "; relay candidates were gathered but no relayed pair worked — check that both sides' relay candidates reached the other (signaling) and that the relay is reachable."
}

// Report turns the result into a report of kind "scenario".
func (r *Result) Report() *reports.Report {
	rep := reports.New("scenario", r.Name)
	rep.Started = r.Started
	rep.Duration = reports.Duration(r.Duration)
	rep.Target = fmt.Sprintf("a: %s, b: %s", r.Topology["a"], r.Topology["b"])
	if r.Call != nil {
		r.Call.Fill(rep)
	}
	for _, c := range r.Checks {
		v := reports.VerdictPass
		if !c.Pass {
			v = reports.VerdictFail
		}
		rep.AddCheck(reports.Check{ID: c.ID, Name: c.Name, Verdict: v, Expected: c.Expected, Observed: c.Observed, Message: c.Message})
	}
	if len(r.Diagnoses) > 0 {
		t := reports.Table{Title: "diagnosis", Columns: []string{"finding"}}
		for _, d := range r.Diagnoses {
			t.Rows = append(t.Rows, []string{d})
		}
		rep.Tables = append(rep.Tables, t)
	}
	t := reports.Table{Title: "dropped on purpose", Columns: []string{"side", "loss", "firewall", "cut", "silence"}}
	for _, side := range []string{"a", "b"} {
		d := r.Drops[side]
		t.Rows = append(t.Rows, []string{side, fmt.Sprint(d.Loss), fmt.Sprint(d.Firewall), fmt.Sprint(d.Cut), fmt.Sprint(d.Silence)})
	}
	rep.Tables = append(rep.Tables, t)
	if len(r.MappingChanges) > 0 {
		mt := reports.Table{Title: "nat mappings that changed", Columns: []string{"side", "host socket", "destination", "old external", "new external"}}
		for _, side := range []string{"a", "b"} {
			for _, mc := range r.MappingChanges[side] {
				mt.Rows = append(mt.Rows, []string{side, mc.Local, mc.Remote, mc.Old, mc.New})
			}
		}
		rep.Tables = append(rep.Tables, mt)
	}
	if r.Detected {
		rep.Metrics = append(rep.Metrics, reports.Gauge("detection", "ms", float64(r.Detection)/float64(time.Millisecond)))
	}
	if r.Recovered {
		rep.Metrics = append(rep.Metrics, reports.Gauge("recovery", "ms", float64(r.Recovery)/float64(time.Millisecond)))
	}
	var parts []string
	if r.Call != nil {
		if r.Call.Connected {
			parts = append(parts, fmt.Sprintf("connected in %v, %s", r.Call.TimeToConnected.Round(time.Millisecond), r.Call.Path.Describe()))
		} else {
			parts = append(parts, "not connected")
		}
		if r.Call.Messages.Sent > 0 {
			parts = append(parts, fmt.Sprintf("%d/%d messages echoed", r.Call.Messages.Received, r.Call.Messages.Sent))
		}
	}
	if len(r.Diagnoses) > 0 {
		parts = append(parts, r.Diagnoses[0])
	}
	rep.Summary = strings.Join(parts, "; ")
	_ = rep.SetDetails(r)
	return rep
}
