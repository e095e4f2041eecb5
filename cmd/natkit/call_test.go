package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/relay"
	"github.com/natkit/natkit/reports"
	"github.com/natkit/natkit/signalserver"
)

const callSecret = "call-test-secret"

// startSignal runs natkit's signaling server in-process, minting TURN REST
// credentials for turnURL.
func startSignal(t *testing.T, turnURL string) (wsURL, tokenURL string) {
	t.Helper()
	srv, err := signalserver.NewServer(signalserver.Config{TURNSecrets: []string{callSecret}, TURNURLs: []string{turnURL}})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		_ = srv.Close()
	})
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws", ts.URL + "/v1/ice-servers"
}

func callJSON(t *testing.T, args ...string) (int, *reports.Report, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "call.json")
	code, _, stderr := runNatkit(t, context.Background(), append(args, "--report", path)...)
	b, err := os.ReadFile(path)
	require.NoError(t, err, stderr)
	var rep reports.Report
	require.NoError(t, json.Unmarshal(b, &rep))
	return code, &rep, stderr
}

func TestCallThroughNatkitSignalAndRelay(t *testing.T) {
	port := externaltest.FreeUDPPort(t, "127.0.0.1")
	rl, err := relay.New(relay.Config{
		Listen:     []relay.Listener{{Network: relay.NetworkUDP, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}},
		Secrets:    []string{callSecret},
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rl.Close() })
	ws, token := startSignal(t, fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", port))

	t.Run("both peers, relay only, token url", func(t *testing.T) {
		code, rep, stderr := callJSON(t, "call", "--signal", ws, "--room", "r1", "--token-url", token, "--relay-only", "--audio", "--messages", "5", "--timeout", "20s")
		require.Equal(t, 0, code, "%s\n%s", stderr, rep.Summary)
		assert.Contains(t, rep.Summary, "relayed through")
		assert.Contains(t, rep.Summary, "5/5 messages echoed")
		kinds := map[string]bool{}
		for _, e := range rep.Events {
			kinds[e.Kind] = true
		}
		for _, k := range []string{"joined", "peer-joined", "candidate", "signal-send", "signal-recv", "selected-pair", "datachannel-open", "first-rtp"} {
			assert.True(t, kinds[k], "timeline has %s", k)
		}
	})

	t.Run("one peer per process", func(t *testing.T) {
		answered := make(chan int, 1)
		go func() {
			code, _, _ := runNatkit(t, context.Background(), "call", "--signal", ws, "--room", "r2", "--role", "answer", "--token-url", token, "--relay-only", "--timeout", "20s")
			answered <- code
		}()
		// No wait for the answerer: whichever joins first, the offerer
		// waits for the other peer's presence before it offers.
		code, rep, stderr := callJSON(t, "call", "--signal", ws, "--room", "r2", "--role", "offer", "--token-url", token, "--relay-only", "--messages", "3", "--timeout", "20s")
		require.Equal(t, 0, code, "%s\n%s", stderr, rep.Summary)
		assert.Contains(t, rep.Summary, "3/3 messages echoed")
		assert.Equal(t, 0, <-answered)
	})

	t.Run("no peer joins", func(t *testing.T) {
		code, rep, _ := callJSON(t, "call", "--signal", ws, "--room", "lonely", "--role", "offer", "--token-url", token, "--timeout", "1s")
		assert.Equal(t, 1, code)
		assert.Contains(t, rep.Summary, "no other peer joined")
	})
}

// TestCallThroughCoturn uses coturn (use-auth-secret) as the relay, with
// credentials minted by natkit signal.
func TestCallThroughCoturn(t *testing.T) {
	c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Secret: callSecret, AllowLoopbackPeers: true,
		Extra: []string{"--min-port", "50000", "--max-port", "50999"}})
	ws, token := startSignal(t, fmt.Sprintf("turn:%s?transport=udp", c.Addr()))
	code, rep, stderr := callJSON(t, "call", "--signal", ws, "--room", "coturn", "--token-url", token, "--relay-only", "--messages", "5", "--timeout", "20s")
	require.Equal(t, 0, code, "%s\n%s", stderr, rep.Summary)
	assert.Contains(t, rep.Summary, "relayed through")
}

func TestCallBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"call", "--room", "r"}, "--signal: required"},
		{[]string{"call", "--signal", "http://x/ws", "--room", "r"}, "want a ws:// or wss:// URL"},
		{[]string{"call", "--signal", "ws://x/ws"}, "--room: required"},
		{[]string{"call", "--signal", "ws://x/ws", "--room", "r", "--role", "both-ways"}, `--role "both-ways"`},
		{[]string{"call", "--signal", "ws://x/ws", "--room", "r", "--messages", "0"}, "--messages 0"},
		{[]string{"call", "--signal", "ws://x/ws", "--room", "r", "--size", "8"}, "--size 8"},
		{[]string{"call", "--signal", "ws://x/ws", "--room", "r", "turn:x:3478"}, "credential"},
		{[]string{"call", "--signal", "ws://x/ws", "--room", "r", "--ice-tcp-port", "443"}, "--ice-tcp-port 443: needs --ice-tcp"},
		{[]string{"call", "--signal", "ws://x/ws", "--room", "r", "--ice-tcp", "--ice-tcp-port", "70000"}, "--ice-tcp-port 70000"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			code, _, stderr := runNatkit(t, context.Background(), tt.args...)
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

// refusedCall runs a relay-only call whose relay refuses loopback peers and
// checks that it names the refusal as its cause.
func refusedCall(t *testing.T, turnURL string) {
	t.Helper()
	ws, token := startSignal(t, turnURL)
	code, rep, stderr := callJSON(t, "call", "--signal", ws, "--room", "refused", "--token-url", token, "--relay-only", "--timeout", "20s")
	require.Equal(t, 1, code, stderr)
	want := "the relay refused the peer address (403 Forbidden): its peer policy denies it — for a relay on loopback use `natkit relay --allow-peer 127.0.0.0/8`"
	var connected *reports.Check
	for i := range rep.Checks {
		if rep.Checks[i].ID == "connected" {
			connected = &rep.Checks[i]
		}
	}
	require.NotNil(t, connected, "a connected check")
	assert.Equal(t, reports.VerdictFail, connected.Verdict)
	assert.Equal(t, want, connected.Message)
	assert.Contains(t, rep.Summary, want)
	var res call.Result
	require.NoError(t, rep.DecodeDetails(&res))
	assert.Equal(t, call.CauseRelayRefusedPeer, res.Cause)
	// It stopped on the refusal, not on the connect timeout.
	assert.Contains(t, res.Error, call.ErrRelayRefusedPeer.Error())
	require.NotEmpty(t, res.TURNErrors)
	assert.Equal(t, "CreatePermission", res.TURNErrors[0].Method)
	assert.Equal(t, 403, res.TURNErrors[0].Code)
}

// TestCallCoturnRefusesPeer: coturn refuses loopback peers unless
// --allow-loopback-peers; the call names that as its cause too.
func TestCallCoturnRefusesPeer(t *testing.T) {
	c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Secret: callSecret,
		Extra: []string{"--min-port", "51000", "--max-port", "51999"}})
	refusedCall(t, fmt.Sprintf("turn:%s?transport=udp", c.Addr()))
}

// TestCallRelayRefusesPeer: natkit relay's default peer policy refuses
// loopback peers, so a relayed call on loopback gets 403 to every
// CreatePermission. The call says so, and gives up on it instead of
// waiting out ICE (issue 13 #6).
func TestCallRelayRefusesPeer(t *testing.T) {
	port := externaltest.FreeUDPPort(t, "127.0.0.1")
	rl, err := relay.New(relay.Config{
		Listen:  []relay.Listener{{Network: relay.NetworkUDP, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}},
		Secrets: []string{callSecret},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rl.Close() })
	refusedCall(t, fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", port))
}
