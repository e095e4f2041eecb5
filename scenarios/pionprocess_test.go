package scenarios

import (
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/probe/browser"
	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/relay"
)

var testNatkit struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// natkitForTest builds natkit once per test binary (the Go build cache
// keeps it quick), for pion-process peers.
func natkitForTest(t testing.TB) string {
	t.Helper()
	testNatkit.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			testNatkit.err = err
			return
		}
		if testNatkit.dir, err = os.MkdirTemp("", "natkit-bin-"); err != nil {
			testNatkit.err = err
			return
		}
		path := filepath.Join(testNatkit.dir, "natkit")
		out, err := exec.Command(goBin, "build", "-o", path, "github.com/natkit/natkit/cmd/natkit").CombinedOutput()
		if err != nil {
			testNatkit.err = err
			t.Logf("go build: %s", out)
			return
		}
		testNatkit.path = path
	})
	require.NoError(t, testNatkit.err, "go build ./cmd/natkit")
	return testNatkit.path
}

func removeTestNatkit() {
	if testNatkit.dir != "" {
		_ = os.RemoveAll(testNatkit.dir)
	}
}

// runPionProcessSpec runs a kernel scenario with the test's natkit and
// checks that no namespace is left.
func runPionProcessSpec(t *testing.T, yaml string) (*Result, error) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts natkit call in the kernel lab")
	}
	labtest.Require(t)
	spec, err := Parse("pion-process.yaml", []byte(yaml))
	require.NoError(t, err)
	before := labtest.Namespaces()
	res, err := Run(context.Background(), spec, Options{Net: NetKernel, WaitTimeout: 10 * time.Second, Natkit: natkitForTest(t)})
	require.Equal(t, before, labtest.Namespaces(), "namespaces left behind")
	if res != nil && !res.Passed() {
		for _, e := range res.Call.Events {
			t.Logf("%s %-6s %-18s %s", e.At.Format("15:04:05.000"), e.Peer, e.Kind, e.Text())
		}
		for side, p := range res.Peers {
			t.Logf("side %s: %s exit %d: %s; stderr: %s", side, strings.Join(p.Command, " "), p.ExitCode, p.Detail, p.StderrTail)
		}
	}
	return res, err
}

// natkit call in side a's namespace calls natkit's engine in process on
// side b, and its JSON report becomes side a's candidates, the selected
// pair, the probes and the timeline.
func TestPionProcessOffersToEngine(t *testing.T) {
	res, err := runPionProcessSpec(t, `name: pion-process-offer
topology:
  a: {nat: port-restricted-cone, peer: pion-process}
  b: {nat: full-cone}
steps: [{connect: {}}, {wait_connected: {}}, {send: {messages: 5, size: 100}}, {hangup: {}}]
expect: {connected: true, path: direct, delivered: 100}
`)
	require.NoError(t, err)
	require.True(t, res.Passed(), "checks %+v diagnoses %v", res.Checks, res.Diagnoses)
	p := res.Peers["a"]
	require.NotNil(t, p)
	require.Equal(t, PeerPionProcess, p.Peer)
	require.Equal(t, 0, p.ExitCode, p.StderrTail)
	require.Contains(t, p.Command, "netns")
	require.Contains(t, strings.Join(p.Command, " "), "call --role offer")
	require.Equal(t, call.ProbeStats{Sent: 5, Received: 5}, res.Call.Messages)
	require.NotNil(t, res.Call.RTT, "the RTT histogram came back from the child's report")
	require.EqualValues(t, 5, res.Call.RTT.Count())
	// The child's candidates are side a's, gathered inside its namespace
	// (10.1.0.2 is a's host address behind its NAT).
	var host bool
	for _, c := range res.Call.Candidates["a"] {
		host = host || strings.HasPrefix(c.Address, "10.1.0.2:")
	}
	require.True(t, host, "side a's candidates %+v", res.Call.Candidates["a"])
	require.NotEmpty(t, res.Call.Candidates["b"])
	require.NotNil(t, res.Call.Path.Pair)
	require.Equal(t, call.CauseOK, res.Call.Cause)
	peers := map[string]bool{}
	for _, e := range res.Call.Events {
		peers[e.Peer] = true
	}
	require.True(t, peers["offer"] && peers["answer"], "both sides' events are in the timeline: %v", peers)
}

// An answering natkit call behind a symmetric NAT, relayed through TURN
// over UDP: the offerer is the in-process engine.
func TestPionProcessAnswersRelayed(t *testing.T) {
	res, err := runPionProcessSpec(t, `name: pion-process-answer
topology:
  a: {nat: port-restricted-cone}
  b: {nat: symmetric, peer: pion-process}
ice: {turn: true}
expect: {connected: true, path: relay, delivered: 100}
`)
	require.NoError(t, err)
	require.True(t, res.Passed(), "checks %+v diagnoses %v", res.Checks, res.Diagnoses)
	require.Equal(t, 0, res.Peers["b"].ExitCode, res.Peers["b"].StderrTail)
	require.Equal(t, "relay", res.Peers["b"].Path)
}

func TestPionProcessValidation(t *testing.T) {
	for _, tc := range []struct{ name, sides, yaml, want string }{
		{"step", "", "steps: [{connect: {}}, {cut_direct: {}}]",
			"step 2: cut_direct is not available with peer: pion-process (natkit call runs its own call; steps: connect, wait_connected, send, hangup, in that order)"},
		{"ice_restart", "", "steps: [{connect: {}}, {wait_connected: {}}, {ice_restart: {}}]", "step 3: ice_restart is not available with peer: pion-process"},
		{"order", "", "steps: [{connect: {}}, {send: {messages: 3}}, {wait_connected: {}}]", "step 3: wait_connected is not available here with peer: pion-process"},
		{"at", "", "steps: [{connect: {}}, {at: 2s, hangup: {}}]", "step 2: at is not available with peer: pion-process"},
		{"interval", "", "steps: [{connect: {}}, {send: {messages: 3, interval: 50ms}}]", "step 2: send interval is not available with peer: pion-process"},
		{"audio", "", "media: {audio: true}", "media.audio is not available with peer: pion-process"},
		{"timeouts", "", "ice: {timeouts: fast}", "ice timeouts are not available with peer: pion-process"},
		{"mdns", "a: {peer: pion-process, mdns: query}", "", "mdns \"query\" is not available with peer: pion-process"},
		{"ipv6-only", "a: {peer: pion-process, nat: ipv6-only-nat64}", "", "peer: pion-process is not available on an IPv6-only side"},
		{"dtls one side", "", "ice: {turn: true, turn_transport: dtls}", "turn_transport dtls needs peer: pion-process on both sides"},
		{"command", "b: {peer: command, command: [/bin/true]}", "", "peer: command and peer: pion-process cannot share a scenario"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := "a: {nat: full-cone, peer: pion-process}", "b: {nat: full-cone}"
			if strings.HasPrefix(tc.sides, "a:") {
				a = tc.sides
			} else if tc.sides != "" {
				b = tc.sides
			}
			_, err := Parse("v.yaml", []byte("name: v\ntopology:\n  "+a+"\n  "+b+"\n"+tc.yaml+"\n"))
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	spec, err := Parse("v.yaml", []byte("name: v\ntopology:\n  b: {peer: pion-process}\n"))
	require.NoError(t, err)
	err = spec.CheckBackend(NetVNet)
	require.ErrorIs(t, err, ErrBadScenario)
	require.Contains(t, err.Error(), "v.yaml:3: peer: pion-process needs the kernel backend (use --net kernel)")
	_, err = Run(context.Background(), spec, Options{})
	require.ErrorIs(t, err, ErrBadScenario)
	require.NoError(t, spec.CheckBackend(NetKernel))
	_, err = RunMatrix(context.Background(), MatrixConfig{Net: NetKernel, Peers: []string{"pion", PeerPionProcess}})
	require.ErrorIs(t, err, ErrConfig)
}

// The dtls-relay scenario: both natkit calls trust the lab CA
// (SSL_CERT_FILE) and relay over TURN/DTLS.
func TestDTLSRelayScenario(t *testing.T) {
	spec, err := Library("dtls-relay")
	require.NoError(t, err)
	require.ErrorContains(t, spec.CheckBackend(NetVNet), "peer: pion-process needs the kernel backend (use --net kernel)")
	res, err := runPionProcessSpec(t, mustLibraryYAML(t, "dtls-relay"))
	require.NoError(t, err)
	require.True(t, res.Passed(), "checks %+v diagnoses %v", res.Checks, res.Diagnoses)
	require.Equal(t, "dtls", res.Call.Path.Pair.Local.RelayProtocol)
	for _, side := range []string{"a", "b"} {
		require.Equal(t, 0, res.Peers[side].ExitCode, res.Peers[side].StderrTail)
	}
}

// A relay certificate from another CA fails: the peers' trust store holds
// a CA that did not sign the relay's certificate, so pion's DTLS handshake
// fails, no relay candidate is gathered, and the call does not connect.
func TestDTLSRelayOtherCA(t *testing.T) {
	other, _, err := relay.SelfSignedTLS([]string{lab.RelayName, lab.RelayIP}, time.Hour)
	require.NoError(t, err)
	pionProcessCA = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Certificates[0].Certificate[0]})
	defer func() { pionProcessCA = nil }()
	yaml := strings.Replace(mustLibraryYAML(t, "dtls-relay"), "within: 10s", "", 1)
	yaml = strings.Replace(yaml, "expect:", "steps: [{connect: {}}, {wait_connected: {timeout: 5s}}, {send: {messages: 10}}, {hangup: {}}]\nexpect:", 1)
	res, err := runPionProcessSpec(t, yaml)
	require.NoError(t, err)
	require.False(t, res.Call.Connected)
	for _, side := range []string{"a", "b"} {
		for _, c := range res.Call.Candidates[side] {
			require.NotEqual(t, "relay", c.Type, "side %s gathered %s", side, c)
		}
		t.Logf("side %s: exit %d, %s; stderr: %s", side, res.Peers[side].ExitCode, res.Peers[side].Detail, res.Peers[side].StderrTail)
	}
	// pion keeps the handshake's error in its log; the engine reads the
	// fatal alert its DTLS client sent on the wire.
	require.Equal(t, call.CauseTURNHandshakeFailed, res.Call.Cause, res.Call.Diagnosis())
	require.Empty(t, res.Call.Unreached)
	require.NotEmpty(t, res.Call.TURNHandshakeErrors)
	for _, e := range res.Call.TURNHandshakeErrors {
		require.Equal(t, "dtls", e.Transport)
		require.Contains(t, e.Error, "this peer sent the fatal alert BadCertificate: x509: certificate signed by unknown authority")
	}
	t.Logf("duration %v; diagnoses %v", res.Duration, res.Diagnoses)
}

func mustLibraryYAML(t *testing.T, name string) string {
	t.Helper()
	b, err := LibrarySource(name)
	require.NoError(t, err)
	return string(b)
}

// udp-blocked-ice-tcp: natkit call behind udp-blocked dials b's passive
// ICE-TCP candidate on 443 (active → passive), as the kernel theory
// predicts.
func TestUDPBlockedICETCPScenario(t *testing.T) {
	spec, err := Library("udp-blocked-ice-tcp")
	require.NoError(t, err)
	require.ErrorContains(t, spec.CheckBackend(NetVNet), "needs the kernel backend")
	want, err := lab.ExpectWithICETCP(spec.Topology.A.NAT, spec.Topology.B.NAT, spec.ICE.TURN, spec.iceTCPTheory())
	require.NoError(t, err)
	require.Equal(t, []string{spec.Expect.Path}, want, "the kernel theory predicts the scenario's path")
	res, err := runPionProcessSpec(t, mustLibraryYAML(t, "udp-blocked-ice-tcp"))
	require.NoError(t, err)
	require.True(t, res.Passed(), "checks %+v diagnoses %v", res.Checks, res.Diagnoses)
	pair := res.Call.Path.Pair
	require.Equal(t, "tcp", pair.Local.Protocol)
	require.Equal(t, "active", pair.Local.TCPType, "a dialled")
	require.Equal(t, "passive", pair.Remote.TCPType)
	require.True(t, strings.HasSuffix(pair.Remote.Address, ":443"), pair.Remote.Address)
	require.Contains(t, res.Call.Path.Describe(), "over ICE-TCP (this peer dialled the other's passive candidate)")
}

// The same pair with natkit's engine in process on side a: through lab.Net
// it cannot dial (pion would dial from natkit's own namespace), so it is
// passive only, and neither side can reach the other; the theory says so.
func TestUDPBlockedICETCPInProcessCannotDial(t *testing.T) {
	yaml := strings.Replace(mustLibraryYAML(t, "udp-blocked-ice-tcp"), "a: {nat: udp-blocked, peer: pion-process}", "a: {nat: udp-blocked}", 1)
	yaml = strings.Replace(yaml, "expect:\n  connected: true\n  path: direct\n  protocol: tcp\n  within: 10s\n  delivered: 100\n",
		"steps: [{connect: {}}, {wait_connected: {timeout: 4s}}]\nexpect: {connected: false}\n", 1)
	spec, err := Parse("in-process.yaml", []byte(yaml))
	require.NoError(t, err)
	want, err := lab.ExpectWithICETCP(spec.Topology.A.NAT, spec.Topology.B.NAT, spec.ICE.TURN, spec.iceTCPTheory())
	require.NoError(t, err)
	require.Equal(t, []string{lab.PathFailed}, want)
	res, err := runPionProcessSpec(t, yaml)
	require.NoError(t, err)
	require.True(t, res.Passed(), "checks %+v diagnoses %v", res.Checks, res.Diagnoses)
	for _, c := range res.Call.Candidates["a"] {
		require.NotEqual(t, "active", c.TCPType, "side a in process made an active candidate: %s", c)
	}
}

// Cancelling the run (Ctrl-C) mid-call stops natkit call (SIGINT, then its
// group killed by PID), leaves no process or namespace, and the call is
// interrupted, not crashed.
func TestPionProcessCancelled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts natkit call in the kernel lab")
	}
	labtest.Require(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pids []int
	processStepHook = func(step string, peers map[string]processPeer) {
		if step == "connect" {
			for _, p := range peers {
				pp := p.(*pionProcess)
				pp.mu.Lock()
				pids = append(pids, pp.cmd.Process.Pid)
				pp.mu.Unlock()
			}
			cancel()
		}
	}
	defer func() { processStepHook = nil }()
	spec, err := Parse("cancel.yaml", []byte(`name: pion-process-cancel
topology:
  a: {nat: port-restricted-cone, peer: pion-process}
  b: {nat: port-restricted-cone, peer: pion-process}
ice: {turn: true}
`))
	require.NoError(t, err)
	before := labtest.Namespaces()
	res, err := Run(ctx, spec, Options{Net: NetKernel, Natkit: natkitForTest(t)})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, before, labtest.Namespaces(), "namespaces left behind")
	require.Len(t, pids, 2)
	for _, pid := range pids {
		require.Empty(t, browser.GroupProcesses(pid), "natkit call %d's group", pid)
	}
	require.NotNil(t, res)
	require.Equal(t, call.CauseInterrupted, res.Call.Cause, "%+v", res.Peers)
}

// A chromium offerer and a pion-process answerer: two process peers of
// different kinds through the one driver. Its time is Chromium's start
// (10-20 s on this machine, as in browser_test.go), not the call's.
func TestChromiumCallsPionProcess(t *testing.T) {
	requireChromiumLab(t)
	res, err := runPionProcessSpec(t, `name: chromium-pion-process
topology:
  a: {nat: full-cone, peer: chromium}
  b: {nat: port-restricted-cone, peer: pion-process}
expect: {connected: true, path: direct, delivered: 100}
`)
	require.NoError(t, err)
	require.True(t, res.Passed(), "checks %+v diagnoses %v", res.Checks, res.Diagnoses)
	require.NotNil(t, res.Browsers["a"])
	require.Equal(t, 0, res.Peers["b"].ExitCode, res.Peers["b"].StderrTail)
	require.Equal(t, call.ProbeStats{Sent: 10, Received: 10}, res.Call.Messages, "the browser's probes, echoed by natkit call")
	require.NotEmpty(t, res.Call.Candidates["a"])
	require.NotEmpty(t, res.Call.Candidates["b"])
}
