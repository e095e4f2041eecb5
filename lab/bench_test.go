package lab_test

import (
	"context"
	"testing"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/scenarios"
)

// BenchmarkMatrix is the performance target of the kernel lab: natkit
// matrix --net kernel over the classic five presets × TURN no/yes (50
// calls) in ≤ 20 s wall, against the vnet matrix of the same cells in the
// same run (alternating: go test -bench Matrix -count 3).
func BenchmarkMatrix(b *testing.B) {
	for _, net := range []string{scenarios.NetKernel, scenarios.NetVNet} {
		b.Run(net, func(b *testing.B) {
			if net == scenarios.NetKernel {
				labtest.Require(b)
			}
			for range b.N {
				res, err := scenarios.RunMatrix(context.Background(), scenarios.MatrixConfig{NATs: lab.ClassicPresetNames(), Net: net})
				if err != nil {
					b.Fatal(err)
				}
				bad := 0
				for _, c := range res.Cells {
					if !c.Match() {
						bad++
						b.Errorf("%s cell %s: %s, theory %s", net, c.Name(), c.ObservedText(), c.ExpectedText())
					}
				}
				b.ReportMetric(float64(bad), "mismatches")
				b.ReportMetric(res.Duration.Seconds(), "wall-s/matrix")
			}
		})
	}
}
