package reports

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 13 #12: a 50-call matrix page was 1.87 MB, 665 KB of it the
// matrix's details pretty-printed and HTML-escaped.
func TestHTMLMatrixOf50CallsStaysSmallAndComplete(t *testing.T) {
	rep := bigMatrix(50)
	// Like scenarios.MatrixResult, the matrix's details repeat every call's
	// events; the page shows them once, in each call's section.
	type cell struct {
		Name   string  `json:"name"`
		Events []Event `json:"events"`
	}
	var cells []cell
	for _, c := range rep.Children {
		cells = append(cells, cell{Name: c.Name, Events: c.Events})
	}
	require.NoError(t, rep.SetDetails(map[string]any{"cells": cells}))

	var buf bytes.Buffer
	require.NoError(t, RenderHTML(&buf, rep))
	page := buf.String()
	assert.Less(t, len(page), 600_000, "a 50-call matrix page stays under 600 KB")
	for _, c := range rep.Children {
		assert.Contains(t, page, ">"+c.Title()+"<", "every call has its section")
		for _, e := range c.Events {
			assert.Contains(t, page, "<td>"+e.Detail, "every event is listed")
		}
	}
	assert.Contains(t, page, `{"cells":[{"name":"cell 0: port-restricted ↔ symmetric"}`, "details are compact JSON with quotes unescaped, events left to the calls")
	assert.Contains(t, page, "events are in each child report&#39;s timeline")
	assert.NotContains(t, page, "&#34;")
}

func TestHTMLChartsUseThePageFontAndKeepLegendsOffTheData(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, RenderHTML(&buf, fixtureReport()))
	page := buf.String()
	assert.NotContains(t, page, "Serif", "charts inherit the page's font")
	assert.NotContains(t, page, "font-family:Liberation")
	for _, svg := range regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAllString(page, -1) {
		assert.NotContains(t, svg, "p50 ", "legends are in the caption, not on the plot")
	}
	assert.Regexp(t, `<figcaption>rtt — CDF of 1000 samples<span class="legend">.*p50 500\.2 ms.*p99 990\.2 ms`, page)
}

func TestHTMLChartOrderPutsTheHeadlineFirst(t *testing.T) {
	rep := New("bench", "b")
	rep.Metrics = []Metric{latencyMetric("turn.allocate.latency", 1, 20), latencyMetric("relay.rtt_from_schedule", 1, 400), latencyMetric("relay.rtt", 1, 400), latencyMetric("bench.send_lag", 1, 100)}
	names := func() []string {
		var n []string
		for _, m := range orderMetrics(rep) {
			n = append(n, m.Name)
		}
		return n
	}
	assert.Equal(t, []string{"relay.rtt_from_schedule", "relay.rtt", "bench.send_lag", "turn.allocate.latency"}, names(), "most samples first, ties in report order")
	rep.Headline = []string{"relay.rtt"}
	assert.Equal(t, []string{"relay.rtt", "relay.rtt_from_schedule", "bench.send_lag", "turn.allocate.latency"}, names(), "named headline first")

	var buf bytes.Buffer
	require.NoError(t, RenderHTML(&buf, rep))
	page := buf.String()
	assert.Less(t, strings.Index(page, "<figcaption>relay.rtt —"), strings.Index(page, "<figcaption>relay.rtt_from_schedule —"))
}

func TestSeriesOfDifferentThingsGetTheirOwnAxis(t *testing.T) {
	pts := []Point{{Duration(time.Second), 5}, {Duration(2 * time.Second), 6}}
	groups := groupSeries([]Series{
		{Name: "allocations/s", Unit: "1/s", Points: pts},
		{Name: "failed allocations/s", Unit: "1/s", Points: pts},
		{Name: "sent packets/s", Unit: "1/s", Points: pts},
		{Name: "received packets/s", Unit: "1/s", Points: pts},
		{Name: "loss by send second", Unit: "%", Points: pts},
	})
	require.Len(t, groups, 3)
	merged := groupSeries([]Series{
		{Name: "sent packets/s [worker 1]", Unit: "1/s", Points: pts},
		{Name: "allocations/s [worker 2]", Unit: "1/s", Points: pts},
		{Name: "sent packets/s [worker 2]", Unit: "1/s", Points: pts},
	})
	require.Len(t, merged, 2, "a merged report's worker labels do not split or merge quantities")
	assert.Equal(t, "packets/s", merged[0].quantity)
	assert.Len(t, merged[0].series, 2)
	assert.Equal(t, "allocations/s", groups[0].quantity)
	assert.Len(t, groups[0].series, 2)
	assert.Equal(t, "packets/s", groups[1].quantity)
	assert.Len(t, groups[1].series, 2)
	assert.Equal(t, "%", groups[2].quantity)
}

func TestSeriesAxesStartAtZeroAndOverlapsStayVisible(t *testing.T) {
	loss := Series{Name: "loss", Unit: "%", Points: []Point{{Duration(time.Second), 0}, {Duration(2 * time.Second), 0.5}}}
	fig, ok := seriesChart("%", []Series{loss})
	require.True(t, ok)
	assert.NotRegexp(t, `>-[0-9.]+</text>`, string(fig.SVG), "no negative tick on a loss axis")
	assert.Contains(t, string(fig.SVG), `>0</text>`)

	same := []Point{{Duration(time.Second), 500}, {Duration(2 * time.Second), 500}}
	fig, ok = seriesChart("packets/s", []Series{{Name: "sent packets/s", Points: same}, {Name: "received packets/s", Points: same}})
	require.True(t, ok)
	assert.Contains(t, string(fig.SVG), `stroke-dasharray="6 3"`, "the second series is dashed on top of the first")
	require.Len(t, fig.Legend, 2)
	assert.Equal(t, "dashed", fig.Legend[1].Border())
}

func TestTimelineLabelsNeverOverlap(t *testing.T) {
	var events []Event
	for i := range 40 {
		events = append(events, Event{Offset: Duration(time.Duration(i) * time.Millisecond), Source: "a", Kind: "candidate-" + strconv.Itoa(i)})
	}
	svg, ok := timelineChart(events)
	require.True(t, ok)
	type label struct{ x0, x1, y float64 }
	var labels []label
	for _, m := range regexp.MustCompile(`<text x="([0-9.]+)" y="([0-9.]+)"(?: text-anchor="(\w+)")? class="ev">([^<]+)<`).FindAllStringSubmatch(string(svg), -1) {
		x, _ := strconv.ParseFloat(m[1], 64)
		y, _ := strconv.ParseFloat(m[2], 64)
		w := float64(len(m[4])) * labelCharW
		if m[3] == "middle" {
			x -= w / 2
		}
		labels = append(labels, label{x, x + w, y})
	}
	require.NotEmpty(t, labels)
	assert.LessOrEqual(t, len(labels), 40)
	for i, a := range labels {
		for _, b := range labels[i+1:] {
			if a.y == b.y {
				assert.True(t, a.x1+labelGap <= b.x0 || b.x1+labelGap <= a.x0, "labels %v and %v overlap", a, b)
			}
		}
	}
	assert.NotContains(t, string(svg), "rotate(", "labels are horizontal")
}
