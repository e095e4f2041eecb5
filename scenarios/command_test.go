package scenarios

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/lab/labtest"
)

// buildNatkit builds the natkit command for a command peer to run.
func buildNatkit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "natkit")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/natkit/natkit/cmd/natkit").CombinedOutput()
	require.NoError(t, err, "go build natkit: %s", out)
	return bin
}

// natkitCall is a command peer that is natkit call itself, given what the
// runner passes in the environment.
func natkitCall(bin string) []string {
	return []string{"/bin/sh", "-c", `printf '%s' "$NATKIT_ICE_SERVERS" | exec "$0" call --signal "$NATKIT_SIGNAL_URL" --room "$NATKIT_ROOM" --role "$NATKIT_ROLE" --ice-servers - --timeout 20s`, bin}
}

func runCommandScenario(t *testing.T, spec *Spec) *Result {
	t.Helper()
	before := labtest.Namespaces()
	res, err := Run(context.Background(), spec, Options{Net: NetKernel})
	require.NoError(t, err)
	require.Equal(t, before, labtest.Namespaces(), "namespaces left behind")
	return res
}

// natkit call, run as a command peer inside side a's namespace, calls
// natkit's in-process engine on side b through two kernel NATs and natkit
// signal in the WAN namespace, in both roles.
func TestCommandPeerConnects(t *testing.T) {
	labtest.Require(t)
	argv := natkitCall(buildNatkit(t))
	yes := true
	cmdSide := SideSpec{NAT: "port-restricted-cone", Peer: PeerCommand, Command: argv}
	engineSide := SideSpec{NAT: "full-cone"}
	for _, tc := range []struct {
		name string
		a, b SideSpec
	}{
		{"command-offers", cmdSide, engineSide},
		{"command-answers", engineSide, cmdSide},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCommandScenario(t, &Spec{Name: tc.name, Topology: Topology{A: tc.a, B: tc.b},
				ICE: ICE{Timeouts: "fast"}, Expect: Expect{Connected: &yes, Path: "direct"}})
			for side, p := range res.Peers {
				t.Logf("side %s: %+v", side, *p)
			}
			require.True(t, res.Passed(), "checks %+v diagnoses %v", res.Checks, res.Diagnoses)
			require.Len(t, res.Peers, 2)
			cmdSide := "a"
			if tc.name == "command-answers" {
				cmdSide = "b"
			}
			p := res.Peers[cmdSide]
			require.Equal(t, PeerCommand, p.Peer)
			require.Equal(t, 0, p.ExitCode)
			require.True(t, p.Connected)
			require.NotNil(t, res.Call)
			require.True(t, res.Call.Connected)
			require.Equal(t, "direct", res.Peers[otherSide(cmdSide)].Path)
			require.Contains(t, res.Report().Tables[len(res.Report().Tables)-2].Title, "peers")
		})
	}
}

func otherSide(s string) string {
	if s == "a" {
		return "b"
	}
	return "a"
}

// A command that fails is a failed side with its exit code and the end of
// its stderr in the diagnosis, and the engine side stops waiting for it.
func TestCommandPeerFails(t *testing.T) {
	labtest.Require(t)
	spec, err := Parse("command-fails.yaml", []byte(`name: command-fails
topology:
  a: {nat: symmetric, peer: command, command: ["/bin/sh", "-c", "echo cannot reach the signaling server >&2; exit 7"]}
  b: {nat: full-cone}
expect: {connected: true}
`))
	require.NoError(t, err)
	res := runCommandScenario(t, spec)
	require.False(t, res.Passed())
	p := res.Peers["a"]
	require.Equal(t, 7, p.ExitCode)
	require.False(t, p.Connected)
	require.NotEmpty(t, res.Diagnoses)
	require.Contains(t, res.Diagnoses[0], "exited 7")
	require.Contains(t, res.Diagnoses[0], "cannot reach the signaling server")
	require.False(t, res.Peers["b"].Connected)

	// Exit 0, but its JSON line says it did not connect.
	spec, err = Parse("command-json.yaml", []byte(`name: command-json
topology:
  a: {nat: full-cone}
  b: {nat: symmetric, peer: command, command: ["/bin/sh", "-c", "echo starting; echo '{\"connected\":false,\"detail\":\"ice failed\"}'"]}
expect: {connected: false}
`))
	require.NoError(t, err)
	res = runCommandScenario(t, spec)
	require.True(t, res.Passed(), "%+v", res.Checks)
	p = res.Peers["b"]
	require.Equal(t, 0, p.ExitCode)
	require.False(t, p.Connected)
	require.Equal(t, "ice failed", p.Detail)
	require.Contains(t, strings.Join(res.Diagnoses, "\n"), "side a: natkit peer (offer) did not connect: stopped: the command peer exited without connecting")
	require.Contains(t, strings.Join(res.Diagnoses, "\n"), "exited 0 but reported connected: false: ice failed")
}

// On vnet a command peer is a scenario error naming the key and the
// backend; keys a command's call cannot honour are refused when parsed.
func TestCommandPeerRefused(t *testing.T) {
	spec, err := Parse("c.yaml", []byte("name: c\ntopology: {a: {peer: command, command: [/bin/true]}}\n"))
	require.NoError(t, err)
	_, err = Run(context.Background(), spec, Options{})
	require.ErrorIs(t, err, ErrBadScenario)
	require.Contains(t, err.Error(), "c.yaml:2: peer: command is not available on the vnet backend")
	for yaml, want := range map[string]string{
		"name: c\ntopology: {a: {peer: command}}\n":                                                          "needs command",
		"name: c\ntopology: {a: {peer: app, command: [x]}}\n":                                                `peer "app": want natkit, command, chromium or pion-process`,
		"name: c\ntopology: {a: {command: [x]}}\n":                                                           "command needs peer: command",
		"name: c\ntopology: {a: {peer: command, command: [x]}}\nsteps: [{connect: {}}, {ice_restart: {}}]\n": "step 2: ice_restart is not available with peer: command",
		"name: c\ntopology: {a: {peer: command, command: [x]}}\nexpect: {delivered: 90}\n":                   "expect delivered is not available with peer: command",
	} {
		_, err := Parse("c.yaml", []byte(yaml))
		require.ErrorIs(t, err, ErrBadScenario, yaml)
		require.Contains(t, err.Error(), want, yaml)
	}
}
