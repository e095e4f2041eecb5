package scenarios

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/probe/browser"
	"github.com/natkit/natkit/probe/call"
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
	// NotJudged is set when the call did not complete (it was interrupted,
	// or never started): the expectation was not compared, and Pass is
	// false. Its value is the call's Cause.
	NotJudged call.Cause `json:"not_judged,omitempty"`
}

// Result is what a scenario did, and its expectations judged. Users can
// assert on it in their own tests.
type Result struct {
	Name        string        `json:"name"`
	Description string        `json:"description,omitempty"`
	Started     time.Time     `json:"started"`
	Duration    time.Duration `json:"duration"`
	// Call is the call's own result: timeline, path, messages, RTT, Cause.
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
	// Relay is the relay software that served STUN and TURN: natkit or
	// coturn.
	Relay string `json:"relay"`
	// Seed is the topology seed the run used (0: the default, 1).
	Seed int64 `json:"seed,omitempty"`
	// Peers is how each side's peer ended, when a side runs a command
	// (peer: command); Call is then the in-process side's own view, or nil
	// when both sides run commands. With pion-process peers it holds each
	// natkit call's process (command line, exit code, stderr), and Call is
	// the call from the engines' reports.
	Peers map[string]*PeerOutcome `json:"peers,omitempty"`
	// Browsers are the chromium peers' own views (peer: chromium), by side:
	// browser start, page load, getStats and the page's timings. Peers
	// then holds each pion-process peer's process: its command line, exit
	// code and stderr.
	Browsers map[string]*browser.Result `json:"browsers,omitempty"`
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
	// Logger receives pion's and the relay's logs. Default: discard.
	Logger *slog.Logger
	// Net names the network backend: "vnet" or "kernel". Default "vnet".
	// A name this build cannot provide is a *BackendError.
	Net string
	// Backend builds the network instead of the one Net names, e.g. a
	// kernel-namespace backend. Default nil.
	Backend Backend
	// WaitTimeout bounds wait_connected, wait_disconnected and
	// wait_recovered steps that give no timeout. Default 30s.
	WaitTimeout time.Duration
	// Parallel is how many scenarios RunAll runs at once. Default 1.
	Parallel int
	// Repeat is how many times RunAll runs each scenario (natkit scenario
	// run --repeat), run k with topology seed seed+k-1; the report gives
	// the distribution. Default 1.
	Repeat int
	// OnScenario, if set, is called by RunAll as each scenario ends (from
	// that scenario's goroutine), e.g. to drive a progress line. Default nil.
	OnScenario func(SuiteRun)
	// Natkit is the natkit binary a pion-process peer runs (natkit scenario
	// run passes its own executable; tests, one they built). Default:
	// "natkit" on PATH.
	Natkit string
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = 30 * time.Second
	}
	if o.Parallel == 0 {
		o.Parallel = 1
	}
	if o.Repeat == 0 {
		o.Repeat = 1
	}
	return o
}

// mdns is how natkit's peers treat mDNS candidates: on the kernel backend
// they resolve a partner's .local host candidates (a browser hides its
// host addresses behind them), as a browser would; vnet has no multicast.
func (o Options) mdns() call.MDNSMode {
	if o.Net == NetKernel {
		return call.MDNSQuery
	}
	return call.MDNSOff
}

func (o Options) validate() error {
	if o.WaitTimeout < 0 {
		return configErrorf("wait timeout", "", "must not be negative")
	}
	if o.Parallel < 0 {
		return configErrorf("parallel", "", "%d: want 1 or more", o.Parallel)
	}
	if o.Repeat < 0 {
		return configErrorf("repeat", "", "%d: want 1 or more", o.Repeat)
	}
	_, err := o.backend()
	return err
}

var defaultSteps = []Step{
	{Connect: &struct{}{}},
	{WaitConnected: &WaitStep{}},
	{Send: &SendStep{Messages: 10}},
	{HangUp: &struct{}{}},
}

// Timeline event kinds the runner records (as peer "scenario").
const (
	EvStep       call.EventKind = "step"
	EvStepError  call.EventKind = "step-error"
	EvImpair     call.EventKind = "impair"
	EvRestore    call.EventKind = "restore"
	EvCut        call.EventKind = "cut"
	EvSilence    call.EventKind = "silence"
	EvSilenceEnd call.EventKind = "silence-end"
	EvRebind     call.EventKind = "rebind"
	EvRebindEnd  call.EventKind = "rebind-end"
	EvDetected   call.EventKind = "detected"
	EvRecovered  call.EventKind = "recovered"
	// EvMappingChanged is recorded as peer "nat-a" or "nat-b".
	EvMappingChanged call.EventKind = "mapping-changed"
)

// Run replays a scenario in its own network and judges its expectations.
// It does not modify spec. Errors are for broken setups and cancellation;
// a call that misbehaves is a Result with failed checks.
func Run(ctx context.Context, spec *Spec, o Options) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	s := *spec
	if s.root == nil {
		// Built in Go rather than parsed: validate all the same.
		s.file = "scenario " + s.Name
		if err := s.validate(); err != nil {
			return nil, err
		}
	}
	ice, err := s.iceSettings()
	if err != nil {
		return nil, s.errAt(err.Error(), "ice")
	}
	build, err := o.backend()
	if err != nil {
		return nil, err
	}
	if o.Backend == nil {
		if err := s.CheckBackend(o.Net); err != nil {
			return nil, err
		}
	} else if s.Relay == lab.RelayCoturn {
		return nil, s.errAt("relay: coturn needs the built-in kernel backend (Options.Net kernel), not Options.Backend", "relay")
	}
	secure := s.ICE.TURNTransport == TURNOverTLS || s.ICE.TURNTransport == TURNOverDTLS
	if s.Relay == lab.RelayCoturn || (secure && o.Backend == nil) {
		build = func(vs vnet.Spec) (Network, error) {
			c, err := lab.FromVNetSpec(vs)
			if err != nil {
				return nil, err
			}
			c.Relay = s.Relay
			c.RelayTLS = s.ICE.TURNTransport == TURNOverTLS
			c.RelayDTLS = s.ICE.TURNTransport == TURNOverDTLS
			t, err := lab.Build(c)
			if err != nil {
				return nil, err
			}
			return t, nil
		}
	}
	relayName := lab.RelayNatkit
	if s.Relay != "" {
		relayName = s.Relay
	}
	top, err := build(vnet.Spec{A: sideSpec(s.Topology.A), B: sideSpec(s.Topology.B), Seed: s.Topology.Seed, Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	defer top.Close()
	if s.Topology.sharedLAN() {
		j, ok := top.(interface{ JoinLAN() error })
		if !ok {
			return nil, s.errAt("lan: shared needs the kernel backend (Options.Net kernel): this network cannot link the sides", "topology", "lan")
		}
		if err := j.JoinLAN(); err != nil {
			return nil, fmt.Errorf("scenario %s: %w", s.Name, err)
		}
	}
	for name, sp := range map[string]SideSpec{vnet.SideA: s.Topology.A, vnet.SideB: s.Topology.B} {
		if sp.Firewall == "relay-only" {
			if err := top.SetFirewall(name, true); err != nil {
				return nil, fmt.Errorf("scenario %s: firewall side %s: %w", s.Name, name, err)
			}
		}
	}
	if s.Topology.hasProcessPeer() {
		return runProcessScenario(ctx, &s, top, o, relayName)
	}
	if s.Topology.hasCommand() {
		res := &Result{Name: s.Name, Description: s.Description, Started: time.Now(), Relay: relayName, Seed: s.Topology.Seed,
			Topology: map[string]string{vnet.SideA: top.Describe(vnet.SideA), vnet.SideB: top.Describe(vnet.SideB)}}
		runErr := runCommands(ctx, &s, top, o, res)
		var pe *ParseError
		if errors.As(runErr, &pe) {
			return nil, runErr
		}
		res.Duration = time.Since(res.Started)
		res.AuthFailures = top.AuthFailures()
		res.Drops = map[string]vnet.Drops{vnet.SideA: top.Drops(vnet.SideA), vnet.SideB: top.Drops(vnet.SideB)}
		(&runner{spec: &s, res: res}).judgeCommands()
		return res, runErr
	}
	peer := func(side string) (call.PeerConfig, error) {
		n, err := top.Net(side)
		if err != nil {
			return call.PeerConfig{}, fmt.Errorf("scenario %s: %w", s.Name, err)
		}
		servers := s.iceServers(top, side)
		var roots *x509.CertPool
		if f, ok := top.(streamURLs); ok {
			roots = f.RelayRootCAs()
		}
		return call.PeerConfig{Name: side, Net: n, ICEServers: servers, RelayOnly: s.ICE.Policy == "relay", ICE: &ice, Audio: s.Media.Audio, Logger: o.Logger, MDNS: s.Topology.side(side).mdnsMode(o.mdns()), TURNRootCAs: roots,
			ICETCP: s.ICE.ICETCP, ICETCPPort: s.ICE.ICETCPPort}, nil
	}
	pa, err := peer(vnet.SideA)
	if err != nil {
		return nil, err
	}
	pb, err := peer(vnet.SideB)
	if err != nil {
		return nil, err
	}
	c, err := call.New(call.Config{
		A: pa, B: pb,
		Signaling: call.PipeConfig{
			Delay: s.Signaling.Delay.D(), Jitter: s.Signaling.Jitter.D(), Reorder: s.Signaling.Reorder,
			DropCandidateTypes: s.Signaling.DropCandidates, HoldDescriptions: s.Signaling.CandidatesBeforeOffer.D(),
			Seed: s.Topology.Seed,
		},
		NoDirectPath: vnet.WhyNoDirectPath(sideSpec(s.Topology.A).Behavior(), sideSpec(s.Topology.B).Behavior()),
	})
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	res := &Result{Name: s.Name, Description: s.Description, Started: time.Now(), Relay: relayName, Seed: s.Topology.Seed,
		Topology: map[string]string{vnet.SideA: top.Describe(vnet.SideA), vnet.SideB: top.Describe(vnet.SideB)}}
	r := &runner{spec: &s, top: top, c: c, res: res, waitTimeout: o.WaitTimeout}
	runErr := r.steps(ctx)
	r.stopTimers()
	_ = c.Close() // errors closing a finished call change nothing in its result
	res.Duration = time.Since(res.Started)
	res.AuthFailures = top.AuthFailures()
	res.Drops = map[string]vnet.Drops{vnet.SideA: top.Drops(vnet.SideA), vnet.SideB: top.Drops(vnet.SideB)}
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		for _, mc := range top.MappingChanges(side) {
			if res.MappingChanges == nil {
				res.MappingChanges = map[string][]vnet.MappingChange{}
			}
			res.MappingChanges[side] = append(res.MappingChanges[side], mc)
			c.Timeline.AddAt(mc.At, "nat-"+side, EvMappingChanged,
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
	spec        *Spec
	top         Network
	c           *call.Call
	res         *Result
	waitTimeout time.Duration
	t0          time.Time
	disrupted   time.Time
	connected   bool
	connectErr  error
	mu          sync.Mutex
	timers      []*time.Timer
}

func (r *runner) event(kind call.EventKind, detail string) {
	r.c.Timeline.Add("scenario", kind, detail)
}

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
		a, err := st.toAction()
		if err != nil {
			return r.spec.errAt(fmt.Sprintf("step %d: %v", i+1, err), "steps", fmt.Sprint(i))
		}
		if st.At != nil && !r.t0.IsZero() {
			if err := sleepCtx(ctx, time.Until(r.t0.Add(st.At.D()))); err != nil {
				return err
			}
		}
		r.event(EvStep, fmt.Sprintf("%d %s", i+1, a.name()))
		if err := a.run(ctx, r); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.event(EvStepError, fmt.Sprintf("%d %s: %v", i+1, a.name(), err))
		}
	}
	return nil
}

// errNotConnected skips a step that needs a connected call.
var errNotConnected = errors.New("skipped: the call is not connected")

func (r *runner) needsCall() error {
	if !r.connected {
		return errNotConnected
	}
	return nil
}

func (r *runner) after(d time.Duration, f func()) {
	r.mu.Lock()
	r.timers = append(r.timers, time.AfterFunc(d, f))
	r.mu.Unlock()
}

func (r *runner) stopTimers() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.timers {
		t.Stop()
	}
}

func (r *runner) timeout(d Duration) time.Duration {
	if d > 0 {
		return d.D()
	}
	return r.waitTimeout
}

// since is the start of the disruption a wait measures from: the last one,
// or now.
func (r *runner) since() time.Time {
	if r.disrupted.IsZero() {
		return time.Now()
	}
	return r.disrupted
}
