package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/reports"
)

func libraryScenarios(t *testing.T, names ...string) []*Spec {
	t.Helper()
	var out []*Spec
	for _, n := range names {
		s, err := Library(n)
		require.NoError(t, err)
		out = append(out, s)
	}
	return out
}

// A suite's report starts when the suite starts and lasts as long as it
// ran (issue 13 #9: it said 13µs for a 28s run, and started at the end).
func TestSuiteReportDuration(t *testing.T) {
	res, err := RunAll(context.Background(), libraryScenarios(t, "classic-full-cone-pair", "candidates-before-offer"), Options{Parallel: 1})
	require.NoError(t, err)
	rep := res.Report()
	require.Len(t, rep.Children, 2)
	var sum time.Duration
	for _, ch := range rep.Children {
		require.False(t, ch.Started.Before(rep.Started), "%s started before its suite", ch.Name)
		sum += time.Duration(ch.Duration)
	}
	// One at a time: the suite lasts at least as long as its runs.
	require.GreaterOrEqual(t, time.Duration(rep.Duration), sum)
	require.Equal(t, reports.VerdictPass, rep.Verdict, rep.Summary)
}

// A scenario cut short compares nothing with its expectations, and one
// never started is skipped (issue 13 #8).
func TestSuiteInterrupted(t *testing.T) {
	// The first scenario needs ~10s to fail; the deadline stops it once
	// it is under way.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	specs := libraryScenarios(t, "classic-symmetric-vs-port-restricted", "classic-full-cone-pair")
	res, err := RunAll(ctx, specs, Options{Parallel: 1})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Len(t, res.Runs, 2)

	first := res.Runs[0]
	require.True(t, first.Interrupted)
	require.NotNil(t, first.Result, "%v", first.Err)
	require.Equal(t, call.CauseInterrupted, first.Result.Call.Cause)
	require.NotEmpty(t, first.Result.Checks)
	for _, c := range first.Result.Checks {
		require.Equal(t, call.CauseInterrupted, c.NotJudged, c.Name)
	}
	require.True(t, res.Runs[1].Interrupted)
	require.Nil(t, res.Runs[1].Result, "never started")

	rep := res.Report()
	require.Equal(t, reports.VerdictInterrupted, rep.Children[0].Verdict)
	for _, c := range rep.Children[0].Checks {
		require.Equal(t, reports.VerdictInterrupted, c.Verdict, c.Name)
	}
	require.Equal(t, reports.VerdictSkip, rep.Children[1].Checks[0].Verdict)
	for _, c := range rep.Checks {
		require.NotEqual(t, reports.VerdictFail, c.Verdict, c.Name)
		require.NotContains(t, c.Message, "expected , observed")
		require.NotContains(t, c.Message, "context canceled")
	}
}

// A matrix cut short has interrupted and unrun cells, never failed ones.
func TestMatrixInterruptedCellsAreNotCompared(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// Failing cells start first and take ~3s: all in flight at the stop.
	res, err := RunMatrix(ctx, MatrixConfig{NATs: []string{"symmetric", "port-restricted-cone"}, TURN: TURNNo, Parallel: 2})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	rep := res.Report()
	interrupted, skipped := 0, 0
	for _, c := range rep.Checks {
		require.NotEqual(t, reports.VerdictFail, c.Verdict, "%s: %s", c.Name, c.Observed)
		require.NotContains(t, c.Observed, "not run: context")
		switch c.Verdict {
		case reports.VerdictInterrupted:
			interrupted++
		case reports.VerdictSkip:
			skipped++
		}
	}
	require.Positive(t, interrupted)
	require.Positive(t, skipped)
	require.Contains(t, rep.Summary, "interrupted")
}

func TestUnavailableBackendIsTypedError(t *testing.T) {
	spec := libraryScenarios(t, "classic-full-cone-pair")[0]
	if lab.Check() != nil {
		// The kernel backend exists but cannot run here: it says what is
		// missing.
		_, err := Run(context.Background(), spec, Options{Net: NetKernel})
		require.ErrorIs(t, err, lab.ErrMissing)
	}
	_, err := Run(context.Background(), spec, Options{Net: "netns"})
	require.ErrorIs(t, err, ErrUnknownBackend)
	require.Contains(t, err.Error(), `network backend "netns"`)
}

// Run leaves the caller's spec as it was.
func TestRunDoesNotModifySpec(t *testing.T) {
	spec := &Spec{Name: "built-in-go", Topology: Topology{A: SideSpec{NAT: "full-cone"}}, ICE: ICE{Timeouts: "fast"}}
	before := *spec
	_, err := Run(context.Background(), spec, Options{})
	require.NoError(t, err)
	require.Equal(t, before, *spec)
}

func TestMatrixUnknownBackend(t *testing.T) {
	_, err := RunMatrix(context.Background(), MatrixConfig{Net: "netns"})
	require.ErrorIs(t, err, ErrUnknownBackend)
}

// The kernel matrix takes kernel presets and their theory; vnet refuses
// what it cannot model.
func TestMatrixKernelPresets(t *testing.T) {
	err := MatrixConfig{NATs: []string{"linux-masquerade"}}.Validate()
	require.ErrorIs(t, err, ErrConfig)
	require.NoError(t, MatrixConfig{NATs: []string{"linux-masquerade", "udp-blocked"}, Net: NetKernel}.Validate())
	if lab.Check() != nil {
		t.Skip(lab.Check())
	}
	res, err := RunMatrix(context.Background(), MatrixConfig{NATs: []string{"linux-masquerade", "full-cone"}, TURN: TURNNo, Net: NetKernel})
	require.NoError(t, err)
	for _, c := range res.Cells {
		require.True(t, c.Match(), "%s: %s, theory %s", c.Name(), c.ObservedText(), c.ExpectedText())
	}
}
