package scenarios

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/reports"
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
	// Presets are the NAT presets to pair. Default: all five.
	Presets []string
	// TURN is "no", "yes" or "both". Default "both".
	TURN string
	// Parallel is how many calls run at once. Default 8.
	Parallel int
	// ICE are the peers' ICE timers and waits. Default call.FastICE().
	ICE *call.ICESettings
	// ConnectTimeout bounds each call's wait for connected. Default 6s.
	ConnectTimeout time.Duration
	// Messages is the number of probe messages per connected call.
	// Default 5.
	Messages int
	// Seed seeds each topology. Default 1.
	Seed int64
	// Progress, if set, is called after each cell.
	Progress func(done, total int)
	// LoggerFactory receives pion's logs. Default: discard.
	LoggerFactory logging.LoggerFactory
}

// Validate checks the config without running anything.
func (c MatrixConfig) Validate() error { return c.fill() }

func (c *MatrixConfig) fill() error {
	if len(c.Presets) == 0 {
		c.Presets = vnet.PresetNames()
	}
	seen := map[string]bool{}
	for _, p := range c.Presets {
		if _, err := vnet.LookupPreset(p); err != nil {
			return &MatrixError{Field: "nat", Reason: err.Error()}
		}
		if seen[p] {
			return &MatrixError{Field: "nat", Reason: fmt.Sprintf("preset %q given twice", p)}
		}
		seen[p] = true
	}
	switch c.TURN {
	case "":
		c.TURN = TURNBoth
	case TURNNo, TURNYes, TURNBoth:
	default:
		return &MatrixError{Field: "turn", Reason: fmt.Sprintf("%q: want no, yes or both", c.TURN)}
	}
	if c.Parallel < 0 || c.Messages < 0 || c.ConnectTimeout < 0 {
		return &MatrixError{Field: "parallel/messages/connect timeout", Reason: "must not be negative"}
	}
	if c.Parallel == 0 {
		c.Parallel = 8
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
	return nil
}

// Cell is one call of the matrix: expected against observed.
type Cell struct {
	A    string `json:"a"`
	B    string `json:"b"`
	TURN bool   `json:"turn"`
	// ExpectConnected and ExpectPath ("direct" or "relay") are the theory.
	ExpectConnected bool   `json:"expect_connected"`
	ExpectPath      string `json:"expect_path,omitempty"`
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
	if !c.ExpectConnected {
		return "no connection"
	}
	return "connected, " + c.ExpectPath
}

// ObservedText says what happened in words.
func (c *Cell) ObservedText() string {
	if c.Err != "" {
		return "not run: " + c.Err
	}
	if c.Result == nil || !c.Result.Connected {
		return "no connection"
	}
	return fmt.Sprintf("connected, %s in %v", c.ObservedPath(), c.Result.TimeToConnected.Round(time.Millisecond))
}

// Match reports whether observed agrees with theory.
func (c *Cell) Match() bool {
	if c.Err != "" || c.Result == nil {
		return false
	}
	if c.Result.Connected != c.ExpectConnected {
		return false
	}
	return !c.ExpectConnected || c.ObservedPath() == c.ExpectPath
}

// Name names the cell, and its child report.
func (c *Cell) Name() string {
	t := "stun only"
	if c.TURN {
		t = "stun+turn"
	}
	return fmt.Sprintf("%s → %s, %s", c.A, c.B, t)
}

// MatrixResult is every cell of a matrix run.
type MatrixResult struct {
	Config   MatrixConfig  `json:"-"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	Cells    []*Cell       `json:"cells"`
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
	if err := cfg.fill(); err != nil {
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
	for _, t := range turns {
		for _, a := range cfg.Presets {
			for _, b := range cfg.Presets {
				c := &Cell{A: a, B: b, TURN: t}
				c.ExpectConnected, c.ExpectPath, _ = Theory(a, b, t)
				res.Cells = append(res.Cells, c)
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
			if err != nil {
				c.Err = err.Error()
			}
			done++
			d := done
			mu.Unlock()
			if cfg.Progress != nil {
				cfg.Progress(d, len(order))
			}
		}(i, c)
	}
	wg.Wait()
	res.Duration = time.Since(res.Started)
	return res, ctx.Err()
}

func runCell(ctx context.Context, cfg MatrixConfig, c *Cell, seed int64) (*call.Result, error) {
	top, err := vnet.Build(vnet.Spec{A: vnet.Side{Preset: c.A}, B: vnet.Side{Preset: c.B}, Seed: seed, LoggerFactory: cfg.LoggerFactory})
	if err != nil {
		return nil, err
	}
	defer top.Close()
	na, _ := top.Net(vnet.SideA)
	nb, _ := top.Net(vnet.SideB)
	servers := []webrtc.ICEServer{{URLs: []string{top.STUNURL()}}}
	if c.TURN {
		servers = append(servers, webrtc.ICEServer{URLs: []string{top.TURNURL()}, Username: "natkit", Credential: "natkit"})
	}
	r, err := call.Run(ctx, call.Config{
		A:              call.PeerConfig{Name: "a", Net: na, ICEServers: servers, ICE: cfg.ICE, CandidatesAfterAnswer: true, LoggerFactory: cfg.LoggerFactory},
		B:              call.PeerConfig{Name: "b", Net: nb, ICEServers: servers, ICE: cfg.ICE, NoTrickle: true, LoggerFactory: cfg.LoggerFactory},
		ConnectTimeout: cfg.ConnectTimeout,
		Probe:          call.ProbeConfig{Count: cfg.Messages, Interval: 5 * time.Millisecond, Grace: time.Second},
	})
	if r != nil && ctx.Err() == nil {
		err = nil
	}
	return r, err
}

// Report turns the matrix into a report: one grid per TURN setting, one
// check per cell, one child report (the call's timeline) per cell, and the
// time to connected over all connected cells.
func (m *MatrixResult) Report() *reports.Report {
	rep := reports.New("matrix", fmt.Sprintf("%d presets, turn %s", len(m.Config.Presets), m.Config.TURN))
	rep.Started = m.Started
	rep.Duration = reports.Duration(m.Duration)
	ttc := reports.NewLatencyRecorder("time_to_connected")
	grids := map[bool]*reports.Grid{}
	idx := map[string]int{}
	for i, p := range m.Config.Presets {
		idx[p] = i
	}
	mismatches, run := 0, 0
	for _, c := range m.Cells {
		g, ok := grids[c.TURN]
		if !ok {
			title := "STUN only"
			if c.TURN {
				title = "STUN + TURN"
			}
			g = &reports.Grid{
				Title: title, RowLabel: "side a (offerer)", ColLabel: "side b (answerer)",
				Rows: m.Config.Presets, Cols: m.Config.Presets,
				Legend: []reports.GridNote{
					{Class: "direct", Meaning: "connected without the relay"},
					{Class: "relay", Meaning: "connected through the TURN relay"},
					{Class: "failed", Meaning: "did not connect"},
				},
			}
			g.Cells = make([][]reports.Cell, len(g.Rows))
			for i := range g.Cells {
				g.Cells[i] = make([]reports.Cell, len(g.Cols))
			}
			grids[c.TURN] = g
		}
		id := "matrix/" + map[bool]string{false: "stun", true: "turn"}[c.TURN] + "/" + c.A + "/" + c.B
		if c.Result == nil && c.Err == "" {
			g.Cells[idx[c.A]][idx[c.B]] = reports.Cell{Text: "not run", Verdict: reports.VerdictSkip}
			rep.AddCheck(reports.Check{ID: id, Name: c.Name(), Verdict: reports.VerdictSkip, Expected: c.ExpectedText(), Observed: "not run"})
			continue
		}
		run++
		v := reports.VerdictPass
		msg := ""
		if !c.Match() {
			v = reports.VerdictFail
			mismatches++
			msg = "observed differs from DESIGN.md's theory: " + diagnoseCell(c)
		}
		text := c.ObservedPath()
		if c.Result != nil && c.Result.Connected {
			text = fmt.Sprintf("%s %dms", text, c.Result.TimeToConnected.Milliseconds())
			ttc.RecordDuration(c.Result.TimeToConnected)
		}
		if !c.Match() {
			text += " (expected " + c.ExpectedText() + ")"
		}
		g.Cells[idx[c.A]][idx[c.B]] = reports.Cell{Text: text, Class: c.ObservedPath(), Verdict: v, Child: c.Name()}
		var dur time.Duration
		if c.Result != nil {
			dur = c.Result.TimeToConnected
		}
		rep.AddCheck(reports.Check{ID: id, Name: c.Name(), Verdict: v, Expected: c.ExpectedText(), Observed: c.ObservedText(), Message: msg, Duration: reports.Duration(dur)})
		rep.Children = append(rep.Children, cellReport(c, v))
	}
	for _, t := range []bool{false, true} {
		if g, ok := grids[t]; ok {
			rep.Grids = append(rep.Grids, *g)
		}
	}
	if ttc.Count() > 0 {
		rep.Metrics = append(rep.Metrics, ttc.Metric())
	}
	rep.Metrics = append(rep.Metrics, reports.Gauge("wall_time", "s", m.Duration.Seconds()))
	rep.Tables = append(rep.Tables, reports.Table{Title: "matrix settings", Columns: []string{"setting", "value"}, Rows: [][]string{
		{"presets", strings.Join(m.Config.Presets, ", ")}, {"turn", m.Config.TURN},
		{"parallel", fmt.Sprint(m.Config.Parallel)}, {"connect timeout", m.Config.ConnectTimeout.String()},
		{"ice", m.Config.ICE.String()},
	}})
	rep.Summary = fmt.Sprintf("%d of %d calls match theory", run-mismatches, run)
	if mismatches > 0 {
		rep.Summary = fmt.Sprintf("%d of %d calls differ from theory", mismatches, run)
	}
	if run < len(m.Cells) {
		rep.Summary += fmt.Sprintf("; %d not run", len(m.Cells)-run)
	}
	_ = rep.SetDetails(m)
	return rep
}

func diagnoseCell(c *Cell) string {
	switch {
	case c.Err != "":
		return c.Err
	case c.ExpectConnected && !c.Result.Connected:
		s := "the call did not connect"
		if c.Result.Error != "" {
			s += " (" + c.Result.Error + ")"
		}
		return s
	case !c.ExpectConnected && c.Result.Connected:
		return "the call connected where theory says it cannot: " + c.Result.Path.Describe()
	default:
		return "the call took another path: " + c.Result.Path.Describe()
	}
}

func cellReport(c *Cell, v reports.Verdict) *reports.Report {
	ch := reports.New("call", c.Name())
	ch.Target = c.A + " ↔ " + c.B
	if c.Result != nil {
		ch.Started = c.Result.Started
		if n := len(c.Result.Events); n > 0 {
			ch.Duration = reports.Duration(c.Result.Events[n-1].At.Sub(c.Result.Started))
		}
		c.Result.Fill(ch)
	}
	ch.AddCheck(reports.Check{ID: "path", Name: "connects as theory says", Verdict: v, Expected: c.ExpectedText(), Observed: c.ObservedText()})
	ch.Summary = c.ObservedText()
	if c.Result != nil && c.Result.Connected {
		ch.Summary += "; " + c.Result.Path.Describe()
	}
	if c.Result != nil && !c.Result.Connected {
		ch.Summary += cellCause(c)
	}
	return ch
}

// cellCause explains a call that did not connect from the NAT theory, with
// what would make it connect.
func cellCause(c *Cell) string {
	pa, errA := vnet.LookupPreset(c.A)
	pb, errB := vnet.LookupPreset(c.B)
	if errA != nil || errB != nil {
		return ""
	}
	why := vnet.WhyNoDirectPath(pa, pb)
	if why == "" {
		return ""
	}
	if !c.TURN {
		return ": " + why + "; only a TURN relay can carry this call"
	}
	return ": " + why + ", and the relayed path failed too"
}
