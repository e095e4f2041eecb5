package reports

import (
	"fmt"
	"io"
	"strings"
)

// RenderMarkdown writes a CI job summary: verdict headline, checks, metrics
// and grids.
func RenderMarkdown(w io.Writer, rep *Report) error {
	mw := &mdWriter{w: w}
	mw.report(rep, 2)
	return mw.err
}

type mdWriter struct {
	w   io.Writer
	err error
}

func (m *mdWriter) printf(format string, args ...any) {
	if m.err != nil {
		return
	}
	_, m.err = fmt.Fprintf(m.w, format, args...)
}

func verdictIcon(v Verdict) string {
	switch v {
	case VerdictPass:
		return "✅"
	case VerdictSkip:
		return "⏭️"
	case VerdictWarn:
		return "⚠️"
	case VerdictInterrupted:
		return "⏸️"
	case VerdictFail:
		return "❌"
	}
	return "⛔"
}

func (m *mdWriter) report(rep *Report, level int) {
	h := strings.Repeat("#", level)
	title := rep.Title()
	m.printf("%s %s natkit %s: %s\n\n", h, verdictIcon(rep.Verdict), mdEscape(title), strings.ToUpper(string(rep.Verdict)))
	if rep.Summary != "" {
		m.printf("%s\n\n", mdEscape(rep.Summary))
	}
	if rep.Target != "" {
		m.printf("Target: `%s` · took %s\n\n", strings.ReplaceAll(rep.Target, "`", "'"), roundDuration(rep.Duration))
	}
	for _, g := range rep.Grids {
		m.printf("**%s**\n\n", mdEscape(g.Title))
		m.printf("| %s \\\\ %s |", mdEscape(g.RowLabel), mdEscape(g.ColLabel))
		for _, c := range g.Cols {
			m.printf(" %s |", mdEscape(c))
		}
		m.printf("\n|---|%s\n", strings.Repeat("---|", len(g.Cols)))
		for i, r := range g.Rows {
			m.printf("| **%s** |", mdEscape(r))
			for j := range g.Cols {
				if i < len(g.Cells) && j < len(g.Cells[i]) {
					c := g.Cells[i][j]
					m.printf(" %s %s |", verdictIcon(c.Verdict), mdEscape(c.Text))
				} else {
					m.printf("  |")
				}
			}
			m.printf("\n")
		}
		m.printf("\n")
		for _, n := range g.Legend {
			m.printf("- `%s`: %s\n", n.Class, mdEscape(n.Meaning))
		}
		if len(g.Legend) > 0 {
			m.printf("\n")
		}
	}
	if len(rep.Checks) > 0 {
		m.printf("| | check | expected | observed | message |\n|---|---|---|---|---|\n")
		for _, c := range rep.Checks {
			m.printf("| %s | %s | %s | %s | %s |\n", verdictIcon(c.Verdict), mdEscape(c.Name), mdEscape(c.Expected), mdEscape(c.Observed), mdEscape(c.Message))
		}
		m.printf("\n")
	}
	for _, t := range rep.Tables {
		m.printf("**%s**\n\n| %s |\n|%s\n", mdEscape(t.Title), mdJoin(t.Columns), strings.Repeat("---|", len(t.Columns)))
		for _, r := range t.Rows {
			m.printf("| %s |\n", mdJoin(r))
		}
		m.printf("\n")
	}
	if len(rep.Metrics) > 0 {
		m.printf("| metric | count/value | min | mean | p50 | p90 | p99 | max | unit |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range metricRows(rep.Metrics) {
			m.printf("| %s |\n", mdJoin(r))
		}
		m.printf("\n")
	}
	if len(rep.Children) > 0 {
		m.printf("<details><summary>%d child reports</summary>\n\n", len(rep.Children))
		for _, c := range rep.Children {
			m.report(c, min(level+1, 6))
		}
		m.printf("</details>\n\n")
	}
}

func mdJoin(cells []string) string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = mdEscape(c)
	}
	return strings.Join(out, " | ")
}

// mdEscape keeps table cells intact: pipes and newlines would break a row.
func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, "\n", "<br>")
	s = strings.ReplaceAll(s, "<script", "&lt;script")
	return s
}
