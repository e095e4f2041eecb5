package natbehavior

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/relay"
)

// BenchmarkNatLoopback runs mapping and filtering tests against natkit's
// relay on 127.0.0.1 with 127.0.0.2 as its alternate address (target:
// under 1 s per run).
func BenchmarkNatLoopback(b *testing.B) {
	port := externaltest.FreePort(b, "127.0.0.1")
	srv, err := relay.New(relay.Config{Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: fmt.Sprintf("127.0.0.1:%d", port)}},
		AltIP: net.ParseIP("127.0.0.2"), Users: map[string]string{"a": "b"}})
	require.NoError(b, err)
	defer srv.Close()
	b.ResetTimer()
	for range b.N {
		res, err := Run(context.Background(), Config{Server: fmt.Sprintf("127.0.0.1:%d", port)})
		require.NoError(b, err)
		require.Equal(b, FilteringEIF, res.Filtering)
	}
}

// BenchmarkNatdiscoveryPeer times coturn's turnutils_natdiscovery -m -f
// against coturn on the same loopback addresses, as the peer that
// BenchmarkNatCoturn is compared with.
func BenchmarkNatdiscoveryPeer(b *testing.B) {
	bin := externaltest.LookPath(b, "turnutils_natdiscovery", "coturn")
	port := startCoturnRFC5780(b)
	b.ResetTimer()
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := externaltest.Run(ctx, bin, "-m", "-f", "-p", fmt.Sprint(port), "127.0.0.1")
		cancel()
		require.NoError(b, err, out)
	}
}

// BenchmarkNatCoturn runs natkit's mapping and filtering tests against
// coturn on 127.0.0.1 and 127.0.0.2.
func BenchmarkNatCoturn(b *testing.B) {
	port := startCoturnRFC5780(b)
	b.ResetTimer()
	for range b.N {
		res, err := Run(context.Background(), Config{Server: fmt.Sprintf("127.0.0.1:%d", port)})
		require.NoError(b, err)
		require.Equal(b, FilteringEIF, res.Filtering)
	}
}
