package load

import (
	"context"
	"testing"
	"time"
)

// BenchmarkCoturnChannelTraffic drives relayed ChannelData through coturn
// on loopback to an in-process echo peer and reports natkit's CPU cost per
// million packets (sent plus received). bench/load.sh compares it with
// turnutils_uclient on the same server.
func BenchmarkCoturnChannelTraffic(b *testing.B) {
	srv := startCoturn(b, "")
	peer := startPeer(b)
	for b.Loop() {
		res, err := Run(context.Background(), Config{Server: srv.addr, Username: "u", Password: "p",
			Allocations: 50, PPS: 1000, Duration: 2 * time.Second, Peer: peer.Addr().String()})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.Sent)/res.TrafficDuration.Seconds(), "pkts/s")
		b.ReportMetric(res.LossPercent(), "loss%")
		b.ReportMetric(res.CPU.Seconds()/float64(res.Sent+res.Received)*1e6, "cpu-s/Mpkt")
	}
}
