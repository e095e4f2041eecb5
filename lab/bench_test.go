package lab_test

import (
	"context"
	"strings"
	"testing"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/scenarios"
)

// BenchmarkMatrix is the performance target of the kernel lab: the classic
// five presets × TURN no/yes (50 calls) on real kernels in ≤ 20 s wall,
// measured against the vnet matrix of the same cells in the same run
// (alternate the two: go test -bench Matrix -count 3).
func BenchmarkMatrix(b *testing.B) {
	b.Run("kernel", func(b *testing.B) {
		labtest.Require(b)
		for range b.N {
			n, bad := kernelMatrix(lab.ClassicPresetNames(), 8)
			if len(bad) > 0 {
				b.Fatalf("%d of %d cells differ from theory:\n%s", len(bad), n, strings.Join(bad, "\n"))
			}
		}
	})
	b.Run("vnet", func(b *testing.B) {
		for range b.N {
			res, err := scenarios.RunMatrix(context.Background(), scenarios.MatrixConfig{Presets: lab.ClassicPresetNames()})
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range res.Cells {
				if !c.Match() {
					b.Fatalf("vnet cell %s: %s, theory %s", c.Name(), c.ObservedText(), c.ExpectedText())
				}
			}
		}
	})
}
