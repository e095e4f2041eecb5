package reports

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test ./reports -update")
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from golden file (run with -update after checking):\n--- got (first 2000 bytes)\n%s", path, string(got[:min(len(got), 2000)]))
	}
}

func TestRenderersGolden(t *testing.T) {
	fixtures := map[string]*Report{"bench": fixtureReport(), "matrix": fixtureMatrix()}
	exts := map[Format]string{FormatText: "txt", FormatJSON: "json", FormatJUnit: "xml", FormatMarkdown: "md", FormatHTML: "html"}
	for name, rep := range fixtures {
		for _, f := range allFormats {
			t.Run(name+"/"+string(f), func(t *testing.T) {
				var buf bytes.Buffer
				require.NoError(t, Render(&buf, rep, f, RenderOptions{}))
				golden(t, name+"."+exts[f], buf.Bytes())
			})
		}
	}
}

func TestTextColourOnlyWhenAsked(t *testing.T) {
	var plain, colour bytes.Buffer
	require.NoError(t, RenderText(&plain, fixtureReport(), RenderOptions{}))
	require.NoError(t, RenderText(&colour, fixtureReport(), RenderOptions{Color: true}))
	assert.NotContains(t, plain.String(), "\x1b[")
	assert.Contains(t, colour.String(), ansiRed+"FAIL"+ansiReset)
}

func TestJSONRoundTrip(t *testing.T) {
	for _, rep := range []*Report{fixtureReport(), fixtureMatrix()} {
		var buf bytes.Buffer
		require.NoError(t, RenderJSON(&buf, rep))
		back, err := Decode(&buf)
		require.NoError(t, err)
		var again bytes.Buffer
		require.NoError(t, RenderJSON(&again, back))
		var first bytes.Buffer
		require.NoError(t, RenderJSON(&first, rep))
		assert.Equal(t, first.String(), again.String())
		assert.True(t, back.Started.Equal(rep.Started))
		assert.Equal(t, rep.Duration, back.Duration)
	}
	var details map[string]any
	rep := fixtureReport()
	require.NoError(t, rep.DecodeDetails(&details))
	assert.Equal(t, "channel", details["mode"])
}

func TestDecodeRejects(t *testing.T) {
	cases := map[string]struct {
		in   string
		want string
	}{
		"not json":       {`hello`, "not valid JSON"},
		"no schema":      {`{"kind":"bench"}`, `no "schema" field`},
		"other schema":   {`{"schema":"natkit.report/v9"}`, `unsupported report schema "natkit.report/v9"`},
		"bad verdict":    {`{"schema":"natkit.report/v1","verdict":"great"}`, `verdict "great"`},
		"bad duration":   {`{"schema":"natkit.report/v1","verdict":"pass","duration":"soon"}`, `duration "soon"`},
		"wrong type":     {`{"schema":"natkit.report/v1","checks":"x"}`, "cannot unmarshal"},
		"trailing array": {`[1,2]`, "not valid JSON"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(c.in))
			require.Error(t, err)
			var se *SchemaError
			require.True(t, errors.As(err, &se), "want *SchemaError, got %T", err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestMetricPercentiles(t *testing.T) {
	m := latencyMetric("rtt", 1, 1000)
	assert.Equal(t, int64(1000), m.Count)
	assert.InDelta(t, 500.5, m.Mean, 0.5)
	assert.InDelta(t, 500, m.P50, 0.5)
	assert.InDelta(t, 900, m.P90, 0.5)
	assert.InDelta(t, 990, m.P99, 0.5)
	assert.InDelta(t, 1, m.Min, 0.001)
	assert.InDelta(t, 1000, m.Max, 0.5)
}

func TestMergeRecomputesPercentilesFromHistograms(t *testing.T) {
	// Worker A saw 1..100 ms, worker B 901..1000 ms. Averaging their p50s
	// would give 500.5; the merged distribution's p50 is 100.
	a := &Report{Schema: SchemaVersion, Kind: "bench", Name: "w", Started: fixtureStart, Duration: Duration(time.Second), Verdict: VerdictPass,
		Metrics: []Metric{latencyMetric("rtt", 1, 100), Counter("packets", "packets", 100), Gauge("cpu", "%", 20)}}
	b := &Report{Schema: SchemaVersion, Kind: "bench", Name: "w", Started: fixtureStart.Add(500 * time.Millisecond), Duration: Duration(2 * time.Second), Verdict: VerdictFail,
		Metrics: []Metric{latencyMetric("rtt", 901, 1000), Counter("packets", "packets", 250), Gauge("cpu", "%", 55)},
		Checks:  []Check{{ID: "loss", Name: "loss", Verdict: VerdictFail}}}
	m, err := Merge(a, b)
	require.NoError(t, err)
	assert.Equal(t, VerdictFail, m.Verdict)
	assert.Equal(t, 2500*time.Millisecond, m.Duration.D())
	require.Len(t, m.Metrics, 3)
	rtt := m.Metrics[0]
	assert.Equal(t, int64(200), rtt.Count)
	assert.InDelta(t, 100, rtt.P50, 0.5)
	// The 198th of the 200 sorted values: 998, not the mean of 99 and 990.
	assert.InDelta(t, 998, rtt.P99, 0.5)
	assert.InDelta(t, 1, rtt.Min, 0.01)
	assert.InDelta(t, 1000, rtt.Max, 0.5)
	assert.InDelta(t, (50.5*100+950.5*100)/200, rtt.Mean, 0.5)
	assert.Equal(t, 350.0, m.Metrics[1].Value)
	assert.Equal(t, 55.0, m.Metrics[2].Value)
	require.Len(t, m.Checks, 1)
	assert.Equal(t, "loss [worker 2]", m.Checks[0].Name)

	// Merging the merge with a third worker equals merging all three at once.
	c := &Report{Schema: SchemaVersion, Kind: "bench", Name: "w", Started: fixtureStart, Verdict: VerdictPass, Metrics: []Metric{latencyMetric("rtt", 101, 900)}}
	two, err := Merge(m, c)
	require.NoError(t, err)
	three, err := Merge(a, b, c)
	require.NoError(t, err)
	assert.Equal(t, three.Metrics[0].P50, two.Metrics[0].P50)
	assert.Equal(t, int64(1000), three.Metrics[0].Count)
	assert.InDelta(t, 500, three.Metrics[0].P50, 0.5)
}

func TestMergeRejects(t *testing.T) {
	_, err := Merge()
	assert.ErrorIs(t, err, ErrNothingToMerge)

	_, err = Merge(fixtureReport(), fixtureMatrix())
	var km *KindMismatchError
	require.ErrorAs(t, err, &km)
	assert.Equal(t, "bench", km.Want)
	assert.Equal(t, "matrix", km.Got)

	bad := fixtureReport()
	bad.Metrics[0].Histogram = &Histogram{Scale: 1000, Data: "not base64!"}
	_, err = Merge(bad, fixtureReport())
	var he *HistogramError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "rtt", he.Metric)
}

func TestJUnitParsesAndCountsFailures(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, RenderJUnit(&buf, fixtureMatrix()))
	type tc struct {
		Name    string    `xml:"name,attr"`
		Failure *struct { //nolint:revive
			Message string `xml:"message,attr"`
			Text    string `xml:",chardata"`
		} `xml:"failure"`
	}
	type suite struct {
		Name     string  `xml:"name,attr"`
		Tests    int     `xml:"tests,attr"`
		Failures int     `xml:"failures,attr"`
		Cases    []tc    `xml:"testcase"`
		Suites   []suite `xml:"testsuite"`
	}
	var doc struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Suites   []suite  `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(buf.Bytes(), &doc))
	// Issue 13 #10: one flat suite per report, and each call counts once.
	// The matrix's check for the failing cell is the failing child's
	// verdict, so it is not counted a second time on the matrix.
	assert.Equal(t, 1, doc.Failures)
	assert.Equal(t, 4, doc.Tests, "four calls, four tests")
	require.Len(t, doc.Suites, 5, "the matrix and one suite per child call, side by side")
	for _, s := range doc.Suites {
		assert.Empty(t, s.Suites, "suites are never nested")
	}
	f := doc.Suites[4].Cases[0].Failure
	require.NotNil(t, f)
	assert.Contains(t, f.Text, "expected: failed")
	assert.Contains(t, f.Text, "observed: direct")
}

// TestJUnitCountsEachCallOnce builds a 50-call matrix shaped like
// scenarios.MatrixResult.Report (one check per cell on the matrix, one
// check per child call) and checks that every total says 50.
func TestJUnitCountsEachCallOnce(t *testing.T) {
	rep := bigMatrix(50)
	var buf bytes.Buffer
	require.NoError(t, RenderJUnit(&buf, rep))
	type suite struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Cases    []struct {
			Name string `xml:"name,attr"`
		} `xml:"testcase"`
	}
	var doc struct {
		Tests    int     `xml:"tests,attr"`
		Failures int     `xml:"failures,attr"`
		Suites   []suite `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(buf.Bytes(), &doc))
	assert.Equal(t, 50, doc.Tests, "root total (GitHub's view)")
	sum, cases, fails := 0, 0, 0
	for _, s := range doc.Suites {
		sum += s.Tests
		cases += len(s.Cases)
		fails += s.Failures
	}
	assert.Equal(t, 50, sum, "sum of suite totals (GitLab's and Jenkins' view)")
	assert.Equal(t, 50, cases, "testcase elements")
	assert.Equal(t, doc.Failures, fails)
	assert.Equal(t, 5, doc.Failures)
	assert.Contains(t, buf.String(), "differs from theory: cause 0", "the folded matrix check's message is kept on the child")
}

func TestJUnitWarnIsAPassingTest(t *testing.T) {
	rep := New("bench", "b")
	rep.AddCheck(Check{ID: "bench.schedule", Name: "send schedule kept", Verdict: VerdictWarn, Message: "the tool was the bottleneck"})
	assert.Equal(t, VerdictPass, rep.Verdict, "a warning passes the run")
	var buf bytes.Buffer
	require.NoError(t, RenderJUnit(&buf, rep))
	out := buf.String()
	assert.Contains(t, out, `tests="1" failures="0" errors="0" skipped="0"`)
	assert.NotContains(t, out, "<skipped")
	assert.Contains(t, out, "<system-out>WARNING: the tool was the bottleneck</system-out>")

	var txt bytes.Buffer
	require.NoError(t, RenderText(&txt, rep, RenderOptions{}))
	assert.Contains(t, txt.String(), "WARN  send schedule kept")
	assert.NotContains(t, txt.String(), "SKIP")
}

func TestJUnitReportWithoutChecksStillFails(t *testing.T) {
	rep := New("gather", "x")
	rep.Verdict = VerdictFail
	rep.Summary = "no relay candidate"
	var buf bytes.Buffer
	require.NoError(t, RenderJUnit(&buf, rep))
	assert.Contains(t, buf.String(), `failures="1"`)
	assert.Contains(t, buf.String(), "no relay candidate")
}

var externalRef = regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:|//)`)

func TestHTMLIsSelfContained(t *testing.T) {
	for _, rep := range []*Report{fixtureReport(), fixtureMatrix()} {
		var buf bytes.Buffer
		require.NoError(t, RenderHTML(&buf, rep))
		page := buf.String()
		assert.Nil(t, externalRef.FindStringIndex(page), "external reference in HTML")
		assert.NotContains(t, page, "<script")
		assert.NotContains(t, page, "@import")
		assert.NotContains(t, page, "url(")
	}
	var buf bytes.Buffer
	require.NoError(t, RenderHTML(&buf, fixtureReport()))
	assert.Equal(t, 4, strings.Count(buf.String(), "<svg"), "rtt CDF, one series chart per unit (pkt/s, %), a timeline")
}

func TestHTMLGridLinksToChildTimelines(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, RenderHTML(&buf, fixtureMatrix()))
	page := buf.String()
	hrefs := regexp.MustCompile(`<td class="c-[^"]*"><a href="#([^"]+)">`).FindAllStringSubmatch(page, -1)
	require.Len(t, hrefs, 4)
	for _, h := range hrefs {
		assert.Contains(t, page, `id="`+h[1]+`"`, "grid cell links to a section that exists")
	}
	assert.Contains(t, page, "c-mismatch")
}

func TestHTMLEscapesContent(t *testing.T) {
	rep := New("gather", "<script>alert(1)</script>")
	rep.Summary = `"><img src=x onerror=alert(1)>`
	var buf bytes.Buffer
	require.NoError(t, RenderHTML(&buf, rep))
	assert.NotContains(t, buf.String(), "<script>alert")
	assert.NotContains(t, buf.String(), "<img src=x")
}

func TestFormats(t *testing.T) {
	for path, want := range map[string]Format{"a.json": FormatJSON, "b.XML": FormatJUnit, "c.md": FormatMarkdown, "d.html": FormatHTML, "e.txt": FormatText} {
		got, err := FormatForPath(path)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := FormatForPath("report.pdf")
	assert.ErrorIs(t, err, ErrUnknownFormat)
	_, err = ParseFormat("yaml")
	assert.ErrorIs(t, err, ErrUnknownFormat)
	assert.Contains(t, err.Error(), "text, json, junit, markdown, html")
}

func TestRecorderClampsOutOfRange(t *testing.T) {
	r := NewRecorder("size", "bytes", 1, 1000)
	r.Record(10)
	r.Record(5000)
	assert.Equal(t, int64(1), r.OutOfRange())
	assert.Equal(t, int64(2), r.Count())
	assert.InDelta(t, 1000, r.Metric().Max, 1)
}

func TestWorse(t *testing.T) {
	assert.Equal(t, VerdictFail, Worse(VerdictPass, VerdictFail))
	assert.Equal(t, VerdictInterrupted, Worse(VerdictInterrupted, VerdictError))
	assert.Equal(t, VerdictPass, Worse(VerdictPass, VerdictPass))
}

func TestTextListsManyChildrenCompactly(t *testing.T) {
	rep := New("matrix", "m")
	for i := range maxTextChildren + 1 {
		c := New("call", "call-"+strconv.Itoa(i))
		c.Summary = "connected directly"
		c.Metrics = []Metric{Counter("messages_sent", "messages", 5)}
		rep.Children = append(rep.Children, c)
	}
	var buf bytes.Buffer
	require.NoError(t, RenderText(&buf, rep, RenderOptions{}))
	out := buf.String()
	assert.Contains(t, out, "9 child reports")
	assert.Contains(t, out, "call call-8")
	assert.NotContains(t, out, "messages_sent", "children are summarised, not rendered in full")
}

func TestCountTableSortsKeys(t *testing.T) {
	tb := CountTable("Errors by code", "code", map[string]uint64{"rate_limited": 2, "bad_message": 5})
	assert.Equal(t, []string{"code", "count"}, tb.Columns)
	assert.Equal(t, [][]string{{"bad_message", "5"}, {"rate_limited", "2"}}, tb.Rows)
	assert.Empty(t, CountTable("none", "k", nil).Rows)
}

func TestTitlesSayEachWordOnce(t *testing.T) {
	for _, c := range []struct{ kind, name, want string }{
		{"call", "call t3", "call t3"},
		{"relay", "natkit relay", "relay"},
		{"scenarios", "2 scenarios", "2 scenarios"},
		{"scenario", "lossy-link", "scenario lossy-link"},
		{"gather", "gather", "gather"},
		{"call", "call-8", "call call-8"},
		{"matrix", "", "matrix"},
	} {
		assert.Equal(t, c.want, (&Report{Kind: c.kind, Name: c.name}).Title(), "%s/%s", c.kind, c.name)
	}
	rep := New("relay", "natkit relay")
	var txt, md, junit, page bytes.Buffer
	require.NoError(t, RenderText(&txt, rep, RenderOptions{}))
	require.NoError(t, RenderMarkdown(&md, rep))
	require.NoError(t, RenderJUnit(&junit, rep))
	require.NoError(t, RenderHTML(&page, rep))
	for _, out := range []string{txt.String(), md.String(), junit.String(), page.String()} {
		assert.NotContains(t, out, "relay natkit relay")
		assert.NotContains(t, out, "natkit natkit")
	}
}

func TestCountersPrintAsIntegers(t *testing.T) {
	rep := New("call", "x")
	rep.Metrics = []Metric{Counter("messages_sent", "messages", 10), Gauge("cpu", "%", 37.5), Gauge("wall_time", "s", 12)}
	var buf bytes.Buffer
	require.NoError(t, RenderText(&buf, rep, RenderOptions{}))
	out := buf.String()
	assert.Regexp(t, `messages_sent\s+10\s`, out)
	assert.NotContains(t, out, "10.00")
	assert.Contains(t, out, "37.50")
}

func TestAgoReadsLikeAPerson(t *testing.T) {
	now := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(1600000000, 0), "6.2 years ago"},
		{time.Time{}, "never"},
		{now.Add(-42 * time.Second), "42s ago"},
		{now.Add(-5*time.Minute - 3*time.Second), "5m3s ago"},
		{now.Add(-3*time.Hour - 12*time.Minute - 20*time.Second), "3h12m ago"},
		{now.Add(-4*24*time.Hour - time.Hour), "4 days ago"},
		{now.Add(10 * time.Minute), "10m from now"},
		{now, "just now"},
	} {
		assert.Equal(t, c.want, Ago(c.t, now))
	}
}
