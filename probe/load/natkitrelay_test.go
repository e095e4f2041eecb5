package load

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v3/vnet"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

// TestNatkitRelayOnVnet runs the engine against natkit's own relay inside
// pion's virtual network: client, relay and echo peer on three hosts.
func TestNatkitRelayOnVnet(t *testing.T) {
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: lf})
	require.NoError(t, err)
	mk := func(ip string) *vnet.Net {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(n))
		return n
	}
	relayNet, clientNet, peerNet := mk("1.2.3.4"), mk("1.2.3.10"), mk("1.2.3.20")
	require.NoError(t, wan.Start())
	t.Cleanup(func() { _ = wan.Stop() })

	srv, err := relay.New(relay.Config{Net: relayNet, Listen: []relay.Listener{{Network: "udp", Addr: "1.2.3.4:3478"}},
		Users: map[string]string{"alice": "wonderland"}, Secrets: []string{"s3cret"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })

	peer, err := ListenPeer(PeerConfig{Net: peerNet, Listen: "1.2.3.20:3480"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- peer.Serve(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-served) })

	tests := []struct {
		name string
		cfg  Config
	}{
		{"channel", Config{Mode: ModeChannel, Peer: "1.2.3.20:3480"}},
		{"send indications", Config{Mode: ModeSend, Peer: "1.2.3.20:3480"}},
		{"paired, rest secret", Config{Mode: ModeChannel, Pair: true, Secret: "s3cret"}},
		{"allocation load", Config{PPS: -1}},
		// 100/s reached after a 400 ms ramp: 20 starts during the ramp,
		// then 10 per 100 ms for the remaining 100 ms of the 500 ms run.
		{"allocation load with ramp", Config{PPS: -1, Ramp: 400 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Net, cfg.Server = clientNet, "1.2.3.4:3478"
			if cfg.Secret == "" {
				cfg.Username, cfg.Password = "alice", "wonderland"
			}
			cfg.Allocations, cfg.Rate, cfg.Size, cfg.Duration = 4, 100, 64, 500*time.Millisecond
			if cfg.PPS == -1 {
				cfg.PPS = 0
			} else {
				cfg.PPS = 40
			}
			res, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			require.NoError(t, res.Stopped)
			require.EqualValues(t, 0, res.AllocationsFailed)
			if cfg.PPS == 0 {
				want := int64(50)
				if cfg.Ramp > 0 {
					want = 30
				}
				require.EqualValues(t, want, res.AllocationsSucceeded)
				require.EqualValues(t, want, res.Count(methodDelete, OutcomeOK))
				return
			}
			require.EqualValues(t, 4, res.AllocationsSucceeded)
			require.Equal(t, DataPathPerSession, res.DataPath, "vnet has no sockets for the batched path")
			require.InDelta(t, 4*40/2, res.Sent, 4)
			require.Equal(t, res.Sent, res.Received)
			require.Equal(t, "pass", string(res.Report(DefaultSLO()).Verdict))
		})
	}
	require.Positive(t, peer.Stats().Packets)
}

// TestNatkitRelayQuotaAndPolicy checks that natkit's relay's refusals
// show up as their own outcomes: 508 at capacity, 403 for a denied peer.
func TestNatkitRelayQuotaAndPolicy(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cfg     relay.Config
		method  string
		outcome string
	}{
		{"capacity 508", relay.Config{MaxAllocations: 1, PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}, methodAllocate, "508"},
		{"loopback peer denied 403", relay.Config{}, methodPermission, "403"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Listen = []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}}
			cfg.Users = map[string]string{"u": "p"}
			srv, err := relay.New(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = srv.Close() })
			peer := startPeer(t)
			res, err := Run(context.Background(), Config{Server: srv.Addrs()[0].Addr, Username: "u", Password: "p",
				Allocations: 2, PPS: 10, Peer: peer.Addr().String(), Duration: 200 * time.Millisecond})
			require.NoError(t, err)
			require.Positive(t, res.Count(tt.method, tt.outcome), "%+v", res.Outcomes)
			require.Equal(t, "fail", string(res.Report(DefaultSLO()).Verdict))
		})
	}
}

// TestMaintenanceRefreshes shortens the renewal period so that a short
// run renews its allocations, permissions and channels while sending.
func TestMaintenanceRefreshes(t *testing.T) {
	old := maintainEvery
	maintainEvery = 300 * time.Millisecond
	t.Cleanup(func() { maintainEvery = old })
	srv, err := relay.New(relay.Config{Listen: []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}},
		Users: map[string]string{"u": "p"}, PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	res, err := Run(context.Background(), Config{Server: srv.Addrs()[0].Addr, Username: "u", Password: "p",
		Allocations: 2, PPS: 20, Pair: true, Duration: time.Second})
	require.NoError(t, err)
	require.GreaterOrEqual(t, res.Count(methodRefresh, OutcomeOK), int64(4), "%+v", res.Outcomes)
	require.GreaterOrEqual(t, res.Count(methodChannelBind, OutcomeOK), int64(2+4))
	require.Equal(t, res.Sent, res.Received)
}
