package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/relay"
	"github.com/natkit/natkit/reports"
)

// lockedBuffer is written by the running command while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// relayRun is a `natkit relay` running in-process until cancel.
type relayRun struct {
	stdout, stderr *lockedBuffer
	cancel         context.CancelFunc
	done           chan int
	banner         string
}

// startRelayCommand runs `natkit relay --drain-timeout 50ms args...`
// (allocations the test leaves open would hold it 5s) and waits for its start
// banner (the `try: natkit gather` line ends it). It goes to stdout with
// the text format and to stderr with the others.
func startRelayCommand(t *testing.T, args ...string) *relayRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &relayRun{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() {
		r.done <- run(ctx, append([]string{"relay", "--drain-timeout", "50ms"}, args...), strings.NewReader(""), r.stdout, r.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("natkit relay did not stop")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range []string{r.stdout.String(), r.stderr.String()} {
			if i := strings.Index(s, "try: natkit gather"); i >= 0 && strings.Contains(s[i:], "\n") {
				r.banner = s
				return r
			}
		}
		select {
		case code := <-r.done:
			r.done <- code // for the cleanup
			t.Fatalf("natkit relay exited %d before its banner: %s%s", code, r.stdout, r.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner from natkit relay: %s%s", r.stdout, r.stderr)
		}
	}
}

// stop cancels the command (Ctrl-C) and returns its exit code.
func (r *relayRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		r.done <- code // for the cleanup
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("natkit relay did not stop after cancel")
		return -1
	}
}

// iceServers parses the ICE servers JSON printed in the banner.
// iceEntry is one RTCIceServer entry of the banner's JSON.
type iceEntry struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username"`
	Credential string   `json:"credential"`
}

func (r *relayRun) iceServers(t *testing.T) []iceEntry {
	t.Helper()
	_, rest, ok := strings.Cut(r.banner, "ICE servers (valid ")
	require.True(t, ok, r.banner)
	_, rest, ok = strings.Cut(rest, "\n")
	require.True(t, ok)
	js, _, ok := strings.Cut(rest, "\ntry: ")
	require.True(t, ok, r.banner)
	var doc struct {
		ICEServers []iceEntry `json:"iceServers"`
	}
	require.NoError(t, json.Unmarshal([]byte(js), &doc), js)
	return doc.ICEServers
}

// bannerValue returns the rest of the banner line that starts with prefix.
func (r *relayRun) bannerValue(t *testing.T, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(r.banner, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("banner has no line %q: %s", prefix, r.banner)
	return ""
}

// turnClient connects pion's TURN client to server over UDP.
func turnClient(t *testing.T, server, user, pass string) *turn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Username: user, Password: pass,
		Realm: relay.DefaultRealm, Conn: conn, RTO: 200 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); conn.Close() })
	require.NoError(t, c.Listen())
	return c
}

// allocate allocates a UDP relayed address on server with pion's client.
func allocate(t *testing.T, server, user, pass string) (net.PacketConn, error) {
	t.Helper()
	rc, err := turnClient(t, server, user, pass).Allocate()
	if err == nil {
		t.Cleanup(func() { rc.Close() })
	}
	return rc, err
}

// relayToLoopbackPeer sends a datagram through the allocation to a peer on
// 127.0.0.1 and reports whether the peer received it and could answer.
func relayToLoopbackPeer(t *testing.T, rc net.PacketConn) error {
	t.Helper()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer peer.Close()
	if _, err := rc.WriteTo([]byte("ping"), peer.LocalAddr()); err != nil {
		return err
	}
	buf := make([]byte, 64)
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(3*time.Second)))
	n, from, err := peer.ReadFrom(buf)
	if err != nil {
		return err
	}
	require.Equal(t, "ping", string(buf[:n]))
	require.Equal(t, rc.LocalAddr().String(), from.String(), "the peer sees the relayed address")
	_, err = peer.WriteTo([]byte("pong"), from)
	require.NoError(t, err)
	require.NoError(t, rc.SetReadDeadline(time.Now().Add(3*time.Second)))
	n, _, err = rc.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, "pong", string(buf[:n]))
	return nil
}

func udpListen(t *testing.T) (string, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", externaltest.FreePort(t, "127.0.0.1"))
	return addr, "udp://" + addr
}

// TestRelayDefaultsPrintWorkingICEServers: with no credential flags the
// relay generates a secret and a test user; the printed ICE servers and the
// generated user both allocate, and the gather line carries the same
// credentials. Ctrl-C exits 0 with the summary report written.
func TestRelayDefaultsPrintWorkingICEServers(t *testing.T) {
	addr, listen := udpListen(t)
	tcpAddr := fmt.Sprintf("127.0.0.1:%d", externaltest.FreeTCPPort(t, "127.0.0.1"))
	reportFile := filepath.Join(t.TempDir(), "relay.json")
	r := startRelayCommand(t, "--listen", listen, "--listen", "tcp://"+tcpAddr, "--report", reportFile)
	assert.Contains(t, r.banner, fmt.Sprintf("natkit relay listening on udp://%s, tcp://%s (realm natkit)", addr, tcpAddr))

	ice := r.iceServers(t)
	require.Len(t, ice, 2, "one stun: and one turn: entry")
	assert.Equal(t, []string{"stun:" + addr}, ice[0].URLs)
	assert.Equal(t, []string{"turn:" + addr + "?transport=udp", "turn:" + tcpAddr + "?transport=tcp"}, ice[1].URLs)
	assert.True(t, strings.HasSuffix(ice[1].Username, ":natkit"), "REST username expiry:user, got %q", ice[1].Username)
	gather := r.bannerValue(t, "try: ")
	assert.Equal(t, fmt.Sprintf("natkit gather 'turn:%s?transport=udp' --user '%s' --credential '%s'", addr, ice[1].Username, ice[1].Credential), gather)

	rc, err := allocate(t, addr, ice[1].Username, ice[1].Credential)
	require.NoError(t, err, "the printed REST credentials allocate")
	require.NoError(t, rc.Close())

	secret := r.bannerValue(t, "generated TURN REST shared secret:")
	require.NotEmpty(t, secret)
	u, p, err := turn.GenerateLongTermTURNRESTCredentials(secret, "other", time.Hour)
	require.NoError(t, err)
	_, err = allocate(t, addr, u, p)
	require.NoError(t, err, "the printed secret mints working credentials")

	user, pass, ok := strings.Cut(r.bannerValue(t, "generated static test user:"), ":")
	require.True(t, ok)
	_, err = allocate(t, addr, user, pass)
	require.NoError(t, err, "the generated static user allocates")
	_, err = allocate(t, addr, user, pass+"x")
	require.Error(t, err, "a wrong password does not")

	require.Equal(t, exitPass, r.stop(t), r.stderr.String())
	rep := readReport(t, reportFile)
	assert.Equal(t, "relay", rep.Kind)
	assert.Equal(t, reports.VerdictPass, rep.Verdict)
	assert.Contains(t, rep.Summary, "served 3 allocations")
	var st relay.Stats
	require.NoError(t, rep.DecodeDetails(&st))
	assert.EqualValues(t, 3, st.Allocations[relay.OutcomeCreated])
	assert.EqualValues(t, 1, st.Allocations[relay.OutcomeUnauthorized])
	assert.Contains(t, r.stdout.String(), "served 3 allocations", "the text summary goes to stdout")
}

// TestRelayCredentialFlags: --user, --secret (repeatable, for rotation)
// and NATKIT_TURN_SECRET each allocate; with explicit credentials nothing
// is generated.
func TestRelayCredentialFlags(t *testing.T) {
	t.Setenv("NATKIT_TURN_SECRET", "env-secret")
	addr, listen := udpListen(t)
	r := startRelayCommand(t, "--listen", listen, "--user", "alice:wonder", "--secret", "old", "--secret", "new", "--format", "json")
	assert.NotContains(t, r.banner, "generated")
	assert.Empty(t, r.stdout.String(), "the banner goes to stderr with --format json")

	rest := func(secret string) (string, string) {
		u, p, err := turn.GenerateLongTermTURNRESTCredentials(secret, "bob", time.Hour)
		require.NoError(t, err)
		return u, p
	}
	expiredUser, expiredPass, err := turn.GenerateLongTermTURNRESTCredentials("new", "bob", -time.Minute)
	require.NoError(t, err)
	tests := []struct {
		name       string
		user, pass string
		ok         bool
	}{
		{"static user", "alice", "wonder", true},
		{"static user wrong password", "alice", "wander", false},
		{"first secret", "", "old", true},
		{"second secret", "", "new", true},
		{"NATKIT_TURN_SECRET", "", "env-secret", true},
		{"unknown secret", "", "other", false},
		{"expired REST username", expiredUser, expiredPass, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, pass := tt.user, tt.pass
			if user == "" {
				user, pass = rest(tt.pass)
			}
			_, err := allocate(t, addr, user, pass)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
	ice := r.iceServers(t)
	_, err = allocate(t, addr, ice[len(ice)-1].Username, ice[len(ice)-1].Credential)
	require.NoError(t, err, "the printed ICE servers are minted from the first --secret")

	require.Equal(t, exitPass, r.stop(t), r.stderr.String())
	var rep reports.Report
	require.NoError(t, json.Unmarshal([]byte(r.stdout.String()), &rep), r.stdout.String())
	var st relay.Stats
	require.NoError(t, rep.DecodeDetails(&st))
	assert.EqualValues(t, 5, st.Allocations[relay.OutcomeCreated])
	assert.EqualValues(t, 2, st.AuthFailures["wrong_password"], "static user and unknown secret")
	assert.EqualValues(t, 1, st.AuthFailures["expired"])
}

// TestRelayAltIPAnswersChangeRequest: with --alt-ip 127.0.0.2 a Binding
// request with CHANGE-REQUEST gets its answer from the other IP and port,
// and responses carry OTHER-ADDRESS.
func TestRelayAltIPAnswersChangeRequest(t *testing.T) {
	port := externaltest.FreePortPair(t, "127.0.0.1", externaltest.AltIP)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	r := startRelayCommand(t, "--listen", "udp://"+addr, "--alt-ip", "127.0.0.2", "--user", "a:b")
	other := fmt.Sprintf("127.0.0.2:%d", port+1)
	assert.Contains(t, r.banner, "RFC 5780: alternate address "+other)

	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer conn.Close()
	server, err := net.ResolveUDPAddr("udp4", addr)
	require.NoError(t, err)
	tests := []struct {
		name       string
		change     []byte
		wantOrigin string
	}{
		{"no change", nil, addr},
		{"change port", []byte{0, 0, 0, 2}, fmt.Sprintf("127.0.0.1:%d", port+1)},
		{"change ip", []byte{0, 0, 0, 4}, fmt.Sprintf("127.0.0.2:%d", port)},
		{"change both", []byte{0, 0, 0, 6}, other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setters := []stun.Setter{stun.TransactionID, stun.BindingRequest}
			if tt.change != nil {
				setters = append(setters, stun.RawAttribute{Type: stun.AttrChangeRequest, Value: tt.change})
			}
			req := stun.MustBuild(setters...)
			_, err := conn.WriteTo(req.Raw, server)
			require.NoError(t, err)
			buf := make([]byte, 1500)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(3*time.Second)))
			n, from, err := conn.ReadFrom(buf)
			require.NoError(t, err)
			assert.Equal(t, tt.wantOrigin, from.String(), "answered from")
			m := &stun.Message{Raw: buf[:n]}
			require.NoError(t, m.Decode())
			assert.Equal(t, stun.BindingSuccess, m.Type)
			var xor stun.XORMappedAddress
			require.NoError(t, xor.GetFrom(m))
			assert.Equal(t, conn.LocalAddr().String(), xor.String())
			var oa stun.OtherAddress
			require.NoError(t, oa.GetFrom(m))
			assert.Equal(t, other, oa.String())
			var ro stun.ResponseOrigin
			require.NoError(t, ro.GetFrom(m))
			assert.Equal(t, tt.wantOrigin, ro.String())
		})
	}
}

// TestRelayMetrics: --metrics serves /healthz and Prometheus /metrics that
// count the relay's allocations.
func TestRelayMetrics(t *testing.T) {
	addr, listen := udpListen(t)
	maddr := fmt.Sprintf("127.0.0.1:%d", externaltest.FreeTCPPort(t, "127.0.0.1"))
	r := startRelayCommand(t, "--listen", listen, "--user", "a:b", "--metrics", maddr)
	assert.Contains(t, r.banner, "metrics: http://"+maddr+"/metrics")
	_, err := allocate(t, addr, "a", "b")
	require.NoError(t, err)
	_, err = allocate(t, addr, "a", "wrong")
	require.Error(t, err)

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + maddr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	code, _ := get("/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, body := get("/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		"natkit_relay_allocations_active 1",
		`natkit_relay_allocations_total{outcome="created"} 1`,
		`natkit_relay_auth_failures_total{reason="wrong_password"} 1`,
		"go_goroutines", "process_cpu_seconds_total",
	} {
		assert.Contains(t, body, want)
	}
	require.Equal(t, exitPass, r.stop(t))
}

// TestRelayPprof: --pprof serves /debug/pprof/ on its own address; without
// it nothing answers there, not even on the --metrics listener.
func TestRelayPprof(t *testing.T) {
	_, listen := udpListen(t)
	paddr := fmt.Sprintf("127.0.0.1:%d", externaltest.FreeTCPPort(t, "127.0.0.1"))
	r := startRelayCommand(t, "--listen", listen, "--user", "a:b", "--pprof", paddr)
	assert.Contains(t, r.banner, "pprof: http://"+paddr+"/debug/pprof/")
	code, body := httpGet(t, "http://"+paddr+"/debug/pprof/")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "goroutine")
	code, body = httpGet(t, "http://"+paddr+"/debug/pprof/goroutine?debug=1")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "relay.")
	require.Equal(t, exitPass, r.stop(t))

	_, listen = udpListen(t)
	maddr := fmt.Sprintf("127.0.0.1:%d", externaltest.FreeTCPPort(t, "127.0.0.1"))
	r = startRelayCommand(t, "--listen", listen, "--user", "a:b", "--metrics", maddr)
	assert.NotContains(t, r.banner, "pprof")
	code, _ = httpGet(t, "http://"+maddr+"/debug/pprof/")
	assert.Equal(t, http.StatusNotFound, code, "pprof is off by default")
	_, err := net.DialTimeout("tcp", paddr, time.Second)
	assert.Error(t, err, "the earlier pprof listener is closed")
	require.Equal(t, exitPass, r.stop(t))
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url) //nolint:gosec // the test's own loopback server
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// TestRelayAllowPeer: loopback peers are refused by default and relayed
// with --allow-peer 127.0.0.0/8; --deny-peer still wins over the default
// allow of public addresses.
func TestRelayAllowPeer(t *testing.T) {
	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"default policy refuses loopback", nil, false},
		{"allow-peer opens loopback", []string{"--allow-peer", "127.0.0.0/8"}, true},
		{"allow-peer single IP", []string{"--allow-peer", "127.0.0.1"}, true},
		{"allow-peer other range", []string{"--allow-peer", "10.0.0.0/8"}, false},
		{"two event loops and sockets", []string{"--allow-peer", "127.0.0.0/8", "--loops", "2", "--sockets", "2"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, listen := udpListen(t)
			reportFile := filepath.Join(t.TempDir(), "r.json")
			r := startRelayCommand(t, append([]string{"--listen", listen, "--user", "a:b", "--report", reportFile}, tt.args...)...)
			rc, err := allocate(t, addr, "a", "b")
			require.NoError(t, err)
			err = relayToLoopbackPeer(t, rc)
			require.NoError(t, rc.Close())
			require.Equal(t, exitPass, r.stop(t))
			var st relay.Stats
			require.NoError(t, readReport(t, reportFile).DecodeDetails(&st))
			if tt.ok {
				require.NoError(t, err)
				assert.EqualValues(t, 1, st.PacketsToPeer)
				assert.EqualValues(t, 1, st.PacketsToClient)
			} else {
				require.Error(t, err)
				assert.Positive(t, st.PermissionsDenied[relay.RuleLoopback])
				assert.Zero(t, st.PacketsToPeer)
			}
		})
	}
}

// TestRelayDrainsOnCancel: cancelling with a live allocation waits up to
// --drain-timeout, then exits 0 and writes every --report file.
func TestRelayDrainsOnCancel(t *testing.T) {
	addr, listen := udpListen(t)
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "r.json"), filepath.Join(dir, "r.md")}
	r := startRelayCommand(t, "--listen", listen, "--user", "a:b", "--drain-timeout", "300ms", // the last one wins
		"--report", files[0], "--report", files[1])
	_, err := allocate(t, addr, "a", "b")
	require.NoError(t, err)
	start := time.Now()
	require.Equal(t, exitPass, r.stop(t), r.stderr.String())
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "waited for the live allocation")
	rep := readReport(t, files[0])
	var events []string
	for _, e := range rep.Events {
		events = append(events, e.Detail)
	}
	assert.Contains(t, events, "1 allocations left at stop")
	md, err := os.ReadFile(files[1])
	require.NoError(t, err)
	assert.Contains(t, string(md), "served 1 allocations")

	// --duration stops by itself, with nothing to drain.
	_, listen2 := udpListen(t)
	code, out, stderr := runNatkit(t, context.Background(), "relay", "--listen", listen2, "--user", "a:b", "--duration", "100ms", "--format", "json")
	require.Equal(t, exitPass, code, stderr)
	assert.Contains(t, stderr, "natkit relay listening on "+listen2)
	var rep2 reports.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep2))
	assert.Contains(t, rep2.Summary, "served 0 allocations")
}

func TestRelayBadFlags(t *testing.T) {
	dir := t.TempDir()
	badUsers := filepath.Join(dir, "users")
	require.NoError(t, os.WriteFile(badUsers, []byte("# ok\nalice:pw\nbob\n"), 0o600))
	notPEM := filepath.Join(dir, "cert.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	busy, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	_, listen := udpListen(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"listen scheme", []string{"--listen", "http://127.0.0.1:3478"}, `--listen "http://127.0.0.1:3478"`},
		{"listen no port", []string{"--listen", "udp://127.0.0.1"}, `--listen "udp://127.0.0.1"`},
		{"dtls without certificate", []string{"--listen", "dtls://127.0.0.1:0"}, "--listen dtls://127.0.0.1:0: a dtls:// listener needs --tls-cert and --tls-key"},
		{"listen sctp", []string{"--listen", "sctp://127.0.0.1:5349"}, `want udp, tcp, tls or dtls`},
		{"port range order", []string{"--port-range", "6000-5000"}, `--port-range "6000-5000": want MIN-MAX`},
		{"port range word", []string{"--port-range", "many"}, `--port-range "many"`},
		{"port range too high", []string{"--port-range", "1000-70000"}, `--port-range "1000-70000"`},
		{"port range zero", []string{"--port-range", "0-10"}, `--port-range "0-10"`},
		{"allow-peer CIDR", []string{"--allow-peer", "10.0.0.0/33"}, `--allow-peer "10.0.0.0/33": want a CIDR`},
		{"deny-peer CIDR", []string{"--deny-peer", "nope"}, `--deny-peer "nope"`},
		{"alt-ip", []string{"--alt-ip", "127.0.0.300"}, `--alt-ip "127.0.0.300": not an IP address`},
		{"public-ip", []string{"--public-ip", "host"}, `--public-ip "host"`},
		{"relay-ip", []string{"--relay-ip", "1.2.3"}, `--relay-ip "1.2.3"`},
		{"relay-ipv6 not ipv6", []string{"--relay-ipv6", "127.0.0.1"}, `--relay-ipv6 "127.0.0.1": want a concrete IPv6 address`},
		{"alt-port", []string{"--alt-port", "70000"}, "--alt-port 70000"},
		{"user without colon", []string{"--user", "alice"}, `--user "alice:…": want NAME:PASS`},
		{"user empty password", []string{"--user", "alice:"}, "--user"},
		{"users-file missing", []string{"--users-file", filepath.Join(dir, "nope")}, "--users-file " + filepath.Join(dir, "nope")},
		{"users-file bad line", []string{"--users-file", badUsers}, "--users-file " + badUsers + ":3: want NAME:PASS"},
		{"empty secret", []string{"--secret", ""}, "--secret #1: empty shared secret"},
		{"empty realm", []string{"--realm", ""}, "--realm"},
		{"tls-cert unreadable", []string{"--tls-cert", filepath.Join(dir, "missing.pem"), "--tls-key", filepath.Join(dir, "missing.key")}, "--tls-cert " + filepath.Join(dir, "missing.pem")},
		{"tls-cert not PEM", []string{"--tls-cert", notPEM, "--tls-key", notPEM}, "--tls-cert " + notPEM},
		{"tls-cert without key", []string{"--tls-cert", notPEM}, "--tls-cert and --tls-key"},
		{"max-allocations", []string{"--max-allocations", "-1"}, "--max-allocations -1"},
		{"user-quota", []string{"--user-quota", "-2"}, "--user-quota -2"},
		{"max-lifetime", []string{"--max-lifetime", "10ms"}, "--max-lifetime 10ms"},
		{"bandwidth-limit", []string{"--bandwidth-limit", "-5"}, "--bandwidth-limit -5"},
		{"max-rest-ttl", []string{"--max-rest-ttl", "10s", "--ice-ttl", "5s"}, `--max-rest-ttl "10s": want at least 1m`},
		{"nonce-lifetime", []string{"--nonce-lifetime", "100ms"}, `--nonce-lifetime "100ms": want at least 1s`},
		{"auth-timeout", []string{"--auth-timeout", "1ms"}, `--auth-timeout "1ms": want at least 10ms`},
		{"ice-ttl beyond max-rest-ttl", []string{"--max-rest-ttl", "1h"}, "--ice-ttl 24h0m0s: longer than --max-rest-ttl 1h0m0s"},
		{"sockets", []string{"--sockets", "0"}, "--sockets 0"},
		{"loops", []string{"--loops", "-1"}, "--loops -1: want 0 (automatic) to 64"},
		{"metrics", []string{"--metrics", "9090"}, `--metrics "9090": want HOST:PORT`},
		{"pprof without host", []string{"--pprof", ":6060"}, `--pprof ":6060": name the host`},
		{"pprof not an address", []string{"--pprof", "6060"}, `--pprof "6060": want HOST:PORT`},
		{"pprof port", []string{"--pprof", "127.0.0.1:70000"}, `--pprof "127.0.0.1:70000": port`},
		{"duration", []string{"--duration", "-1s"}, "--duration"},
		{"format", []string{"--format", "yaml"}, "--format"},
		{"argument", []string{"extra"}, "unknown command"},
		{"unknown flag", []string{"--frobnicate"}, "unknown flag: --frobnicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"relay"}, tt.args...)
			if !strings.HasPrefix(tt.name, "listen") {
				args = append(args, "--listen", listen)
			}
			code, out, stderr := runNatkit(t, context.Background(), args...)
			assert.Equal(t, exitUsage, code, "stdout %s stderr %s", out, stderr)
			assert.Contains(t, stderr, tt.want)
			assert.NotContains(t, out, "listening", "no relay started")
		})
	}
	// A busy address is not bad input but cannot run (3); the message
	// names the listener.
	code, _, stderr := runNatkit(t, context.Background(), "relay", "--listen", "udp://"+busy.LocalAddr().String())
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, stderr, "relay listen udp://"+busy.LocalAddr().String())
}

// TestRelayHardeningFlags: --auth-timeout closes a silent TCP connection,
// --max-rest-ttl refuses a REST username expiring beyond it while the
// printed (shorter) credentials work, and the report counts both.
func TestRelayHardeningFlags(t *testing.T) {
	addr, listen := udpListen(t)
	tcpAddr := fmt.Sprintf("127.0.0.1:%d", externaltest.FreeTCPPort(t, "127.0.0.1"))
	reportFile := filepath.Join(t.TempDir(), "r.json")
	r := startRelayCommand(t, "--listen", listen, "--listen", "tcp://"+tcpAddr, "--secret", "s3cret",
		"--auth-timeout", "200ms", "--max-rest-ttl", "2h", "--ice-ttl", "1h", "--nonce-lifetime", "1m", "--report", reportFile)

	silent, err := net.Dial("tcp4", tcpAddr)
	require.NoError(t, err)
	defer silent.Close()
	require.NoError(t, silent.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadAll(silent)
	require.NoError(t, err, "--auth-timeout did not close a silent connection")

	try := regexp.MustCompile(`--user '([^']+)' --credential '([^']+)'`).FindStringSubmatch(r.bannerValue(t, "try: "))
	require.Len(t, try, 3, r.banner)
	_, err = allocate(t, addr, try[1], try[2])
	require.NoError(t, err, "the printed credentials (1h) are within --max-rest-ttl")
	user, pass, err := turn.GenerateLongTermTURNRESTCredentials("s3cret", "far", 3*time.Hour)
	require.NoError(t, err)
	_, err = allocate(t, addr, user, pass)
	require.Error(t, err, "a REST username expiring in 3h is beyond --max-rest-ttl 2h")

	require.Equal(t, exitPass, r.stop(t))
	var st relay.Stats
	require.NoError(t, readReport(t, reportFile).DecodeDetails(&st))
	assert.EqualValues(t, 1, st.AuthTimeouts)
	assert.Positive(t, st.AuthFailures[relay.ReasonExpiryTooFar])
}
