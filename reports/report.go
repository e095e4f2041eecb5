// Package reports holds natkit's one report model and its renderers. Every
// command turns its typed result into a Report; renderers never run probes.
// This package imports no other natkit package.
package reports

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// SchemaVersion identifies the JSON layout. It changes only when a stable
// field changes meaning or disappears (see SCHEMA.md).
const SchemaVersion = "natkit.report/v1"

// Verdict is the outcome of a report or a check.
type Verdict string

// Verdicts, from best to worst. A report is never "skip" or "warn": those are
// check verdicts. "warn" passes the run but asks for a look (e.g. the load
// generator missed its send schedule); "skip" could not be decided.
const (
	VerdictPass        Verdict = "pass"
	VerdictWarn        Verdict = "warn"
	VerdictSkip        Verdict = "skip"
	VerdictFail        Verdict = "fail"
	VerdictError       Verdict = "error"
	VerdictInterrupted Verdict = "interrupted"
)

// severity orders verdicts so that merges keep the worst.
func (v Verdict) severity() int {
	switch v {
	case VerdictPass:
		return 0
	case VerdictWarn:
		return 1
	case VerdictSkip:
		return 2
	case VerdictFail:
		return 3
	case VerdictError:
		return 4
	case VerdictInterrupted:
		return 5
	}
	return 4
}

// Worse returns the worse of two verdicts.
func Worse(a, b Verdict) Verdict {
	if b.severity() > a.severity() {
		return b
	}
	return a
}

// Valid reports whether v is one of the defined verdicts.
func (v Verdict) Valid() bool {
	switch v {
	case VerdictPass, VerdictWarn, VerdictSkip, VerdictFail, VerdictError, VerdictInterrupted:
		return true
	}
	return false
}

// Report is the result of one natkit run (or one call inside a matrix).
type Report struct {
	Schema      string       `json:"schema"`
	Kind        string       `json:"kind"`
	Name        string       `json:"name"`
	Target      string       `json:"target,omitempty"`
	Started     time.Time    `json:"started"`
	Duration    Duration     `json:"duration"`
	Verdict     Verdict      `json:"verdict"`
	Summary     string       `json:"summary"`
	Checks      []Check      `json:"checks,omitempty"`
	Metrics     []Metric     `json:"metrics,omitempty"`
	Series      []Series     `json:"series,omitempty"`
	Events      []Event      `json:"events,omitempty"`
	Tables      []Table      `json:"tables,omitempty"`
	Grids       []Grid       `json:"grids,omitempty"`
	Environment *Environment `json:"environment,omitempty"`
	// Headline names the metrics that say most about the run, in order;
	// the HTML report charts them first.
	Headline []string `json:"headline,omitempty"`
	// CDFCharts overlay distribution metrics of this report on one CDF
	// chart each, e.g. time to connected per implementation pair.
	CDFCharts []CDFChart `json:"cdf_charts,omitempty"`
	Children  []*Report  `json:"children,omitempty"`
	// Details is the kind-specific typed payload, e.g. a gather result.
	// Use SetDetails and DecodeDetails.
	Details json.RawMessage `json:"details,omitempty"`
}

// New returns a report of kind with the schema set and Started at now.
func New(kind, name string) *Report {
	return &Report{Schema: SchemaVersion, Kind: kind, Name: name, Started: time.Now(), Verdict: VerdictPass}
}

// Check is one pass/fail judgement with what was expected and observed.
type Check struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Verdict  Verdict  `json:"verdict"`
	Expected string   `json:"expected,omitempty"`
	Observed string   `json:"observed,omitempty"`
	Message  string   `json:"message,omitempty"`
	Duration Duration `json:"duration,omitempty"`
}

// Event is one entry of a timeline.
type Event struct {
	// Offset is the time since the report's Started.
	Offset Duration `json:"offset"`
	Source string   `json:"source"`
	Kind   string   `json:"kind"`
	Detail string   `json:"detail,omitempty"`
}

// Series is a named time series for charts, e.g. packets per second.
type Series struct {
	Name   string  `json:"name"`
	Unit   string  `json:"unit"`
	Points []Point `json:"points"`
}

// Point is one sample of a series, at an offset from the report's Started.
type Point struct {
	Offset Duration `json:"t"`
	Value  float64  `json:"v"`
}

// Table is a titled table of strings, e.g. gathered candidates.
type Table struct {
	Title   string     `json:"title"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
}

// Grid is a two-dimensional result, e.g. the NAT matrix: one cell for each
// (row, column) pair.
type Grid struct {
	Title    string     `json:"title"`
	RowLabel string     `json:"row_label"`
	ColLabel string     `json:"col_label"`
	Rows     []string   `json:"rows"`
	Cols     []string   `json:"cols"`
	Cells    [][]Cell   `json:"cells"`
	Legend   []GridNote `json:"legend,omitempty"`
}

// Cell is one grid cell. Class picks its colour (e.g. "direct", "relay",
// "failed"); Child names the child report that explains it.
type Cell struct {
	Text    string  `json:"text"`
	Class   string  `json:"class,omitempty"`
	Verdict Verdict `json:"verdict"`
	Child   string  `json:"child,omitempty"`
}

// CDFChart names distribution metrics of one report, in the same unit, to
// draw as CDFs on one chart. The HTML report draws it whatever the sample
// count (a repeated matrix cell has a handful), and draws the metrics it
// names nowhere else.
type CDFChart struct {
	Title   string   `json:"title"`
	Metrics []string `json:"metrics"`
}

// GridNote explains one cell class.
type GridNote struct {
	Class   string `json:"class"`
	Meaning string `json:"meaning"`
}

// Environment says where and with what the report was produced.
type Environment struct {
	NatkitVersion string            `json:"natkit_version"`
	Commit        string            `json:"commit,omitempty"`
	GoVersion     string            `json:"go_version"`
	OS            string            `json:"os"`
	Arch          string            `json:"arch"`
	Hostname      string            `json:"hostname,omitempty"`
	Modules       map[string]string `json:"modules,omitempty"`
	Settings      map[string]string `json:"settings,omitempty"`
}

// Passes reports whether a check with verdict v lets the run pass: pass,
// warn and skip do.
func (v Verdict) Passes() bool {
	return v == VerdictPass || v == VerdictWarn || v == VerdictSkip
}

// AddCheck appends a check and worsens the report verdict accordingly.
func (r *Report) AddCheck(c Check) {
	r.Checks = append(r.Checks, c)
	if !c.Verdict.Passes() {
		r.Verdict = Worse(r.Verdict, c.Verdict)
	}
}

// AddEvent appends a timeline event at time at.
func (r *Report) AddEvent(at time.Time, source, kind, detail string) {
	r.Events = append(r.Events, Event{Offset: Duration(at.Sub(r.Started)), Source: source, Kind: kind, Detail: detail})
}

// Finish sets the duration from Started to now.
func (r *Report) Finish() { r.Duration = Duration(time.Since(r.Started)) }

// Interrupt marks the report as interrupted, keeping what it holds.
func (r *Report) Interrupt() {
	r.Verdict = VerdictInterrupted
	if r.Summary == "" {
		r.Summary = "interrupted before completion"
	} else {
		r.Summary = "interrupted: " + r.Summary
	}
}

// Title is how renderers name a report: the kind, then the name, without
// saying a word twice. A name that already holds the kind ("call t3",
// "2 scenarios", "natkit relay") stands alone, and a leading "natkit " is
// dropped because every renderer already says natkit.
func (r *Report) Title() string {
	name := strings.TrimSpace(strings.TrimPrefix(r.Name, "natkit "))
	if name == "" {
		return r.Kind
	}
	for _, w := range strings.FieldsFunc(strings.ToLower(name), func(c rune) bool {
		return !unicode.IsLetter(c) && !unicode.IsDigit(c) && c != '-' && c != '_'
	}) {
		if w == r.Kind || w == r.Kind+"s" || w+"s" == r.Kind {
			return name
		}
	}
	return r.Kind + " " + name
}

func titleOf(r *Report) string { return r.Title() }

// SetDetails stores v as the kind-specific payload.
func (r *Report) SetDetails(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s details: %w", r.Kind, err)
	}
	r.Details = b
	return nil
}

// DecodeDetails decodes the kind-specific payload into v.
func (r *Report) DecodeDetails(v any) error {
	if len(r.Details) == 0 {
		return ErrNoDetails
	}
	if err := json.Unmarshal(r.Details, v); err != nil {
		return fmt.Errorf("decode %s details: %w", r.Kind, err)
	}
	return nil
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("1.5s"), readable by people and exact for machines.
type Duration time.Duration

// D returns the standard library duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string, or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: want a string like \"1.5s\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// CountTable turns counts by key (e.g. errors by code) into a two-column
// table sorted by key, so reports list them in a stable order.
func CountTable(title, keyColumn string, counts map[string]uint64) Table {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t := Table{Title: title, Columns: []string{keyColumn, "count"}, Rows: [][]string{}}
	for _, k := range keys {
		t.Rows = append(t.Rows, []string{k, strconv.FormatUint(counts[k], 10)})
	}
	return t
}
