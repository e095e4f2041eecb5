package scenarios

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// pion/turn's client can leave a ChannelBind transaction waiting out its
// retransmissions after the allocation closes; it ends on its own.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/pion/turn/v4/internal/client.(*Transaction).WaitForResult"))
}

func TestMatrixMatchesTheory(t *testing.T) {
	res, err := RunMatrix(context.Background(), MatrixConfig{})
	require.NoError(t, err)
	require.Len(t, res.Cells, 50)
	for _, c := range res.Cells {
		require.True(t, c.Match(), "%s: expected %s, observed %s", c.Name(), c.ExpectedText(), c.ObservedText())
	}
	rep := res.Report()
	require.Equal(t, "pass", string(rep.Verdict), rep.Summary)
	require.Len(t, rep.Grids, 2)
	require.Len(t, rep.Children, 50)
	t.Logf("wall %v", res.Duration)
}
