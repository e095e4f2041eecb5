package reports

import (
	"fmt"
	"strconv"
	"time"
)

var fixtureStart = time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)

// latencyMetric records 1..n ms, so percentiles have known answers.
func latencyMetric(name string, from, to int) Metric {
	r := NewLatencyRecorder(name)
	for v := from; v <= to; v++ {
		r.RecordDuration(time.Duration(v) * time.Millisecond)
	}
	return r.Metric()
}

// fixtureReport exercises every part of the model.
func fixtureReport() *Report {
	rep := &Report{
		Schema:   SchemaVersion,
		Kind:     "bench",
		Name:     "relay-load",
		Target:   "turn:127.0.0.1:3478?transport=udp",
		Started:  fixtureStart,
		Duration: Duration(12500 * time.Millisecond),
		Verdict:  VerdictPass,
		Summary:  "100 allocations, 99.5% of packets delivered, p99 RTT 990 ms",
		Environment: &Environment{
			NatkitVersion: "v0.1.0", Commit: "abc1234", GoVersion: "go1.26.8", OS: "linux", Arch: "amd64",
			Hostname: "ci-worker", Modules: map[string]string{"github.com/pion/turn/v4": "v4.1.3"},
		},
	}
	rep.AddCheck(Check{ID: "alloc", Name: "allocations succeed", Verdict: VerdictPass, Expected: "≥ 99%", Observed: "100%", Duration: Duration(2 * time.Second)})
	rep.AddCheck(Check{ID: "loss", Name: "packet loss", Verdict: VerdictFail, Expected: "≤ 0.1%", Observed: "0.5%", Message: "the relay dropped 10 of 2000 packets | under load"})
	rep.AddCheck(Check{ID: "tls", Name: "TLS transport", Verdict: VerdictSkip, Message: "no turns: URL given"})
	rep.Metrics = []Metric{
		latencyMetric("rtt", 1, 1000),
		Counter("packets_sent", "packets", 2000),
		Gauge("cpu", "%", 37.5),
	}
	rep.Series = []Series{
		{Name: "packets/s", Unit: "pkt/s", Points: []Point{{Duration(time.Second), 150}, {Duration(2 * time.Second), 180}, {Duration(3 * time.Second), 175}}},
		{Name: "loss", Unit: "%", Points: []Point{{Duration(time.Second), 0}, {Duration(2 * time.Second), 0.5}, {Duration(3 * time.Second), 0.2}}},
	}
	rep.Events = []Event{
		{Offset: 0, Source: "bench", Kind: "start", Detail: "ramp 1s"},
		{Offset: Duration(1200 * time.Millisecond), Source: "alloc-1", Kind: "allocated", Detail: "203.0.113.7:49152"},
		{Offset: Duration(12 * time.Second), Source: "bench", Kind: "stop"},
	}
	rep.Tables = []Table{{Title: "Outcomes", Columns: []string{"outcome", "count"}, Rows: [][]string{{"success", "100"}, {"401", "0"}}}}
	_ = rep.SetDetails(map[string]any{"allocations": 100, "mode": "channel"})
	return rep
}

// fixtureMatrix is a matrix-kind report with a grid and child reports.
func fixtureMatrix() *Report {
	rep := &Report{Schema: SchemaVersion, Kind: "matrix", Name: "nat-matrix", Started: fixtureStart, Duration: Duration(9 * time.Second), Verdict: VerdictPass, Summary: "3 of 4 cells match theory"}
	names := []string{"full-cone", "symmetric"}
	g := Grid{Title: "STUN only", RowLabel: "caller", ColLabel: "callee", Rows: names, Cols: names,
		Legend: []GridNote{{Class: "direct", Meaning: "connected directly"}, {Class: "failed", Meaning: "did not connect"}}}
	for i, a := range names {
		var row []Cell
		for j, b := range names {
			name := a + " → " + b
			child := &Report{Schema: SchemaVersion, Kind: "call", Name: name, Started: fixtureStart, Duration: Duration(time.Duration(300+100*i+10*j) * time.Millisecond), Verdict: VerdictPass, Summary: "connected directly"}
			child.Events = []Event{{Offset: 0, Source: "a", Kind: "offer"}, {Offset: Duration(120 * time.Millisecond), Source: "b", Kind: "connected"}}
			cell := Cell{Text: "direct", Class: "direct", Verdict: VerdictPass, Child: name}
			if i == 1 && j == 1 {
				cell = Cell{Text: "direct (expected failed)", Class: "direct", Verdict: VerdictFail, Child: name}
				child.Verdict = VerdictFail
				child.AddCheck(Check{ID: "path", Name: "path matches theory", Verdict: VerdictFail, Expected: "failed", Observed: "direct"})
				rep.AddCheck(Check{ID: "cell", Name: name, Verdict: VerdictFail, Expected: "failed", Observed: "direct"})
			}
			row = append(row, cell)
			rep.Children = append(rep.Children, child)
		}
		g.Cells = append(g.Cells, row)
	}
	rep.Grids = []Grid{g}
	return rep
}

// bigMatrix is a matrix report of n calls shaped like the real one: one
// check per cell on the matrix, one child call with a timeline, a check and
// details each, and every tenth cell differing from theory.
func bigMatrix(n int) *Report {
	rep := &Report{Schema: SchemaVersion, Kind: "matrix", Name: "5 presets, turn both", Started: fixtureStart, Duration: Duration(40 * time.Second), Verdict: VerdictPass}
	g := Grid{Title: "STUN only", RowLabel: "side a", ColLabel: "side b", Rows: []string{"r"}}
	var row []Cell
	for i := range n {
		name := fmt.Sprintf("cell %d: port-restricted ↔ symmetric", i)
		v := VerdictPass
		msg := ""
		if i%10 == 0 {
			v, msg = VerdictFail, fmt.Sprintf("observed differs from theory: cause %d", i)
		}
		rep.AddCheck(Check{ID: "matrix/" + name, Name: name, Verdict: v, Expected: "relay", Observed: "relay", Message: msg})
		ch := &Report{Schema: SchemaVersion, Kind: "call", Name: name, Started: fixtureStart, Duration: Duration(800 * time.Millisecond), Verdict: VerdictPass, Summary: "connected through the relay"}
		for j := range 30 {
			ch.Events = append(ch.Events, Event{Offset: Duration(time.Duration(j) * 20 * time.Millisecond), Source: []string{"a", "b", "signal"}[j%3], Kind: "ice-candidate", Detail: fmt.Sprintf("candidate:%d 1 udp 2130706431 10.0.%d.%d 5000%d typ host", j, i, j, j%10)})
		}
		ch.Metrics = []Metric{Counter("messages_sent", "messages", 5), latencyMetric("rtt", 1, 40)}
		ch.AddCheck(Check{ID: "path", Name: "connects as theory says", Verdict: v, Expected: "relay", Observed: "relay"})
		_ = ch.SetDetails(map[string]any{"a": "port-restricted", "b": "symmetric", "connected": true, "events": len(ch.Events)})
		rep.Children = append(rep.Children, ch)
		g.Cols = append(g.Cols, strconv.Itoa(i))
		row = append(row, Cell{Text: "relay 120ms", Class: "relay", Verdict: v, Child: name})
	}
	g.Cells = [][]Cell{row}
	rep.Grids = []Grid{g}
	rep.Metrics = []Metric{latencyMetric("time_to_connected", 100, 900), Gauge("wall_time", "s", 40)}
	_ = rep.SetDetails(map[string]any{"cells": n})
	return rep
}
