package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/probe/browser"
	"github.com/natkit/natkit/probe/call"
)

// A call between two browsers is classified by probe/call's one
// classifier, from the events the pages record in the engine's kinds.
func TestBrowsersCallCause(t *testing.T) {
	spec, err := Parse("t.yaml", []byte("name: t\ntopology:\n  a: {nat: symmetric, peer: chromium}\n  b: {nat: symmetric, peer: chromium}\n"))
	require.NoError(t, err)
	at := time.Now()
	ev := func(kind call.EventKind, state, signal string) call.Event {
		at = at.Add(time.Millisecond)
		return call.Event{At: at, Kind: kind, State: state, Signal: signal}
	}
	host := []call.Candidate{{Type: "host", Protocol: "udp", Address: "10.0.0.2:5000"}}
	relay := append([]call.Candidate{{Type: "relay", Protocol: "udp", Address: "203.0.113.1:6000"}}, host...)
	side := func(cands []call.Candidate, events ...call.Event) *browser.Result {
		return &browser.Result{Started: at, Candidates: cands, Events: append([]call.Event{ev(call.EvSignalRecv, "", call.MsgAnswer)}, events...)}
	}
	failed := func() call.Event { return ev(call.EvICEState, "failed", "") }
	for _, tc := range []struct {
		name string
		a, b *browser.Result
		errs []string
		want call.Cause
	}{
		{"symmetric pair without TURN", side(host, failed()), side(host, failed()), nil, call.CauseNoDirectPath},
		{"relays gathered", side(relay, failed()), side(relay, failed()), nil, call.CauseRelayedPathFailed},
		{"still checking at the timeout", side(host), side(host), []string{"a: " + call.ErrNotConnected.Error()}, call.CauseTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := browsersCall(spec, tc.a, tc.b, &processDriver{errs: tc.errs})
			require.Equal(t, tc.want, r.Cause, r.Diagnosis())
			require.Empty(t, r.Events, "processCall adds the pages' events")
		})
	}
}
