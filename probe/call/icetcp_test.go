package call

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/vnet"
)

// udpBlockedEnv marks the child test process that runs inside a network
// namespace where every UDP packet is dropped.
const udpBlockedEnv = "NATKIT_TEST_UDP_BLOCKED_NS"

// udpBlockedNamespace sets up the child's namespace: loopback, one address
// on a veth link (both ends in the namespace) for host candidates, and an nftables rule dropping all
// UDP. The namespace is unshare's: it goes when the child exits.
const udpBlockedNamespace = `set -e
ip link set lo up
ip link add natkit0 type veth peer name natkit1
ip addr add 198.51.100.1/24 dev natkit0
ip link set natkit1 up
ip link set natkit0 up
nft add table inet natkit_udp_blocked
nft add chain inet natkit_udp_blocked out '{ type filter hook output priority 0; }'
nft add rule inet natkit_udp_blocked out meta l4proto udp drop
exec "$0" -test.run '^TestICETCPWhenUDPIsBlocked$' -test.v -test.count=1
`

// TestICETCPWhenUDPIsBlocked places calls in a namespace whose nftables
// drop all UDP: without ICE-TCP the call fails, with it the call connects
// over TCP, one peer dialling the other's passive candidate. Both peers
// use the process's own network there, so pion's active dials (Go's
// net.Dialer) stay inside the namespace too.
func TestICETCPWhenUDPIsBlocked(t *testing.T) {
	if os.Getenv(udpBlockedEnv) == "1" {
		callsWithUDPBlocked(t)
		return
	}
	labtest.Require(t)
	unshare := externaltest.LookPath(t, "unshare", "util-linux")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--net", "sh", "-c", udpBlockedNamespace, os.Args[0])
	cmd.Env = append(os.Environ(), udpBlockedEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child in the UDP-blocked namespace:\n%s", out)
	require.Contains(t, string(out), "--- PASS: TestICETCPWhenUDPIsBlocked", string(out))
}

func callsWithUDPBlocked(t *testing.T) {
	fast := FastICE()
	udpOnly, err := Run(context.Background(), Config{
		A: PeerConfig{ICE: &fast}, B: PeerConfig{ICE: &fast}, ConnectTimeout: 5 * time.Second,
	})
	require.NoError(t, err)
	require.False(t, udpOnly.Connected, "UDP is dropped in this namespace, yet the UDP-only call connected: %s", udpOnly.Path.Describe())

	res, err := Run(context.Background(), Config{
		A: PeerConfig{ICE: &fast, ICETCP: true}, B: PeerConfig{ICE: &fast, ICETCP: true},
		ConnectTimeout: 10 * time.Second, Probe: ProbeConfig{Count: 5},
	})
	require.NoError(t, err)
	require.True(t, res.Connected, "%s: %s", res.Cause, res.Error)
	require.Equal(t, 5, res.Messages.Received)
	pair := res.Path.Pair
	require.NotNil(t, pair)
	require.Equal(t, "tcp", pair.Local.Protocol, res.Path.Describe())
	require.Contains(t, []string{"active", "passive"}, pair.Local.TCPType)
	require.Contains(t, res.Path.Describe(), "over ICE-TCP")
	var passive, active bool
	for _, cs := range res.Candidates {
		for _, c := range cs {
			passive = passive || (c.Protocol == "tcp" && c.TCPType == "passive")
			active = active || (c.Protocol == "tcp" && c.TCPType == "active")
		}
	}
	require.True(t, passive && active, "want passive and active TCP candidates: %v", res.Candidates)
	t.Log(res.Path.Describe())
}

// On pion's vnet there is no TCP: ICE-TCP is refused with the reason.
func TestICETCPNeedsTCP(t *testing.T) {
	top, err := vnet.Build(vnet.Spec{A: vnet.Side{Preset: "open"}, B: vnet.Side{Preset: "open"}})
	require.NoError(t, err)
	defer top.Close()
	cfg := vnetConfig(t, top, false)
	cfg.A.ICETCP = true
	_, err = Run(context.Background(), cfg)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "has no TCP"), err.Error())
}
