package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/probe/gather"
	"github.com/natkit/natkit/relay"
	"github.com/natkit/natkit/reports"
)

const testSecret = "north-wind"

// startLoopbackRelay runs natkit's relay on 127.0.0.1 (UDP and TCP) with a
// static user alice/right and the shared secret testSecret.
func startLoopbackRelay(t *testing.T) int {
	t.Helper()
	port := externaltest.FreePort(t, "127.0.0.1")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	srv, err := relay.New(relay.Config{
		Listen:  []relay.Listener{{Network: relay.NetworkUDP, Addr: addr}, {Network: relay.NetworkTCP, Addr: addr}},
		Users:   map[string]string{"alice": "right"},
		Secrets: []string{testSecret},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return port
}

// runWithStdin runs the CLI with stdin.
func runWithStdin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func decodeGather(t *testing.T, out string) (*reports.Report, *gather.Result) {
	t.Helper()
	var rep reports.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	var res gather.Result
	require.NoError(t, rep.DecodeDetails(&res))
	return &rep, &res
}

func TestGatherCommand(t *testing.T) {
	port := startLoopbackRelay(t)
	turnURL := fmt.Sprintf("turn:127.0.0.1:%d", port)
	stunURL := fmt.Sprintf("stun:127.0.0.1:%d", port)
	tcpURL := turnURL + "?transport=tcp"

	restUser, restPass, err := turn.GenerateLongTermTURNRESTCredentials(testSecret, "ci", time.Hour)
	require.NoError(t, err)
	expUser, expPass, err := turn.GenerateLongTermTURNRESTCredentials(testSecret, "ci", -time.Hour)
	require.NoError(t, err)
	provider := fmt.Sprintf(`{"account_sid":"AC1","ice_servers":[{"url":%q,"urls":%q},{"url":%q,"urls":%q,"username":%q,"credential":%q}],"ttl":"3600"}`,
		stunURL, stunURL, turnURL, turnURL, restUser, restPass)
	restBody := fmt.Sprintf(`{"username":%q,"password":%q,"ttl":3600,"uris":[%q,%q]}`, restUser, restPass, turnURL, tcpURL)
	expired := fmt.Sprintf(`{"iceServers":[{"urls":[%q],"username":%q,"credential":%q}]}`, turnURL, expUser, expPass)
	token := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("key") != "k1" {
			http.Error(w, "bad key", http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte(restBody))
	}))
	t.Cleanup(token.Close)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "rtc.json")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(`{"iceServers":[{"urls":%q},{"urls":[%q,%q],"username":"alice","credential":"right"}]}`, stunURL, turnURL, tcpURL)), 0o600))

	tests := []struct {
		name    string
		stdin   string
		args    []string
		code    int
		relay   bool
		causes  []gather.Cause
		message string
	}{
		{name: "static user, udp and tcp", args: []string{stunURL, turnURL, tcpURL, "--user", "alice", "--credential", "right", "--expect", "relay", "--expect", "srflx"},
			code: 0, relay: true, causes: []gather.Cause{gather.CauseSTUNOK, gather.CauseTURNOK, gather.CauseTURNOK}},
		{name: "wrong password", args: []string{turnURL, "--user", "alice", "--credential", "wrong", "--expect", "relay"},
			code: 1, causes: []gather.Cause{gather.CauseUnauthorized}, message: "no relay candidate: " + turnURL + ": 401 Unauthorized: wrong username or password"},
		{name: "provider token on stdin", stdin: provider, args: []string{"--ice-servers", "-", "--expect", "relay"},
			code: 0, relay: true, causes: []gather.Cause{gather.CauseSTUNOK, gather.CauseTURNOK}},
		{name: "rtc configuration file", args: []string{"--ice-servers", cfgFile, "--expect", "relay"},
			code: 0, relay: true, causes: []gather.Cause{gather.CauseSTUNOK, gather.CauseTURNOK, gather.CauseTURNOK}},
		{name: "token url with rest response", args: []string{"--token-url", token.URL + "/ice?key=k1", "--expect", "relay"},
			code: 0, relay: true, causes: []gather.Cause{gather.CauseTURNOK, gather.CauseTURNOK}},
		{name: "shared secret", args: []string{turnURL, "--secret", testSecret, "--rest-user", "ci", "--rest-ttl", "10m", "--expect", "relay"},
			code: 0, relay: true, causes: []gather.Cause{gather.CauseTURNOK}},
		{name: "wrong shared secret", args: []string{turnURL, "--secret", "south-wind", "--expect", "relay"},
			code: 1, causes: []gather.Cause{gather.CauseUnauthorized}, message: "shared secret differs"},
		{name: "expired rest username", stdin: expired, args: []string{"--ice-servers", "-", "--expect", "relay"},
			code: 1, causes: []gather.Cause{gather.CauseExpired}, message: "REST username already expired"},
		{name: "nothing listens", args: []string{"stun:127.0.0.1:9", "--timeout", "1500ms", "--expect", "srflx"},
			code: 1, causes: []gather.Cause{gather.CauseUnreachable}, message: "port unreachable"},
		{name: "tcp refused", args: []string{"turn:127.0.0.1:9?transport=tcp", "--user", "a", "--credential", "b", "--expect", "relay"},
			code: 1, causes: []gather.Cause{gather.CauseConnRefused}, message: "TCP connection refused"},
		{name: "relay policy", args: []string{stunURL, turnURL, "--user", "alice", "--credential", "right", "--policy", "relay", "--expect", "relay"},
			code: 0, relay: true, causes: []gather.Cause{gather.CauseSTUNOK, gather.CauseTURNOK}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runWithStdin(t, tt.stdin, append([]string{"gather", "--format", "json"}, tt.args...)...)
			require.Equal(t, tt.code, code, "stderr: %s\nstdout: %s", stderr, out)
			rep, res := decodeGather(t, out)
			require.Len(t, res.Servers, len(tt.causes))
			for i, c := range tt.causes {
				assert.Equal(t, c, res.Servers[i].Cause, res.Servers[i].Diagnosis)
			}
			assert.Equal(t, tt.relay, res.HasCandidate("relay"))
			if tt.message != "" {
				var msgs []string
				for _, c := range rep.Checks {
					msgs = append(msgs, c.Message)
				}
				assert.Contains(t, strings.Join(msgs, "\n"), tt.message)
			}
			assert.NotContains(t, out, "right", "the password never appears in the report")
			assert.NotContains(t, out, restPass)
			assert.NotContains(t, out, testSecret)
		})
	}
}

func TestGatherTextReport(t *testing.T) {
	port := startLoopbackRelay(t)
	code, out, stderr := runNatkit(t, context.Background(), "gather", fmt.Sprintf("turn:127.0.0.1:%d", port), "--user", "alice", "--credential", "right")
	require.Equal(t, 0, code, stderr)
	for _, col := range gather.CandidateColumns {
		assert.Contains(t, out, col)
	}
	assert.Contains(t, out, "TURN transports")
	// Only the UDP URL was given: TCP on the same port is probed too.
	assert.Regexp(t, `127\.0\.0\.1\s+ok\s+ok \(probed\)\s+not tested`, out)
	assert.Regexp(t, `relay\s+\d+\s+udp\s+IPv4\s+127\.0\.0\.1:\d+`, out)
}

func TestGatherBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"iceServers":[{"urls":["stun:a","turn:b?transport=sctp"]}]}`), 0o600))
	tests := []struct {
		name  string
		stdin string
		args  []string
		msg   string
	}{
		{name: "no input", args: nil, msg: "no ice servers"},
		{name: "bad url", args: []string{"http://x"}, msg: `argument 1 "http://x": invalid scheme "http"`},
		{name: "turn without credentials", args: []string{"turn:127.0.0.1:3478"}, msg: "turn server without credentials"},
		{name: "ipv6 without brackets", args: []string{"stun:2001:db8::1:3478"}, msg: `argument 1 "stun:2001:db8::1:3478": invalid host: an ipv6 address must be in brackets`},
		{name: "field in file", args: []string{"--ice-servers", bad}, msg: `bad.json: iceServers[0].urls[1] "turn:b?transport=sctp": invalid transport "sctp"`},
		{name: "stdin garbage", stdin: "{", args: []string{"--ice-servers", "-"}, msg: "--ice-servers - (stdin): malformed json"},
		{name: "ttl", stdin: `{"ice_servers":[{"url":"stun:a"}],"ttl":"soon"}`, args: []string{"--ice-servers", "-"}, msg: `ttl "soon": invalid ttl`},
		{name: "expect", args: []string{"stun:127.0.0.1", "--expect", "host"}, msg: `--expect "host": want srflx or relay`},
		{name: "policy", args: []string{"stun:127.0.0.1", "--policy", "none"}, msg: `--policy "none"`},
		{name: "relay policy without turn", args: []string{"stun:127.0.0.1", "--policy", "relay"}, msg: "relay policy needs"},
		{name: "timeout", args: []string{"stun:127.0.0.1", "--timeout", "0s"}, msg: "--timeout 0s: must be positive"},
		{name: "secret and user", args: []string{"turn:127.0.0.1", "--secret", "s", "--user", "u", "--credential", "c"}, msg: "conflicting inputs"},
		{name: "token url", args: []string{"--token-url", "ftp://x"}, msg: "--token-url"},
		{name: "format", args: []string{"stun:127.0.0.1", "--format", "pdf"}, msg: `--format "pdf"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runWithStdin(t, tt.stdin, append([]string{"gather"}, tt.args...)...)
			assert.Equal(t, 2, code, "stdout: %s", out)
			assert.Contains(t, stderr, tt.msg)
			assert.Empty(t, out, "nothing is sent or reported on bad input")
		})
	}
}

func TestGatherInterrupted(t *testing.T) {
	// A silent UDP socket: the STUN probe waits until Ctrl-C.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var stdout, stderr strings.Builder
	code := run(ctx, []string{"gather", "stun:" + pc.LocalAddr().String(), "--format", "json"}, strings.NewReader(""), &stdout, &stderr)
	assert.Equal(t, 130, code, stderr.String())
	var rep reports.Report
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &rep))
	assert.Equal(t, reports.VerdictInterrupted, rep.Verdict)
}

// Issue 13 #18: the whole output of `natkit relay` (banner, JSON, "try:"
// line) pasted into --ice-servers - is accepted: gather uses the JSON
// block.
func TestGatherAcceptsThePastedRelayBanner(t *testing.T) {
	_, listen := udpListen(t)
	r := startRelayCommand(t, "--listen", listen)
	code, out, stderr := runWithStdin(t, r.banner, "gather", "--ice-servers", "-", "--format", "json", "--timeout", "3s", "--expect", "relay")
	require.Equal(t, exitPass, code, "stderr: %s\nstdout: %s", stderr, out)
	_, res := decodeGather(t, out)
	require.Len(t, res.Servers, 2)
	assert.Equal(t, gather.CauseSTUNOK, res.Servers[0].Cause, res.Servers[0].Diagnosis)
	assert.Equal(t, gather.CauseTURNOK, res.Servers[1].Cause, res.Servers[1].Diagnosis)

	// Text without a JSON block says what is needed.
	code, _, stderr = runWithStdin(t, "natkit relay listening on udp://127.0.0.1:3478\n", "gather", "--ice-servers", "-")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "give the JSON block alone")
}

// TestGatherAndNatIPv6 runs natkit gather and natkit nat against a
// dual-stack relay reached on [::1].
func TestGatherAndNatIPv6(t *testing.T) {
	pc, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	require.NoError(t, pc.Close())
	srv, err := relay.New(relay.Config{
		Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: fmt.Sprintf("127.0.0.1:%d", port)}, {Network: relay.NetworkUDP, Addr: fmt.Sprintf("[::1]:%d", port)}},
		Users:  map[string]string{"alice": "right"},
	})
	if err != nil {
		t.Skipf("port %d not free on 127.0.0.1 too: %v", port, err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	code, out, stderr := runNatkit(t, context.Background(), "gather", fmt.Sprintf("turn:[::1]:%d?transport=udp", port), "--user", "alice", "--credential", "right")
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `turn:\[::1\]:\d+\?transport=udp\s+IPv6\s+turn-ok`, out)
	assert.Contains(t, out, "family mismatch: the server allocated an IPv4 relay address to a client that reached it over IPv6")
	assert.Contains(t, out, "the server relays over IPv6 too ([::1]:")

	code, out, stderr = runNatkit(t, context.Background(), "nat", "--server", fmt.Sprintf("[::1]:%d", port))
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "[::1]:")
}
