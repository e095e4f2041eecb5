package scenarios

import (
	"fmt"
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
				if p.Peer == PeerCommand {
					code, what = fmt.Sprint(p.ExitCode), strings.Join(p.Command, " ")
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

// Report turns the matrix into a report: one grid per TURN setting, one
// check per cell, one child report (the call's timeline) per cell, and the
// time to connected over all connected cells.
func (m *MatrixResult) Report() *reports.Report {
	rep := reports.New("matrix", fmt.Sprintf("nat %s; turn %s", strings.Join(m.Config.NATs, ","), m.Config.TURN))
	rep.Started = m.Started
	rep.Duration = reports.Duration(m.Duration)
	ttc := reports.NewLatencyRecorder("time_to_connected")
	grids := map[bool]*reports.Grid{}
	idx := map[string]int{}
	for i, p := range m.Config.NATs {
		idx[p] = i
	}
	mismatches, run, interrupted := 0, 0, 0
	for _, c := range m.Cells {
		g, ok := grids[c.TURN]
		if !ok {
			title := "STUN only"
			if c.TURN {
				title = "STUN + TURN"
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
			grids[c.TURN] = g
		}
		id := "matrix/" + map[bool]string{false: "stun", true: "turn"}[c.TURN] + "/" + c.A + "/" + c.B
		if c.Result == nil && c.Err == "" {
			g.Cells[idx[c.A]][idx[c.B]] = reports.Cell{Text: "not run", Verdict: reports.VerdictSkip}
			rep.AddCheck(reports.Check{ID: id, Name: c.Name(), Verdict: reports.VerdictSkip, Expected: c.ExpectedText(), Observed: "not run"})
			continue
		}
		if c.Interrupted() {
			// Cut short: not compared with theory.
			interrupted++
			g.Cells[idx[c.A]][idx[c.B]] = reports.Cell{Text: "interrupted", Verdict: reports.VerdictInterrupted, Child: c.Name()}
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
		{"nat", strings.Join(m.Config.NATs, ", ")}, {"turn", m.Config.TURN},
		{"parallel", fmt.Sprint(m.Config.Parallel)}, {"connect timeout", m.Config.ConnectTimeout.String()},
		{"ice", m.Config.ICE.String()},
	}})
	rep.Summary = fmt.Sprintf("%d of %d calls match theory", run-mismatches, run)
	if mismatches > 0 {
		rep.Summary = fmt.Sprintf("%d of %d calls differ from theory", mismatches, run)
	}
	if interrupted > 0 {
		rep.Summary += fmt.Sprintf("; %d interrupted", interrupted)
	}
	if n := len(m.Cells) - run - interrupted; n > 0 {
		rep.Summary += fmt.Sprintf("; %d not run", n)
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
