package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/natkit/natkit/reports"
)

// BenchmarkChromiumTimeToConnected: chromium×chromium calls across two
// full-cone kernel NATs (direct), alternating with pion×pion calls on the
// same topology, one of each per iteration. Target: chromium p50 ≤ 1.5 s
// to connected. Browser start and page load are reported apart: they are
// not in the call's time. Run it with e.g. -benchtime 10x.
func BenchmarkChromiumTimeToConnected(b *testing.B) {
	requireChromiumLab(b)
	pion, chromium := Topology{A: SideSpec{NAT: "full-cone"}, B: SideSpec{NAT: "full-cone"}},
		Topology{A: SideSpec{NAT: "full-cone", Peer: PeerChromium}, B: SideSpec{NAT: "full-cone", Peer: PeerChromium}}
	yes := true
	rec := map[string]*reports.Recorder{}
	for _, n := range []string{"chromium", "pion", "browser-start", "ice-connected"} {
		rec[n] = reports.NewLatencyRecorder(n)
	}
	for i := 0; i < b.N; i++ {
		for _, tc := range []struct {
			name string
			top  Topology
		}{{"pion", pion}, {"chromium", chromium}} {
			spec := &Spec{Name: "bench-" + tc.name, Topology: tc.top, Expect: Expect{Connected: &yes, Path: "direct"}}
			res, err := Run(context.Background(), spec, Options{Net: NetKernel, WaitTimeout: 20 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			if !res.Passed() {
				b.Fatalf("%s: %+v %v", tc.name, res.Checks, res.Diagnoses)
			}
			rec[tc.name].RecordDuration(res.Call.TimeToConnected)
			for _, br := range res.Browsers {
				rec["browser-start"].RecordDuration(br.Browser.StartTime)
				rec["ice-connected"].RecordDuration(br.Timings.ICEConnected)
			}
		}
	}
	for _, n := range []string{"chromium", "pion", "browser-start", "ice-connected"} {
		m := rec[n].Metric()
		b.ReportMetric(m.P50, n+"-p50-ms")
		b.ReportMetric(m.Max, n+"-max-ms")
		b.Logf("%s: n=%d min %.0f p50 %.0f p90 %.0f max %.0f ms", n, m.Count, m.Min, m.P50, m.P90, m.Max)
	}
}
