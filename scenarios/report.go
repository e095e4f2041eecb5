package scenarios

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/reports"
)

// Report turns the result into a report of kind "scenario": the call's
// timeline, metrics and tables, the expectations as checks, the diagnoses
// and what the network dropped.
func (r *Result) Report() *reports.Report {
	rep := reports.New("scenario", r.Name)
	if r.Call != nil {
		rep = r.Call.Report(call.ReportOptions{Name: r.Name, TimelineOnly: true})
		rep.Kind = "scenario"
	}
	rep.Started = r.Started
	rep.Duration = reports.Duration(r.Duration)
	rep.Target = fmt.Sprintf("a: %s, b: %s", r.Topology["a"], r.Topology["b"])
	for _, c := range r.Checks {
		v := reports.VerdictPass
		switch {
		case c.NotJudged == call.CauseInterrupted:
			v = reports.VerdictInterrupted
		case c.NotJudged != "":
			v = reports.VerdictSkip
		case !c.Pass:
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
	if len(r.Peers) > 0 {
		pt := reports.Table{Title: "peers", Columns: []string{"side", "peer", "role", "exit code", "connected", "path", "detail"}}
		for _, side := range []string{"a", "b"} {
			if p := r.Peers[side]; p != nil {
				code, what := "", p.Peer
				switch p.Peer {
				case PeerCommand:
					code, what = fmt.Sprint(p.ExitCode), strings.Join(p.Command, " ")
				case PeerPionProcess:
					code = fmt.Sprint(p.ExitCode)
				}
				pt.Rows = append(pt.Rows, []string{side, what, p.Role, code, fmt.Sprint(p.Connected), p.Path, p.Detail})
			}
		}
		rep.Tables = append(rep.Tables, pt)
	}
	r.addBrowsers(rep)
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
		switch {
		case !r.Call.Cause.Completed():
			parts = append(parts, r.Call.Diagnosis())
		case r.Call.Connected:
			parts = append(parts, fmt.Sprintf("connected in %v, %s", r.Call.TimeToConnected.Round(time.Millisecond), r.Call.Path.Describe()))
		default:
			parts = append(parts, "not connected")
		}
		if r.Call.Messages.Sent > 0 {
			parts = append(parts, fmt.Sprintf("%d/%d messages echoed", r.Call.Messages.Received, r.Call.Messages.Sent))
		}
	}
	if len(r.Diagnoses) > 0 && (r.Call == nil || r.Call.Cause.Completed()) {
		parts = append(parts, r.Diagnoses[0])
	}
	rep.Summary = strings.Join(parts, "; ")
	_ = rep.SetDetails(r)
	return rep
}

// Report turns a suite into one report: the scenario's own for one, or a
// parent with one child and one check per scenario for several.
func (s *SuiteResult) Report() *reports.Report {
	children := make([]*reports.Report, len(s.Runs))
	for i, run := range s.Runs {
		children[i] = run.report()
	}
	if len(children) == 1 {
		return children[0]
	}
	rep := reports.New("scenarios", suiteName(children))
	rep.Started = s.Started
	rep.Duration = reports.Duration(s.Duration)
	failed, interrupted, notRun := 0, 0, 0
	for i, ch := range children {
		c := reports.Check{ID: "scenario/" + ch.Name, Name: ch.Name, Verdict: ch.Verdict, Observed: ch.Summary}
		var msgs []string
		for _, cc := range ch.Checks {
			switch {
			case cc.Verdict != reports.VerdictFail && cc.Verdict != reports.VerdictError:
			case cc.Expected == "" && cc.Observed == "":
				msgs = append(msgs, cc.Name+": "+cc.Message)
			default:
				msgs = append(msgs, fmt.Sprintf("%s: expected %s, observed %s", cc.Name, cc.Expected, cc.Observed))
			}
		}
		c.Message = strings.Join(msgs, "; ")
		switch run := s.Runs[i]; {
		case run.Interrupted && run.Result == nil:
			notRun++
			c.Verdict = reports.VerdictSkip
		case run.Interrupted:
			interrupted++
			c.Verdict = reports.VerdictInterrupted
		case ch.Verdict != reports.VerdictPass:
			failed++
		}
		rep.AddCheck(c)
		rep.Children = append(rep.Children, ch)
	}
	rep.Summary = fmt.Sprintf("%d of %d scenarios passed", len(children)-failed-interrupted-notRun, len(children))
	if interrupted > 0 {
		rep.Summary += fmt.Sprintf("; %d interrupted", interrupted)
	}
	if notRun > 0 {
		rep.Summary += fmt.Sprintf("; %d not run", notRun)
	}
	return rep
}

// suiteName names a suite by its scenarios (the report's kind already
// says "scenarios").
func suiteName(children []*reports.Report) string {
	var names []string
	for _, ch := range children {
		names = append(names, ch.Name)
	}
	if len(names) > 3 {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:2], ", "), len(names)-2)
	}
	return strings.Join(names, ", ")
}

// report is one run's report, or why it has none.
func (r SuiteRun) report() *reports.Report {
	if len(r.Repeats) > 1 && r.Result != nil {
		return r.repeatedReport()
	}
	if r.Result != nil {
		rep := r.Result.Report()
		if r.Err != nil && !r.Interrupted {
			rep.AddCheck(reports.Check{ID: "run", Name: "scenario ran", Verdict: reports.VerdictError, Message: r.Err.Error()})
		}
		return rep
	}
	rep := reports.New("scenario", r.Name)
	if r.Interrupted {
		rep.Summary = "not run: interrupted before it started"
		rep.AddCheck(reports.Check{ID: "run", Name: "scenario ran", Verdict: reports.VerdictSkip, Message: rep.Summary})
		return rep
	}
	rep.Summary = "not run"
	if r.Err != nil {
		rep.Summary += ": " + r.Err.Error()
	}
	rep.AddCheck(reports.Check{ID: "run", Name: "scenario ran", Verdict: reports.VerdictError, Message: rep.Summary})
	return rep
}

// Report turns the matrix into a report: one grid per TURN setting (and
// implementation pair, when there are several), one check per cell, one
// child report per cell (the call's timeline; over its runs when the
// matrix repeats), the time to connected over all connected calls (and per
// implementation pair), and the findings where implementation pairs differ.
func (m *MatrixResult) Report() *reports.Report {
	rep := reports.New("matrix", fmt.Sprintf("nat %s; turn %s", strings.Join(m.Config.NATs, ","), m.Config.TURN))
	rep.Started = m.Started
	rep.Duration = reports.Duration(m.Duration)
	stats := m.CellStats()
	findings := Differences(stats)
	var pairs []string
	perPair := map[string]*reports.Recorder{}
	for _, st := range stats {
		if _, ok := perPair[st.Pair()]; !ok {
			pairs = append(pairs, st.Pair())
			perPair[st.Pair()] = reports.NewLatencyRecorder(MetricTimeToConnected + " " + st.Pair())
		}
	}
	multiPair := len(pairs) > 1
	ttc := reports.NewLatencyRecorder(MetricTimeToConnected)
	type gridKey struct {
		pair string
		turn bool
	}
	grids := map[gridKey]*reports.Grid{}
	var gridOrder []gridKey
	idx := map[string]int{}
	for i, p := range m.Config.NATs {
		idx[p] = i
	}
	repeated := false
	mismatches, run, interrupted, notRun := 0, 0, 0, 0
	dist := reports.Table{Title: "distributions over repeats", Columns: []string{"cell", "runs", "connected", "agree with theory", "paths", "p50 ms", "p90 ms", "p99 ms"}}
	for _, st := range stats {
		c := st.cells[0]
		k := gridKey{turn: c.TURN}
		if multiPair {
			k.pair = st.Pair()
		}
		g, ok := grids[k]
		if !ok {
			title := "STUN only"
			if c.TURN {
				title = "STUN + TURN"
			}
			if multiPair {
				title += ", " + st.Pair()
			}
			g = &reports.Grid{
				Title: title, RowLabel: "side a (offerer)", ColLabel: "side b (answerer)",
				Rows: m.Config.NATs, Cols: m.Config.NATs,
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
			grids[k] = g
			gridOrder = append(gridOrder, k)
		}
		for _, rc := range st.cells {
			if rc.Result != nil && rc.Result.Connected && !rc.Interrupted() {
				ttc.RecordDuration(rc.Result.TimeToConnected)
				perPair[st.Pair()].RecordDuration(rc.Result.TimeToConnected)
			}
		}
		id := "matrix/" + map[bool]string{false: "stun", true: "turn"}[c.TURN] + "/" + c.A + "/" + c.B
		if c.PeerA != "" || c.PeerB != "" {
			id += "/" + st.Pair()
		}
		cell := &g.Cells[idx[c.A]][idx[c.B]]
		if len(st.cells) > 1 {
			repeated = true
			run += st.Runs
			mismatches += st.Runs - st.Matched
			interrupted += st.Interrupted
			notRun += st.NotRun
			check, gc, child := repeatedCell(st, id)
			*cell = gc
			rep.AddCheck(check)
			if child != nil {
				rep.Children = append(rep.Children, child)
			}
			t := st.TimeToConnected
			dist.Rows = append(dist.Rows, []string{st.Name(), fmt.Sprint(st.Runs), fmt.Sprintf("%d (%.0f%%)", st.Connected, 100*st.SuccessRate()),
				fmt.Sprintf("%d of %d", st.Matched, st.Runs), st.PathsText(), msText(t, t.P50), msText(t, t.P90), msText(t, t.P99)})
			continue
		}
		if c.Result == nil && c.Err == "" {
			notRun++
			*cell = reports.Cell{Text: "not run", Verdict: reports.VerdictSkip}
			rep.AddCheck(reports.Check{ID: id, Name: c.Name(), Verdict: reports.VerdictSkip, Expected: c.ExpectedText(), Observed: "not run"})
			continue
		}
		if c.Interrupted() {
			// Cut short: not compared with theory.
			interrupted++
			*cell = reports.Cell{Text: "interrupted", Verdict: reports.VerdictInterrupted, Child: c.Name()}
			rep.AddCheck(reports.Check{ID: id, Name: c.Name(), Verdict: reports.VerdictInterrupted, Expected: c.ExpectedText(), Observed: c.ObservedText()})
			rep.Children = append(rep.Children, cellReport(c, reports.VerdictInterrupted))
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
		}
		if !c.Match() {
			text += " (expected " + c.ExpectedText() + ")"
		}
		*cell = reports.Cell{Text: text, Class: c.ObservedPath(), Verdict: v, Child: c.Name()}
		var dur time.Duration
		if c.Result != nil {
			dur = c.Result.TimeToConnected
		}
		rep.AddCheck(reports.Check{ID: id, Name: c.Name(), Verdict: v, Expected: c.ExpectedText(), Observed: c.ObservedText(), Message: msg, Duration: reports.Duration(dur)})
		rep.Children = append(rep.Children, cellReport(c, v))
	}
	// Cells come pair by pair, STUN only first: grids keep that order.
	for _, k := range gridOrder {
		rep.Grids = append(rep.Grids, *grids[k])
	}
	if ttc.Count() > 0 {
		rep.Metrics = append(rep.Metrics, ttc.Metric())
	}
	if multiPair {
		chart := reports.CDFChart{Title: "time to connected per implementation pair"}
		for _, p := range pairs {
			if perPair[p].Count() > 0 {
				rep.Metrics = append(rep.Metrics, perPair[p].Metric())
				chart.Metrics = append(chart.Metrics, MetricTimeToConnected+" "+p)
			}
		}
		if len(chart.Metrics) > 0 {
			rep.CDFCharts = append(rep.CDFCharts, chart)
		}
	}
	if run > 0 {
		rep.Metrics = append(rep.Metrics, reports.Gauge("agree_with_theory", "%", 100*float64(run-mismatches)/float64(run)))
	}
	rep.Metrics = append(rep.Metrics, reports.Gauge("wall_time", "s", m.Duration.Seconds()))
	if repeated {
		rep.Tables = append(rep.Tables, dist)
	}
	if len(findings) > 0 {
		ft := reports.Table{Title: "findings: implementation pairs differ", Columns: []string{"kind", "cell", "pair", "runs", "paths", "p50 ms"}}
		for _, f := range findings {
			kind := map[bool]string{false: "stun", true: "turn"}[f.TURN]
			rep.AddCheck(reports.Check{ID: "finding/" + string(f.Kind) + "/" + kind + "/" + f.A + "/" + f.B, Name: "implementations differ on " + f.Cell(),
				Verdict: reports.VerdictWarn, Expected: "the same outcome and path for every implementation pair", Observed: f.Text(),
				Message: "a finding about the implementations, not a cell to special-case: each pair is still judged against theory on its own"})
			for _, o := range f.Observed {
				p50 := ""
				if o.Connected > 0 {
					p50 = num(o.P50)
				}
				ft.Rows = append(ft.Rows, []string{string(f.Kind), f.Cell(), o.Pair, fmt.Sprint(o.Runs), o.describe(), p50})
			}
		}
		rep.Tables = append(rep.Tables, ft)
	}
	peers := make([]string, len(m.Config.Peers))
	for i, p := range m.Config.Peers {
		peers[i] = PeerLabel(p)
	}
	ice := m.Config.ICE.String()
	if other := m.Config.onlyNatkit(); other != "" {
		// runScenarioCell gives a browser's call no timers of ours.
		ice += "; pion×pion cells only (cells with " + PeerLabel(other) + " keep its own ICE timers and the engine's defaults)"
	}
	rep.Tables = append(rep.Tables, reports.Table{Title: "matrix settings", Columns: []string{"setting", "value"}, Rows: [][]string{
		{"nat", strings.Join(m.Config.NATs, ", ")}, {"turn", m.Config.TURN},
		{"peers", strings.Join(peers, ", ")}, {"repeat", fmt.Sprint(max(m.Config.Repeat, 1))},
		{"parallel", fmt.Sprint(m.Config.Parallel)}, {"connect timeout", m.Config.ConnectTimeout.String()},
		{"ice", ice},
	}})
	rep.Summary = fmt.Sprintf("%d of %d calls match theory", run-mismatches, run)
	if mismatches > 0 {
		rep.Summary = fmt.Sprintf("%d of %d calls differ from theory", mismatches, run)
	}
	if repeated {
		rep.Summary += fmt.Sprintf(" (%d cells × %d runs)", len(stats), max(m.Config.Repeat, 1))
	}
	if interrupted > 0 {
		rep.Summary += fmt.Sprintf("; %d interrupted", interrupted)
	}
	if notRun > 0 {
		rep.Summary += fmt.Sprintf("; %d not run", notRun)
	}
	if len(findings) > 0 {
		rep.Summary += fmt.Sprintf("; %d cells where implementations differ", len(findings))
	}
	details := *m
	details.Stats, details.Findings = stats, findings
	_ = rep.SetDetails(&details)
	return rep
}

// msText prints a percentile of a distribution, or "" when it is empty.
func msText(m reports.Metric, v float64) string {
	if m.Count == 0 {
		return ""
	}
	return num(v)
}

// num prints a millisecond figure with up to one decimal.
func num(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// repeatedCell judges a cell over its runs: it passes when every run
// agreed with theory (CellStats.Pass). Its child report is the timeline of
// one run (the first that differs from theory, else the first), with the
// distribution over all of them.
func repeatedCell(st *CellStats, id string) (reports.Check, reports.Cell, *reports.Report) {
	first := st.cells[0]
	t := st.TimeToConnected
	expected := fmt.Sprintf("%s, in all %d runs", first.ExpectedText(), len(st.cells))
	if st.Runs == 0 {
		v, text := reports.VerdictSkip, "not run"
		if st.Interrupted > 0 {
			v, text = reports.VerdictInterrupted, "interrupted"
		}
		return reports.Check{ID: id, Name: st.Name(), Verdict: v, Expected: expected, Observed: text}, reports.Cell{Text: text, Verdict: v}, nil
	}
	v := reports.VerdictPass
	switch {
	case st.Matched < st.Runs:
		v = reports.VerdictFail
	case st.Runs < len(st.cells):
		v = reports.VerdictInterrupted
	}
	observed := st.PathsText()
	if t.Count > 0 {
		observed += fmt.Sprintf("; time to connected p50 %s ms, p90 %s ms, p99 %s ms", num(t.P50), num(t.P90), num(t.P99))
	}
	shown := first
	msg := ""
	for _, c := range st.cells {
		if c.Result != nil && !c.Interrupted() && !c.Match() {
			shown = c
			msg = fmt.Sprintf("%d of %d runs differ from DESIGN.md's theory; run %d: %s", st.Runs-st.Matched, st.Runs, c.Run, diagnoseCell(c))
			break
		}
	}
	text := fmt.Sprintf("%s %d/%d", st.mostPath(), st.Paths[st.mostPath()], st.Runs)
	if t.Count > 0 {
		text += fmt.Sprintf(" p50 %sms", num(t.P50))
	}
	if v == reports.VerdictFail {
		text += " (expected " + first.ExpectedText() + ")"
	}
	check := reports.Check{ID: id, Name: st.Name(), Verdict: v, Expected: expected, Observed: observed, Message: msg, Duration: reports.Duration(time.Duration(t.P50 * float64(time.Millisecond)))}

	ch := cellReport(shown, v)
	ch.Name = st.Name()
	kept := ch.Metrics[:0]
	for _, mt := range ch.Metrics {
		if mt.Name != MetricTimeToConnected {
			kept = append(kept, mt)
		}
	}
	ch.Metrics = kept
	if t.Count > 0 {
		ch.Metrics = append([]reports.Metric{t}, ch.Metrics...)
		ch.CDFCharts = []reports.CDFChart{{Title: fmt.Sprintf("time to connected over %d connected runs", t.Count), Metrics: []string{MetricTimeToConnected}}}
	}
	ch.Metrics = append(ch.Metrics, reports.Gauge("success_rate", "%", 100*st.SuccessRate()))
	// One check for the cell, as a single call's child has: JUnit counts
	// each cell once, failed when any run differs from theory; the runs
	// table says which.
	ch.Checks = nil
	ch.Verdict = reports.VerdictPass
	ch.AddCheck(reports.Check{ID: "path", Name: "connects as theory says in every run", Verdict: v, Expected: expected, Observed: observed, Message: msg, Duration: check.Duration})
	runs := reports.Table{Title: "runs", Columns: []string{"run", "observed", "agrees with theory"}}
	for _, c := range st.cells {
		agrees := "yes"
		switch {
		case c.Result == nil && c.Err == "":
			agrees = "not run"
		case c.Interrupted():
			agrees = "not judged"
		case !c.Match():
			agrees = "no"
		}
		runs.Rows = append(runs.Rows, []string{fmt.Sprint(c.Run), c.ObservedText(), agrees})
	}
	ch.Tables = append([]reports.Table{runs}, ch.Tables...)
	ch.Summary = fmt.Sprintf("%d of %d runs connected (%.0f%%): %s", st.Connected, st.Runs, 100*st.SuccessRate(), observed)
	ch.Summary += fmt.Sprintf("; the timeline is run %d's", shown.Run)
	return check, reports.Cell{Text: text, Class: st.mostPath(), Verdict: v, Child: st.Name()}, ch
}

func diagnoseCell(c *Cell) string {
	switch {
	case c.Err != "":
		return c.Err
	case c.ExpectConnected && !c.Result.Connected:
		s := "the call did not connect"
		if d := c.Result.Diagnosis(); d != "" {
			s += ": " + d
		}
		return s
	case !c.ExpectConnected && c.Result.Connected:
		return "the call connected where theory says it cannot: " + c.Result.Path.Describe()
	default:
		return "the call took another path: " + c.Result.Path.Describe()
	}
}

// cellReport is the call's own report, judged against theory.
func cellReport(c *Cell, v reports.Verdict) *reports.Report {
	ch := reports.New("call", c.Name())
	if c.Result != nil {
		ch = c.Result.Report(call.ReportOptions{Name: c.Name(), TimelineOnly: true})
	}
	ch.Target = c.A + " ↔ " + c.B
	ch.AddCheck(reports.Check{ID: "path", Name: "connects as theory says", Verdict: v, Expected: c.ExpectedText(), Observed: c.ObservedText()})
	ch.Summary = c.ObservedText()
	if c.Result != nil && c.Result.Connected {
		ch.Summary += "; " + c.Result.Path.Describe()
	}
	if c.Result != nil && !c.Result.Connected {
		if d := c.Result.Diagnosis(); d != "" {
			ch.Summary += ": " + d
		}
	}
	return ch
}

// repeatedReport is a repeated scenario's report: the timeline and checks
// of the run that stands for them (the first that failed, else the
// first), the time to connected over every run that connected, the
// success rate, and one check that every run passed its expectations.
// Success is what the scenario's expect says (a scenario expecting no
// connection passes at a 0% success rate); one run that fails its
// expectations fails the scenario.
func (r SuiteRun) repeatedReport() *reports.Report {
	shown := 0
	for k, res := range r.Repeats {
		if res == r.Result {
			shown = k + 1
		}
	}
	rep := r.Result.Report()
	ttc := reports.NewLatencyRecorder(MetricTimeToConnected)
	runs := reports.Table{Title: "runs", Columns: []string{"run", "seed", "passed", "connected", "time to connected", "failed checks"}}
	passed, connected, ran := 0, 0, 0
	for k, res := range r.Repeats {
		if res == nil {
			runs.Rows = append(runs.Rows, []string{fmt.Sprint(k + 1), "", "not run", "", "", ""})
			continue
		}
		ran++
		var failed []string
		for _, c := range res.Checks {
			if !c.Pass {
				failed = append(failed, c.Name)
			}
		}
		if res.Passed() {
			passed++
		}
		row := []string{fmt.Sprint(k + 1), fmt.Sprint(max(res.Seed, 1)), fmt.Sprint(res.Passed()), "false", "", strings.Join(failed, ", ")}
		if res.Call != nil && res.Call.Connected {
			connected++
			ttc.RecordDuration(res.Call.TimeToConnected)
			row[3], row[4] = "true", res.Call.TimeToConnected.Round(time.Millisecond).String()
		}
		runs.Rows = append(runs.Rows, row)
	}
	kept := rep.Metrics[:0]
	for _, m := range rep.Metrics {
		if m.Name != MetricTimeToConnected {
			kept = append(kept, m)
		}
	}
	rep.Metrics = kept
	t := ttc.Metric()
	if t.Count > 0 {
		rep.Metrics = append([]reports.Metric{t}, rep.Metrics...)
		rep.CDFCharts = append(rep.CDFCharts, reports.CDFChart{Title: fmt.Sprintf("time to connected over %d connected runs", t.Count), Metrics: []string{MetricTimeToConnected}})
	}
	rate := 0.0
	if ran > 0 {
		rate = 100 * float64(connected) / float64(ran)
	}
	rep.Metrics = append(rep.Metrics, reports.Gauge("success_rate", "%", rate))
	v := reports.VerdictPass
	switch {
	case passed < ran:
		v = reports.VerdictFail
	case ran < len(r.Repeats):
		v = reports.VerdictInterrupted
	}
	observed := fmt.Sprintf("%d of %d runs passed; %d connected (%.0f%%)", passed, ran, connected, rate)
	if t.Count > 0 {
		observed += fmt.Sprintf("; time to connected p50 %s ms, p90 %s ms, p99 %s ms", num(t.P50), num(t.P90), num(t.P99))
	}
	rep.AddCheck(reports.Check{ID: "repeat", Name: "every run meets the expectations", Verdict: v,
		Expected: fmt.Sprintf("%d of %d runs pass", len(r.Repeats), len(r.Repeats)), Observed: observed})
	rep.Tables = append([]reports.Table{runs}, rep.Tables...)
	rep.Summary = fmt.Sprintf("%s; the timeline is run %d's (%s)", observed, shown, rep.Summary)
	return rep
}
