package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/probe/audit"
	"github.com/natkit/natkit/relay"
	"github.com/natkit/natkit/reports"
)

func startAuditRelay(t *testing.T, cfg relay.Config) string {
	t.Helper()
	cfg.Listen = []relay.Listener{{Network: relay.NetworkUDP, Addr: "127.0.0.1:0"}}
	srv, err := relay.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Addrs()[0].Addr
}

func TestAuditBadInput(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"stun url", []string{"audit", "stun:127.0.0.1:3478"}, "an audit needs a turn: or turns: server"},
		{"sink not local", []string{"audit", "turn:127.0.0.1:3478", "--user", "u", "--credential", "p", "--sink", "192.0.2.1:9"}, "the sink must be an address of this host"},
		{"fail-on", []string{"audit", "turn:127.0.0.1:3478", "--user", "u", "--credential", "p", "--fail-on", "critical"}, `--fail-on "critical": want high, medium or low`},
		{"no credentials", []string{"audit", "turn:127.0.0.1:3478"}, "credential"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runNatkit(t, ctx, tc.args...)
			require.Equal(t, exitUsage, code, stderr)
			require.Contains(t, stderr, tc.want)
		})
	}
}

func TestAuditWrongCredentialsExitsTwoWithReport(t *testing.T) {
	addr := startAuditRelay(t, relay.Config{Secrets: []string{"right"}})
	out := filepath.Join(t.TempDir(), "audit.json")
	code, stdout, stderr := runNatkit(t, context.Background(), "audit", "turn:"+addr, "--secret", "wrong", "--idle-wait", "200ms", "--report", out)
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "401")
	require.Contains(t, stdout, "refused the audit's credentials")
	_, err := os.Stat(out)
	require.NoError(t, err, "the report is written")
}

func TestAuditUnreachableExitsThree(t *testing.T) {
	port := externaltest.FreeUDPPort(t, "127.0.0.1")
	code, stdout, stderr := runNatkit(t, context.Background(), "audit", "turn:127.0.0.1:"+strconv.Itoa(port), "--user", "u", "--credential", "p", "--timeout", "300ms", "--idle-wait", "200ms")
	require.Equal(t, exitCannotRun, code, stderr)
	require.Contains(t, stdout, "no answer from 127.0.0.1:"+strconv.Itoa(port))
}

// An open peer policy is a high finding: exit 1 at --fail-on high, and the
// JSON report names the fix. The servers come as an RTCConfiguration.
func TestAuditFindingsSetExitCode(t *testing.T) {
	addr := startAuditRelay(t, relay.Config{Secrets: []string{"s3"}, PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	dir := t.TempDir()
	ice := filepath.Join(dir, "ice.json")
	require.NoError(t, os.WriteFile(ice, []byte(`{"iceServers":[{"urls":["stun:`+addr+`","turn:`+addr+`"]}]}`), 0o600))
	out := filepath.Join(dir, "audit.json")
	start := time.Now()
	code, stdout, stderr := runNatkit(t, context.Background(), "audit", "--ice-servers", ice, "--secret", "s3", "--fail-on", "high", "--idle-wait", "200ms", "--report", out)
	require.Equal(t, exitCheckFailed, code, stderr)
	require.Less(t, time.Since(start), 30*time.Second)
	require.Contains(t, stdout, "peer policy: ipv4 loopback 127.0.0.1")
	require.Contains(t, stdout, "the sink received the datagram")
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	rep, err := reports.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	require.Equal(t, audit.ReportKind, rep.Kind)
	var res audit.Result
	require.NoError(t, json.Unmarshal(rep.Details, &res))
	found := false
	for _, c := range res.Checks {
		if c.ID == "peer/127.0.0.1" {
			found = true
			require.Equal(t, audit.VerdictFinding, c.Verdict)
			require.Contains(t, c.Fix.NatkitRelay, "--allow-peer")
			require.Contains(t, c.Fix.Coturn, "allow-loopback-peers")
		}
	}
	require.True(t, found)
}
