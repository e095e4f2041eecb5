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
		{"unknown key", "name: x\ntopology:\n  a: {nat: open, colour: red}\n", "f.yaml:3: field colour not found"},
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

func TestLoad(t *testing.T) {
	_, err := Load("no-such-scenario")
	require.ErrorIs(t, err, ErrUnknownScenario)
	_, err = Load("testdata/missing.yaml")
	require.ErrorIs(t, err, ErrBadScenario)
	s, err := Load("lossy-link")
	require.NoError(t, err)
	require.Equal(t, 200*time.Millisecond, s.Topology.A.Latency.D())
}
