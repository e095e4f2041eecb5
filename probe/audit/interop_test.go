package audit_test

import (
	"context"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/probe/audit"
	"github.com/natkit/natkit/relay"
)

// runAudit audits a loopback server with REST credentials and returns the
// result; the idle wait is the CLI's default so the measured table is the
// one a user sees.
func runAudit(t *testing.T, url string) *audit.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	res, err := audit.Run(ctx, audit.Config{Server: server(t, url, testSecret), Secret: testSecret})
	require.NoError(t, err)
	logFindings(t, res)
	t.Logf("audit took %s, sent %d packets", time.Since(start).Round(time.Millisecond), res.Sent.Packets)
	require.Less(t, time.Since(start), 30*time.Second, "an audit of a healthy server takes at most 30 s")
	return res
}

// findingIDs lists "id:severity" of every finding at min or worse.
func findingIDs(res *audit.Result, min audit.Severity) []string {
	var out []string
	for _, c := range res.Findings(min) {
		out = append(out, c.ID+":"+string(c.Severity))
	}
	sort.Strings(out)
	return out
}

func TestInteropNatkitRelayDefaults(t *testing.T) {
	port := externaltest.FreePortPair(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	srv, err := relay.New(relay.Config{Secrets: []string{testSecret},
		Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: addr}, {Network: relay.NetworkTCP, Addr: addr}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	res := runAudit(t, "turn:"+addr)
	require.Empty(t, findingIDs(res, audit.SeverityMedium), "natkit relay with default flags has no finding of medium or worse")
}

// coturnRuns are the three configurations docs/audit.md measures.
var coturnRuns = []struct {
	name  string
	loop  bool
	extra []string
}{
	{"allow-loopback-peers", true, nil},
	{"defaults", false, nil},
	{"hardened", false, hardenedCoturn},
}

// hardenedCoturn is the configuration docs/audit.md gives, as flags.
var hardenedCoturn = func() []string {
	var out []string
	for _, line := range []string{
		"no-multicast-peers", "no-software-attribute", "no-rfc5780",
		"user-quota=10", "max-allocate-timeout=5",
		"denied-peer-ip=0.0.0.0-0.255.255.255",
		"denied-peer-ip=10.0.0.0-10.255.255.255",
		"denied-peer-ip=100.64.0.0-100.127.255.255",
		"denied-peer-ip=127.0.0.0-127.255.255.255",
		"denied-peer-ip=169.254.0.0-169.254.255.255",
		"denied-peer-ip=172.16.0.0-172.31.255.255",
		"denied-peer-ip=192.0.0.0-192.0.0.255",
		"denied-peer-ip=192.168.0.0-192.168.255.255",
		"denied-peer-ip=198.18.0.0-198.19.255.255",
		"denied-peer-ip=224.0.0.0-255.255.255.255",
		"denied-peer-ip=::-::ffff:ffff:ffff",
		"denied-peer-ip=::ffff:0:0:0-::ffff:0:ffff:ffff",
		"denied-peer-ip=64:ff9b::-64:ff9b::ffff:ffff",
		"denied-peer-ip=64:ff9b:1::-64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
		"denied-peer-ip=2001::-2001:0:ffff:ffff:ffff:ffff:ffff:ffff",
		"denied-peer-ip=2002::-2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"denied-peer-ip=fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"denied-peer-ip=fe80::-feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"denied-peer-ip=ff00::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	} {
		k, v, ok := strings.Cut(line, "=")
		out = append(out, "--"+k)
		if ok {
			out = append(out, v)
		}
	}
	return out
}()

// coturnDefaultFindings are the findings of medium or worse each coturn
// has with its defaults, as measured (docs/audit.md's table).
var coturnDefaultFindings = map[string][]string{
	"4.6.1": {
		"peer/10.0.0.1:high", "peer/100.64.0.1:high", "peer/169.254.0.1:high", "peer/169.254.169.254:high",
		"peer/172.16.0.1:high", "peer/172.31.255.254:high", "peer/192.0.0.8:medium", "peer/192.168.1.1:high",
		"peer/198.18.0.1:medium", "peer/224.0.0.1:medium", "peer/239.255.255.250:medium", "peer/240.0.0.1:medium",
		"peer/255.255.255.255:medium", "idle-connections:medium",
	},
	"4.17.1": {
		"peer/10.0.0.1:high", "peer/100.64.0.1:high",
		"peer/172.16.0.1:high", "peer/172.31.255.254:high", "peer/192.0.0.8:medium", "peer/192.168.1.1:high",
		"peer/198.18.0.1:medium", "peer/224.0.0.1:medium", "peer/239.255.255.250:medium", "peer/240.0.0.1:medium",
		"peer/255.255.255.255:medium", "idle-connections:medium",
	},
}

func testCoturn(t *testing.T, bin, version string) {
	for _, run := range coturnRuns {
		t.Run(run.name, func(t *testing.T) {
			// Not parallel: coturn's relay ports share the range where
			// the next server's free listening port is picked.
			c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Bin: bin, Secret: testSecret, AllowLoopbackPeers: run.loop, Extra: run.extra})
			res := runAudit(t, "turn:"+c.Addr())
			got := findingIDs(res, audit.SeverityMedium)
			t.Logf("findings of medium or worse: %q", got)
			switch run.name {
			case "allow-loopback-peers":
				// The loop is proved by the Binding coming back.
				require.Contains(t, byID(res)["self-loop"].Message, "the relay forwards to itself")
				for _, id := range []string{"peer/127.0.0.1:high", "peer/127.0.0.2:high", "peer/127.255.255.254:high", "self-loop:high"} {
					require.Contains(t, got, id)
				}
			case "defaults":
				want := append([]string(nil), coturnDefaultFindings[version]...)
				sort.Strings(want)
				require.Equal(t, want, got)
			case "hardened":
				require.Empty(t, got)
			}
		})
	}
}

func TestInteropCoturnDebian(t *testing.T) { testCoturn(t, "", "4.6.1") }

func TestInteropCoturnLatest(t *testing.T) { testCoturn(t, externaltest.LatestCoturnBin(t), "4.17.1") }
