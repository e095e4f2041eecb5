package scenarios

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/reports"
)

func connectedVia(class string, ttc time.Duration) *call.Result {
	pair := &call.Pair{Local: call.Candidate{Type: "srflx"}, Remote: call.Candidate{Type: "srflx"}}
	var relayedBy []string
	if class == call.PathRelay {
		pair = &call.Pair{Local: call.Candidate{Type: "relay"}, Remote: call.Candidate{Type: "srflx"}}
		relayedBy = []string{"a"}
	}
	return &call.Result{Connected: true, TimeToConnected: ttc, Cause: call.CauseOK, Path: call.Path{Class: class, Pair: pair, RelayedBy: relayedBy}}
}

// Synthetic runs of two implementation pairs on the same cells: where they
// differ (path on one cell, outcome on another) the matrix names a typed
// finding in its result, text, HTML and JSON, and judges each pair against
// theory on its own.
func TestMatrixFindingsWhereImplementationPairsDiffer(t *testing.T) {
	cfg := MatrixConfig{NATs: []string{"full-cone", "symmetric"}, TURN: TURNYes, Repeat: 2}.withDefaults()
	res := &MatrixResult{Config: cfg}
	add := func(a, b, pa, pb string, results ...*call.Result) {
		for i, r := range results {
			c := &Cell{A: a, B: b, TURN: true, PeerA: pa, PeerB: pb, Run: i + 1, Result: r}
			require.NoError(t, cfg.expect(c))
			res.Cells = append(res.Cells, c)
		}
	}
	fast, slow := 80*time.Millisecond, 900*time.Millisecond
	// full-cone → full-cone: pion×pion direct; pion×chromium relayed (a
	// path finding; the relayed pair also differs from theory).
	add("full-cone", "full-cone", PeerNatkit, PeerNatkit, connectedVia(call.PathDirectNAT, fast), connectedVia(call.PathDirectNAT, fast))
	add("full-cone", "full-cone", PeerNatkit, "chromium", connectedVia(call.PathRelay, slow), connectedVia(call.PathRelay, slow))
	// symmetric → symmetric with TURN: both relay, one pair fails once (an
	// outcome finding).
	add("symmetric", "symmetric", PeerNatkit, PeerNatkit, connectedVia(call.PathRelay, slow), connectedVia(call.PathRelay, slow))
	add("symmetric", "symmetric", PeerNatkit, "chromium", connectedVia(call.PathRelay, slow), &call.Result{Cause: call.CauseTimeout})
	// full-cone → symmetric: the same for both pairs, no finding.
	add("full-cone", "symmetric", PeerNatkit, PeerNatkit, connectedVia(call.PathDirectNAT, fast), connectedVia(call.PathDirectNAT, fast))
	add("full-cone", "symmetric", PeerNatkit, "chromium", connectedVia(call.PathDirectNAT, slow), connectedVia(call.PathDirectNAT, slow))

	stats := res.CellStats()
	require.Len(t, stats, 6)
	found := Differences(stats)
	require.Len(t, found, 2)
	assert.Equal(t, FindingPath, found[0].Kind)
	assert.Equal(t, "full-cone", found[0].A)
	assert.Equal(t, []string{"pion×pion", "pion×chromium"}, []string{found[0].Observed[0].Pair, found[0].Observed[1].Pair})
	assert.Equal(t, map[string]int{"relay": 2}, found[0].Observed[1].Paths)
	assert.Equal(t, FindingOutcome, found[1].Kind)
	assert.Equal(t, 1, found[1].Observed[1].Connected)
	assert.Contains(t, found[1].Text(), "symmetric → symmetric, stun+turn: implementations connect differently — pion×pion: relay 2/2; pion×chromium: failed 1/2, relay 1/2")

	rep := res.Report()
	assert.Equal(t, reports.VerdictFail, rep.Verdict, "the relayed and the failed runs differ from theory")
	assert.Contains(t, rep.Summary, "2 cells where implementations differ")
	require.Len(t, rep.Grids, 2, "one grid per implementation pair")
	assert.Equal(t, "STUN + TURN, pion×chromium", rep.Grids[1].Title)
	assert.Equal(t, "relay", rep.Grids[1].Cells[0][0].Class)
	var warns []reports.Check
	for _, c := range rep.Checks {
		if c.Verdict == reports.VerdictWarn {
			warns = append(warns, c)
		}
	}
	require.Len(t, warns, 2)
	assert.Equal(t, "finding/path/turn/full-cone/full-cone", warns[0].ID)
	require.Len(t, rep.CDFCharts, 1)
	assert.Equal(t, []string{"time_to_connected pion×pion", "time_to_connected pion×chromium"}, rep.CDFCharts[0].Metrics)

	var text, page bytes.Buffer
	require.NoError(t, reports.RenderText(&text, rep, reports.RenderOptions{}))
	assert.Contains(t, text.String(), "findings: implementation pairs differ")
	require.NoError(t, reports.RenderHTML(&page, rep))
	assert.Contains(t, page.String(), "time to connected per implementation pair")
	assert.Contains(t, page.String(), "implementations select different paths")
	var details struct {
		Findings []Finding `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(rep.Details, &details))
	require.Len(t, details.Findings, 2)
	assert.Equal(t, FindingOutcome, details.Findings[1].Kind)
}

// A repeated cell passes only when every run agrees with theory; one that
// is expected not to connect passes at a success rate of 0, and a race
// accepts both of its outcomes.
func TestRepeatedCellJudgedOverItsRuns(t *testing.T) {
	cfg := MatrixConfig{NATs: []string{"full-cone", "symmetric"}, TURN: TURNNo, Repeat: 3}.withDefaults()
	res := &MatrixResult{Config: cfg}
	for i, r := range []*call.Result{connectedVia(call.PathDirectNAT, 50*time.Millisecond), {Cause: call.CauseTimeout}, connectedVia(call.PathDirectNAT, 70*time.Millisecond)} {
		res.Cells = append(res.Cells, &Cell{A: "full-cone", B: "full-cone", ExpectConnected: true, ExpectPath: "direct", Run: i + 1, Result: r})
	}
	for i := 1; i <= 3; i++ {
		res.Cells = append(res.Cells, &Cell{A: "symmetric", B: "symmetric", Run: i, Result: &call.Result{Cause: call.CauseNoDirectPath}})
	}
	for i, p := range []string{call.PathDirectNAT, call.PathRelay, call.PathDirectNAT} {
		res.Cells = append(res.Cells, &Cell{A: "full-cone", B: "symmetric", ExpectConnected: true, ExpectPath: "direct", ExpectOrElse: "relay", Run: i + 1, Result: connectedVia(p, time.Second)})
	}
	stats := res.CellStats()
	require.Len(t, stats, 3)
	assert.False(t, stats[0].Pass())
	assert.InDelta(t, 2.0/3, stats[0].SuccessRate(), 1e-9)
	assert.EqualValues(t, 2, stats[0].TimeToConnected.Count)
	assert.True(t, stats[1].Pass())
	assert.Zero(t, stats[1].SuccessRate())
	assert.True(t, stats[2].Pass(), "a named race accepts both outcomes")
	assert.Equal(t, "direct 2/3, relay 1/3", stats[2].PathsText())

	rep := res.Report()
	require.Len(t, rep.Children, 3)
	assert.Equal(t, reports.VerdictFail, rep.Checks[0].Verdict)
	assert.Contains(t, rep.Checks[0].Message, "1 of 3 runs differ from DESIGN.md's theory; run 2:")
	ch := rep.Children[0]
	assert.Equal(t, reports.VerdictFail, ch.Verdict)
	require.Len(t, ch.Checks, 1, "one JUnit testcase per cell")
	assert.Contains(t, ch.Summary, "the timeline is run 2's", "the run that differs is the one shown")
	require.Len(t, ch.CDFCharts, 1)
	assert.Equal(t, reports.VerdictPass, rep.Children[1].Verdict)
	var junit bytes.Buffer
	require.NoError(t, reports.RenderJUnit(&junit, rep))
	assert.Equal(t, 1, strings.Count(junit.String(), "<failure"), "the one cell with a run off theory")
	assert.Contains(t, junit.String(), `<property name="time_to_connected" value="count 2, p50 50`)
}

// Cells whose sides are not both natkit's engine are placed as scenarios
// (where every peer kind of scenarios.Run plugs in): the same call, judged
// the same way.
func TestScenarioCellPlacesTheCall(t *testing.T) {
	cfg := MatrixConfig{NATs: []string{"full-cone"}, TURN: TURNNo}.withDefaults()
	c := &Cell{A: "full-cone", B: "full-cone", PeerA: PeerNatkit, PeerB: PeerNatkit}
	require.NoError(t, cfg.expect(c))
	r, err := runScenarioCell(context.Background(), cfg, c, 1)
	require.NoError(t, err)
	c.Result = r
	assert.True(t, c.Match(), c.ObservedText())
	assert.Equal(t, cfg.Messages, int(r.Messages.Sent))
}

func TestMatrixPeersValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  MatrixConfig
		want string
	}{
		{MatrixConfig{Peers: []string{"pion", "chromium"}}, `peers "chromium": needs the kernel backend (--net kernel)`},
		{MatrixConfig{Peers: []string{"pion", "natkit"}}, `peers "pion": given twice`},
		{MatrixConfig{Peers: []string{"command"}, Net: NetKernel}, "a command peer needs its program"},
		{MatrixConfig{Peers: []string{"firefox"}, Net: NetKernel}, `peers "firefox": peer "firefox": want natkit`},
		{MatrixConfig{Repeat: -1}, "repeat: -1: want 1 or more"},
	} {
		err := tc.cfg.Validate()
		require.ErrorIs(t, err, ErrConfig)
		assert.Contains(t, err.Error(), tc.want)
	}
	cfg := MatrixConfig{Peers: []string{"pion"}, Repeat: 5, NATs: []string{"open", "symmetric"}}
	require.NoError(t, cfg.Validate())
	assert.Equal(t, 2*2*2*5, cfg.Calls())
	assert.Equal(t, 8, cfg.withDefaults().Parallel)
	assert.Equal(t, 1, MatrixConfig{Peers: []string{"pion", "chromium"}, Net: NetKernel}.withDefaults().Parallel, "one browser per side at a time")
	assert.Equal(t, 4*2*25, MatrixConfig{Peers: []string{"pion", "chromium"}}.Calls())
}

// --repeat on scenarios: every run is kept with its own seed, the report
// gives the time to connected over them with a CDF, and the scenario
// fails when one run fails its expectations.
func TestScenarioRepeatDistribution(t *testing.T) {
	within := Duration(time.Minute)
	spec := &Spec{Name: "repeat-open", Topology: Topology{A: SideSpec{NAT: "full-cone"}, B: SideSpec{NAT: "full-cone"}},
		ICE: ICE{Timeouts: "fast"}, Expect: Expect{Within: within}}
	var seen []int
	var mu sync.Mutex
	res, err := RunAll(context.Background(), []*Spec{spec}, Options{Repeat: 5, Parallel: 5, OnScenario: func(r SuiteRun) {
		mu.Lock()
		seen = append(seen, r.Run)
		mu.Unlock()
	}})
	require.NoError(t, err)
	assert.ElementsMatch(t, []int{1, 2, 3, 4, 5}, seen)
	require.Len(t, res.Runs, 1)
	run := res.Runs[0]
	require.Len(t, run.Repeats, 5)
	for k, r := range run.Repeats {
		require.NotNil(t, r)
		assert.EqualValues(t, 1+k, max(r.Seed, 1), "run %d's seed", k+1)
	}
	rep := res.Report()
	assert.Equal(t, reports.VerdictPass, rep.Verdict, rep.Summary)
	assert.Contains(t, rep.Summary, "5 of 5 runs passed; 5 connected (100%); time to connected p50 ")
	require.Equal(t, MetricTimeToConnected, rep.Metrics[0].Name)
	assert.EqualValues(t, 5, rep.Metrics[0].Count)
	require.Len(t, rep.CDFCharts, 1)
	var page bytes.Buffer
	require.NoError(t, reports.RenderHTML(&page, rep))
	assert.Contains(t, page.String(), "time to connected over 5 connected runs — CDF of 5 samples")

	// An expectation no run can meet: the scenario fails, naming it.
	spec.Expect.Within = Duration(time.Nanosecond)
	res, err = RunAll(context.Background(), []*Spec{spec}, Options{Repeat: 2, Parallel: 2})
	require.NoError(t, err)
	rep = res.Report()
	assert.Equal(t, reports.VerdictFail, rep.Verdict)
	last := rep.Checks[len(rep.Checks)-1]
	assert.Equal(t, "repeat", last.ID)
	assert.Contains(t, last.Observed, "0 of 2 runs passed")
}

// The settings table says which cells ran with natkit's ICE timers: a
// browser's cells do not.
func TestMatrixSettingsSayWhichCellsUseTheTimers(t *testing.T) {
	only := (&MatrixResult{Config: MatrixConfig{NATs: []string{"full-cone"}}.withDefaults()}).Report()
	mixed := (&MatrixResult{Config: MatrixConfig{NATs: []string{"full-cone"}, Peers: []string{PeerPion, PeerChromium}}.withDefaults()}).Report()
	ice := func(rep *reports.Report) string {
		for _, tb := range rep.Tables {
			if tb.Title == "matrix settings" {
				for _, row := range tb.Rows {
					if row[0] == "ice" {
						return row[1]
					}
				}
			}
		}
		return ""
	}
	require.NotEmpty(t, ice(only))
	assert.NotContains(t, ice(only), "pion×pion cells only")
	assert.Contains(t, ice(mixed), "pion×pion cells only (cells with chromium keep its own ICE timers")
}
