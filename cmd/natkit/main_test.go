package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/reports"
)

// runNatkit runs the CLI in-process and returns exit code, stdout, stderr.
func runNatkit(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func fixturePath(name string) string {
	return filepath.Join("..", "..", "reports", "testdata", name)
}

func TestVersion(t *testing.T) {
	code, out, _ := runNatkit(t, context.Background(), "version")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "natkit ")
	assert.Contains(t, out, "go1.")
}

func TestHelpListsOnlyRealCommands(t *testing.T) {
	code, out, _ := runNatkit(t, context.Background(), "--help")
	require.Equal(t, 0, code)
	for _, c := range []string{"report", "version", "completion"} {
		assert.Contains(t, out, "  "+c+" ")
	}
}

func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, _ := runNatkit(t, context.Background(), "completion", sh)
		assert.Equal(t, 0, code, sh)
		assert.Contains(t, out, "natkit", sh)
	}
}

func TestReportRenderFormatsAndExitCodes(t *testing.T) {
	// The bench fixture has a failing check: re-rendering keeps exit 1.
	for _, f := range reports.FormatNames() {
		code, out, stderr := runNatkit(t, context.Background(), "report", "render", fixturePath("bench.json"), "--format", f)
		assert.Equal(t, 1, code, "format %s: %s", f, stderr)
		assert.NotEmpty(t, out)
	}
}

func TestReportRenderWritesFilesAtomically(t *testing.T) {
	dir := t.TempDir()
	args := []string{"report", "render", fixturePath("matrix.json"), "--format", "json"}
	for _, ext := range []string{"json", "xml", "md", "html", "txt"} {
		args = append(args, "--report", filepath.Join(dir, "out."+ext))
	}
	code, _, stderr := runNatkit(t, context.Background(), args...)
	assert.Equal(t, 1, code, stderr)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 5, "five reports and no leftover temporary file")
	html, err := os.ReadFile(filepath.Join(dir, "out.html"))
	require.NoError(t, err)
	assert.Contains(t, string(html), "<svg")
}

func TestBadInputExitsTwo(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "notes.json")
	require.NoError(t, os.WriteFile(notJSON, []byte("hello"), 0o644))
	otherSchema := filepath.Join(dir, "old.json")
	require.NoError(t, os.WriteFile(otherSchema, []byte(`{"schema":"natkit.report/v0","kind":"bench"}`), 0o644))

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"report", "render", filepath.Join(dir, "nope.json")}, "nope.json: no such file"},
		{"not json", []string{"report", "render", notJSON}, "notes.json: not a natkit report: not valid JSON"},
		{"other schema", []string{"report", "render", otherSchema}, `old.json: unsupported report schema "natkit.report/v0"`},
		{"unknown format", []string{"report", "render", fixturePath("bench.json"), "--format", "pdf"}, "want one of text, json, junit, markdown, html"},
		{"report in missing dir", []string{"report", "render", fixturePath("bench.json"), "--report", filepath.Join(dir, "no", "r.json")}, "--report " + filepath.Join(dir, "no", "r.json")},
		{"report bad extension", []string{"report", "render", fixturePath("bench.json"), "--report", filepath.Join(dir, "r.pdf")}, `extension ".pdf"`},
		{"merge kinds", []string{"report", "merge", fixturePath("bench.json"), fixturePath("matrix.json")}, `of kind "matrix" into reports of kind "bench"`},
		{"unknown flag", []string{"report", "render", "--frobnicate"}, "unknown flag"},
		{"no args", []string{"report", "render"}, "accepts 1 arg"},
		{"bad log level", []string{"--log-level", "loud", "version"}, `--log-level "loud"`},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown subcommand", []string{"report", "frobnicate"}, `unknown command "frobnicate" for "natkit report"`},
		{"completion shell", []string{"completion", "tcsh"}, "tcsh"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runNatkit(t, context.Background(), c.args...)
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr, c.want)
		})
	}
}

func TestReportMerge(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "merged.json")
	code, _, stderr := runNatkit(t, context.Background(), "report", "merge", fixturePath("bench.json"), fixturePath("bench.json"), "--format", "json", "--report", out)
	assert.Equal(t, 1, code, stderr)
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	merged, err := reports.Decode(f)
	require.NoError(t, err)
	for _, m := range merged.Metrics {
		switch m.Name {
		case "rtt":
			assert.Equal(t, int64(2000), m.Count)
		case "packets_sent":
			assert.Equal(t, 4000.0, m.Value)
		}
	}
}

// A command that is interrupted still writes its report, with verdict
// interrupted, and natkit exits 130. The test command below uses the same
// path as every real command: outputFlags, ctx cancellation, a.emit.
func TestInterruptedCommandStillWritesReport(t *testing.T) {
	register(func(a *app) *cobra.Command {
		var out outputFlags
		cmd := &cobra.Command{
			Use:    "test-wait",
			Hidden: true,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := out.validate(); err != nil {
					return err
				}
				rep := reports.New("test", "wait")
				rep.AddCheck(reports.Check{ID: "started", Name: "started", Verdict: reports.VerdictPass})
				<-cmd.Context().Done()
				rep.Interrupt()
				rep.Finish()
				return a.emit(rep, &out)
			},
		}
		addOutputFlags(cmd, &out)
		return cmd
	})
	t.Cleanup(func() { commandFactories = commandFactories[:len(commandFactories)-1] })

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	path := filepath.Join(t.TempDir(), "r.json")
	code, stdout, _ := runNatkit(t, ctx, "test-wait", "--report", path)
	assert.Equal(t, 130, code)
	assert.Contains(t, stdout, "INTERRUPTED")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var rep reports.Report
	require.NoError(t, json.Unmarshal(data, &rep))
	assert.Equal(t, reports.VerdictInterrupted, rep.Verdict)
	assert.Len(t, rep.Checks, 1, "partial results are kept")
}

// failingWriter is a stdout whose reader went away.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

// A closed stdout (natkit … | head) must not cost the report files.
func TestReportFilesWrittenEvenWhenStdoutFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"report", "render", fixturePath("matrix.json"), "--report", path}, strings.NewReader(""), failingWriter{}, &stderr)
	assert.Equal(t, 3, code, "a failed stdout write is natkit failing to run")
	assert.Contains(t, stderr.String(), "write report to stdout")
	_, err := os.Stat(path)
	assert.NoError(t, err, "the --report file is written before stdout")
}

// writeBenchWorker saves a bench worker report with sent/lost packets and
// its own (failing, when over 1%) loss check.
func writeBenchWorker(t *testing.T, dir, name string, sent, lost int) string {
	t.Helper()
	rtt := reports.NewLatencyRecorder("relay.rtt")
	for v := 1; v <= 100; v++ {
		rtt.RecordDuration(time.Duration(v) * time.Millisecond)
	}
	rep := reports.New("bench", "relayed traffic")
	rep.Metrics = []reports.Metric{
		reports.Counter("allocations.succeeded", "allocations", 10),
		reports.Counter("allocations.failed", "allocations", 0),
		reports.Counter("packets.sent", "packets", float64(sent)),
		reports.Counter("packets.lost", "packets", float64(lost)),
		rtt.Metric(),
	}
	v := reports.VerdictPass
	if 100*float64(lost)/float64(sent) > 1 {
		v = reports.VerdictFail
	}
	rep.AddCheck(reports.Check{ID: "bench.loss", Name: "relayed packet loss", Verdict: v})
	path := filepath.Join(dir, name)
	require.NoError(t, writeReportFile(path, rep))
	return path
}

func TestReportMergeJudgesSLOOnTotals(t *testing.T) {
	dir := t.TempDir()
	a := writeBenchWorker(t, dir, "a.json", 1000, 0)
	b := writeBenchWorker(t, dir, "b.json", 1000, 15) // 1.5% alone, 0.75% together

	code, _, stderr := runNatkit(t, context.Background(), "report", "merge", a, b)
	assert.Equal(t, 1, code, "without SLO flags the worst worker verdict stands: %s", stderr)

	code, out, stderr := runNatkit(t, context.Background(), "report", "merge", a, b, "--max-loss", "1")
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "relayed packet loss (all workers)")

	code, out, _ = runNatkit(t, context.Background(), "report", "merge", a, b, "--max-loss", "1", "--max-p99", "50ms")
	assert.Equal(t, 1, code, "p99 of the merged histogram is 99 ms")
	assert.Contains(t, out, "relayed RTT p99 (all workers)")

	code, _, stderr = runNatkit(t, context.Background(), "report", "merge", a, b, "--max-loss", "lots")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `--max-loss "lots"`)

	code, _, stderr = runNatkit(t, context.Background(), "report", "merge", fixturePath("matrix.json"), "--max-p99", "10ms")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `these are "matrix" reports`)
}

// A worker report without a metric the SLO is judged on is bad input
// naming the metric, not a silent 0 that passes.
func TestReportMergeMissingMetricIsBadInput(t *testing.T) {
	dir := t.TempDir()
	a := writeBenchWorker(t, dir, "a.json", 1000, 30)
	rep := reports.New("bench", "relayed traffic")
	rep.Metrics = []reports.Metric{
		reports.Counter("allocations.succeeded", "allocations", 10),
		reports.Counter("allocations.failed", "allocations", 0),
		reports.Counter("packets.sent", "packets", 1000),
	}
	b := filepath.Join(dir, "b.json")
	require.NoError(t, writeReportFile(b, rep))

	code, _, stderr := runNatkit(t, context.Background(), "report", "merge", a, b, "--max-loss", "5")
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, b+": ")
	assert.Contains(t, stderr, `has no "packets.lost" metric`)
}
