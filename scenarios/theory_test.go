package scenarios

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/lab"
)

// TestRelayProtocolScenariosFollowTheory: every library scenario that
// expects a relay protocol is what the kernel theory predicts for its
// presets: the path (lab.Expect) and the transport side a reaches the
// relay over (lab.ExpectRelayProtocol) for the transports it offers.
func TestRelayProtocolScenariosFollowTheory(t *testing.T) {
	checked := 0
	for _, name := range LibraryNames() {
		spec, err := Library(name)
		require.NoError(t, err)
		e := spec.Expect
		if e.RelayProtocol == "" {
			continue
		}
		checked++
		a, b := spec.Topology.A.NAT, spec.Topology.B.NAT
		paths, err := lab.Expect(a, b, spec.ICE.TURN)
		require.NoError(t, err, name)
		require.Contains(t, paths, e.Path, "%s: theory %v", name, paths)
		offered := []string{spec.ICE.TURNTransport}
		if offered[0] == "" {
			offered = []string{TURNOverUDP}
		}
		got, err := lab.ExpectRelayProtocol(a, offered)
		require.NoError(t, err, name)
		require.Equal(t, []string{e.RelayProtocol}, got, "%s offers %v", name, offered)
	}
	require.GreaterOrEqual(t, checked, 4)
}
