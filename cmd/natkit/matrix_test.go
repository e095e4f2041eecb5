package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/reports"
)

func TestMatrixSmall(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "m.json")
	htmlPath := filepath.Join(dir, "m.html")
	code, out, stderr := runNatkit(t, context.Background(), "matrix", "--nat", "full-cone,symmetric", "--turn", "yes", "--report", jsonPath, "--report", htmlPath)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "4 of 4 calls match theory")
	b, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var rep reports.Report
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Len(t, rep.Grids, 1)
	g := rep.Grids[0]
	assert.Equal(t, []string{"full-cone", "symmetric"}, g.Rows)
	assert.Equal(t, "direct", g.Cells[0][1].Class, "full-cone → symmetric goes direct")
	assert.Equal(t, "relay", g.Cells[1][1].Class, "symmetric → symmetric needs the relay")
	names := map[string]bool{}
	for _, ch := range rep.Children {
		names[ch.Name] = true
	}
	for _, row := range g.Cells {
		for _, c := range row {
			assert.True(t, names[c.Child], "cell links to child %q", c.Child)
		}
	}
	h, err := os.ReadFile(htmlPath)
	require.NoError(t, err)
	assert.Contains(t, string(h), "symmetric")
}

func TestMatrixInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code, out, _ := runNatkit(t, ctx, "matrix", "--nat", "open", "--turn", "no")
	assert.Equal(t, 130, code)
	assert.Contains(t, out, "interrupted")
}

// --repeat 5 on a real (vnet) matrix: each cell's distribution over its
// five calls is in the JSON, JUnit and HTML reports, with a CDF per cell.
func TestMatrixRepeatDistributions(t *testing.T) {
	dir := t.TempDir()
	jsonPath, htmlPath, xmlPath := filepath.Join(dir, "m.json"), filepath.Join(dir, "m.html"), filepath.Join(dir, "m.xml")
	code, out, stderr := runNatkit(t, context.Background(), "matrix", "--nat", "full-cone,symmetric", "--turn", "no", "--repeat", "5",
		"--report", jsonPath, "--report", htmlPath, "--report", xmlPath)
	require.Equal(t, 0, code, stderr+out)
	assert.Contains(t, out, "20 of 20 calls match theory (4 cells × 5 runs)")
	assert.Contains(t, out, "distributions over repeats")
	b, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var rep reports.Report
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Len(t, rep.Children, 4, "one child per cell")
	for _, ch := range rep.Children {
		var ttc *reports.Metric
		for i, m := range ch.Metrics {
			if m.Name == "time_to_connected" {
				ttc = &ch.Metrics[i]
			}
		}
		if strings.HasPrefix(ch.Name, "symmetric → symmetric") {
			assert.Nil(t, ttc, "no call connects: no distribution")
			assert.Contains(t, ch.Summary, "0 of 5 runs connected (0%)")
			continue
		}
		require.NotNil(t, ttc, ch.Name)
		assert.EqualValues(t, 5, ttc.Count, ch.Name)
		assert.NotNil(t, ttc.Histogram, "mergeable")
		assert.Positive(t, ttc.P99)
		assert.Contains(t, ch.Summary, "5 of 5 runs connected (100%)")
	}
	var details struct {
		Stats []struct {
			Runs      int `json:"runs"`
			Connected int `json:"connected"`
		} `json:"stats"`
		Cells []json.RawMessage `json:"cells"`
	}
	require.NoError(t, json.Unmarshal(rep.Details, &details))
	assert.Len(t, details.Cells, 20)
	require.Len(t, details.Stats, 4)
	assert.Equal(t, 5, details.Stats[0].Runs)
	h, err := os.ReadFile(htmlPath)
	require.NoError(t, err)
	assert.Equal(t, 3, strings.Count(string(h), "time to connected over 5 connected runs — CDF of 5 samples"), "a CDF for each cell that connected")
	x, err := os.ReadFile(xmlPath)
	require.NoError(t, err)
	assert.Contains(t, string(x), `<testsuites name="natkit matrix" tests="4" failures="0"`, "one testcase per cell")
	assert.Contains(t, string(x), `<property name="time_to_connected" value="count 5, p50 `)
}

func TestMatrixPeersFlag(t *testing.T) {
	code, _, stderr := runNatkit(t, context.Background(), "matrix", "--peers", "pion,chromium")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `--peers "chromium": needs the kernel backend (--net kernel)`)
	code, _, stderr = runNatkit(t, context.Background(), "matrix", "--repeat", "0")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--repeat 0")
	code, out, stderr := runNatkit(t, context.Background(), "matrix", "--peers", "pion", "--nat", "open", "--turn", "no")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "1 of 1 calls match theory")
}
