package lab_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/probe/call"
)

// sharedLANCall places a call between the two hosts of a shared LAN, no
// ICE servers: host candidates only, each peer with its mDNS mode.
func sharedLANCall(t *testing.T, lan *lab.SharedLAN, a, b call.MDNSMode) *call.Result {
	t.Helper()
	ice := call.FastICE()
	peer := func(side string, mode call.MDNSMode) call.PeerConfig {
		n, err := lan.Net(side)
		require.NoError(t, err)
		return call.PeerConfig{Name: side, Net: n, ICE: &ice, MDNS: mode}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := call.Run(ctx, call.Config{A: peer(lab.SideA, a), B: peer(lab.SideB, b), ConnectTimeout: 5 * time.Second,
		Probe: call.ProbeConfig{Count: 3, Interval: 5 * time.Millisecond, Grace: time.Second}})
	if err != nil && res == nil {
		t.Fatalf("call: %v", err)
	}
	return res
}

// Two pion peers on one LAN that hide their host addresses behind .local
// names (as Chromium does) resolve each other's names over multicast and
// connect directly, host to host. With resolution off on one side the
// same call cannot connect: only mDNS names were signalled.
func TestSharedLANMDNS(t *testing.T) {
	labtest.Require(t)
	lan, err := lab.BuildSharedLAN("")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, lan.Close()) })

	res := sharedLANCall(t, lan, call.MDNSGather, call.MDNSGather)
	require.True(t, res.Connected, "mDNS on both sides: %s", res.Diagnosis())
	require.Equal(t, call.PathDirectHost, res.Path.Class, res.Path.Describe())
	require.True(t, res.Path.Pair.Local.MDNS, "local candidate %s", res.Path.Pair.Local)
	require.True(t, res.Path.Pair.Remote.MDNS, "remote candidate %s", res.Path.Pair.Remote)
	for side, cands := range res.Candidates {
		require.NotEmpty(t, cands, side)
		for _, c := range cands {
			require.True(t, c.MDNS, "side %s gathered %s: a plain host address leaked", side, c)
		}
	}
	require.Equal(t, res.Messages.Sent, res.Messages.Received)

	// b neither hides nor resolves: it still connects, as a peer without
	// mDNS does with a browser, because a reaches b's plain host address;
	// b learns a's address from a's checks. Nothing on a's side of the
	// pair is a resolved name then.
	res = sharedLANCall(t, lan, call.MDNSGather, call.MDNSOff)
	require.True(t, res.Connected, res.Diagnosis())
	require.False(t, res.Path.Pair.Remote.MDNS, "remote candidate %s", res.Path.Pair.Remote)
	for _, c := range res.Candidates[lab.SideB] {
		require.False(t, c.MDNS, "b gathers plain host addresses: %s", c)
	}
}
