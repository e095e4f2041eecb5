package scenarios

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/probe/call"
)

// relay: coturn runs Debian's turnserver in the WAN namespace: a relay-only
// call between a symmetric NAT and a port-restricted one goes through it.
func TestCoturnRelayScenario(t *testing.T) {
	labtest.Require(t)
	externaltest.LookPath(t, "turnserver", "coturn")
	spec, err := Parse("coturn.yaml", []byte(`name: coturn-relay
relay: coturn
topology:
  a: {nat: symmetric}
  b: {nat: port-restricted-cone}
ice: {stun: false, turn: true, policy: relay, timeouts: fast}
expect: {connected: true, path: relay, delivered: 100}
`))
	require.NoError(t, err)
	before := labtest.Namespaces()
	res, err := Run(context.Background(), spec, Options{Net: NetKernel})
	require.NoError(t, err)
	require.Equal(t, before, labtest.Namespaces(), "namespaces left behind")
	require.True(t, res.Passed(), "checks %+v diagnoses %v", res.Checks, res.Diagnoses)
	require.Equal(t, lab.RelayCoturn, res.Relay)
	require.Equal(t, call.PathRelay, res.Call.Path.Class)
	t.Logf("path: %s", res.Call.Path.Describe())
	// Both sides' relayed candidates are on coturn's relay address.
	for _, side := range []string{"a", "b"} {
		var relayed []string
		for _, c := range res.Call.Candidates[side] {
			if c.Type == "relay" {
				host, _, err := net.SplitHostPort(c.Address)
				require.NoError(t, err)
				relayed = append(relayed, host)
			}
		}
		require.Contains(t, relayed, lab.RelayIP, "side %s candidates %+v", side, res.Call.Candidates[side])
	}
}

// On vnet, relay: coturn is a scenario error naming the key and the backend.
func TestCoturnRelayRefusedOnVNet(t *testing.T) {
	spec, err := Parse("c.yaml", []byte("name: c\nrelay: coturn\n"))
	require.NoError(t, err)
	_, err = Run(context.Background(), spec, Options{})
	require.ErrorIs(t, err, ErrBadScenario)
	require.Contains(t, err.Error(), "c.yaml:2: relay: coturn is not available on the vnet backend")
	_, err = Parse("c.yaml", []byte("name: c\nrelay: pion\n"))
	require.ErrorContains(t, err, `relay "pion": want natkit or coturn`)
	_, err = Parse("c.yaml", []byte("name: c\nrelay: coturn\nice: {turn: true}\nexpect: {auth_failure: a}\n"))
	require.ErrorContains(t, err, "c.yaml:4: auth_failure is not available with relay: coturn")
}
