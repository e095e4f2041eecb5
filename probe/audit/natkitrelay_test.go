package audit_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/probe/audit"
	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/relay"
)

const testSecret = "audit-test-secret"

func relayConfig() relay.Config { return relay.Config{Secrets: []string{testSecret}} }

// startRelay runs natkit relay in-process on loopback, UDP only.
func startRelay(t *testing.T, cfg relay.Config) (udp, tcp string) {
	t.Helper()
	srv := startRelayOn(t, cfg, "udp://127.0.0.1:0")
	return srv.Addrs()[0].Addr, ""
}

// startRelayOn runs natkit relay in-process on the given listeners.
func startRelayOn(t *testing.T, cfg relay.Config, listeners ...string) *relay.Server {
	t.Helper()
	for _, l := range listeners {
		pl, err := relay.ParseListener(l)
		require.NoError(t, err)
		cfg.Listen = append(cfg.Listen, pl)
	}
	srv, err := relay.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// server builds the iceconfig.Server the CLI would, with REST credentials
// minted from secret.
func server(t *testing.T, url, secret string) iceconfig.Server {
	t.Helper()
	s, err := iceconfig.ParseURL(url, "test")
	require.NoError(t, err)
	s.Username, s.Credential, err = iceconfig.MintREST(secret, "auditor", time.Hour)
	require.NoError(t, err)
	return s
}

func byID(res *audit.Result) map[string]audit.Check {
	out := map[string]audit.Check{}
	for _, c := range res.Checks {
		out[c.ID] = c
	}
	return out
}

func logFindings(t *testing.T, res *audit.Result) {
	t.Helper()
	for _, c := range res.Checks {
		t.Logf("%-40s %-8s %-6s %s", c.ID, c.Verdict, c.Severity, c.Message)
	}
}

// With an IPv6 relayed address the IPv6 encodings reach the IPv6 peer
// policy: every one is 403.
func TestNatkitRelayPeerPolicyRefusesEveryEncoding(t *testing.T) {
	udp, _ := startRelay(t, relay.Config{Secrets: []string{testSecret}, RelayIPv6: net.ParseIP("::1")})
	res, err := audit.Run(context.Background(), audit.Config{Server: server(t, "turn:"+udp, testSecret), Secret: testSecret, IdleWait: time.Second})
	require.NoError(t, err)
	logFindings(t, res)
	checks := byID(res)
	for _, c := range res.Checks {
		if strings.HasPrefix(c.ID, "peer/") {
			require.Equal(t, audit.VerdictPass, c.Verdict, "%s: %s", c.ID, c.Message)
			require.Contains(t, c.Message, "403")
		}
	}
	require.Equal(t, audit.VerdictPass, checks["unauthenticated-allocate"].Verdict)
	require.Equal(t, audit.VerdictPass, checks["lifetime"].Verdict)
}

// With every range opened, each encoding must be a finding: the check
// tells granted from refused, encoding by encoding.
// The relay has an IPv6 relayed address (RelayIPv6), so the audit tests
// the IPv6 encodings from an IPv6 allocation, where they are granted.
func TestNatkitRelayOpenPolicyIsAFindingForEveryEncoding(t *testing.T) {
	udp, _ := startRelay(t, relay.Config{Secrets: []string{testSecret}, RelayIPv6: net.ParseIP("::1"), PeerPolicy: relay.PeerPolicy{
		Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")},
	}})
	res, err := audit.Run(context.Background(), audit.Config{Server: server(t, "turn:"+udp, testSecret), IdleWait: time.Second})
	require.NoError(t, err)
	logFindings(t, res)
	n := 0
	for _, c := range res.Checks {
		if !strings.HasPrefix(c.ID, "peer/") {
			continue
		}
		n++
		require.Equal(t, audit.VerdictFinding, c.Verdict, "%s: %s", c.ID, c.Message)
		if c.ID == "peer/127.0.0.1" {
			// The sink is on 127.0.0.1: the data path is proved.
			require.Contains(t, c.Evidence[len(c.Evidence)-1].Answer, "the sink received the datagram")
		}
	}
	require.Greater(t, n, 30)
	// The relay's own addresses stay refused even with every range open:
	// --allow-peer cannot open a loop (coturn's allow-loopback-peers can,
	// see the interop test).
	require.Equal(t, audit.VerdictPass, byID(res)["self-loop"].Verdict, byID(res)["self-loop"].Message)
}

// Without an IPv6 relayed address (the IPv6 Allocate gets 440), the IPv6
// encodings go through the IPv4 allocation and natkit relay answers 443:
// it cannot relay there at all, so even an open policy is no finding.
func TestNatkitRelayIPv4OnlyAnswers443ToIPv6Peers(t *testing.T) {
	udp, _ := startRelay(t, relay.Config{Secrets: []string{testSecret}, PeerPolicy: relay.PeerPolicy{
		Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")},
	}})
	res, err := audit.Run(context.Background(), audit.Config{Server: server(t, "turn:"+udp, testSecret), IdleWait: 200 * time.Millisecond, IdleConns: 1})
	require.NoError(t, err)
	c := byID(res)["peer/::1"]
	require.Equal(t, audit.VerdictPass, c.Verdict, c.Message)
	require.Contains(t, c.Message, "443")
	require.Contains(t, c.Evidence[0].Answer, "440")
	require.Equal(t, audit.VerdictFinding, byID(res)["peer/127.0.0.1"].Verdict)
}
