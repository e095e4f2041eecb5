package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/probe/load"
	"github.com/natkit/natkit/relay"
	"github.com/natkit/natkit/reports"
)

// startBenchRelay runs natkit's relay on loopback (udp and tcp) with user
// u:p and loopback peers allowed, and returns its udp and tcp turn: URLs.
func startBenchRelay(t *testing.T) (string, string) {
	t.Helper()
	srv, err := relay.New(relay.Config{
		Listen:     []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}, {Network: "tcp", Addr: "127.0.0.1:0"}},
		Users:      map[string]string{"u": "p"},
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return "turn:" + srv.Addrs()[0].Addr, "turn:" + srv.Addrs()[1].Addr + "?transport=tcp"
}

// startEchoPeer runs an echo peer on loopback until the test ends.
func startEchoPeer(t *testing.T) string { return startEchoPeerOn(t, "127.0.0.1:0") }

// startEchoPeerOn runs an echo peer on listen until the test ends.
func startEchoPeerOn(t *testing.T, listen string) string {
	t.Helper()
	p, err := load.ListenPeer(load.PeerConfig{Listen: listen})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return p.Addr().String()
}

func TestBenchBadFlags(t *testing.T) {
	url := "turn:127.0.0.1:3478"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no server", []string{"bench", "--user", "u", "--credential", "p"}, "turn:"},
		{"no credentials", []string{"bench", url}, "credential"},
		{"stun only", []string{"bench", "stun:127.0.0.1:3478"}, "no turn: server"},
		{"turns over sctp", []string{"bench", "turns:127.0.0.1:5349?transport=sctp", "--user", "u", "--credential", "p"}, "transport"},
		{"tls-ca without turns", []string{"bench", url, "--user", "u", "--credential", "p", "--tls-ca", "ca.pem"}, "--tls-ca and --tls-insecure apply to turns: URLs only"},
		{"tls-ca missing", []string{"bench", "turns:127.0.0.1:5349", "--user", "u", "--credential", "p", "--tls-ca", "/nonexistent/ca.pem"}, "--tls-ca /nonexistent/ca.pem"},
		{"tls-ca and tls-insecure", []string{"bench", "turns:127.0.0.1:5349", "--user", "u", "--credential", "p", "--tls-ca", "ca.pem", "--tls-insecure"}, "give one or neither"},
		{"bad scheme", []string{"bench", "http://x", "--user", "u", "--credential", "p"}, "argument 1"},
		{"rate", []string{"bench", url, "--user", "u", "--credential", "p", "--rate", "fast"}, "--rate"},
		{"rate unit", []string{"bench", url, "--user", "u", "--credential", "p", "--rate", "10/h"}, "--rate"},
		{"max-loss", []string{"bench", url, "--user", "u", "--credential", "p", "--max-loss", "150%"}, "--max-loss"},
		{"max-alloc-failures", []string{"bench", url, "--user", "u", "--credential", "p", "--max-alloc-failures", "x"}, "--max-alloc-failures"},
		{"max-p99", []string{"bench", url, "--user", "u", "--credential", "p", "--max-p99", "-1s"}, "--max-p99"},
		{"mode", []string{"bench", url, "--user", "u", "--credential", "p", "--mode", "fast"}, "--mode"},
		{"size", []string{"bench", url, "--user", "u", "--credential", "p", "--size", "1"}, "--size"},
		{"pps without peer", []string{"bench", url, "--user", "u", "--credential", "p", "--pps", "10"}, "--peer"},
		{"peer and pair", []string{"bench", url, "--user", "u", "--credential", "p", "--pps", "10", "--pair", "--peer", "1.2.3.4:5"}, "--peer"},
		{"allocations", []string{"bench", url, "--user", "u", "--credential", "p", "--allocations", "0"}, "--allocations"},
		{"duration", []string{"bench", url, "--user", "u", "--credential", "p", "--duration", "-1s"}, "--duration"},
		{"duration syntax", []string{"bench", url, "--user", "u", "--credential", "p", "--duration", "soon"}, "duration"},
		{"timeout", []string{"bench", url, "--user", "u", "--credential", "p", "--timeout", "0s"}, "--timeout"},
		{"user and secret", []string{"bench", url, "--user", "u", "--credential", "p", "--secret", "s"}, "--secret"},
		{"format", []string{"bench", url, "--user", "u", "--credential", "p", "--format", "pdf"}, "--format"},
		{"two servers", []string{"bench", url, "turn:127.0.0.1:3479", "--user", "u", "--credential", "p"}, "2 turn servers"},
		{"peer listen", []string{"peer", "--listen", "nope"}, "--listen"},
		{"peer readers", []string{"peer", "--readers", "0"}, "--readers"},
		{"peer duration", []string{"peer", "--duration", "-1s"}, "--duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NATKIT_TURN_PASSWORD", "")
			t.Setenv("NATKIT_TURN_SECRET", "")
			code, _, stderr := runNatkit(t, context.Background(), tt.args...)
			assert.Equal(t, exitUsage, code, stderr)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

func readReport(t *testing.T, path string) *reports.Report {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	rep, err := reports.Decode(f)
	require.NoError(t, err)
	return rep
}

func TestBenchAgainstNatkitRelay(t *testing.T) {
	udpURL, tcpURL := startBenchRelay(t)
	peer := startEchoPeer(t)
	dir := t.TempDir()
	tests := []struct {
		name    string
		url     string
		args    []string
		envPass string
		code    int
		verdict reports.Verdict
	}{
		{"allocation load", udpURL, []string{"--credential", "p", "--allocations", "4", "--rate", "200/s", "--duration", "300ms"}, "", exitPass, reports.VerdictPass},
		{"paired traffic", udpURL, []string{"--credential", "p", "--pair", "--allocations", "2", "--pps", "20", "--duration", "500ms"}, "", exitPass, reports.VerdictPass},
		{"send indications over tcp to an echo peer", tcpURL, []string{"--credential", "p", "--peer", peer, "--allocations", "2", "--pps", "20", "--duration", "500ms", "--mode", "send"}, "", exitPass, reports.VerdictPass},
		{"password from the environment", udpURL, []string{"--allocations", "1", "--duration", "100ms"}, "p", exitPass, reports.VerdictPass},
		{"p99 slo breached", udpURL, []string{"--credential", "p", "--pair", "--allocations", "2", "--pps", "20", "--duration", "300ms", "--max-p99", "1ns"}, "", exitCheckFailed, reports.VerdictFail},
		{"wrong password", udpURL, []string{"--credential", "wrong", "--allocations", "2", "--duration", "5s"}, "", exitCheckFailed, reports.VerdictFail},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NATKIT_TURN_SECRET", "")
			t.Setenv("NATKIT_TURN_PASSWORD", tt.envPass)
			path := filepath.Join(dir, fmt.Sprintf("r%d.json", i))
			args := append([]string{"bench", tt.url, "--user", "u", "--report", path, "--format", "markdown"}, tt.args...)
			code, out, stderr := runNatkit(t, context.Background(), args...)
			require.Equal(t, tt.code, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
			rep := readReport(t, path)
			assert.Equal(t, "bench", rep.Kind)
			assert.Equal(t, tt.verdict, rep.Verdict, rep.Summary)
			assert.NotEmpty(t, rep.Metrics)
			if tt.name == "wrong password" {
				assert.Contains(t, rep.Summary, "credentials are wrong")
				raw, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.NotContains(t, string(raw), `"wrong"`, "the password never reaches the report")
			}
		})
	}
}

// TestBenchTLS: turns: against natkit relay's tls:// listener passes with
// --tls-ca (and --tls-insecure) and reports the connect time; without
// them the self-signed certificate stops the run with the verifier's reason.
func TestBenchTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := externaltest.SelfSignedCert(t, dir)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	srv, err := relay.New(relay.Config{
		Listen:     []relay.Listener{{Network: "tls", Addr: "127.0.0.1:0"}},
		TLSConfig:  &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		Users:      map[string]string{"u": "p"},
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	url := "turns:" + srv.Addrs()[0].Addr
	for i, trust := range [][]string{{"--tls-ca", certFile}, {"--tls-insecure"}} {
		path := filepath.Join(dir, fmt.Sprintf("r%d.json", i))
		code, out, stderr := runNatkit(t, context.Background(), append([]string{"bench", url, "--user", "u", "--credential", "p",
			"--pair", "--allocations", "2", "--pps", "20", "--duration", "500ms", "--report", path}, trust...)...)
		require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
		rep := readReport(t, path)
		assert.Equal(t, url+"?transport=tcp", rep.Target)
		var connect *reports.Metric
		for i := range rep.Metrics {
			if rep.Metrics[i].Name == load.MetricConnect {
				connect = &rep.Metrics[i]
			}
		}
		require.NotNil(t, connect, "report has %s", load.MetricConnect)
		assert.EqualValues(t, 2, connect.Count)
		assert.Equal(t, "tls", rep.Environment.Settings["transport"])
	}
	path := filepath.Join(dir, "untrusted.json")
	code, _, stderr := runNatkit(t, context.Background(), "bench", url, "--user", "u", "--credential", "p",
		"--allocations", "2", "--duration", "5s", "--report", path)
	require.Equal(t, exitCheckFailed, code, stderr)
	rep := readReport(t, path)
	assert.Contains(t, rep.Summary, "unknown authority")
}

func TestBenchInterrupted(t *testing.T) {
	url, _ := startBenchRelay(t)
	path := filepath.Join(t.TempDir(), "r.json")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	code, _, stderr := runNatkit(t, ctx, "bench", url, "--user", "u", "--credential", "p", "--pair",
		"--allocations", "2", "--pps", "20", "--duration", "1m", "--report", path)
	require.Equal(t, exitInterrupted, code, stderr)
	rep := readReport(t, path)
	assert.Equal(t, reports.VerdictInterrupted, rep.Verdict)
	var sent float64
	for _, m := range rep.Metrics {
		if m.Name == "packets.sent" {
			sent = m.Value
		}
	}
	assert.Positive(t, sent, "metrics up to the interrupt are kept")
}

func TestPeerCommand(t *testing.T) {
	code, out, stderr := runNatkit(t, context.Background(), "peer", "--listen", "127.0.0.1:0", "--duration", "200ms")
	require.Equal(t, exitPass, code, stderr)
	assert.Contains(t, out, "echoing UDP on 127.0.0.1:")
	assert.Contains(t, out, "echoed 0 packets")
}

func TestBenchICEServersFile(t *testing.T) {
	udpURL, _ := startBenchRelay(t)
	dir := t.TempDir()
	ice := filepath.Join(dir, "ice.json")
	require.NoError(t, os.WriteFile(ice, []byte(`{"iceServers":[{"urls":["stun:127.0.0.1:1","`+udpURL+`"],"username":"u","credential":"p"}]}`), 0o600))
	path := filepath.Join(dir, "r.json")
	code, out, stderr := runNatkit(t, context.Background(), "bench", "--ice-servers", ice,
		"--allocations", "2", "--duration", "200ms", "--report", path)
	require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
	rep := readReport(t, path)
	assert.Equal(t, reports.VerdictPass, rep.Verdict)
	assert.Equal(t, udpURL+"?transport=udp", rep.Target)
}

// TestBenchIPv6: turn:[::1]:P against an IPv6-only natkit relay, with
// natkit peer on [::1]; an IPv4 --peer there is a usage error (exit 2)
// that names the flag, after the report is written.
func TestBenchIPv6(t *testing.T) {
	if pc, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		pc.Close()
	}
	srv, err := relay.New(relay.Config{
		Listen: []relay.Listener{{Network: "udp", Addr: "[::1]:0"}, {Network: "tcp", Addr: "[::1]:0"}},
		Users:  map[string]string{"u": "p"},
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"),
			netip.MustParsePrefix("::1/128")}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	udpURL, tcpURL := "turn:"+srv.Addrs()[0].Addr, "turn:"+srv.Addrs()[1].Addr+"?transport=tcp"
	peer6, peer4 := startEchoPeerOn(t, "[::1]:0"), startEchoPeer(t)
	dir := t.TempDir()
	common := []string{"--user", "u", "--credential", "p", "--allocations", "2", "--pps", "20", "--duration", "300ms", "--drain", "300ms"}
	for i, url := range []string{udpURL, tcpURL} {
		path := filepath.Join(dir, fmt.Sprintf("ok%d.json", i))
		code, out, stderr := runNatkit(t, context.Background(), append([]string{"bench", url, "--peer", peer6, "--report", path}, common...)...)
		require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
		assert.Equal(t, reports.VerdictPass, readReport(t, path).Verdict)
	}
	path := filepath.Join(dir, "mixed.json")
	code, _, stderr := runNatkit(t, context.Background(), append([]string{"bench", udpURL, "--peer", peer4, "--report", path}, common...)...)
	require.Equal(t, exitUsage, code, stderr)
	assert.Contains(t, stderr, "--peer "+peer4+" is IPv4 but the relay gave the IPv6 relayed address")
	assert.Contains(t, readReport(t, path).Summary, "--peer", "the report is still written")
	code, _, stderr = runNatkit(t, context.Background(), append([]string{"bench", udpURL, "--peer", peer4, "--relay-family", "ipv6"}, common...)...)
	require.Equal(t, exitUsage, code, stderr)
	assert.Contains(t, stderr, "--peer")
	code, _, stderr = runNatkit(t, context.Background(), append([]string{"bench", udpURL, "--pair", "--relay-family", "ipv5"}, common...)...)
	require.Equal(t, exitUsage, code, stderr)
	assert.Contains(t, stderr, "--relay-family")
	code, out, stderr := runNatkit(t, context.Background(), "peer", "--listen", "[::1]:0", "--duration", "100ms")
	require.Equal(t, exitPass, code, stderr)
	assert.Contains(t, out, "echoing UDP on [::1]:")
}
