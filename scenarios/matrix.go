package scenarios

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/vnet"
)

// TURN settings of the matrix.
const (
	TURNNo   = "no"
	TURNYes  = "yes"
	TURNBoth = "both"
)

// MatrixConfig configures RunMatrix.
type MatrixConfig struct {
	// NATs are the NAT presets to pair (natkit matrix --nat). Default: all
	// five.
	NATs []string
	// TURN is "no", "yes" or "both". Default "both".
	TURN string
	// Parallel is how many calls run at once. Default 8, or 1 when Peers
	// name anything besides natkit's engine (one browser per side at a
	// time).
	Parallel int
	// Repeat is how many times each cell's call is placed; the report
	// gives each cell's distribution. Default 1.
	Repeat int
	// Peers are the implementations to pair (natkit matrix --peers), each a
	// SideSpec.Peer kind; "pion" names natkit's engine (PeerNatkit). Every
	// ordered pair runs over every preset pair. Kinds besides natkit need
	// the kernel backend. Default [natkit].
	Peers []string
	// ICE are the peers' ICE timers and waits. Default call.FastICE().
	ICE *call.ICESettings
	// ConnectTimeout bounds each call's wait for connected. Default 6s.
	ConnectTimeout time.Duration
	// Messages is the number of probe messages per connected call.
	// Default 5.
	Messages int
	// Seed seeds each topology. Default 1.
	Seed int64
	// Progress, if set, is called after each cell with that cell (its
	// Result set) and how many of total are done. Default nil.
	Progress func(c *Cell, done, total int)
	// Logger receives pion's and the relays' logs. Default: discard.
	Logger *slog.Logger
	// Net names the network backend, as Options.Net. Default "vnet".
	Net string
	// Backend builds each cell's network instead, as Options.Backend.
	// Default nil.
	Backend Backend
}

// Validate checks the config without running anything; the error is a
// *ConfigError naming the setting by its flag name.
func (c MatrixConfig) Validate() error { return c.withDefaults().validate() }

func (c MatrixConfig) withDefaults() MatrixConfig {
	if len(c.NATs) == 0 {
		c.NATs = vnet.PresetNames()
	}
	if c.TURN == "" {
		c.TURN = TURNBoth
	}
	if len(c.Peers) == 0 {
		c.Peers = []string{PeerNatkit}
	}
	peers := make([]string, len(c.Peers))
	for i, p := range c.Peers {
		peers[i] = peerKind(p)
	}
	c.Peers = peers
	if c.Parallel == 0 {
		c.Parallel = 8
		if c.onlyNatkit() != "" {
			c.Parallel = 1
		}
	}
	if c.Repeat == 0 {
		c.Repeat = 1
	}
	if c.ICE == nil {
		f := call.FastICE()
		c.ICE = &f
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 6 * time.Second
	}
	if c.Messages == 0 {
		c.Messages = 5
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c MatrixConfig) validate() error {
	seen := map[string]bool{}
	for _, p := range c.NATs {
		if _, err := c.lookup(p); err != nil {
			return &ConfigError{Field: "nat", Err: err, Kind: ErrConfig}
		}
		if seen[p] {
			return configErrorf("nat", "", "preset %q given twice", p)
		}
		seen[p] = true
	}
	switch c.TURN {
	case TURNNo, TURNYes, TURNBoth:
	default:
		return configErrorf("turn", "", "%q: want no, yes or both", c.TURN)
	}
	if c.Parallel < 0 || c.Messages < 0 || c.ConnectTimeout < 0 {
		return configErrorf("parallel/messages/connect timeout", "", "must not be negative")
	}
	if c.Repeat < 0 {
		return configErrorf("repeat", "", "%d: want 1 or more", c.Repeat)
	}
	if err := c.validatePeers(); err != nil {
		return err
	}
	_, err := selectBackend(c.Net, c.Backend)
	return err
}

// PeerPion is the user-facing name of natkit's engine (pion) in
// natkit matrix --peers; SideSpec.Peer calls it PeerNatkit.
const PeerPion = "pion"

// peerKind maps the user-facing "pion" to the SideSpec.Peer kind.
func peerKind(p string) string {
	if p == PeerPion {
		return PeerNatkit
	}
	return p
}

// PeerLabel names a peer kind as users know it: natkit's engine is "pion".
func PeerLabel(kind string) string {
	if kind == "" || kind == PeerNatkit {
		return PeerPion
	}
	return kind
}

// onlyNatkit returns the first peer kind that is not natkit's engine, or "".
func (c MatrixConfig) onlyNatkit() string {
	for _, p := range c.Peers {
		if p != PeerNatkit {
			return p
		}
	}
	return ""
}

// validatePeers accepts natkit's engine anywhere, and on the kernel backend
// (or a caller's Backend) every kind a scenario's side accepts with no
// other setting: a command peer needs its program, so it stays in
// scenario files.
func (c MatrixConfig) validatePeers() error {
	seen := map[string]bool{}
	for _, p := range c.Peers {
		if seen[p] {
			return configErrorf("peers", PeerLabel(p), "given twice")
		}
		seen[p] = true
		if p == PeerNatkit {
			continue
		}
		if c.Net != NetKernel && c.Backend == nil {
			return configErrorf("peers", p, "needs the kernel backend (--net kernel): only natkit's engine (pion) runs on vnet")
		}
		if p == PeerCommand {
			return configErrorf("peers", p, "a command peer needs its program: put it in a scenario file (natkit scenario run)")
		}
		if p == PeerPionProcess {
			return configErrorf("peers", p, "not in the matrix: its cells are natkit's engine already (pion); pion-process is for scenario files (natkit scenario run)")
		}
		probe := &Spec{Name: "matrix", file: "--peers", Topology: Topology{A: SideSpec{Peer: p}}}
		if err := probe.validate(); err != nil {
			var pe *ParseError
			if errors.As(err, &pe) {
				err = errors.New(pe.Reason)
			}
			return &ConfigError{Field: "peers", Value: p, Err: err, Kind: ErrConfig}
		}
	}
	return nil
}

// Calls is how many calls RunMatrix places: cells × implementation pairs ×
// repeats.
func (c MatrixConfig) Calls() int {
	c = c.withDefaults()
	turns := 1
	if c.TURN == TURNBoth {
		turns = 2
	}
	return len(c.NATs) * len(c.NATs) * turns * len(c.Peers) * len(c.Peers) * c.Repeat
}

// Cell is one call of the matrix: expected against observed.
type Cell struct {
	A    string `json:"a"`
	B    string `json:"b"`
	TURN bool   `json:"turn"`
	// PeerA and PeerB are the implementations on each side (SideSpec.Peer
	// kinds); "" is natkit's engine.
	PeerA string `json:"peer_a,omitempty"`
	PeerB string `json:"peer_b,omitempty"`
	// Run numbers the cell's repeats from 1 (0 when the matrix places
	// each cell once).
	Run int `json:"run,omitempty"`
	// ExpectConnected and ExpectPath ("direct" or "relay") are the theory.
	ExpectConnected bool   `json:"expect_connected"`
	ExpectPath      string `json:"expect_path,omitempty"`
	// ExpectOrElse is the other outcome of a race the kernel theory names
	// ("failed" or "relay"; see docs/lab.md), "" for one outcome.
	ExpectOrElse string `json:"expect_or_else,omitempty"`
	// Result is what the call did.
	Result *call.Result `json:"result"`
	// Err is set when the cell could not be run at all.
	Err string `json:"error,omitempty"`
}

// ObservedPath is "direct", "relay" or "failed".
func (c *Cell) ObservedPath() string {
	if c.Result == nil || !c.Result.Connected {
		return "failed"
	}
	if c.Result.Path.Direct() {
		return "direct"
	}
	if c.Result.Path.Class == call.PathRelay {
		return "relay"
	}
	return "failed"
}

// ExpectedText says the theory in words.
func (c *Cell) ExpectedText() string {
	t := "no connection"
	if c.ExpectConnected {
		t = "connected, " + c.ExpectPath
	}
	switch c.ExpectOrElse {
	case "failed":
		t += ", or no connection (a race: whose first check arrives first)"
	case "relay":
		t += ", or connected, relay (a race: whose first check arrives first)"
	}
	return t
}

// Interrupted reports whether the cell's call was cut short: it has a
// result, but not one to compare with theory.
func (c *Cell) Interrupted() bool { return c.Result != nil && !c.Result.Cause.Completed() }

// ObservedText says what happened in words.
func (c *Cell) ObservedText() string {
	if c.Err != "" {
		return "not run: " + c.Err
	}
	if c.Interrupted() {
		return string(c.Result.Cause)
	}
	if c.Result == nil || !c.Result.Connected {
		return "no connection"
	}
	return fmt.Sprintf("connected, %s in %v", c.ObservedPath(), c.Result.TimeToConnected.Round(time.Millisecond))
}

// Match reports whether observed agrees with theory.
func (c *Cell) Match() bool {
	if c.Err != "" || c.Result == nil || c.Interrupted() {
		return false
	}
	if c.ExpectOrElse != "" && c.ObservedPath() == c.ExpectOrElse {
		return true
	}
	if c.Result.Connected != c.ExpectConnected {
		return false
	}
	return !c.ExpectConnected || c.ObservedPath() == c.ExpectPath
}

// Name names the cell, and its child report: the presets, TURN, and the
// implementations when they are not natkit's engine on both sides. Repeats
// of a cell share its name.
func (c *Cell) Name() string {
	t := "stun only"
	if c.TURN {
		t = "stun+turn"
	}
	n := fmt.Sprintf("%s → %s, %s", c.A, c.B, t)
	if c.PeerA != "" || c.PeerB != "" {
		n += ", " + c.Pair()
	}
	return n
}

// Pair names the implementation pair, offerer first, e.g. "pion×chromium".
func (c *Cell) Pair() string { return PeerLabel(c.PeerA) + "×" + PeerLabel(c.PeerB) }

// natkitOnly reports whether natkit's engine is on both sides.
func (c *Cell) natkitOnly() bool {
	return PeerLabel(c.PeerA) == PeerPion && PeerLabel(c.PeerB) == PeerPion
}

// MatrixResult is every cell of a matrix run.
type MatrixResult struct {
	Config   MatrixConfig  `json:"-"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	// Cells holds every call placed: each cell Repeat times, in order.
	Cells []*Cell `json:"cells"`
	// Stats are the cells' distributions over their repeats, one per cell
	// and implementation pair.
	Stats []*CellStats `json:"stats,omitempty"`
	// Findings are the cells where implementation pairs differ.
	Findings []Finding `json:"findings,omitempty"`
}

// Theory is DESIGN.md's table for a call between presets a and b.
func Theory(a, b string, turn bool) (connected bool, path string, err error) {
	pa, err := vnet.LookupPreset(a)
	if err != nil {
		return false, "", err
	}
	pb, err := vnet.LookupPreset(b)
	if err != nil {
		return false, "", err
	}
	direct := vnet.ExpectDirect(pa, pb)
	switch {
	case direct:
		return true, "direct", nil
	case turn:
		return true, "relay", nil
	}
	return false, "", nil
}

// RunMatrix runs every ordered pair of presets with and/or without TURN,
// each call in its own virtual network, cfg.Parallel at a time. It returns
// the cells in a stable order even when interrupted (unrun cells then have
// no Result).
func RunMatrix(ctx context.Context, cfg MatrixConfig) (*MatrixResult, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	res := &MatrixResult{Config: cfg, Started: time.Now()}
	var turns []bool
	switch cfg.TURN {
	case TURNNo:
		turns = []bool{false}
	case TURNYes:
		turns = []bool{true}
	default:
		turns = []bool{false, true}
	}
	// Implementation pairs and repeats are named only when there are
	// several, so that a plain matrix's cells and report stay as they were.
	label := func(p string) string {
		if len(cfg.Peers) == 1 && p == PeerNatkit {
			return ""
		}
		return p
	}
	for _, pa := range cfg.Peers {
		for _, pb := range cfg.Peers {
			for _, t := range turns {
				for _, a := range cfg.NATs {
					for _, b := range cfg.NATs {
						for run := 1; run <= cfg.Repeat; run++ {
							c := &Cell{A: a, B: b, TURN: t, PeerA: label(pa), PeerB: label(pb)}
							if cfg.Repeat > 1 {
								c.Run = run
							}
							if err := cfg.expect(c); err != nil {
								return nil, &ConfigError{Field: "nat", Err: err, Kind: ErrConfig}
							}
							res.Cells = append(res.Cells, c)
						}
					}
				}
			}
		}
	}
	// Failing cells take longest; start them first so they overlap the rest.
	order := make([]*Cell, len(res.Cells))
	copy(order, res.Cells)
	sort.SliceStable(order, func(i, j int) bool { return !order[i].ExpectConnected && order[j].ExpectConnected })
	sem := make(chan struct{}, cfg.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, c := range order {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int, c *Cell) {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := runCell(ctx, cfg, c, cfg.Seed+int64(i))
			mu.Lock()
			c.Result = r
			if err != nil && ctx.Err() == nil {
				c.Err = err.Error()
			}
			done++
			d := done
			mu.Unlock()
			if cfg.Progress != nil {
				cfg.Progress(c, d, len(order))
			}
		}(i, c)
	}
	wg.Wait()
	res.Duration = time.Since(res.Started)
	res.Stats = res.CellStats()
	res.Findings = Differences(res.Stats)
	return res, ctx.Err()
}

// runCell places one cell's call. Cut short by ctx, it returns the
// interrupted result (or none, when the call had not started) and ctx's
// error.
func runCell(ctx context.Context, cfg MatrixConfig, c *Cell, seed int64) (*call.Result, error) {
	if !c.natkitOnly() {
		return runScenarioCell(ctx, cfg, c, seed)
	}
	var noDirect string
	pa, errA := vnet.LookupPreset(c.A)
	pb, errB := vnet.LookupPreset(c.B)
	if errA == nil && errB == nil {
		noDirect = vnet.WhyNoDirectPath(pa, pb)
	}
	build, err := selectBackend(cfg.Net, cfg.Backend)
	if err != nil {
		return nil, err
	}
	top, err := build(vnet.Spec{A: vnet.Side{Preset: c.A}, B: vnet.Side{Preset: c.B}, Seed: seed, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	defer top.Close()
	na, err := top.Net(vnet.SideA)
	if err != nil {
		return nil, err
	}
	nb, err := top.Net(vnet.SideB)
	if err != nil {
		return nil, err
	}
	servers := func(side string) []webrtc.ICEServer {
		stunURL, urls := top.STUNURL(), []string{top.TURNURL()}
		if f, ok := top.(sideURLs); ok {
			// An IPv6-only side reaches the relay by the name its DNS64
			// resolves.
			stunURL, urls = f.STUNURLFor(side), f.TURNURLFor(side)
		}
		s := []webrtc.ICEServer{{URLs: []string{stunURL}}}
		if !c.TURN {
			return s
		}
		// TURN over TCP where a kernel preset blocks UDP, as a user would.
		if tcp, ok := top.(interface{ TURNTCPURL() string }); ok && (udpBlocked(c.A) || udpBlocked(c.B)) {
			urls = append(urls, tcp.TURNTCPURL())
		}
		return append(s, webrtc.ICEServer{URLs: urls, Username: "natkit", Credential: "natkit"})
	}
	// On the kernel, behind udp-blocked, UDP STUN and TURN transactions
	// time out before gathering completes: answer with what is there.
	var gather time.Duration
	if cfg.Net == NetKernel {
		gather = 2 * time.Second
	}
	return call.Run(ctx, call.Config{
		A:              call.PeerConfig{Name: "a", Net: na, ICEServers: servers(vnet.SideA), ICE: cfg.ICE, CandidatesAfterAnswer: true, GatherTimeout: gather, Logger: cfg.Logger},
		B:              call.PeerConfig{Name: "b", Net: nb, ICEServers: servers(vnet.SideB), ICE: cfg.ICE, NoTrickle: true, GatherTimeout: gather, Logger: cfg.Logger},
		ConnectTimeout: cfg.ConnectTimeout,
		Probe:          call.ProbeConfig{Count: cfg.Messages, Interval: 5 * time.Millisecond, Grace: time.Second},
		NoDirectPath:   noDirect,
	})
}

// runScenarioCell places a cell whose sides are not both natkit's engine
// as a scenario, so that every peer kind scenarios.Run knows (e.g. a
// browser) runs in the matrix unchanged: connect, wait for connected within
// the connect timeout, send the probes, hang up.
func runScenarioCell(ctx context.Context, cfg MatrixConfig, c *Cell, seed int64) (*call.Result, error) {
	// No ice timeouts: a browser keeps its own ICE timers, and scenarios
	// refuse timeouts beside one, so the pion side of a mixed cell runs its
	// engine's default timers too.
	spec := &Spec{
		Name: c.Name(),
		Topology: Topology{Seed: seed,
			A: SideSpec{NAT: c.A, Peer: peerKind(PeerLabel(c.PeerA))},
			B: SideSpec{NAT: c.B, Peer: peerKind(PeerLabel(c.PeerB))}},
		ICE: ICE{TURN: c.TURN},
		Steps: []Step{
			{Connect: &struct{}{}},
			{WaitConnected: &WaitStep{Timeout: Duration(cfg.ConnectTimeout)}},
			{Send: &SendStep{Messages: cfg.Messages, Interval: Duration(5 * time.Millisecond)}},
			{HangUp: &struct{}{}},
		},
	}
	res, err := Run(ctx, spec, Options{Logger: cfg.Logger, Net: cfg.Net, Backend: cfg.Backend, WaitTimeout: cfg.ConnectTimeout})
	if res == nil {
		return nil, err
	}
	if res.Call == nil {
		return nil, errors.Join(err, &NoCallResultError{Cell: c.Name()})
	}
	return res.Call, err
}

// lookup checks a preset name against the config's backend: the kernel has
// presets vnet cannot model (natkit lab presets).
func (c MatrixConfig) lookup(name string) (string, error) {
	if c.Net == NetKernel {
		p, err := lab.LookupPreset(name)
		return p.Name, err
	}
	p, err := vnet.LookupPreset(name)
	if err != nil {
		if _, kerr := lab.LookupPreset(name); kerr == nil {
			return "", fmt.Errorf("%w %q: a kernel preset that vnet does not model (run it with --net kernel)", vnet.ErrUnknownPreset, name)
		}
	}
	return p.Name, err
}

// expect fills a cell's theory: DESIGN.md's table on vnet, lab.Expect (the
// same table on the classic presets, extended by the clash and UDP
// blocking) on the kernel.
func (c MatrixConfig) expect(cell *Cell) error {
	if c.Net != NetKernel {
		var err error
		cell.ExpectConnected, cell.ExpectPath, err = Theory(cell.A, cell.B, cell.TURN)
		return err
	}
	paths, err := lab.Expect(cell.A, cell.B, cell.TURN)
	if err != nil {
		return err
	}
	if paths[0] != lab.PathFailed {
		cell.ExpectConnected, cell.ExpectPath = true, paths[0]
	}
	if len(paths) > 1 {
		cell.ExpectOrElse = paths[1]
	}
	return nil
}

func udpBlocked(preset string) bool {
	p, err := lab.LookupPreset(preset)
	return err == nil && p.UDPBlocked
}
