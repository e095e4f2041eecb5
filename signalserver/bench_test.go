package signalserver_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/signalserver"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/signalserver/protocol"
)

// BenchmarkRelay measures relayed messages through one in-process server:
// 50 rooms of 2, one message in flight per room (so every message costs
// a write and a read system call on each side). bench/signal.sh measures
// the server as its own process.
func BenchmarkRelay(b *testing.B) {
	for _, hk := range []hubKind{memoryHub()} {
		b.Run(hk.name, func(b *testing.B) {
			srvCfg := signalserver.Config{RatePerSecond: 1e9, RateBurst: 1 << 30}
			srv, err := signalserver.NewServer(srvCfg)
			require.NoError(b, err)
			hs := newHTTPServer(srv)
			defer func() { hs.Close(); _ = srv.Close() }()
			url := wsURLOf(hs)
			ctx := context.Background()
			const rooms = 50
			var clients [][2]*client.Client
			for i := range rooms {
				var p [2]*client.Client
				for j := range 2 {
					cl, err := client.Dial(ctx, url, nil)
					require.NoError(b, err)
					_, err = cl.Join(ctx, fmt.Sprintf("bench%d", i), client.JoinOptions{})
					require.NoError(b, err)
					p[j] = cl
				}
				_, err := p[0].RecvType(ctx, protocol.TypePeerJoined)
				require.NoError(b, err)
				clients = append(clients, p)
			}
			msg := protocol.Message{Type: protocol.TypeCandidate, Candidate: &protocol.Candidate{Candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"}}
			per := b.N/rooms + 1
			b.ResetTimer()
			var wg sync.WaitGroup
			for _, p := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range per {
						_ = p[0].Send(ctx, msg)
						if _, err := p[1].Recv(ctx); err != nil {
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(per*rooms)/b.Elapsed().Seconds(), "msgs/s")
			for _, p := range clients {
				p[0].Abort()
				p[1].Abort()
			}
		})
	}
}
