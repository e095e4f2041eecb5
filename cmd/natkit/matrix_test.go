package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
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
