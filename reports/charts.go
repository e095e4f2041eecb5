package reports

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Charts are small inline SVG drawn here rather than with a plotting
// library: the text inherits the page's font, legends live in the figure's
// caption (never on the data), and a 50-call matrix stays a few hundred KB.
// Every value comes from numbers in the report and every string is escaped.

// figure is one chart: a caption with its legend above an SVG.
type figure struct {
	Title  string
	Legend []legendItem
	SVG    template.HTML
}

type legendItem struct {
	Label string
	Color string
	Dash  string // SVG stroke-dasharray; empty for a solid line
}

// Border is the CSS line style that looks like the item's line.
func (l legendItem) Border() string {
	switch {
	case l.Dash == "":
		return "solid"
	case strings.HasPrefix(l.Dash, "1 ") || strings.HasPrefix(l.Dash, "2 2"):
		return "dotted"
	}
	return "dashed"
}

var chartPalette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// Layout of a chart, in SVG user units (the SVG scales to its box).
const (
	chartW      = 520.0
	chartH      = 200.0
	timelineW   = 1040.0
	chartLeft   = 52.0
	chartRight  = 14.0
	chartTop    = 10.0
	chartBottom = 34.0
)

// minCDFSamples is the fewest samples a CDF is drawn for: below that the
// metrics table says more than a staircase.
const minCDFSamples = 10

// axis maps values to pixels, linearly or in log10.
type axis struct {
	min, max   float64
	log        bool
	from, to   float64 // pixel range
	ticks      []float64
	tickLabels []string
}

func (a axis) px(v float64) float64 {
	lo, hi := a.min, a.max
	if a.log {
		v, lo, hi = math.Log10(math.Max(v, a.min)), math.Log10(lo), math.Log10(hi)
	}
	if hi == lo {
		return a.from
	}
	return a.from + (v-lo)/(hi-lo)*(a.to-a.from)
}

// linearAxis covers lo..hi with about n "nice" ticks (1, 2, 5 × 10^k), and
// starts at zero when every value is positive: a rate or a loss below 0
// means nothing.
func linearAxis(lo, hi float64, n int, from, to float64) axis {
	if lo > 0 {
		lo = 0
	}
	if hi <= lo {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / float64(n))
	a := axis{min: math.Floor(lo/step) * step, max: math.Ceil(hi/step) * step, from: from, to: to}
	for v := a.min; v <= a.max+step/2; v += step {
		a.ticks = append(a.ticks, v)
		a.tickLabels = append(a.tickLabels, tickLabel(v, step))
	}
	return a
}

// logAxis covers lo..hi (both > 0) in whole decades.
func logAxis(lo, hi, from, to float64) axis {
	a := axis{log: true, min: math.Pow(10, math.Floor(math.Log10(lo))), max: math.Pow(10, math.Ceil(math.Log10(hi))), from: from, to: to}
	for v := a.min; v <= a.max*1.001; v *= 10 {
		a.ticks = append(a.ticks, v)
		a.tickLabels = append(a.tickLabels, tickLabel(v, v))
	}
	return a
}

func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func tickLabel(v, step float64) string {
	if v == 0 {
		return "0"
	}
	prec := 0
	if step < 1 {
		prec = int(math.Ceil(-math.Log10(step)))
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// svgBuilder writes compact SVG: coordinates rounded to 0.1 unit.
type svgBuilder struct {
	b strings.Builder
}

func f1(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

func (s *svgBuilder) open(w, h float64, label string) {
	fmt.Fprintf(&s.b, `<svg viewBox="0 0 %s %s" role="img" aria-label="%s">`, f1(w), f1(h), template.HTMLEscapeString(label))
}

func (s *svgBuilder) text(x, y float64, anchor, class, txt string) {
	fmt.Fprintf(&s.b, `<text x="%s" y="%s"`, f1(x), f1(y))
	if anchor != "" {
		fmt.Fprintf(&s.b, ` text-anchor="%s"`, anchor)
	}
	if class != "" {
		fmt.Fprintf(&s.b, ` class="%s"`, class)
	}
	s.b.WriteString(">" + template.HTMLEscapeString(txt) + "</text>")
}

func (s *svgBuilder) line(x1, y1, x2, y2 float64, class string) {
	fmt.Fprintf(&s.b, `<path class="%s" d="M%s %sL%s %s"/>`, class, f1(x1), f1(y1), f1(x2), f1(y2))
}

func (s *svgBuilder) polyline(xs, ys []float64, color, dash string, width float64) {
	s.b.WriteString(`<path fill="none" stroke="` + color + `" stroke-width="` + f1(width) + `"`)
	if dash != "" {
		s.b.WriteString(` stroke-dasharray="` + dash + `"`)
	}
	s.b.WriteString(` d="`)
	for i := range xs {
		if i == 0 {
			s.b.WriteString("M")
		} else {
			s.b.WriteString("L")
		}
		s.b.WriteString(f1(xs[i]) + " " + f1(ys[i]))
	}
	s.b.WriteString(`"/>`)
}

// frame draws the grid, ticks and axis labels.
func (s *svgBuilder) frame(x, y axis, xLabel, yLabel string) {
	for i, t := range y.ticks {
		py := y.px(t)
		s.line(x.from, py, x.to, py, "grid")
		s.text(x.from-5, py+4, "end", "", y.tickLabels[i])
	}
	for i, t := range x.ticks {
		px := x.px(t)
		s.line(px, y.from, px, y.to, "grid")
		s.text(px, y.from+14, "middle", "", x.tickLabels[i])
	}
	s.line(x.from, y.from, x.to, y.from, "axis")
	s.line(x.from, y.from, x.from, y.to, "axis")
	s.text((x.from+x.to)/2, y.from+29, "middle", "label", xLabel)
	fmt.Fprintf(&s.b, `<text transform="translate(12 %s) rotate(-90)" text-anchor="middle" class="label">%s</text>`,
		f1((y.from+y.to)/2), template.HTMLEscapeString(yLabel))
}

func (s *svgBuilder) html() template.HTML {
	return template.HTML(s.b.String() + "</svg>") //nolint:gosec // numbers, and strings escaped above
}

// cdfChart draws a distribution metric's CDF: the y axis is the fraction of
// samples at or below x, and x is log-scaled when values span more than two
// decades, since tails are what matter. It returns false for a metric
// without a histogram or with fewer than minCDFSamples samples.
func cdfChart(m Metric) (figure, bool) {
	if m.Count < minCDFSamples {
		return figure{}, false
	}
	fig, ok := cdfFigure(m.Name+" CDF", []Metric{m})
	fig.Title = m.Name + " — CDF of " + strconv.FormatInt(m.Count, 10) + " samples"
	return fig, ok
}

// cdfOverlay draws a report's CDFChart: the CDFs of the named metrics on
// one chart, whatever their sample count (a repeated cell has a handful,
// and the staircase then shows each run). Metrics the report lacks, or
// without a histogram, are left out; it returns false when none is left.
func cdfOverlay(c CDFChart, metrics []Metric) (figure, bool) {
	var ms []Metric
	for _, name := range c.Metrics {
		for _, m := range metrics {
			if m.Name == name && m.Kind == KindDistribution && m.Count > 0 {
				ms = append(ms, m)
				break
			}
		}
	}
	fig, ok := cdfFigure(c.Title, ms)
	fig.Title = c.Title
	if ok && len(ms) == 1 {
		fig.Title += " — CDF of " + strconv.FormatInt(ms[0].Count, 10) + " samples"
	}
	return fig, ok
}

// cdfFigure draws the CDFs of ms on shared axes. One metric gets its p50
// and p99 marked; several get one colour each, with their sample count and
// p50 in the legend.
func cdfFigure(label string, ms []Metric) (figure, bool) {
	var curves [][][2]float64
	var drawn []Metric
	lo, hi := math.Inf(1), 0.0
	for _, m := range ms {
		pts := m.CDF()
		if len(pts) == 0 {
			continue
		}
		if len(pts) == 1 {
			// One value: a vertical step from 0 to 1.
			pts = [][2]float64{{pts[0][0], 0}, pts[0]}
		}
		curves, drawn = append(curves, pts), append(drawn, m)
		hi = math.Max(hi, pts[len(pts)-1][0])
		for _, p := range pts {
			if p[0] > 0 {
				lo = math.Min(lo, p[0])
			}
		}
	}
	if len(curves) == 0 {
		return figure{}, false
	}
	left, right := chartLeft, chartW-chartRight
	var x axis
	if !math.IsInf(lo, 1) && hi/lo > 100 {
		x = logAxis(lo, hi, left, right)
	} else {
		x = linearAxis(0, hi, 6, left, right)
	}
	y := linearAxis(0, 1, 4, chartH-chartBottom, chartTop)
	var s svgBuilder
	s.open(chartW, chartH, label)
	s.frame(x, y, drawn[0].Unit, "fraction ≤ x")
	var fig figure
	for i, pts := range curves {
		xs, ys := make([]float64, 0, len(pts)), make([]float64, 0, len(pts))
		for _, p := range pts {
			if x.log && p[0] <= 0 {
				continue
			}
			xs, ys = append(xs, x.px(p[0])), append(ys, y.px(p[1]))
		}
		color := chartPalette[i%len(chartPalette)]
		st := seriesStyles[i%len(seriesStyles)]
		m := drawn[i]
		if len(curves) == 1 {
			s.polyline(xs, ys, color, "", 2)
			fig.Legend = append(fig.Legend, legendItem{Label: m.Name, Color: color})
			continue
		}
		s.polyline(xs, ys, color, st.dash, 2)
		fig.Legend = append(fig.Legend, legendItem{Label: m.Name + " (" + strconv.FormatInt(m.Count, 10) + ", p50 " + num(m.P50) + " " + m.Unit + ")", Color: color, Dash: st.dash})
	}
	if len(curves) == 1 {
		m := drawn[0]
		for _, q := range []struct {
			v     float64
			label string
			dash  string
		}{{m.P50, "p50", "4 3"}, {m.P99, "p99", "1 3"}} {
			if x.log && q.v <= 0 {
				continue
			}
			px := x.px(q.v)
			s.polyline([]float64{px, px}, []float64{y.from, y.to}, "#6e7781", q.dash, 1.2)
			fig.Legend = append(fig.Legend, legendItem{Label: q.label + " " + num(q.v) + " " + m.Unit, Color: "#6e7781", Dash: q.dash})
		}
	}
	fig.SVG = s.html()
	return fig, true
}

// seriesStyles keep overlapping series visible: the first is drawn wide and
// pale, the next ones narrower and dashed on top of it, so received packets
// equal to sent ones show as a dashed line inside a wide one.
var seriesStyles = []struct {
	width   float64
	dash    string
	opacity string
}{{4, "", "0.45"}, {1.6, "6 3", ""}, {1.6, "2 2", ""}, {1.6, "", ""}, {1.6, "8 2 2 2", ""}, {1.6, "4 4", ""}}

// seriesChart draws series that measure one quantity over time.
func seriesChart(quantity string, series []Series) (figure, bool) {
	var tMax, vMin, vMax float64
	drawn := 0
	for _, s := range series {
		for _, p := range s.Points {
			tMax = math.Max(tMax, p.Offset.D().Seconds())
			vMin, vMax = math.Min(vMin, p.Value), math.Max(vMax, p.Value)
			drawn++
		}
	}
	if drawn == 0 {
		return figure{}, false
	}
	x := linearAxis(0, tMax, 6, chartLeft, chartW-chartRight)
	y := linearAxis(vMin, vMax*1.05, 4, chartH-chartBottom, chartTop)
	var s svgBuilder
	s.open(chartW, chartH, quantity)
	s.frame(x, y, "seconds", quantity)
	fig := figure{Title: quantity + " over time"}
	for i, sr := range series {
		if len(sr.Points) == 0 {
			continue
		}
		st := seriesStyles[i%len(seriesStyles)]
		color := chartPalette[i%len(chartPalette)]
		xs, ys := make([]float64, len(sr.Points)), make([]float64, len(sr.Points))
		for j, p := range sr.Points {
			xs[j], ys[j] = x.px(p.Offset.D().Seconds()), y.px(p.Value)
		}
		if st.opacity != "" {
			s.b.WriteString(`<g opacity="` + st.opacity + `">`)
		}
		s.polyline(xs, ys, color, st.dash, st.width)
		if st.opacity != "" {
			s.b.WriteString(`</g>`)
		}
		fig.Legend = append(fig.Legend, legendItem{Label: sr.Name, Color: color, Dash: st.dash})
	}
	fig.SVG = s.html()
	return fig, true
}

// Timeline layout.
const (
	laneH       = 52.0
	labelRowH   = 12.0
	labelCharW  = 5.6 // a 10-unit label's average character width
	labelGap    = 6.0
	labelRows   = 3
	timelinePad = 8.0
)

// timelineChart draws events as dots on one lane per source. Kinds are
// written horizontally above the dots, in up to three rows per lane; a label
// that would overlap another is left out (the event table below the chart
// lists every event).
func timelineChart(events []Event) (template.HTML, bool) {
	if len(events) == 0 {
		return "", false
	}
	var sources []string
	lane := map[string]int{}
	tMax, longest := 0.0, 0
	for _, e := range events {
		if _, ok := lane[e.Source]; !ok {
			lane[e.Source] = len(sources)
			sources = append(sources, e.Source)
			longest = max(longest, len([]rune(e.Source)))
		}
		tMax = math.Max(tMax, ms(e.Offset))
	}
	left := math.Min(math.Max(chartLeft, float64(longest)*labelCharW*1.2+14), 160)
	h := chartTop + float64(len(sources))*laneH + chartBottom
	x := linearAxis(0, tMax, 8, left, timelineW-chartRight)
	var s svgBuilder
	s.open(timelineW, h, "timeline")
	yAxisFrom := h - chartBottom
	for i, t := range x.ticks {
		px := x.px(t)
		s.line(px, yAxisFrom, px, chartTop, "grid")
		s.text(px, yAxisFrom+14, "middle", "", x.tickLabels[i])
	}
	s.line(left, yAxisFrom, timelineW-chartRight, yAxisFrom, "axis")
	s.text((left+timelineW-chartRight)/2, yAxisFrom+29, "middle", "label", "milliseconds since start")
	for i, src := range sources {
		laneY := chartTop + float64(i+1)*laneH - timelinePad
		s.line(left, laneY, timelineW-chartRight, laneY, "grid")
		s.text(left-6, laneY+4, "end", "", src)
		color := chartPalette[i%len(chartPalette)]
		ends := make([]float64, labelRows) // right edge of the last label in each row
		for r := range ends {
			ends[r] = math.Inf(-1)
		}
		// The dots are one path of zero-length round-capped segments (a few
		// bytes each, drawn once per pixel); the event table lists them all.
		var dots strings.Builder
		drawnAt := map[string]bool{}
		var labels svgBuilder
		for _, e := range events {
			if e.Source != src {
				continue
			}
			px := x.px(ms(e.Offset))
			if at := f1(px); !drawnAt[at] {
				drawnAt[at] = true
				dots.WriteString("M" + at + " " + f1(laneY) + "h0")
			}
			// Centred on its dot, or starting at it near the left edge.
			w := float64(len([]rune(e.Kind))) * labelCharW
			x0, tx, anchor := px-w/2, px, "middle"
			if x0 < left-4 {
				x0, tx, anchor = px-3, px-3, "start"
			}
			for r := range ends {
				if x0 >= ends[r]+labelGap {
					labels.text(tx, laneY-8-float64(r)*labelRowH, anchor, "ev", e.Kind)
					ends[r] = x0 + w
					break
				}
			}
		}
		s.b.WriteString(`<path stroke="` + color + `" stroke-width="7" stroke-linecap="round" d="` + dots.String() + `"/>`)
		s.b.WriteString(labels.b.String())
	}
	return s.html(), true
}

func ms(d Duration) float64 { return float64(d.D().Microseconds()) / 1000 }

// seriesGroup is the series that share one y axis.
type seriesGroup struct {
	quantity string
	series   []Series
}

// groupSeries puts series on one chart only when they measure the same
// quantity: the same unit, and for a bare rate unit ("1/s", "/s") also the
// same counted thing, the last word of the name ("sent packets/s" and
// "received packets/s" share an axis; "allocations/s" gets its own). Groups
// keep the order of first appearance.
func groupSeries(series []Series) []seriesGroup {
	var groups []seriesGroup
	index := map[string]int{}
	for _, s := range series {
		q := s.Unit
		if q == "1/s" || q == "/s" || q == "" {
			name := s.Name
			// A merged report labels each series with its worker: "sent
			// packets/s [worker 2]".
			if i := strings.LastIndex(name, " ["); i > 0 && strings.HasSuffix(name, "]") {
				name = name[:i]
			}
			words := strings.Fields(strings.TrimSuffix(strings.TrimSuffix(name, "/s"), " per second"))
			if len(words) > 0 {
				q = words[len(words)-1] + "/s"
			}
		}
		i, ok := index[q]
		if !ok {
			i = len(groups)
			index[q] = i
			groups = append(groups, seriesGroup{quantity: q})
		}
		groups[i].series = append(groups[i].series, s)
	}
	return groups
}

// orderMetrics returns the distribution metrics to chart on their own
// (those a CDFChart overlays are drawn there), headline first:
// the metrics the report names in Headline, in that order, then the others
// by number of samples, most first (the quantity a run measured most is
// what it was about, e.g. relay.rtt in a traffic bench), ties in report
// order.
func orderMetrics(rep *Report) []Metric {
	overlaid := map[string]bool{}
	for _, c := range rep.CDFCharts {
		for _, n := range c.Metrics {
			overlaid[n] = true
		}
	}
	var ds []Metric
	for _, m := range rep.Metrics {
		if m.Kind == KindDistribution && m.Histogram != nil && !overlaid[m.Name] {
			ds = append(ds, m)
		}
	}
	rank := map[string]int{}
	for i, n := range rep.Headline {
		if _, ok := rank[n]; !ok {
			rank[n] = i - len(rep.Headline)
		}
	}
	sort.SliceStable(ds, func(i, j int) bool {
		ri, iok := rank[ds[i].Name]
		rj, jok := rank[ds[j].Name]
		switch {
		case iok && jok:
			return ri < rj
		case iok != jok:
			return iok
		}
		return ds[i].Count > ds[j].Count
	})
	return ds
}
