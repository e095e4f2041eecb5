package scenarios

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
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
			res, err := Run(context.Background(), spec, Options{})
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
