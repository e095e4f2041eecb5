package load

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/relay"
)

func tcpRelay(t *testing.T, on bool) string {
	t.Helper()
	srv, err := relay.New(relay.Config{
		Listen: []relay.Listener{{Network: "tcp", Addr: "127.0.0.1:0"}},
		Users:  map[string]string{"alice": "wonderland"}, TCPRelay: on,
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Addrs()[0].Addr
}

func tcpConfig(server string) Config {
	return Config{Server: server, Transport: TransportTCP, TCPAllocations: true, Username: "alice", Password: "wonderland",
		Allocations: 4, Rate: 40, Duration: 500 * time.Millisecond, Drain: time.Second}
}

func TestTCPAllocationLoad(t *testing.T) {
	res, err := Run(context.Background(), tcpConfig(tcpRelay(t, true)))
	require.NoError(t, err)
	require.Equal(t, CauseCompleted, res.Cause, res.StopReason)
	require.Equal(t, ModeTCPRelay, res.Mode)
	require.Positive(t, res.AllocationsSucceeded)
	require.Zero(t, res.AllocationsFailed)
	require.Equal(t, res.AllocationsSucceeded, res.Count(methodAllocateTCP, OutcomeOK))
	require.Equal(t, res.AllocationsSucceeded, res.Count(methodDelete, OutcomeOK))
	require.EqualValues(t, res.AllocationsSucceeded, res.AllocLatency.Count)
	require.EqualValues(t, res.AllocationsSucceeded, res.ConnectLatency.Count)
}

func TestTCPAllocationTraffic(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server func(t *testing.T) string
	}{
		{"natkit relay", func(t *testing.T) string { return tcpRelay(t, true) }},
		{"coturn", func(t *testing.T) string {
			return externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"alice:wonderland"}, AllowLoopbackPeers: true}).Addr()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tcpConfig(tc.server(t))
			cfg.PPS, cfg.Size = 50, 200
			res, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			require.Equal(t, CauseCompleted, res.Cause, res.StopReason)
			require.Equal(t, KindTraffic, res.Kind)
			require.Equal(t, 2, res.Senders, "two pairs")
			require.Positive(t, res.Sent)
			require.Equal(t, res.Sent, res.Received, "a TCP relay loses nothing")
			require.EqualValues(t, res.Sent, res.RTT.Count)
			require.Equal(t, int64(4), res.Count(methodBind, OutcomeOK))
			require.Equal(t, res.Sent*200, res.BytesSent)
		})
	}
}

func TestTCPAllocationUnsupported(t *testing.T) {
	res, err := Run(context.Background(), tcpConfig(tcpRelay(t, false)))
	require.NoError(t, err)
	require.Equal(t, CauseTCPUnsupported, res.Cause)
	require.True(t, errors.Is(res.Stopped, ErrTCPUnsupported))
	require.Contains(t, res.StopReason, "--tcp-relay")
	require.Positive(t, res.Count(methodAllocateTCP, "442"))
}

func TestTCPAllocationConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Server: "127.0.0.1:3478", TCPAllocations: true},
		{Server: "127.0.0.1:3478", Transport: TransportTCP, TCPAllocations: true, PPS: 10, Allocations: 1},
		{Server: "127.0.0.1:3478", Transport: TransportTCP, TCPAllocations: true, PPS: 10, Peer: "127.0.0.1:9"},
		{Server: "127.0.0.1:3478", Transport: TransportTCP, TCPAllocations: true, Mode: ModeSend},
	} {
		_, err := Run(context.Background(), cfg)
		require.ErrorIs(t, err, ErrConfig, "%+v", cfg)
	}
}
