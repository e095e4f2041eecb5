package audit_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/probe/audit"
	"github.com/natkit/natkit/relay"
)

// tcpConnectChecks runs the audit with TCPRelay over TCP and returns the
// tcp-connect checks.
func tcpConnectChecks(t *testing.T, url string) map[string]audit.Check {
	t.Helper()
	res, err := audit.Run(context.Background(), audit.Config{Server: server(t, url, testSecret), IdleWait: 100 * time.Millisecond,
		IdleConns: 1, MaxAllocations: 2, TCPRelay: true})
	require.NoError(t, err)
	logFindings(t, res)
	out := map[string]audit.Check{}
	for _, c := range res.Checks {
		if c.ID == "tcp-connect" || strings.HasPrefix(c.ID, "tcp-connect/") {
			out[c.ID] = c
		}
	}
	require.NotEmpty(t, out)
	return out
}

// isIPv6Case reports a tcp-connect check toward an IPv6 (not IPv4-mapped)
// peer: those go through an IPv6 TCP allocation when the server has one.
func isIPv6Case(id string) bool {
	a, err := netip.ParseAddr(strings.TrimPrefix(id, "tcp-connect/"))
	return err == nil && a.Is6() && !a.Is4In6()
}

func TestTCPConnectNatkitRelay(t *testing.T) {
	t.Run("default policy refuses every loopback encoding", func(t *testing.T) {
		// An IPv4-only relay: the IPv6 TCP allocation gets 440, and the
		// IPv6 peers, asked from the IPv4 one, get 443 (as from coturn).
		srv := startRelayOn(t, relay.Config{Secrets: []string{testSecret}, TCPRelay: true}, "tcp://127.0.0.1:0")
		checks := tcpConnectChecks(t, "turn:"+srv.Addrs()[0].Addr+"?transport=tcp")
		require.GreaterOrEqual(t, len(checks), 8)
		for id, c := range checks {
			require.Equal(t, audit.VerdictPass, c.Verdict, "%s: %s", id, c.Message)
			if isIPv6Case(id) {
				require.Contains(t, c.Message, "443", id)
				require.Contains(t, c.Message, "its IPv6 peer policy was not reached", id)
				require.Contains(t, c.Evidence[0].Answer, "440", id)
			} else {
				require.Contains(t, c.Message, "403", id)
			}
		}
	})
	t.Run("dual-stack relay: IPv6 peers meet its IPv6 policy", func(t *testing.T) {
		srv := startRelayOn(t, relay.Config{Secrets: []string{testSecret}, TCPRelay: true}, "tcp://127.0.0.1:0", "tcp://[::1]:0")
		checks := tcpConnectChecks(t, "turn:"+srv.Addrs()[0].Addr+"?transport=tcp")
		var v6 int
		for id, c := range checks {
			require.Equal(t, audit.VerdictPass, c.Verdict, "%s: %s", id, c.Message)
			require.Contains(t, c.Message, "403", id)
			if isIPv6Case(id) {
				v6++
				require.Contains(t, c.Evidence[0].Request, "from TCP allocation [::1]:", id)
			}
		}
		require.Positive(t, v6)
	})
	t.Run("allowed loopback is a finding, proved by the sink", func(t *testing.T) {
		srv := startRelayOn(t, relay.Config{Secrets: []string{testSecret}, TCPRelay: true,
			PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}, "tcp://127.0.0.1:0")
		checks := tcpConnectChecks(t, "turn:"+srv.Addrs()[0].Addr+"?transport=tcp")
		c := checks["tcp-connect/127.0.0.1"]
		require.Equal(t, audit.VerdictFinding, c.Verdict, c.Message)
		require.Contains(t, c.Evidence[len(c.Evidence)-1].Answer, "accepted a connection from 127.0.0.1:")
		require.Contains(t, c.Fix.NatkitRelay, "--allow-peer")
		// ::1 is still refused: the allowance was IPv4 only.
		require.Equal(t, audit.VerdictPass, checks["tcp-connect/::1"].Verdict)
	})
	t.Run("no tcp relaying", func(t *testing.T) {
		srv := startRelayOn(t, relay.Config{Secrets: []string{testSecret}}, "tcp://127.0.0.1:0")
		checks := tcpConnectChecks(t, "turn:"+srv.Addrs()[0].Addr+"?transport=tcp")
		require.Len(t, checks, 1)
		require.Equal(t, audit.VerdictPass, checks["tcp-connect"].Verdict)
		require.Contains(t, checks["tcp-connect"].Message, "442")
	})
}

// Ground truth: coturn refuses loopback Connects by default, and lets them
// through with allow-loopback-peers.
func TestTCPConnectCoturn(t *testing.T) {
	for _, loop := range []bool{false, true} {
		c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Secret: testSecret, AllowLoopbackPeers: loop})
		checks := tcpConnectChecks(t, "turn:"+c.Addr()+"?transport=tcp")
		want := audit.VerdictPass
		if loop {
			want = audit.VerdictFinding
		}
		require.Equal(t, want, checks["tcp-connect/127.0.0.1"].Verdict, "allow-loopback-peers=%v: %s", loop, checks["tcp-connect/127.0.0.1"].Message)
	}
}
