package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Charts are drawn with gonum/plot into SVG and inlined in the HTML page, so
// the page makes no network request.

var chartPalette = []color.RGBA{
	{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

const (
	chartWidth  = 16 * vg.Centimeter
	chartHeight = 8 * vg.Centimeter
)

// cdfChart draws the latency CDF of a distribution metric. The y axis is
// the fraction of samples at or below x; log-scale x when values span more
// than two decades, since tails are what matter.
func cdfChart(m Metric) (string, error) {
	pts := m.CDF()
	if len(pts) < 2 {
		return "", nil
	}
	p := plot.New()
	p.Title.Text = m.Name + " — CDF"
	p.X.Label.Text = m.Unit
	p.Y.Label.Text = "fraction ≤ x"
	p.Y.Min, p.Y.Max = 0, 1
	xys := make(plotter.XYs, 0, len(pts))
	minX := math.Inf(1)
	for _, pt := range pts {
		xys = append(xys, plotter.XY{X: pt[0], Y: pt[1]})
		if pt[0] > 0 && pt[0] < minX {
			minX = pt[0]
		}
	}
	maxX := pts[len(pts)-1][0]
	if minX > 0 && !math.IsInf(minX, 1) && maxX/minX > 100 {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		clean := xys[:0]
		for _, xy := range xys {
			if xy.X > 0 {
				clean = append(clean, xy)
			}
		}
		xys = clean
	}
	line, err := plotter.NewLine(xys)
	if err != nil {
		return "", fmt.Errorf("cdf of %s: %w", m.Name, err)
	}
	line.Color = chartPalette[0]
	line.Width = vg.Points(1.5)
	p.Add(line, plotter.NewGrid())
	for _, q := range []struct {
		v     float64
		label string
	}{{m.P50, "p50"}, {m.P99, "p99"}} {
		if q.v <= 0 && p.X.Scale != nil {
			continue
		}
		l, err := plotter.NewLine(plotter.XYs{{X: q.v, Y: 0}, {X: q.v, Y: 1}})
		if err == nil {
			l.Color = color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
			l.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("%s %s %s", q.label, num(q.v), m.Unit), l)
		}
	}
	// A CDF's top-left corner is always empty.
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = vg.Points(-8)
	return svgOf(p, chartWidth, chartHeight)
}

// seriesChart draws series that share a unit on one line chart.
func seriesChart(unit string, series []Series) (string, error) {
	p := plot.New()
	names := make([]string, len(series))
	for i, s := range series {
		names[i] = s.Name
	}
	p.Title.Text = strings.Join(names, ", ")
	p.X.Label.Text = "seconds"
	p.Y.Label.Text = unit
	p.Add(plotter.NewGrid())
	drawn := 0
	for i, s := range series {
		if len(s.Points) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(s.Points))
		for j, pt := range s.Points {
			xys[j] = plotter.XY{X: pt.Offset.D().Seconds(), Y: pt.Value}
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return "", fmt.Errorf("series %s: %w", s.Name, err)
		}
		line.Color = chartPalette[i%len(chartPalette)]
		line.Width = vg.Points(1.5)
		p.Add(line)
		if len(series) > 1 {
			p.Legend.Add(s.Name, line)
		}
		drawn++
	}
	if drawn == 0 {
		return "", nil
	}
	p.Legend.Top = true
	return svgOf(p, chartWidth, chartHeight)
}

// timelineChart draws events as points on one lane per source, labelled by
// kind when there are few enough to read.
func timelineChart(events []Event) (string, error) {
	if len(events) == 0 {
		return "", nil
	}
	var sources []string
	lane := map[string]int{}
	for _, e := range events {
		if _, ok := lane[e.Source]; !ok {
			lane[e.Source] = len(sources)
			sources = append(sources, e.Source)
		}
	}
	p := plot.New()
	p.Title.Text = "timeline"
	p.X.Label.Text = "milliseconds since start"
	p.Y.Min, p.Y.Max = -0.7, float64(len(sources))-0.3
	p.NominalY(sources...)
	p.Add(plotter.NewGrid())
	for i, src := range sources {
		var xys plotter.XYs
		var labels []string
		for _, e := range events {
			if e.Source == src {
				xys = append(xys, plotter.XY{X: float64(e.Offset.D().Microseconds()) / 1000, Y: float64(i)})
				labels = append(labels, e.Kind)
			}
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return "", fmt.Errorf("timeline %s: %w", src, err)
		}
		sc.Color = chartPalette[i%len(chartPalette)]
		sc.Radius = vg.Points(3)
		sc.Shape = draw.CircleGlyph{}
		p.Add(sc)
		if len(events) <= 40 {
			lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
			if err == nil {
				for j := range lb.TextStyle {
					lb.TextStyle[j].Rotation = math.Pi / 5
					lb.TextStyle[j].Font.Size = vg.Points(7)
					lb.Offset = vg.Point{X: vg.Points(3), Y: vg.Points(3)}
				}
				p.Add(lb)
			}
		}
	}
	h := vg.Length(3+len(sources)*2) * vg.Centimeter / 2
	return svgOf(p, chartWidth, max(h, 5*vg.Centimeter))
}

// groupSeriesByUnit keeps the order of first appearance.
func groupSeriesByUnit(series []Series) (units []string, byUnit map[string][]Series) {
	byUnit = map[string][]Series{}
	for _, s := range series {
		if _, ok := byUnit[s.Unit]; !ok {
			units = append(units, s.Unit)
		}
		byUnit[s.Unit] = append(byUnit[s.Unit], s)
	}
	return units, byUnit
}

func svgOf(p *plot.Plot, w, h vg.Length) (string, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("draw svg: %w", err)
	}
	s := buf.String()
	// Inline SVG needs no XML prolog.
	if i := strings.Index(s, "<svg"); i > 0 {
		s = s[i:]
	}
	return s, nil
}
