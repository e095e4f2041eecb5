package scenarios

import (
	"fmt"
	"sort"
	"strings"

	"github.com/natkit/natkit/reports"
)

// MetricTimeToConnected is the distribution of time to connected (ms) over
// a cell's runs, a scenario's repeats, and every connected call of a
// matrix; per implementation pair it is suffixed with the pair's name.
const MetricTimeToConnected = "time_to_connected"

// CellStats is one cell of the matrix over its repeats: one preset pair,
// TURN setting and implementation pair.
type CellStats struct {
	A     string `json:"a"`
	B     string `json:"b"`
	TURN  bool   `json:"turn"`
	PeerA string `json:"peer_a,omitempty"`
	PeerB string `json:"peer_b,omitempty"`
	// Runs is how many calls were placed and compared with theory (not
	// interrupted, not left unrun).
	Runs int `json:"runs"`
	// Interrupted and NotRun count the repeats that are not in Runs.
	Interrupted int `json:"interrupted,omitempty"`
	NotRun      int `json:"not_run,omitempty"`
	// Connected and Matched count the runs that connected, and that agreed
	// with theory.
	Connected int `json:"connected"`
	Matched   int `json:"matched"`
	// Paths counts the runs by observed path: direct, relay or failed.
	Paths map[string]int `json:"paths"`
	// TimeToConnected is the distribution over the connected runs (HDR,
	// mergeable; empty when none connected).
	TimeToConnected reports.Metric `json:"time_to_connected"`

	cells []*Cell
}

// Name names the cell as its first run does.
func (s *CellStats) Name() string { return s.cells[0].Name() }

// Pair names the implementation pair, e.g. "pion×chromium".
func (s *CellStats) Pair() string { return s.cells[0].Pair() }

// SuccessRate is the fraction of runs that connected (0 with no runs).
func (s *CellStats) SuccessRate() float64 {
	if s.Runs == 0 {
		return 0
	}
	return float64(s.Connected) / float64(s.Runs)
}

// Pass reports whether every repeat ran and agreed with theory. Theory
// decides what success means: a cell expected not to connect passes with
// a success rate of 0, a named race accepts both its outcomes, and every
// other cell fails on a single run that differs (theory is deterministic;
// a flaky cell is what repeats are for).
func (s *CellStats) Pass() bool { return s.Runs == len(s.cells) && s.Matched == s.Runs }

// PathsText lists the observed paths with their counts, most first, e.g.
// "direct 4/5, relay 1/5".
func (s *CellStats) PathsText() string {
	names := make([]string, 0, len(s.Paths))
	for p := range s.Paths {
		names = append(names, p)
	}
	sort.Slice(names, func(i, j int) bool {
		if s.Paths[names[i]] != s.Paths[names[j]] {
			return s.Paths[names[i]] > s.Paths[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, p := range names {
		parts[i] = fmt.Sprintf("%s %d/%d", p, s.Paths[p], s.Runs)
	}
	return strings.Join(parts, ", ")
}

// mostPath is the path most runs took ("" with no runs).
func (s *CellStats) mostPath() string {
	best := ""
	for p, n := range s.Paths {
		if best == "" || n > s.Paths[best] || (n == s.Paths[best] && p < best) {
			best = p
		}
	}
	return best
}

// CellStats groups the matrix's calls by cell and implementation pair, in
// the order of their first run.
func (m *MatrixResult) CellStats() []*CellStats {
	var out []*CellStats
	index := map[string]*CellStats{}
	for _, c := range m.Cells {
		key := c.Name()
		s, ok := index[key]
		if !ok {
			s = &CellStats{A: c.A, B: c.B, TURN: c.TURN, PeerA: c.PeerA, PeerB: c.PeerB, Paths: map[string]int{}}
			index[key] = s
			out = append(out, s)
		}
		s.cells = append(s.cells, c)
	}
	for _, s := range out {
		rec := reports.NewLatencyRecorder(MetricTimeToConnected)
		for _, c := range s.cells {
			switch {
			case c.Result == nil && c.Err == "":
				s.NotRun++
				continue
			case c.Interrupted():
				s.Interrupted++
				continue
			}
			s.Runs++
			s.Paths[c.ObservedPath()]++
			if c.Match() {
				s.Matched++
			}
			if c.Result != nil && c.Result.Connected {
				s.Connected++
				rec.RecordDuration(c.Result.TimeToConnected)
			}
		}
		s.TimeToConnected = rec.Metric()
	}
	return out
}

// FindingKind says how two implementation pairs differ on one cell.
type FindingKind string

// Finding kinds.
const (
	// FindingOutcome: the pairs' success rates differ (one connects where
	// another does not, or not as often).
	FindingOutcome FindingKind = "outcome"
	// FindingPath: the pairs connect as often, but over other paths
	// (direct against relay).
	FindingPath FindingKind = "path"
)

// Finding is a cell (presets and TURN) where implementation pairs differ
// in outcome or selected path. It is reported, never special-cased: each
// pair is still judged against theory on its own.
type Finding struct {
	Kind FindingKind `json:"kind"`
	A    string      `json:"a"`
	B    string      `json:"b"`
	TURN bool        `json:"turn"`
	// Observed is each implementation pair's outcome on the cell, in the
	// matrix's order.
	Observed []PairOutcome `json:"observed"`
}

// PairOutcome is one implementation pair's runs of a cell.
type PairOutcome struct {
	Pair      string         `json:"pair"`
	Runs      int            `json:"runs"`
	Connected int            `json:"connected"`
	Paths     map[string]int `json:"paths"`
	// P50 is the median time to connected in ms (0 when none connected).
	P50 float64 `json:"p50_ms,omitempty"`
}

// Cell names the cell the way the matrix's grids do.
func (f Finding) Cell() string {
	c := Cell{A: f.A, B: f.B, TURN: f.TURN}
	return c.Name()
}

// Text says the finding in a sentence.
func (f Finding) Text() string {
	what := "connect differently"
	if f.Kind == FindingPath {
		what = "select different paths"
	}
	parts := make([]string, len(f.Observed))
	for i, o := range f.Observed {
		parts[i] = fmt.Sprintf("%s: %s", o.Pair, o.describe())
	}
	return fmt.Sprintf("%s: implementations %s — %s", f.Cell(), what, strings.Join(parts, "; "))
}

func (o PairOutcome) describe() string {
	s := CellStats{Runs: o.Runs, Paths: o.Paths}
	return s.PathsText()
}

// Differences compares the implementation pairs of each cell: where their
// success rates differ it is an outcome finding; where they connect as often
// but the sets of paths they took differ, a path finding. Cells with one
// pair, or with no completed run in some pair, give none.
func Differences(stats []*CellStats) []Finding {
	type key struct {
		a, b string
		turn bool
	}
	var order []key
	byCell := map[key][]*CellStats{}
	for _, s := range stats {
		k := key{s.A, s.B, s.TURN}
		if _, ok := byCell[k]; !ok {
			order = append(order, k)
		}
		byCell[k] = append(byCell[k], s)
	}
	var out []Finding
	for _, k := range order {
		group := byCell[k]
		if len(group) < 2 {
			continue
		}
		complete := true
		for _, s := range group {
			complete = complete && s.Runs > 0
		}
		if !complete {
			continue
		}
		kind := FindingKind("")
		first := group[0]
		for _, s := range group[1:] {
			if s.Connected*first.Runs != first.Connected*s.Runs {
				kind = FindingOutcome
				break
			}
			if !samePaths(s.Paths, first.Paths) {
				kind = FindingPath
			}
		}
		if kind == "" {
			continue
		}
		f := Finding{Kind: kind, A: k.a, B: k.b, TURN: k.turn}
		for _, s := range group {
			o := PairOutcome{Pair: s.Pair(), Runs: s.Runs, Connected: s.Connected, Paths: s.Paths}
			if s.Connected > 0 {
				o.P50 = s.TimeToConnected.P50
			}
			f.Observed = append(f.Observed, o)
		}
		out = append(out, f)
	}
	return out
}

// samePaths reports whether two runs' path counts name the same paths.
func samePaths(a, b map[string]int) bool {
	for p, n := range a {
		if n > 0 && b[p] == 0 {
			return false
		}
	}
	for p, n := range b {
		if n > 0 && a[p] == 0 {
			return false
		}
	}
	return true
}
