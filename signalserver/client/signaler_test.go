package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/signalserver"
	"github.com/natkit/natkit/signalserver/client"
)

// Two peers in this process call each other through a real signaling
// server over the host's loopback; the room's events land in the call's
// timeline beside the peers' own.
func TestCallThroughSignaler(t *testing.T) {
	url := start(t, signalserver.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := client.Call(ctx, client.CallConfig{URL: url, Room: "sig", ConnectTimeout: 15 * time.Second, Probe: call.ProbeConfig{Count: 3}})
	require.NoError(t, err)
	require.Equal(t, call.CauseOK, res.Cause, res.Diagnosis())
	require.Equal(t, 3, res.Messages.Received)
	kinds := map[call.EventKind]bool{}
	for _, e := range res.Events {
		kinds[e.Kind] = true
	}
	for _, k := range []call.EventKind{call.EvJoined, call.EvPeerJoined, call.EvSignalSend, call.EvSignalRecv, call.EvDataChannelOpen} {
		require.True(t, kinds[k], "timeline has %s", k)
	}
}

// Nobody else in the room: the result says signaling failed, and why.
func TestCallNoPeer(t *testing.T) {
	url := start(t, signalserver.Config{})
	res, err := client.Call(context.Background(), client.CallConfig{URL: url, Room: "alone", Role: client.RoleOffer, ConnectTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, call.CauseSignalingFailed, res.Cause)
	require.Contains(t, res.Error, "no other peer joined")
	require.Contains(t, res.Diagnosis(), "the call could not start")
}

func TestCallConfigErrors(t *testing.T) {
	_, err := client.Call(context.Background(), client.CallConfig{URL: "ws://x/ws", Room: "r", Role: "both-ways"})
	require.ErrorIs(t, err, client.ErrConfig)
	_, err = client.Call(context.Background(), client.CallConfig{Room: "r"})
	require.ErrorIs(t, err, client.ErrConfig)
}
