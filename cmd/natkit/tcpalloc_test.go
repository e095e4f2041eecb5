package main

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 6062 end to end through the CLI: natkit relay --tcp-relay, then
// gather --tcp-relay, bench --tcp-allocations and audit --tcp-relay
// against it; and the same relay without --tcp-relay refused with 442.
func TestTCPAllocationsCLI(t *testing.T) {
	port := freeTCP(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	startRelayCommand(t, "--listen", "tcp://"+addr, "--tcp-relay", "--allow-peer", "127.0.0.0/8", "--user", "lab:labpass")
	url := "turn:" + addr + "?transport=tcp"
	ctx := context.Background()

	code, stdout, stderr := runNatkit(t, ctx, "gather", url, "--user", "lab", "--credential", "labpass", "--tcp-relay", "--policy", "relay", "--format", "json")
	require.Equal(t, 0, code, stderr)
	var rep struct {
		Checks []struct{ ID, Verdict, Observed string }
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	found := false
	for _, c := range rep.Checks {
		if c.ID == "tcp-relay/"+url {
			found = true
			assert.Equal(t, "tcp-relay-ok", c.Observed)
		}
	}
	assert.True(t, found, stdout)

	code, stdout, stderr = runNatkit(t, ctx, "bench", url, "--user", "lab", "--credential", "labpass", "--tcp-allocations",
		"--allocations", "2", "--pps", "20", "--duration", "500ms", "--drain", "500ms")
	require.Equal(t, 0, code, stdout+stderr)
	assert.Contains(t, stdout, "via tcp-relay")
	assert.Contains(t, stdout, "connection-bind")

	// The relay allows loopback peers: the audit's loopback Connect is a
	// high finding (exit 1), proved by its TCP sink.
	code, stdout, stderr = runNatkit(t, ctx, "audit", url, "--user", "lab", "--credential", "labpass", "--tcp-relay",
		"--idle-wait", "100ms", "--max-allocations", "2", "--format", "json")
	require.Equal(t, 1, code, stderr)
	assert.Contains(t, stdout, "tcp-connect/127.0.0.1")
	assert.Contains(t, stdout, "accepted a connection from 127.0.0.1:")
}

func TestTCPAllocationsRefusedCLI(t *testing.T) {
	port := freeTCP(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	startRelayCommand(t, "--listen", "tcp://"+addr, "--user", "lab:labpass")
	url := "turn:" + addr + "?transport=tcp"
	code, stdout, _ := runNatkit(t, context.Background(), "gather", url, "--user", "lab", "--credential", "labpass", "--tcp-relay", "--policy", "relay")
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, "442-unsupported-transport-protocol")
	assert.Contains(t, stdout, "--tcp-relay")
	code, stdout, _ = runNatkit(t, context.Background(), "bench", url, "--user", "lab", "--credential", "labpass", "--tcp-allocations", "--duration", "1s")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stdout, "442")
}

func TestTCPAllocationsBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"relay", "--tcp-relay", "--listen", "udp://127.0.0.1:0"}, "--tcp-relay"},
		{[]string{"relay", "--tcp-bind-timeout", "0s"}, "--tcp-bind-timeout"},
		{[]string{"gather", "turn:127.0.0.1:9?transport=udp", "--user", "u", "--credential", "p", "--tcp-relay"}, "tcp-relay"},
		{[]string{"bench", "turn:127.0.0.1:9?transport=udp", "--user", "u", "--credential", "p", "--tcp-allocations"}, "TCP allocations"},
	} {
		code, _, stderr := runNatkit(t, context.Background(), c.args...)
		assert.Equal(t, 2, code, "%v: %s", c.args, stderr)
		assert.Contains(t, stderr, c.want, c.args)
	}
}
