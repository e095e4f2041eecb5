package scenarios

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/reports"
	"github.com/natkit/natkit/vnet"
)

// pion/turn's client can leave a ChannelBind transaction waiting out its
// retransmissions after the allocation closes; it ends on its own.
func TestMain(m *testing.M) {
	code := m.Run()
	removeTestNatkit()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/pion/turn/v4/internal/client.(*Transaction).WaitForResult")); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
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
	for i, c := range res.Cells {
		if !c.ExpectConnected {
			// The real call names its cause from the NAT theory it was given.
			require.Equal(t, call.CauseNoDirectPath, c.Result.Cause, c.Name())
			require.Contains(t, rep.Children[i].Summary, "only a TURN relay can carry this call", c.Name())
		}
	}
	t.Logf("wall %v", res.Duration)
}

// A cell that differs from theory is a failed check with a finding, and the
// grid marks it; nothing is special-cased.
func TestMatrixReportMismatch(t *testing.T) {
	cfg := MatrixConfig{NATs: []string{"full-cone", "symmetric"}, TURN: TURNNo}.withDefaults()
	require.NoError(t, cfg.validate())
	relayed := &call.Pair{Local: call.Candidate{Type: "relay"}, Remote: call.Candidate{Type: "srflx"}}
	res := &MatrixResult{Config: cfg, Cells: []*Cell{
		{A: "full-cone", B: "full-cone", ExpectConnected: true, ExpectPath: "direct",
			Result: &call.Result{Connected: true, TimeToConnected: time.Second, Path: call.PathOf(relayed, "a", "b", nil)}},
		{A: "symmetric", B: "symmetric", ExpectConnected: false,
			Result: &call.Result{Connected: false}},
		{A: "full-cone", B: "symmetric", ExpectConnected: true, ExpectPath: "direct"}, // not run
	}}
	rep := res.Report()
	require.Equal(t, reports.VerdictFail, rep.Verdict)
	require.Contains(t, rep.Summary, "1 of 2 calls differ from theory; 1 not run")
	require.Equal(t, reports.VerdictFail, rep.Checks[0].Verdict)
	require.Contains(t, rep.Checks[0].Message, "relayed through a's TURN relay")
	require.Equal(t, "relay", rep.Grids[0].Cells[0][0].Class)
	require.Contains(t, rep.Grids[0].Cells[0][0].Text, "expected connected, direct")
	require.Equal(t, reports.VerdictPass, rep.Checks[1].Verdict)
	require.Equal(t, reports.VerdictSkip, rep.Checks[2].Verdict)
}

func TestExpectedFailureCellNamesItsCause(t *testing.T) {
	sym, err := vnet.LookupPreset("symmetric")
	require.NoError(t, err)
	prc, err := vnet.LookupPreset("port-restricted-cone")
	require.NoError(t, err)
	// As runCell's call classifies it: the NAT theory is its input.
	c := &Cell{A: "symmetric", B: "port-restricted-cone", Result: &call.Result{Cause: call.CauseNoDirectPath, NoDirectPath: vnet.WhyNoDirectPath(sym, prc)}}
	got := cellReport(c, reports.VerdictPass).Summary
	require.Contains(t, got, "side a's NAT (symmetric (APDM/APDF)) gives every destination a new external port")
	require.Contains(t, got, "only a TURN relay can carry this call")
	c = &Cell{A: "full-cone", B: "full-cone", Result: &call.Result{}}
	require.Equal(t, "no connection", cellReport(c, reports.VerdictFail).Summary, "no theory reason: no made-up cause")
}

// A kernel-only preset on vnet is refused before any cell runs, and the
// error says vnet does not model it rather than calling it unknown.
func TestVNetMatrixRefusesKernelPresets(t *testing.T) {
	res, err := RunMatrix(context.Background(), MatrixConfig{NATs: []string{"linux-masquerade", "open"}, TURN: TURNNo})
	require.ErrorIs(t, err, ErrConfig)
	require.Nil(t, res)
	require.Contains(t, err.Error(), `"linux-masquerade": a kernel preset that vnet does not model (run it with --net kernel)`)
}
