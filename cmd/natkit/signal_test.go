package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/reports"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/signalserver/protocol"
)

func TestSignalBadFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "nope"}, `--listen "nope": want HOST:PORT`},
		{[]string{"--tls-cert", "x.pem"}, "--tls-cert and --tls-key: give both"},
		{[]string{"--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"}, "--tls-cert /nonexistent.pem"},
		{[]string{"--room-capacity", "1"}, "--room-capacity 1"},
		{[]string{"--token-ttl", "25h"}, "--token-ttl 25h0m0s: want more than 0 and at most 24h"},
		{[]string{"--turn-secret", "s"}, "--turn-secret needs at least one --turn-url"},
		{[]string{"--turn-url", "turn:h:3478"}, "--turn-url needs --turn-secret"},
		{[]string{"--turn-secret", "s", "--turn-url", "http://h"}, `"http://h"`},
		{[]string{"--allowed-origin", "example.com"}, "AllowedOrigins"},
		{[]string{"--redis", "localhost:6379"}, "--redis"},
		{[]string{"--rate", "0"}, "--rate 0"},
		{[]string{"--format", "yaml"}, "--format"},
	}
	for _, tc := range cases {
		code, _, stderr := runNatkit(t, context.Background(), append([]string{"signal"}, tc.args...)...)
		require.Equal(t, exitUsage, code, "%v: %s", tc.args, stderr)
		require.Contains(t, stderr, tc.want, "%v", tc.args)
	}
}

// TestSignalRun starts natkit signal, relays one offer through it and
// stops it; the summary report counts the message.
func TestSignalRun(t *testing.T) {
	port := externaltest.FreeTCPPort(t, "127.0.0.1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runNatkit(t, ctx, "signal", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--format", "json",
			"--turn-secret", "s", "--turn-url", "turn:127.0.0.1:3478")
		done <- result{code, out, errOut}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	externaltest.WaitTCP(t, addr, 5*time.Second)
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	a, err := client.Dial(dctx, "ws://"+addr+"/ws", nil)
	require.NoError(t, err)
	b, err := client.Dial(dctx, "ws://"+addr+"/ws", nil)
	require.NoError(t, err)
	ja, err := a.Join(dctx, "cli", client.JoinOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, ja.ICEServers)
	_, err = b.Join(dctx, "cli", client.JoinOptions{})
	require.NoError(t, err)
	require.NoError(t, a.SendOffer(dctx, "", "sdp"))
	m, err := b.RecvType(dctx, protocol.TypeOffer)
	require.NoError(t, err)
	require.Equal(t, ja.Peer, m.From)
	cancel()
	r := <-done
	require.Equal(t, exitPass, r.code, r.stderr)
	require.Contains(t, r.stderr, "natkit signal listening on http://"+addr)
	require.Contains(t, r.stderr, "/gather.html")
	var rep reports.Report
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Equal(t, "signal", rep.Kind)
	require.Contains(t, rep.Summary, "relayed 1 messages")
	a.Abort()
	b.Abort()
}
