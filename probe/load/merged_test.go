package load

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/reports"
)

// worker builds a traffic report as one natkit bench worker would, with
// its own SLO checks judged on its own share.
func worker(t *testing.T, sent, lost int, rttFrom, rttTo int) *reports.Report {
	t.Helper()
	rtt := reports.NewLatencyRecorder("relay.rtt")
	for v := rttFrom; v <= rttTo; v++ {
		rtt.RecordDuration(time.Duration(v) * time.Millisecond)
	}
	rep := reports.New(ReportKind, "relayed traffic")
	rep.Metrics = []reports.Metric{
		reports.Counter("allocations.succeeded", "allocations", 10),
		reports.Counter("allocations.failed", "allocations", 0),
		reports.Counter("packets.sent", "packets", float64(sent)),
		reports.Counter("packets.lost", "packets", float64(lost)),
		rtt.Metric(),
	}
	lossPct := 100 * float64(lost) / float64(sent)
	rep.AddCheck(reports.Check{ID: "bench.loss", Name: "relayed packet loss", Verdict: verdictIf(lossPct <= 1)})
	rep.AddCheck(reports.Check{ID: "bench.completed", Name: "run completed", Verdict: reports.VerdictPass})
	return rep
}

func TestApplySLOJudgesMergedTotals(t *testing.T) {
	cases := []struct {
		name      string
		a, b      *reports.Report
		slo       SLO
		want      reports.Verdict
		wantCheck map[string]reports.Verdict
	}{
		{
			// Worker b alone lost 1.5%, but the fleet lost 0.75%.
			name: "one worker over, fleet under", a: worker(t, 1000, 0, 1, 10), b: worker(t, 1000, 15, 1, 10),
			slo: SLO{MaxLossPercent: 1, MaxAllocFailurePercent: 1}, want: reports.VerdictPass,
			wantCheck: map[string]reports.Verdict{"bench.loss": reports.VerdictPass},
		},
		{
			name: "fleet over", a: worker(t, 1000, 5, 1, 10), b: worker(t, 1000, 30, 1, 10),
			slo: SLO{MaxLossPercent: 1, MaxAllocFailurePercent: 1}, want: reports.VerdictFail,
			wantCheck: map[string]reports.Verdict{"bench.loss": reports.VerdictFail},
		},
		{
			// p99 of 1..100 ∪ 1..100 ms is 99 ms: within 100 ms, not within 50.
			name: "p99 from the merged histogram", a: worker(t, 1000, 0, 1, 100), b: worker(t, 1000, 0, 1, 100),
			slo: SLO{MaxLossPercent: 1, MaxAllocFailurePercent: 1, MaxP99: 50 * time.Millisecond}, want: reports.VerdictFail,
			wantCheck: map[string]reports.Verdict{"bench.p99": reports.VerdictFail, "bench.loss": reports.VerdictPass},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			merged, err := reports.Merge(tc.a, tc.b)
			require.NoError(t, err)
			require.NoError(t, ApplySLO(merged, tc.slo))
			assert.Equal(t, tc.want, merged.Verdict)
			got := map[string]reports.Verdict{}
			completed := 0
			for _, c := range merged.Checks {
				if c.ID == "bench.completed" {
					completed++
					continue
				}
				_, dup := got[c.ID]
				assert.False(t, dup, "check %s appears once, judged on the totals", c.ID)
				got[c.ID] = c.Verdict
			}
			assert.Equal(t, 2, completed, "the workers' other checks are kept")
			for id, v := range tc.wantCheck {
				assert.Equal(t, v, got[id], id)
			}
		})
	}
}

func TestApplySLORefusesOtherKinds(t *testing.T) {
	err := ApplySLO(reports.New("matrix", "m"), DefaultSLO())
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), `not "matrix"`)
}

// A report without a metric the SLO needs is an error naming it, never a
// silent zero (which would pass a 0% loss).
func TestApplySLOMissingMetricIsAnError(t *testing.T) {
	cases := []struct {
		name, drop string
		slo        SLO
	}{
		{"lost packets", MetricPacketsLost, DefaultSLO()},
		{"failed allocations", MetricAllocationsFailed, DefaultSLO()},
		{"rtt for the p99", MetricRTT, SLO{MaxLossPercent: 1, MaxAllocFailurePercent: 1, MaxP99: time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := worker(t, 1000, 30, 1, 10), worker(t, 1000, 30, 1, 10)
			merged, err := reports.Merge(a, b)
			require.NoError(t, err)
			kept := merged.Metrics[:0]
			for _, m := range merged.Metrics {
				if m.Name != tc.drop {
					kept = append(kept, m)
				}
			}
			merged.Metrics = kept
			before := len(merged.Checks)
			err = ApplySLO(merged, tc.slo)
			require.ErrorIs(t, err, ErrMissingMetric)
			var me *MissingMetricError
			require.ErrorAs(t, err, &me)
			assert.Equal(t, tc.drop, me.Metric)
			assert.Contains(t, err.Error(), tc.drop)
			assert.Len(t, merged.Checks, before, "the report is left as it was")
		})
	}
}

// Result.Totals and TotalsOf(Result.Report) agree: the report's metric
// names and the judgement's are the same constants.
func TestTotalsRoundTripThroughTheReport(t *testing.T) {
	rtt := reports.NewLatencyRecorder(MetricRTT)
	for v := 1; v <= 50; v++ {
		rtt.RecordDuration(time.Duration(v) * time.Millisecond)
	}
	r := &Result{Kind: KindTraffic, AllocationsSucceeded: 9, AllocationsFailed: 1, Sent: 1000, Received: 990, RTT: rtt.Metric()}
	slo := SLO{MaxLossPercent: 1, MaxAllocFailurePercent: 1, MaxP99: time.Second}
	got, err := TotalsOf(r.Report(slo), slo)
	require.NoError(t, err)
	want := r.Totals()
	assert.Equal(t, want.AllocationsSucceeded, got.AllocationsSucceeded)
	assert.Equal(t, want.AllocationsFailed, got.AllocationsFailed)
	assert.Equal(t, want.Sent, got.Sent)
	assert.Equal(t, want.Lost, got.Lost)
	assert.True(t, got.Traffic)
	assert.Equal(t, want.RTT.P99, got.RTT.P99)
}
