package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
		{[]string{"--pprof", ":6060"}, `--pprof ":6060": name the host`},
		{[]string{"--pprof", "host:6060"}, `--pprof "host:6060": host "host": want an IP address or localhost`},
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

// TestSignalPprof: --pprof serves /debug/pprof/ on its own address, and
// the signaling port does not serve it.
func TestSignalPprof(t *testing.T) {
	port := externaltest.FreeTCPPort(t, "127.0.0.1")
	pport := externaltest.FreeTCPPort(t, "127.0.0.1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var out string
	go func() {
		code, stdout, _ := runNatkit(t, ctx, "signal", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--pprof", fmt.Sprintf("127.0.0.1:%d", pport))
		out = stdout
		done <- code
	}()
	externaltest.WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	code, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", pport))
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "goroutine")
	code, body = httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", port))
	require.NotContains(t, body, "goroutine", "the signaling port serves no profiles (status %d)", code)
	cancel()
	require.Equal(t, exitPass, <-done)
	require.Contains(t, out, fmt.Sprintf("pprof:       http://127.0.0.1:%d/debug/pprof/", pport))
}

// TestSignalTLSMetricsAndEnv: --tls-cert/--tls-key serve wss, --metrics
// serves Prometheus on its own address, NATKIT_TURN_SECRET enables the
// token endpoint.
func TestSignalTLSMetricsAndEnv(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile)
	t.Setenv("NATKIT_TURN_SECRET", "from-env")
	port := externaltest.FreeTCPPort(t, "127.0.0.1")
	mport := externaltest.FreeTCPPort(t, "127.0.0.1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		code, _, _ := runNatkit(t, ctx, "signal", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--tls-cert", certFile, "--tls-key", keyFile,
			"--metrics", fmt.Sprintf("127.0.0.1:%d", mport), "--turn-url", "turn:127.0.0.1:3478")
		done <- code
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	externaltest.WaitTCP(t, addr, 5*time.Second)
	externaltest.WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", mport), 5*time.Second)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed test certificate
	resp, err := hc.Get("https://" + addr + "/v1/ice-servers?user=env")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	mac := hmac.New(sha1.New, []byte("from-env"))
	var creds struct{ Username, Password string }
	require.NoError(t, json.Unmarshal(body, &creds))
	mac.Write([]byte(creds.Username))
	require.Equal(t, base64.StdEncoding.EncodeToString(mac.Sum(nil)), creds.Password)

	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	c, err := client.Dial(dctx, "wss://"+addr+"/ws", &client.Options{HTTPClient: hc})
	require.NoError(t, err)
	_, err = c.Join(dctx, "tls", client.JoinOptions{})
	require.NoError(t, err)

	resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), "natkit_signal_connections 1")
	require.Contains(t, string(body), "go_goroutines")
	c.Abort()
	cancel()
	require.Equal(t, exitPass, <-done)
}

func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
}
