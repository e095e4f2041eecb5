package scenarios

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/probe/browser"
	"github.com/natkit/natkit/probe/call"
)

// requireChromiumLab skips without root (the kernel lab) or chromium.
func requireChromiumLab(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts chromium in the kernel lab")
	}
	labtest.Require(t)
	externaltest.LookPath(t, "chromium", "chromium")
}

func runChromiumSpec(t *testing.T, yaml string) (*Result, error) {
	t.Helper()
	spec, err := Parse("chromium.yaml", []byte(yaml))
	require.NoError(t, err)
	before := labtest.Namespaces()
	res, err := Run(context.Background(), spec, Options{Net: NetKernel, WaitTimeout: 20 * time.Second})
	require.Equal(t, before, labtest.Namespaces(), "namespaces left behind")
	if res != nil {
		for _, side := range []string{"a", "b"} {
			if br := res.Browsers[side]; br != nil {
				t.Logf("side %s: %s", side, br.Summary())
			}
		}
		if !res.Passed() {
			for _, e := range res.Call.Events {
				t.Logf("%s %-2s %-18s %s", e.At.Format("15:04:05.000"), e.Peer, e.Kind, e.Text())
			}
		}
	}
	return res, err
}

// Two browsers behind full-cone NATs connect directly.
func TestChromiumChromiumFullCone(t *testing.T) {
	requireChromiumLab(t)
	res, err := runChromiumSpec(t, `name: chromium-full-cone
topology:
  a: {nat: full-cone, peer: chromium}
  b: {nat: full-cone, peer: chromium}
expect: {connected: true, path: direct, delivered: 100}
`)
	require.NoError(t, err)
	require.True(t, res.Passed(), "checks %+v diagnoses %v", res.Checks, res.Diagnoses)
	for _, side := range []string{"a", "b"} {
		br := res.Browsers[side]
		require.NotNil(t, br.Pair)
		require.Contains(t, []string{"srflx", "prflx", "host"}, br.Pair.Local.Type)
		require.Positive(t, br.Timings.FirstSrflx, "side %s gathered a srflx candidate", side)
		require.Positive(t, br.Timings.ICEConnected)
		require.Positive(t, br.Browser.StartTime)
		require.NotEmpty(t, br.Browser.Version)
		require.NotEmpty(t, br.Browser.Namespace)
	}
	require.Equal(t, call.ProbeStats{Sent: 10, Received: 10}, res.Call.Messages)
	rep := res.Report()
	names := map[string]bool{}
	for _, m := range rep.Metrics {
		names[m.Name] = true
	}
	for _, n := range []string{"a.browser_start", "a.time_to_ice_connected", "b.time_to_first_srflx", "a.ice_rtt", "a.datachannel_rtt", "time_to_connected"} {
		require.True(t, names[n], "metric %s in %v", n, names)
	}
}

// A browser calls natkit's engine across a symmetric NAT and a
// port-restricted one: no direct path, so TURN carries it; in both roles.
func TestChromiumPionSymmetricRelayed(t *testing.T) {
	requireChromiumLab(t)
	for _, tc := range []struct{ name, a, b, browserSide string }{
		{"chromium-offers", "{nat: symmetric, peer: chromium}", "{nat: port-restricted-cone}", "a"},
		{"chromium-answers", "{nat: symmetric}", "{nat: port-restricted-cone, peer: chromium}", "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := runChromiumSpec(t, `name: chromium-pion-symmetric
topology:
  a: `+tc.a+`
  b: `+tc.b+`
ice: {turn: true}
expect: {connected: true, path: relay, delivered: 100}
`)
			require.NoError(t, err)
			require.True(t, res.Passed(), "checks %+v diagnoses %v", res.Checks, res.Diagnoses)
			require.Len(t, res.Browsers, 1)
			br := res.Browsers[tc.browserSide]
			require.NotNil(t, br.Pair)
			require.True(t, br.Pair.Local.Type == "relay" || br.Pair.Remote.Type == "relay", "browser's pair %+v", *br.Pair)
			if br.Pair.Local.Type == "relay" {
				// Only then must the browser's own allocation have come in
				// before connected: the pion side's relay can win first.
				require.Positive(t, br.Timings.FirstRelay)
			}
			require.Positive(t, br.Timings.FirstMessage)
			require.Equal(t, call.PathRelay, res.Call.Path.Class)
			require.Equal(t, 10, res.Call.Messages.Received)
		})
	}
}

// Relay-only calls between two browsers, through natkit relay and
// through coturn.
func TestChromiumRelayOnly(t *testing.T) {
	requireChromiumLab(t)
	for _, relay := range []string{lab.RelayNatkit, lab.RelayCoturn} {
		t.Run(relay, func(t *testing.T) {
			if relay == lab.RelayCoturn {
				externaltest.LookPath(t, "turnserver", "coturn")
			}
			res, err := runChromiumSpec(t, `name: chromium-relay-only
relay: `+relay+`
topology:
  a: {nat: port-restricted-cone, peer: chromium}
  b: {nat: full-cone, peer: chromium}
ice: {stun: false, turn: true, policy: relay}
expect: {connected: true, path: relay, delivered: 100}
`)
			require.NoError(t, err)
			require.True(t, res.Passed(), "checks %+v diagnoses %v", res.Checks, res.Diagnoses)
			for _, side := range []string{"a", "b"} {
				br := res.Browsers[side]
				require.Equal(t, "relay", br.Pair.Local.Type, "side %s", side)
				require.Equal(t, "udp", br.RelayProtocol)
				for _, c := range br.Candidates {
					require.Equal(t, "relay", c.Type, "relay-only gathers only relay candidates")
				}
			}
			require.Equal(t, relay, res.Relay)
		})
	}
}

// A browser killed mid-call ends the call with cause peer-crashed and a
// *browser.CrashError; its processes and the lab are gone afterwards.
func TestChromiumCrashMidCall(t *testing.T) {
	requireChromiumLab(t)
	var pid int
	processStepHook = func(step string, peers map[string]processPeer) {
		if step == "wait_connected" {
			pid = peers["a"].(*chromiumPeer).p.Browser().PID()
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	defer func() { processStepHook = nil }()
	res, err := runChromiumSpec(t, `name: chromium-crash
topology:
  a: {nat: full-cone, peer: chromium}
  b: {nat: full-cone, peer: chromium}
expect: {connected: true}
`)
	var ce *browser.CrashError
	require.True(t, errors.As(err, &ce), "got %v", err)
	require.Equal(t, pid, ce.PID)
	require.NotNil(t, res)
	require.Equal(t, call.CausePeerCrashed, res.Call.Cause)
	require.True(t, res.Browsers["a"].Crashed)
	require.Contains(t, strings.Join(res.Diagnoses, "\n"), "side a: chromium crashed")
	require.Equal(t, call.CausePeerCrashed, res.Checks[0].NotJudged, "a crashed call is not compared with expectations")
	require.Empty(t, browser.GroupProcesses(pid))
}

// Cancelling the run (Ctrl-C) mid-call leaves no browser process behind.
func TestChromiumNoOrphansOnCancel(t *testing.T) {
	requireChromiumLab(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var pids []int
	processStepHook = func(step string, peers map[string]processPeer) {
		if step == "wait_connected" {
			mu.Lock()
			for _, p := range peers {
				pids = append(pids, p.(*chromiumPeer).p.Browser().PID())
			}
			mu.Unlock()
			cancel()
		}
	}
	defer func() { processStepHook = nil }()
	spec, err := Parse("cancel.yaml", []byte(`name: chromium-cancel
topology:
  a: {nat: full-cone, peer: chromium}
  b: {nat: full-cone, peer: chromium}
`))
	require.NoError(t, err)
	before := labtest.Namespaces()
	_, err = Run(ctx, spec, Options{Net: NetKernel})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, before, labtest.Namespaces(), "namespaces left behind")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, pids, 2)
	for _, pid := range pids {
		require.Empty(t, browser.GroupProcesses(pid), "browser %d's group", pid)
	}
}

func TestChromiumValidation(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"step", "steps: [{connect: {}}, {cut_direct: {}}]", "step 2: cut_direct is not available with peer: chromium (a browser peer can do: connect, wait_connected, send, ice_restart, hangup)"},
		{"audio", "media: {audio: true}", "media.audio is not available with peer: chromium"},
		{"expect", "expect: {rebound: a}", "expect rebound is not available with peer: chromium"},
		{"command", "", "peer: command and peer: chromium cannot share a scenario"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := "{nat: full-cone}"
			if tc.name == "command" {
				b = "{peer: command, command: [/bin/true]}"
			}
			_, err := Parse("v.yaml", []byte("name: v\ntopology:\n  a: {nat: full-cone, peer: chromium}\n  b: "+b+"\n"+tc.yaml+"\n"))
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	spec, err := Parse("v.yaml", []byte("name: v\ntopology:\n  b: {peer: chromium}\n"))
	require.NoError(t, err)
	err = spec.CheckBackend(NetVNet)
	require.ErrorIs(t, err, ErrBadScenario)
	require.Contains(t, err.Error(), "v.yaml:3: peer: chromium needs the kernel backend (use --net kernel)")
	_, err = Run(context.Background(), spec, Options{})
	require.ErrorIs(t, err, ErrBadScenario)
	require.NoError(t, spec.CheckBackend(NetKernel))
}
