package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/reports"
	"github.com/natkit/natkit/scenarios"
)

func TestScenarioListAndShow(t *testing.T) {
	code, out, _ := runNatkit(t, context.Background(), "scenario", "list")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "lossy-link")
	assert.Contains(t, out, "wrong-turn-credentials")

	code, out, _ = runNatkit(t, context.Background(), "scenario", "show", "lossy-link")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "name: lossy-link")
}

func TestScenarioBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"scenario", "show", "nope"}, `unknown scenario "nope"`},
		{[]string{"scenario", "run", "nope"}, `unknown scenario "nope"`},
		{[]string{"scenario", "run", filepath.Join("testdata", "scenario-bad.yaml")}, "scenario-bad.yaml:5: loss 250"},
		{[]string{"scenario", "run", "testdata/missing.yaml"}, "testdata/missing.yaml: read"},
		{[]string{"scenario", "run", "lossy-link", "--parallel", "0"}, "--parallel 0"},
		{[]string{"scenario", "run"}, "see natkit scenario list"},
		{[]string{"scenario", "run", "--all", "lossy-link"}, "give no names with it"},
		{[]string{"matrix", "--nat", "open,cone"}, `--nat: unknown nat preset "cone"`},
		{[]string{"matrix", "--turn", "maybe"}, `--turn: "maybe"`},
		{[]string{"matrix", "--ice", "slow"}, `--ice "slow"`},
		{[]string{"matrix", "--nat", "open,open"}, `given twice`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			code, _, stderr := runNatkit(t, context.Background(), tt.args...)
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

func TestScenarioRunReport(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "s.json")
	code, out, stderr := runNatkit(t, context.Background(), "scenario", "run", "classic-full-cone-pair", "candidates-before-offer", "--parallel", "2", "--report", jsonPath)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "2 of 2 scenarios passed")
	b, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var rep reports.Report
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Len(t, rep.Children, 2)
	for _, ch := range rep.Children {
		assert.Equal(t, reports.VerdictPass, ch.Verdict)
		assert.NotEmpty(t, ch.Events, "each scenario keeps its call timeline")
	}
}

func TestScenarioFailingExpectationExits1(t *testing.T) {
	f := filepath.Join(t.TempDir(), "wrong.yaml")
	require.NoError(t, os.WriteFile(f, []byte(`name: wrong-on-purpose
topology: {a: {nat: full-cone}, b: {nat: full-cone}}
ice: {timeouts: fast}
expect: {path: relay}
`), 0o644))
	code, out, _ := runNatkit(t, context.Background(), "scenario", "run", f)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "FAIL")
}

func TestScenarioInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code, out, _ := runNatkit(t, ctx, "scenario", "run", "classic-full-cone-pair")
	assert.Equal(t, 130, code)
	assert.Contains(t, out, "interrupted")
}

func TestScenarioRebindStepErrors(t *testing.T) {
	tests := []struct {
		yaml string
		want string
	}{
		{"name: r\nsteps:\n  - connect: {}\n  - rebind: {side: a}\n", "r.yaml:4: step 2: rebind side a: the side has no nat"},
		{"name: r\ntopology: {a: {nat: symmetric}}\nsteps:\n  - connect: {}\n  - rebind: {side: a, for: 3s}\n", "r.yaml:5: step 2: rebind takes no for"},
		{"name: r\ntopology: {b: {nat: full-cone}}\nsteps:\n  - connect: {}\n  - silence: {side: b}\n", "r.yaml:5: step 2: silence needs for > 0"},
		{"name: r\ntopology: {b: {nat: full-cone}}\nexpect: {rebound: a}\n", "r.yaml:3: rebound a: side a has no nat"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "r.yaml")
			require.NoError(t, os.WriteFile(f, []byte(tt.yaml), 0o644))
			code, _, stderr := runNatkit(t, context.Background(), "scenario", "run", f)
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

// A mistyped step is named in the file's terms, with file:line, the
// closest valid step and the list, and exits 2 (issue 13 #16).
func TestScenarioUnknownStep(t *testing.T) {
	f := filepath.Join(t.TempDir(), "typo.yaml")
	require.NoError(t, os.WriteFile(f, []byte("name: typo\nsteps:\n  - connect: {}\n  - wait_conected: {timeout: 5s}\n"), 0o644)) //nolint:misspell // the typo is the input
	code, _, stderr := runNatkit(t, context.Background(), "scenario", "run", f)
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "typo.yaml:4: unknown step 'wait_conected' (did you mean wait_connected?)")
	assert.Contains(t, stderr, "valid steps (each may also have at): connect, wait_connected, send, impair")
	assert.NotContains(t, stderr, "scenarios.Step")
}

// --all selects every shipped scenario; interrupted before any started,
// each is skipped, none failed (issue 13 #8, #17).
func TestScenarioRunAllInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	path := filepath.Join(t.TempDir(), "all.json")
	code, _, stderr := runNatkit(t, ctx, "scenario", "run", "--all", "--report", path)
	assert.Equal(t, 130, code, stderr)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var rep reports.Report
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.Len(t, rep.Children, len(scenarios.LibraryNamesFor(scenarios.NetVNet)))
	for _, c := range rep.Checks {
		assert.NotEqual(t, reports.VerdictFail, c.Verdict, c.Name)
		assert.NotContains(t, c.Message, "expected , observed")
	}
	for _, ch := range rep.Children {
		assert.Equal(t, reports.VerdictSkip, ch.Checks[0].Verdict, ch.Name)
	}
	assert.Contains(t, rep.Summary, fmt.Sprintf("0 of %d scenarios passed; %d not run", len(rep.Children), len(rep.Children)))
}

// A kernel-only scenario on vnet is an exit-2 error naming the key, and
// --all on vnet leaves such scenarios out.
func TestScenarioKernelOnlyOnVNet(t *testing.T) {
	for _, name := range []string{"ipv6-only-nat64-via-turn", "ipv6-only-nat64-via-turn-udp", "dual-stack-ipv6-direct", "udp-blocked-turn-tcp", "udp-blocked-turn-tls"} {
		code, _, stderr := runNatkit(t, context.Background(), "scenario", "run", name)
		assert.Equal(t, 2, code, stderr)
		assert.Contains(t, stderr, "library/"+name+".yaml:")
		assert.Contains(t, stderr, "nat: ")
		assert.Contains(t, stderr, "needs the kernel backend (--net kernel)")
		assert.NotContains(t, scenarios.LibraryNamesFor(scenarios.NetVNet), name)
		assert.Contains(t, scenarios.LibraryNamesFor(scenarios.NetKernel), name)
	}
}

func TestScenarioRunRepeat(t *testing.T) {
	code, _, stderr := runNatkit(t, context.Background(), "scenario", "run", "classic-full-cone-pair", "--repeat", "0")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--repeat 0: want 1 or more")
	code, out, stderr := runNatkit(t, context.Background(), "scenario", "run", "classic-full-cone-pair", "--repeat", "2", "--parallel", "2")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "2 of 2 runs passed; 2 connected (100%)")
}
