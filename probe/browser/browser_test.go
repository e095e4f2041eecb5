package browser_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/probe/browser"
	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/relay"
	"github.com/natkit/natkit/signalserver"
)

// chromium skips (or fails with NATKIT_REQUIRE_EXTERNAL=1) without it.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts chromium")
	}
	return externaltest.LookPath(t, "chromium", "chromium")
}

func launch(t *testing.T, ctx context.Context, cfg browser.Config) *browser.Browser {
	t.Helper()
	b, err := browser.Launch(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

// startSignal runs natkit signal on loopback; with a secret its token
// endpoint mints credentials for a natkit relay on loopback.
func startSignal(t *testing.T, cfg signalserver.Config) string {
	t.Helper()
	srv, err := signalserver.NewServer(cfg)
	require.NoError(t, err)
	l, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l, srv) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String() + "/peer.html"
}

func startRelay(t *testing.T, secret string) string {
	t.Helper()
	port := externaltest.FreePort(t, "127.0.0.1")
	srv, err := relay.New(relay.Config{
		Listen:     []relay.Listener{{Network: relay.NetworkUDP, Addr: fmt.Sprintf("127.0.0.1:%d", port)}},
		Secrets:    []string{secret},
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", port)
}

// TestCallThroughTokenEndpoint: two browsers on loopback take their ICE
// servers from natkit signal's token endpoint and call relay-only through
// natkit relay; the results carry the relayed pair, the timings and the
// probes echoed.
func TestCallThroughTokenEndpoint(t *testing.T) {
	chromium(t)
	const secret = "browser-peer-secret"
	turnURL := startRelay(t, secret)
	page := startSignal(t, signalserver.Config{TURNSecrets: []string{secret}, TURNURLs: []string{turnURL}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var peers [2]*browser.Peer
	for i, role := range []string{browser.RoleOffer, browser.RoleAnswer} {
		b := launch(t, ctx, browser.Config{})
		p, err := b.Open(ctx, browser.PeerConfig{Name: []string{"a", "b"}[i], PageURL: page, Room: "token", Role: role, RelayOnly: true})
		require.NoError(t, err)
		require.NoError(t, p.Start(ctx))
		peers[i] = p
	}
	for _, p := range peers {
		if err := p.WaitConnected(ctx); err != nil {
			for _, q := range peers {
				r := q.Result(ctx)
				for _, e := range r.Events {
					t.Logf("%s %s %s %s", e.At.Format("15:04:05.000"), e.Peer, e.Kind, e.Text())
				}
				t.Logf("%s errors %v", r.Peer, r.Errors)
			}
			t.Fatal(err)
		}
	}
	require.NoError(t, peers[0].Probe(ctx, call.ProbeConfig{Count: 5, Interval: 10 * time.Millisecond}))
	require.NoError(t, peers[0].HangUp(ctx))
	require.NoError(t, peers[1].WaitHangUp(ctx))
	for _, p := range peers {
		r := p.Result(ctx)
		require.True(t, r.Connected, r.Summary())
		require.NotNil(t, r.Pair, r.Summary())
		require.Equal(t, "relay", r.Pair.Local.Type)
		require.Equal(t, "udp", r.RelayProtocol)
		require.Positive(t, r.Timings.FirstRelay)
		require.Positive(t, r.Timings.ICEConnected)
		require.NotEmpty(t, r.Browser.Version)
		require.Contains(t, r.Browser.Flags, "--disable-quic")
		t.Log(r.Summary())
	}
	a := peers[0].Result(ctx)
	require.Equal(t, call.ProbeStats{Sent: 5, Received: 5}, a.Probes)
	require.Equal(t, int64(5), a.ProbeRTT.Count())
	require.Positive(t, a.Timings.FirstMessage)
}

func TestMissingBinary(t *testing.T) {
	_, err := browser.Launch(context.Background(), browser.Config{ExecPath: "/nonexistent/chromium"})
	require.ErrorIs(t, err, browser.ErrNotInstalled)
	var ee *browser.EnvError
	require.ErrorAs(t, err, &ee)
	require.Contains(t, err.Error(), "install with: apt-get install chromium")
}

// TestBrowserThatFailsToStart: a "browser" that exits at once.
func TestBrowserThatFailsToStart(t *testing.T) {
	_, err := browser.Launch(context.Background(), browser.Config{ExecPath: "/bin/false", StartTimeout: 5 * time.Second})
	require.ErrorIs(t, err, browser.ErrStart)
	require.Contains(t, err.Error(), "install with: apt-get install chromium")
}

// TestPageThatNeverLoads: nothing listens where the page should be.
func TestPageThatNeverLoads(t *testing.T) {
	chromium(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	b := launch(t, context.Background(), browser.Config{})
	_, err = b.Open(context.Background(), browser.PeerConfig{Name: "a", PageURL: "http://" + addr + "/peer.html", Room: "r", Role: browser.RoleOffer, PageTimeout: 3 * time.Second})
	require.ErrorIs(t, err, browser.ErrPageLoad)
	require.Contains(t, err.Error(), "install with: apt-get install chromium")
}

// TestNoOrphans: cancelling the caller's context mid-call and closing
// leaves no process of the browser's group.
func TestNoOrphans(t *testing.T) {
	chromium(t)
	page := startSignal(t, signalserver.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	b, err := browser.Launch(ctx, browser.Config{})
	require.NoError(t, err)
	p, err := b.Open(ctx, browser.PeerConfig{Name: "a", PageURL: page, Room: "orphans", Role: browser.RoleOffer, ICEServers: []browser.ICEServer{}})
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	pid := b.PID()
	procs := browser.GroupProcesses(pid)
	require.Greater(t, len(procs), 1, "chromium runs a browser process and its helpers in one group")
	waitErr := make(chan error, 1)
	go func() { waitErr <- p.WaitConnected(ctx) }()
	cancel()
	require.ErrorIs(t, <-waitErr, context.Canceled)
	require.NoError(t, b.Close())
	require.Empty(t, browser.GroupProcesses(pid))
	for _, q := range procs {
		// Gone, or a zombie its new parent has yet to reap.
		if syscall.Kill(q, 0) == nil {
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", q))
			_, rest, _ := strings.Cut(string(st), ") ")
			require.True(t, rest == "" || rest[0] == 'Z', "process %d of the browser's group: %s", q, st)
		}
	}
}

// TestCrashMidCall: a browser killed during the call makes its peer's
// steps fail with a *CrashError, and its Result says so.
func TestCrashMidCall(t *testing.T) {
	chromium(t)
	page := startSignal(t, signalserver.Config{})
	ctx := context.Background()
	b := launch(t, ctx, browser.Config{})
	p, err := b.Open(ctx, browser.PeerConfig{Name: "a", PageURL: page, Room: "crash", Role: browser.RoleOffer, ICEServers: []browser.ICEServer{}})
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	require.NoError(t, syscall.Kill(b.PID(), syscall.SIGKILL))
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = p.WaitConnected(wctx)
	var ce *browser.CrashError
	require.True(t, errors.As(err, &ce), "got %v", err)
	require.Equal(t, b.PID(), ce.PID)
	r := p.Result(ctx)
	require.True(t, r.Crashed)
	require.False(t, r.Connected)
	require.Contains(t, r.Summary(), "crashed")
}
