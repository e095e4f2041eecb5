package reports

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A CDFChart overlays its metrics on one chart even with a handful of
// samples (a repeated matrix cell), and those metrics get no chart of
// their own.
func TestHTMLDrawsCDFChartsOfFewSamples(t *testing.T) {
	rep := New("matrix", "m")
	a := NewLatencyRecorder("time_to_connected pion×pion")
	b := NewLatencyRecorder("time_to_connected pion×chromium")
	for i := 1; i <= 5; i++ {
		a.Record(float64(40 * i))
		b.Record(float64(300 * i))
	}
	rep.Metrics = []Metric{a.Metric(), b.Metric()}
	rep.CDFCharts = []CDFChart{{Title: "time to connected per implementation pair", Metrics: []string{"time_to_connected pion×pion", "time_to_connected pion×chromium", "missing"}}}
	var buf bytes.Buffer
	require.NoError(t, RenderHTML(&buf, rep))
	page := buf.String()
	assert.Equal(t, 1, strings.Count(page, "<svg"), "one overlay chart, no chart per metric")
	assert.Contains(t, page, "<figcaption>time to connected per implementation pair<span")
	assert.Contains(t, page, "time_to_connected pion×pion (5, p50 120.1 ms)")
	assert.Contains(t, page, "time_to_connected pion×chromium (5, p50 900.1 ms)")

	one := New("call", "c")
	one.Metrics = []Metric{a.Metric()}
	one.CDFCharts = []CDFChart{{Title: "time to connected over 5 runs", Metrics: []string{a.Metric().Name}}}
	buf.Reset()
	require.NoError(t, RenderHTML(&buf, one))
	assert.Contains(t, buf.String(), "time to connected over 5 runs — CDF of 5 samples")
	assert.Contains(t, buf.String(), "p50 120.1 ms")

	// JSON keeps the chart, and a merge keeps one per title.
	js, err := json.Marshal(rep)
	require.NoError(t, err)
	assert.Contains(t, string(js), `"cdf_charts":[{"title":"time to connected per implementation pair"`)
	m, err := Merge(rep, rep)
	require.NoError(t, err)
	assert.Len(t, m.CDFCharts, 1)
}
