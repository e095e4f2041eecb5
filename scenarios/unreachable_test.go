package scenarios

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/probe/call"
)

// A side whose UDP is dropped, given TURN over UDP only, reaches no server:
// the call fails, and the cause is that side's unreachable servers, not the
// 403s the other side's relay answers for its private host address.
func TestUDPBlockedOverUDPNamesUnreachableServers(t *testing.T) {
	labtest.Require(t)
	spec, err := Parse("udp-blocked-udp.yaml", []byte(`name: udp-blocked-turn-udp
topology:
  a: {nat: udp-blocked}
  b: {nat: port-restricted-cone}
ice: {turn: true, timeouts: fast}
expect: {connected: false}
`))
	require.NoError(t, err)
	before := labtest.Namespaces()
	res, err := Run(context.Background(), spec, Options{Net: NetKernel})
	require.NoError(t, err)
	require.Equal(t, before, labtest.Namespaces(), "namespaces left behind")
	require.True(t, res.Passed(), "checks %+v diagnoses %v", res.Checks, res.Diagnoses)
	require.NotNil(t, res.Call)
	require.Equal(t, call.CauseServersUnreachable, res.Call.Cause, res.Call.Diagnosis())
	require.Equal(t, []string{"a"}, res.Call.Unreached)
	require.Contains(t, res.Call.Diagnosis(), "side a gathered no server-reflexive or relay candidate")
	require.Contains(t, res.Call.Diagnosis(), "transport=tcp")
}
