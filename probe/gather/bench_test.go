package gather

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/relay"
)

// BenchmarkGatherLoopback gathers through one STUN and one TURN server
// (natkit's relay on 127.0.0.1) and reports how long Run takes after the
// last candidate arrived (target: under 300 ms) and in total.
func BenchmarkGatherLoopback(b *testing.B) {
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(b, err)
	port := l.LocalAddr().(*net.UDPAddr).Port
	require.NoError(b, l.Close())
	srv, err := relay.New(relay.Config{Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: fmt.Sprintf("127.0.0.1:%d", port)}}, Users: map[string]string{"alice": "right"}})
	require.NoError(b, err)
	defer srv.Close()
	var servers iceconfig.Servers
	for _, u := range []string{fmt.Sprintf("stun:127.0.0.1:%d", port), fmt.Sprintf("turn:127.0.0.1:%d", port)} {
		s, err := iceconfig.ParseURL(u, "bench")
		require.NoError(b, err)
		if s.IsTURN() {
			s.Username, s.Credential = "alice", "right"
		}
		servers = append(servers, s)
	}
	var tail, total time.Duration
	b.ResetTimer()
	for range b.N {
		res, err := Run(context.Background(), Config{Servers: servers})
		require.NoError(b, err)
		require.True(b, res.HasCandidate("relay"))
		tail += res.Duration - res.Combined.Last()
		total += res.Duration
	}
	b.ReportMetric(float64(tail.Microseconds())/1000/float64(b.N), "ms-after-last-candidate")
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-total")
}
