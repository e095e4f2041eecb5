package scenarios

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"unknown key", "name: x\ntopology:\n  a: {nat: open, colour: red}\n", "f.yaml:3: unknown key 'colour'; valid keys: nat, mapping"},
		{"wrong type", "name: x\ntopology:\n  a:\n    loss: lots\n", "f.yaml:4: cannot unmarshal !!str `lots`"},
		{"bad duration", "name: x\nsignaling:\n  delay: soon\n", `f.yaml:3: duration "soon"`},
		{"negative duration", "name: x\nsignaling:\n  delay: -1s\n", "f.yaml:3: duration \"-1s\" must not be negative"},
		{"no name", "description: y\n", "f.yaml:1: name is required"},
		{"unknown preset", "name: x\ntopology:\n  b:\n    nat: cone\n", `f.yaml:4: unknown nat preset "cone"`},
		{"loss range", "name: x\ntopology:\n  a:\n    nat: full-cone\n    loss: 120\n", "f.yaml:5: loss 120"},
		{"bandwidth", "name: x\ntopology:\n  a: {bandwidth: fast}\n", `f.yaml:3: bandwidth "fast"`},
		{"policy", "name: x\nice:\n  policy: some\n", `f.yaml:3: policy "some"`},
		{"relay without turn", "name: x\nice:\n  policy: relay\n", "f.yaml:3: policy relay needs turn: true"},
		{"two actions", "name: x\nsteps:\n  - connect: {}\n  - {send: {messages: 1}, hangup: {}}\n", "f.yaml:4: step 2: want exactly one action"},
		{"first not connect", "name: x\nsteps:\n  - hangup: {}\n", "f.yaml:3: the first step must be connect"},
		{"send zero", "name: x\nsteps:\n  - connect: {}\n  - send: {messages: 0}\n", "f.yaml:4: step 2: send needs messages > 0"},
		{"impair side", "name: x\nsteps:\n  - connect: {}\n  - impair: {side: c, loss: 5}\n", `f.yaml:4: step 2: impair side "c"`},
		{"at goes back", "name: x\nsteps:\n  - connect: {}\n  - {at: 5s, wait: {for: 1s}}\n  - {at: 2s, hangup: {}}\n", "f.yaml:5: step 3: at 2s is before"},
		{"impossible expectation", "name: x\nexpect:\n  connected: false\n  path: relay\n", "f.yaml:3: a call expected not to connect has no path"},
		{"expect path", "name: x\nexpect:\n  path: sideways\n", `f.yaml:3: path "sideways"`},
		{"not yaml", "name: [x\n", "f.yaml:"},
		{"empty", "", "f.yaml: empty scenario"},
		{"audio expectation without audio", "name: x\nexpect:\n  audio_delivered: 90\n", "f.yaml:3: audio_delivered needs media"},
		{"rebind side", "name: x\ntopology: {a: {nat: full-cone}}\nsteps:\n  - connect: {}\n  - rebind: {side: c}\n", `f.yaml:5: step 2: rebind side "c": want a or b`},
		{"rebind open side", "name: x\nsteps:\n  - connect: {}\n  - rebind: {side: b}\n", "f.yaml:4: step 2: rebind side b: the side has no nat"},
		{"rebind with for", "name: x\ntopology: {a: {nat: symmetric}}\nsteps:\n  - connect: {}\n  - rebind:\n      side: a\n      for: 2s\n", "f.yaml:7: step 2: rebind takes no for"},
		{"rebind unknown key", "name: x\ntopology: {a: {nat: symmetric}}\nsteps:\n  - connect: {}\n  - rebind: {side: a, port: 5000}\n", "f.yaml:5: unknown key 'port'; valid keys: side, for"},
		{"silence without for", "name: x\ntopology: {a: {nat: full-cone}}\nsteps:\n  - connect: {}\n  - silence: {side: a}\n", "f.yaml:5: step 2: silence needs for > 0"},
		{"silence custom nat ok, open side not", "name: x\ntopology: {a: {mapping: EIM, filtering: EIF}}\nsteps:\n  - connect: {}\n  - silence: {side: a, for: 1s}\n  - silence: {side: b, for: 1s}\n", "f.yaml:6: step 3: silence side b: the side has no nat"},
		{"rebind and silence in one step", "name: x\ntopology: {a: {nat: full-cone}}\nsteps:\n  - connect: {}\n  - {rebind: {side: a}, silence: {side: a, for: 1s}}\n", "f.yaml:5: step 2: want exactly one action"},
		{"wait_disconnected with for", "name: x\nsteps:\n  - connect: {}\n  - wait_disconnected: {for: 1s}\n", "f.yaml:4: step 2: wait_disconnected takes a timeout, not for"},
		{"rebound side", "name: x\nexpect:\n  rebound: c\n", `f.yaml:3: rebound "c": want a or b`},
		{"rebound open side", "name: x\nexpect:\n  rebound: a\n", "f.yaml:3: rebound a: side a has no nat"},
		{"detected but not connected", "name: x\nexpect:\n  connected: false\n  detected_within: 5s\n", "f.yaml:3: a call expected not to connect"},
		{"turn_transport value", "name: x\nice:\n  turn: true\n  turn_transport: quic\n", `f.yaml:4: turn_transport "quic": want udp, tcp, tls or dtls`},
		{"turn_transport without turn", "name: x\nice:\n  turn_transport: tcp\n", "f.yaml:3: turn_transport without turn: true"},
		{"turn_transport tls with coturn", "name: x\nrelay: coturn\nice:\n  turn: true\n  turn_transport: tls\n", "f.yaml:5: turn_transport tls is not available with relay: coturn"},
		{"relay_protocol value", "name: x\nexpect:\n  relay_protocol: sctp\n", `f.yaml:3: relay_protocol "sctp": want udp, tcp, tls or dtls`},
		{"relay_protocol direct", "name: x\nexpect:\n  path: direct\n  relay_protocol: tcp\n", "f.yaml:4: relay_protocol needs a relayed call"},
		{"open with lifetime", "name: x\ntopology:\n  a: {mapping_lifetime: 5s}\n", "f.yaml:3: an open side has no nat mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml))
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrBadScenario), "%v", err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestParseDefaults(t *testing.T) {
	s, err := Parse("f.yaml", []byte("name: x\ntopology:\n  a: {nat: symmetric, bandwidth: 2mbit, latency: 40ms}\nice: {timeouts: fast, relay_wait: 3s}\n"))
	require.NoError(t, err)
	require.Equal(t, Bandwidth(2_000_000), s.Topology.A.Bandwidth)
	ice, err := s.iceSettings()
	require.NoError(t, err)
	require.Equal(t, "3s", ice.RelayWait.String())
	require.Equal(t, "100ms", ice.SrflxWait.String(), "the fast preset under the override")
}

func TestParseRebindSteps(t *testing.T) {
	s, err := Parse("f.yaml", []byte("name: x\ntopology: {a: {nat: symmetric, mapping_lifetime: 2s}, b: {nat: full-cone}}\nsteps:\n  - connect: {}\n  - {at: 2s, rebind: {side: a}}\n  - silence: {side: b, for: 1500ms}\n  - wait_disconnected: {timeout: 9s}\nexpect: {rebound: a, detected_within: 6s}\n"))
	require.NoError(t, err)
	require.Len(t, s.Steps, 4)
	name, n := s.Steps[1].action()
	require.Equal(t, "rebind", name)
	require.Equal(t, 1, n)
	require.Equal(t, "a", s.Steps[1].Rebind.Side)
	require.Equal(t, 2*time.Second, s.Steps[1].At.D())
	require.Equal(t, SideStep{Side: "b", For: Duration(1500 * time.Millisecond)}, *s.Steps[2].Silence)
	require.Equal(t, 9*time.Second, s.Steps[3].WaitDisconnected.Timeout.D())
	require.Equal(t, "a", s.Expect.Rebound)
	require.Equal(t, 6*time.Second, s.Expect.DetectedWithin.D())
}

func TestLoad(t *testing.T) {
	_, err := Load("no-such-scenario")
	require.ErrorIs(t, err, ErrUnknownScenario)
	_, err = Load("testdata/missing.yaml")
	require.ErrorIs(t, err, ErrBadScenario)
	s, err := Load("lossy-link")
	require.NoError(t, err)
	require.Equal(t, 200*time.Millisecond, s.Topology.A.Latency.D())
}

// A mistyped key says so in the file's terms, with the closest valid one.
func TestUnknownKeyInFileTerms(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"name: x\nsteps:\n  - connect: {}\n  - wait_conected: {}\n", "x.yaml:4: unknown step 'wait_conected' (did you mean wait_connected?); valid steps (each may also have at): connect, wait_connected, send"}, //nolint:misspell // the typo is the input
		{"name: x\nexpect:\n  conected: true\n", "x.yaml:3: unknown key 'conected' (did you mean connected?); valid keys: connected, path"},                                                                        //nolint:misspell // the typo is the input
		{"name: x\ntopology:\n  a: {nat: open, zzzzzzzz: 1}\n", "x.yaml:3: unknown key 'zzzzzzzz'; valid keys: nat, mapping"},
	}
	for _, tt := range tests {
		_, err := Parse("x.yaml", []byte(tt.yaml))
		require.Error(t, err)
		require.ErrorIs(t, err, ErrBadScenario)
		require.Contains(t, err.Error(), tt.want)
		require.NotContains(t, err.Error(), "scenarios.")
	}
}

// TURN over TCP or TLS needs the kernel lab's relay: vnet refuses it by
// its key, before anything is built.
func TestTURNTransportNeedsKernel(t *testing.T) {
	for _, tr := range []string{"tcp", "tls"} {
		s, err := Parse("f.yaml", []byte("name: x\nice:\n  turn: true\n  turn_transport: "+tr+"\n"))
		require.NoError(t, err)
		err = s.CheckBackend(NetVNet)
		require.ErrorContains(t, err, "f.yaml:4: turn_transport "+tr+" needs the kernel backend (--net kernel)")
		require.True(t, errors.Is(err, ErrBadScenario), "%v", err)
		require.NoError(t, s.CheckBackend(NetKernel))
	}
	s, err := Parse("f.yaml", []byte("name: x\nice:\n  turn: true\n  turn_transport: udp\n"))
	require.NoError(t, err)
	require.NoError(t, s.CheckBackend(NetVNet))
}
