package load

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
)

// coturn is a turnserver started for a test on 127.0.0.1.
type coturn struct {
	addr string
	proc *externaltest.Process
}

// startCoturn runs turnserver with a static user u:p (realm r), or with
// use-auth-secret when secret is set, plus extra flags.
func startCoturn(t testing.TB, secret string, extra ...string) *coturn {
	t.Helper()
	cfg := externaltest.CoturnConfig{Realm: "r", Secret: secret, AllowLoopbackPeers: true,
		Extra: append([]string{"--no-stun-backward-compatibility", "--min-port", "20000", "--max-port", "39999"}, extra...)}
	if secret == "" {
		cfg.Users = []string{"u:p"}
	}
	c := externaltest.StartCoturn(t, cfg)
	return &coturn{addr: c.Addr(), proc: c.Process}
}

func startPeer(t testing.TB) *Peer { return startPeerOn(t, "127.0.0.1:0") }

func TestCoturnTraffic(t *testing.T) {
	srv := startCoturn(t, "")
	peer := startPeer(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"channel to echo peer", Config{Mode: ModeChannel, Peer: peer.Addr().String()}},
		{"send indications to echo peer", Config{Mode: ModeSend, Peer: peer.Addr().String()}},
		{"paired channels", Config{Mode: ModeChannel, Pair: true}},
		{"paired send indications over tcp", Config{Mode: ModeSend, Pair: true, Transport: "tcp"}},
		{"channel over tcp", Config{Mode: ModeChannel, Peer: peer.Addr().String(), Transport: "tcp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Server, cfg.Username, cfg.Password = srv.addr, "u", "p"
			cfg.Allocations, cfg.Rate, cfg.PPS, cfg.Size, cfg.Duration = 4, 200, 50, 120, time.Second
			res, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			require.NoError(t, res.Stopped)
			require.EqualValues(t, 4, res.AllocationsSucceeded)
			require.Equal(t, 4, res.Senders)
			require.InDelta(t, 4*50, res.Sent, 8, "one second at 4×50 pps")
			require.Equal(t, res.Sent, res.Received, "loopback loses nothing")
			require.EqualValues(t, 0, res.Duplicates)
			require.EqualValues(t, res.Sent, res.RTT.Count)
			require.Greater(t, res.RTT.P50, 0.0)
			require.GreaterOrEqual(t, res.RTTFromSchedule.Max, res.RTT.Max)
			require.EqualValues(t, 4, res.Count(methodAllocate, OutcomeOK))
			require.EqualValues(t, 4, res.Count(methodAllocate, OutcomeChallenge))
			require.EqualValues(t, 4, res.Count(methodDelete, OutcomeOK))
			if haveFastPath && cfg.Transport != "tcp" {
				require.Equal(t, DataPathBatched, res.DataPath)
				require.Zero(t, res.RxWakeStamped, "every echo carries the kernel's receive timestamp")
			} else {
				require.Equal(t, DataPathPerSession, res.DataPath)
			}
			if cfg.Mode == ModeChannel {
				require.EqualValues(t, 4, res.Count(methodChannelBind, OutcomeOK))
			}
			rep := res.Report(DefaultSLO())
			require.Equal(t, "pass", string(rep.Verdict), rep.Summary)
		})
	}
}

func TestCoturnAllocationLoad(t *testing.T) {
	for _, tt := range []struct {
		name   string
		secret string
		cfg    Config
	}{
		{"static user", "", Config{Username: "u", Password: "p"}},
		{"rest secret", "s3cret", Config{Secret: "s3cret"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startCoturn(t, tt.secret)
			cfg := tt.cfg
			cfg.Server, cfg.Allocations, cfg.Rate, cfg.Duration = srv.addr, 5, 100, 500*time.Millisecond
			res, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			require.NoError(t, res.Stopped)
			require.EqualValues(t, 50, res.AllocationsSucceeded, "100/s for 0.5 s")
			require.EqualValues(t, 0, res.AllocationsFailed)
			require.EqualValues(t, 50, res.Count(methodRefresh, OutcomeOK))
			require.EqualValues(t, 50, res.Count(methodDelete, OutcomeOK))
			require.EqualValues(t, 50, res.AllocLatency.Count)
			require.LessOrEqual(t, res.PeakAllocations, int64(5))
			require.Equal(t, "pass", string(res.Report(DefaultSLO()).Verdict))
		})
	}
}

func TestCoturnFaults(t *testing.T) {
	t.Run("wrong password stops early with 401", func(t *testing.T) {
		srv := startCoturn(t, "")
		start := time.Now()
		res, err := Run(context.Background(), Config{Server: srv.addr, Username: "u", Password: "wrong",
			Allocations: 5, Rate: 50, Duration: 20 * time.Second})
		require.NoError(t, err)
		require.ErrorIs(t, res.Stopped, ErrUnauthorized)
		require.Less(t, time.Since(start), 10*time.Second, "must not wait out the 20 s run")
		require.Positive(t, res.Count(methodAllocate, "401"))
		rep := res.Report(DefaultSLO())
		require.Equal(t, "fail", string(rep.Verdict))
		require.Contains(t, rep.Checks[0].Message, "credentials are wrong")
	})
	t.Run("quota gives 486", func(t *testing.T) {
		srv := startCoturn(t, "", "--user-quota", "2")
		peer := startPeer(t)
		res, err := Run(context.Background(), Config{Server: srv.addr, Username: "u", Password: "p",
			Allocations: 4, Rate: 100, PPS: 10, Peer: peer.Addr().String(), Duration: 300 * time.Millisecond})
		require.NoError(t, err)
		require.EqualValues(t, 2, res.AllocationsSucceeded)
		require.EqualValues(t, 2, res.Count(methodAllocate, "486"))
		rep := res.Report(DefaultSLO())
		require.Equal(t, "fail", string(rep.Verdict))
		require.Contains(t, rep.Checks[0].Message, "quota")
	})
	t.Run("peer forbidden gives 403", func(t *testing.T) {
		srv := startCoturn(t, "", "--denied-peer-ip", "127.0.0.1")
		peer := startPeer(t)
		res, err := Run(context.Background(), Config{Server: srv.addr, Username: "u", Password: "p",
			Allocations: 2, PPS: 10, Peer: peer.Addr().String(), Duration: 300 * time.Millisecond})
		require.NoError(t, err)
		require.EqualValues(t, 2, res.Count(methodPermission, "403"))
		require.EqualValues(t, 0, res.Sent)
		require.Equal(t, "fail", string(res.Report(DefaultSLO()).Verdict))
	})
	t.Run("server dies mid-run", func(t *testing.T) {
		srv := startCoturn(t, "")
		peer := startPeer(t)
		go func() {
			time.Sleep(1500 * time.Millisecond)
			_ = srv.proc.Cmd.Process.Kill()
		}()
		res, err := Run(context.Background(), Config{Server: srv.addr, Username: "u", Password: "p",
			Allocations: 2, PPS: 20, Peer: peer.Addr().String(), Duration: 30 * time.Second, ServerSilence: time.Second})
		require.NoError(t, err)
		require.ErrorIs(t, res.Stopped, ErrServerStopped)
		require.Less(t, res.Elapsed, 10*time.Second)
		require.Positive(t, res.Received, "metrics up to the death are kept")
		rep := res.Report(DefaultSLO())
		require.Equal(t, "fail", string(rep.Verdict))
	})
	for _, transport := range []string{"udp", "tcp"} {
		t.Run("unreachable server over "+transport, func(t *testing.T) {
			port := externaltest.FreePort(t, "127.0.0.1")
			res, err := Run(context.Background(), Config{Server: fmt.Sprintf("127.0.0.1:%d", port), Transport: transport,
				Username: "u", Password: "p", Allocations: 2, Duration: 20 * time.Second, RequestTimeout: 700 * time.Millisecond})
			require.NoError(t, err)
			require.True(t, errors.Is(res.Stopped, ErrUnreachable), "%v", res.Stopped)
			require.Less(t, res.Elapsed, 10*time.Second)
			require.Equal(t, "fail", string(res.Report(DefaultSLO()).Verdict))
		})
	}
	t.Run("interrupted", func(t *testing.T) {
		srv := startCoturn(t, "")
		ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
		defer cancel()
		res, err := Run(ctx, Config{Server: srv.addr, Username: "u", Password: "p",
			Allocations: 2, PPS: 20, Pair: true, Duration: time.Minute})
		require.NoError(t, err)
		require.True(t, res.Interrupted)
		require.Positive(t, res.Sent)
		require.Equal(t, "interrupted", string(res.Report(DefaultSLO()).Verdict))
		require.True(t, strings.HasPrefix(res.Report(DefaultSLO()).Summary, "interrupted"))
	})
}

// TestCoturnWithTurnutilsPeer uses coturn's own echo peer, and checks that
// natkit's peer echoes for turnutils_uclient: the two tools interoperate
// in both directions.
func TestCoturnWithTurnutilsPeer(t *testing.T) {
	srv := startCoturn(t, "")
	t.Run("natkit bench to turnutils_peer", func(t *testing.T) {
		bin := externaltest.LookPath(t, "turnutils_peer", "coturn")
		port := externaltest.FreeUDPPort(t, "127.0.0.1")
		externaltest.Start(t, bin, "-L", "127.0.0.1", "-p", fmt.Sprint(port))
		time.Sleep(200 * time.Millisecond)
		res, err := Run(context.Background(), Config{Server: srv.addr, Username: "u", Password: "p",
			Allocations: 3, PPS: 50, Duration: time.Second, Peer: fmt.Sprintf("127.0.0.1:%d", port)})
		require.NoError(t, err)
		require.Positive(t, res.Sent)
		require.Equal(t, res.Sent, res.Received)
	})
	t.Run("turnutils_uclient to natkit peer", func(t *testing.T) {
		bin := externaltest.LookPath(t, "turnutils_uclient", "coturn")
		peer := startPeer(t)
		_, port, _ := strings.Cut(srv.addr, ":")
		_, peerPort, _ := strings.Cut(peer.Addr().String(), ":")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := externaltest.Run(ctx, bin, "-c", "-m", "2", "-n", "20", "-z", "10", "-l", "100",
			"-e", "127.0.0.1", "-r", peerPort, "-u", "u", "-w", "p", "-p", port, "127.0.0.1")
		require.NoError(t, err, out)
		require.Contains(t, out, "tot_recv_msgs=40", out)
		require.EqualValues(t, 40, peer.Stats().Packets)
	})
}
