package load

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/reports"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func latency(name string, ms ...float64) reports.Metric {
	r := reports.NewLatencyRecorder(name)
	for _, v := range ms {
		r.Record(v)
	}
	return r.Metric()
}

func fixedResult(kind string) *Result {
	r := &Result{
		Kind: kind, Server: "127.0.0.1:3478", Transport: "udp", Mode: ModeChannel, Peer: "127.0.0.1:3480",
		Started:     time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC),
		Allocations: 4, Rate: 100, Size: 100, Duration: 2 * time.Second, Elapsed: 2500 * time.Millisecond,
		AllocationsSucceeded: 4, PeakAllocations: 4, CPU: 250 * time.Millisecond, MaxRSS: 20 << 20,
		Outcomes: []Outcome{
			{methodAllocate, OutcomeChallenge, 4}, {methodAllocate, OutcomeOK, 4},
			{methodDelete, OutcomeOK, 4},
		},
		AllocLatency:             latency("turn.allocate.time_to_relay", 0.4, 0.5, 0.6, 0.7),
		AllocLatencyFromSchedule: latency("turn.allocate.time_to_relay_from_schedule", 0.5, 0.6, 0.7, 0.8),
	}
	if kind == KindTraffic {
		r.PPS, r.Senders, r.TrafficDuration = 50, 4, 2*time.Second
		r.Sent, r.Received, r.BytesSent, r.BytesReceived = 400, 398, 40000, 39800
		r.Reordered, r.Duplicates = 1, 0
		r.RTT = latency("relay.rtt", 0.2, 0.3, 0.4, 2)
		r.RTTFromSchedule = latency("relay.rtt_from_schedule", 0.3, 0.4, 0.5, 2.5)
		r.SendLag = latency("bench.send_lag", 0.1, 0.1, 0.1, 0.5)
		r.Jitter = latency("relay.jitter", 0.05, 0.06)
		r.Series = []reports.Series{{Name: "sent packets/s", Unit: "1/s", Points: []reports.Point{
			{Offset: reports.Duration(time.Second), Value: 200}, {Offset: reports.Duration(2 * time.Second), Value: 200}}}}
	}
	return r
}

func TestReportGolden(t *testing.T) {
	tests := []struct {
		name   string
		result func() *Result
		slo    SLO
		want   reports.Verdict
	}{
		{"traffic-pass", func() *Result { return fixedResult(KindTraffic) }, DefaultSLO(), reports.VerdictPass},
		{"traffic-loss-and-p99-breached", func() *Result { return fixedResult(KindTraffic) },
			SLO{MaxLossPercent: 0.1, MaxP99: time.Millisecond, MaxAllocFailurePercent: 1, MaxLatePercent: 1}, reports.VerdictFail},
		{"traffic-tool-late", func() *Result {
			r := fixedResult(KindTraffic)
			r.Late = 40
			return r
		}, DefaultSLO(), reports.VerdictPass},
		{"allocation-wrong-credentials", func() *Result {
			r := fixedResult(KindAllocation)
			r.AllocationsSucceeded, r.AllocationsFailed, r.PeakAllocations = 0, 3, 0
			r.Outcomes = []Outcome{{methodAllocate, OutcomeChallenge, 3}, {methodAllocate, "401", 3}}
			r.AllocLatency = latency("turn.allocate.time_to_relay")
			r.AllocLatencyFromSchedule = latency("turn.allocate.time_to_relay_from_schedule")
			r.Stopped = fmt.Errorf("%w: the credentials are wrong or expired", ErrUnauthorized)
			r.StopReason = r.Stopped.Error()
			return r
		}, DefaultSLO(), reports.VerdictFail},
		{"allocation-quota-interrupted", func() *Result {
			r := fixedResult(KindAllocation)
			r.AllocationsFailed = 2
			r.Outcomes = append(r.Outcomes, Outcome{methodAllocate, "486", 2})
			r.Interrupted = true
			return r
		}, DefaultSLO(), reports.VerdictInterrupted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := tt.result().Report(tt.slo)
			require.Equal(t, tt.want, rep.Verdict, rep.Summary)
			var buf bytes.Buffer
			require.NoError(t, reports.Render(&buf, rep, reports.FormatText, reports.RenderOptions{}))
			path := filepath.Join("testdata", tt.name+".txt")
			if *update {
				require.NoError(t, os.MkdirAll("testdata", 0o755))
				require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to create %s", path)
			require.Equal(t, string(want), buf.String())

			// JSON round trip keeps what merge needs: histograms and kinds.
			var js bytes.Buffer
			require.NoError(t, reports.RenderJSON(&js, rep))
			back, err := reports.Decode(&js)
			require.NoError(t, err)
			require.Equal(t, rep.Metrics, back.Metrics)
		})
	}
}

// TestReportsMerge checks that two workers' reports merge into exact
// totals: counters add up, latency counts add up.
func TestReportsMerge(t *testing.T) {
	a, b := fixedResult(KindTraffic).Report(DefaultSLO()), fixedResult(KindTraffic).Report(DefaultSLO())
	m, err := reports.Merge(a, b)
	require.NoError(t, err)
	byName := map[string]reports.Metric{}
	for _, x := range m.Metrics {
		byName[x.Name] = x
	}
	require.InDelta(t, 800, byName["packets.sent"].Value, 0)
	require.InDelta(t, 796, byName["packets.received"].Value, 0)
	require.EqualValues(t, 8, byName["relay.rtt"].Count)
	require.InDelta(t, 20, byName["bench.max_rss"].Value, 0.01, "gauges keep the max")
}
