package scenarios

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/lab"
)

// failureDiagnoses are what a failing shipped call must say about its cause.
var failureDiagnoses = map[string]string{
	"classic-symmetric-vs-port-restricted": "A TURN server (relay candidates that reach the peer) is needed for this pair",
	"relay-candidates-dropped":             "relay candidates were gathered but no relayed pair worked",
	"wrong-turn-credentials":               "401 Unauthorized",
}

func TestLibraryScenariosPass(t *testing.T) {
	names := LibraryNames()
	require.GreaterOrEqual(t, len(names), 12)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			spec, err := Library(name)
			require.NoError(t, err)
			require.Equal(t, name, spec.Name, "file name and scenario name agree")
			var o Options
			if err := spec.CheckBackend(NetVNet); err != nil {
				// A kernel-only scenario: vnet refuses it by its key, and
				// the kernel runs it where it can.
				require.ErrorContains(t, err, "needs the kernel backend")
				if lab.Check() != nil {
					t.Skipf("%v; on vnet: %v", lab.Check(), err)
				}
				o.Net = NetKernel
				if spec.Topology.hasProcessPeer() {
					o.Natkit = natkitForTest(t)
				}
			}
			res, err := Run(context.Background(), spec, o)
			require.NoError(t, err)
			for _, c := range res.Checks {
				require.True(t, c.Pass, "%s: %s: expected %s, observed %s %s", name, c.Name, c.Expected, c.Observed, c.Message)
			}
			require.NotEmpty(t, res.Checks, "every shipped scenario expects something")
			if want, ok := failureDiagnoses[name]; ok {
				require.Contains(t, strings.Join(res.Diagnoses, "\n"), want)
			}
		})
	}
}
