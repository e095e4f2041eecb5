package reports

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
)

// RenderText writes aligned columns for a terminal.
func RenderText(w io.Writer, rep *Report, opts RenderOptions) error {
	tw := &textWriter{w: w, color: opts.Color}
	tw.report(rep, 0)
	return tw.err
}

type textWriter struct {
	w     io.Writer
	color bool
	err   error
}

func (t *textWriter) printf(format string, args ...any) {
	if t.err != nil {
		return
	}
	_, t.err = fmt.Fprintf(t.w, format, args...)
}

func (t *textWriter) paint(code, s string) string {
	if !t.color {
		return s
	}
	return code + s + ansiReset
}

func (t *textWriter) verdict(v Verdict) string {
	s := strings.ToUpper(string(v))
	switch v {
	case VerdictPass:
		return t.paint(ansiGreen, s)
	case VerdictSkip:
		return t.paint(ansiDim, s)
	case VerdictWarn, VerdictInterrupted:
		return t.paint(ansiYellow, s)
	}
	return t.paint(ansiRed, s)
}

func (t *textWriter) report(rep *Report, depth int) {
	ind := strings.Repeat("  ", depth)
	title := rep.Title()
	t.printf("%s%s %s", ind, t.verdict(rep.Verdict), t.paint(ansiBold, title))
	if rep.Target != "" {
		t.printf(" → %s", rep.Target)
	}
	t.printf("  (%s)\n", roundDuration(rep.Duration))
	if rep.Summary != "" {
		t.printf("%s%s\n", ind, rep.Summary)
	}
	for _, tb := range rep.Tables {
		t.printf("\n%s%s\n", ind, t.paint(ansiBold, tb.Title))
		t.table(ind, tb.Columns, tb.Rows)
	}
	for _, g := range rep.Grids {
		t.printf("\n%s%s\n", ind, t.paint(ansiBold, g.Title))
		t.grid(ind, g)
	}
	if len(rep.Checks) > 0 {
		t.printf("\n%sChecks\n", ind)
		rows := make([][]string, 0, len(rep.Checks))
		for _, c := range rep.Checks {
			rows = append(rows, []string{t.verdict(c.Verdict), c.Name, c.Expected, c.Observed})
		}
		t.table(ind, []string{"", "check", "expected", "observed"}, rows)
		for _, c := range rep.Checks {
			if c.Message != "" && c.Verdict != VerdictPass {
				t.printf("%s  %s: %s\n", ind, c.Name, c.Message)
			}
		}
	}
	if len(rep.Metrics) > 0 {
		t.printf("\n%sMetrics\n", ind)
		t.table(ind, []string{"metric", "count/value", "min", "mean", "p50", "p90", "p99", "max", "unit"}, metricRows(rep.Metrics))
	}
	if len(rep.Events) > 0 && depth == 0 && len(rep.Children) == 0 {
		t.printf("\n%sTimeline\n", ind)
		rows := make([][]string, 0, len(rep.Events))
		for _, e := range rep.Events {
			rows = append(rows, []string{"+" + roundDuration(e.Offset), e.Source, e.Kind, e.Detail})
		}
		t.table(ind, []string{"time", "source", "event", "detail"}, rows)
	}
	// Many children (a matrix holds 50 calls) would drown the terminal: list
	// them one per line; the JSON and HTML reports keep every detail.
	if len(rep.Children) > maxTextChildren {
		t.printf("\n%s%d child reports (full detail in --report FILE.html or .json)\n", ind, len(rep.Children))
		rows := make([][]string, 0, len(rep.Children))
		for _, c := range rep.Children {
			rows = append(rows, []string{t.verdict(c.Verdict), titleOf(c), roundDuration(c.Duration), c.Summary})
		}
		t.table(ind, []string{"", "report", "took", "summary"}, rows)
		return
	}
	for _, c := range rep.Children {
		t.printf("\n")
		t.report(c, depth+1)
	}
}

// maxTextChildren is how many child reports the text format shows in full.
const maxTextChildren = 8

func (t *textWriter) table(ind string, cols []string, rows [][]string) {
	if t.err != nil {
		return
	}
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	if strings.Join(cols, "") != "" {
		fmt.Fprintf(tw, "%s  %s\n", ind, strings.Join(cols, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s  %s\n", ind, strings.Join(r, "\t"))
	}
	t.err = tw.Flush()
}

func (t *textWriter) grid(ind string, g Grid) {
	cols := append([]string{g.RowLabel + " \\ " + g.ColLabel}, g.Cols...)
	rows := make([][]string, 0, len(g.Rows))
	for i, name := range g.Rows {
		row := []string{name}
		for j := range g.Cols {
			cell := ""
			if i < len(g.Cells) && j < len(g.Cells[i]) {
				c := g.Cells[i][j]
				cell = c.Text
				if c.Verdict != VerdictPass && c.Verdict != "" {
					cell += " ✗"
				}
			}
			row = append(row, cell)
		}
		rows = append(rows, row)
	}
	t.table(ind, cols, rows)
	for _, n := range g.Legend {
		t.printf("%s  %s: %s\n", ind, n.Class, n.Meaning)
	}
}

func metricRows(ms []Metric) [][]string {
	rows := make([][]string, 0, len(ms))
	for _, m := range ms {
		if m.Kind == KindDistribution {
			rows = append(rows, []string{m.Name, strconv.FormatInt(m.Count, 10), num(m.Min), num(m.Mean), num(m.P50), num(m.P90), num(m.P99), num(m.Max), m.Unit})
		} else {
			rows = append(rows, []string{m.Name, value(m), "", "", "", "", "", "", m.Unit})
		}
	}
	return rows
}

// value formats a counter or gauge: a counter counts whole things, so it
// prints as an integer (10, not 10.00); a gauge with a fraction keeps it.
func value(m Metric) string {
	if m.Value == math.Trunc(m.Value) && math.Abs(m.Value) < 1e15 {
		return strconv.FormatFloat(m.Value, 'f', 0, 64)
	}
	return num(m.Value)
}

// num formats a value with about four significant digits.
func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000 || v <= -1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 100 || v <= -100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1 || v <= -1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func roundDuration(d Duration) string {
	dd := d.D()
	switch {
	case dd >= 10e9:
		return dd.Round(100e6).String()
	case dd >= 1e9:
		return dd.Round(1e6).String()
	case dd >= 1e6:
		return dd.Round(10e3).String()
	}
	return dd.Round(1e3).String()
}
