package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/natkit/natkit/reports"
)

// BenchmarkMatrix runs the full matrix (5 presets, 25 ordered pairs × TURN
// no/yes = 50 calls) and reports wall time, per-call time to connected
// (p50, p99) and mismatches with theory. Run it with -benchtime=5x for the
// "5 runs in a row" figure.
func BenchmarkMatrix(b *testing.B) {
	ttc := reports.NewLatencyRecorder("time_to_connected")
	mismatches := 0
	var wall time.Duration
	for i := 0; i < b.N; i++ {
		res, err := RunMatrix(context.Background(), MatrixConfig{Seed: int64(i + 1)})
		if err != nil {
			b.Fatal(err)
		}
		wall += res.Duration
		for _, c := range res.Cells {
			if !c.Match() {
				mismatches++
				b.Logf("run %d: %s: expected %s, observed %s", i+1, c.Name(), c.ExpectedText(), c.ObservedText())
			}
			if c.Result != nil && c.Result.Connected {
				ttc.RecordDuration(c.Result.TimeToConnected)
			}
		}
	}
	m := ttc.Metric()
	b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s/matrix")
	b.ReportMetric(m.P50, "ttc-p50-ms")
	b.ReportMetric(m.P99, "ttc-p99-ms")
	b.ReportMetric(float64(mismatches), "mismatches")
}
