package main

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/lab/labtest"
)

// natkit scenario run starts a pion-process peer as its own executable
// with `call …` inside the side's namespace: under go test that executable
// is this test binary, which then is natkit.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "call" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// peer: pion-process on vnet is exit 2, naming the key and the backend.
func TestScenarioPionProcessOnVNet(t *testing.T) {
	code, _, stderr := runNatkit(t, context.Background(), "scenario", "run", "dtls-relay")
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "library/dtls-relay.yaml:")
	assert.Contains(t, stderr, "peer: pion-process needs the kernel backend (use --net kernel)")
}

// natkit scenario run --net kernel dtls-relay runs both sides as natkit
// call (this binary) and relays over TURN/DTLS.
func TestScenarioDTLSRelayKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("kernel lab")
	}
	labtest.Require(t)
	before := labtest.Namespaces()
	code, out, stderr := runNatkit(t, context.Background(), "scenario", "run", "--net", "kernel", "dtls-relay")
	require.Equal(t, 0, code, "stdout %s\nstderr %s", out, stderr)
	assert.Contains(t, out, "relayed over TURN/DTLS")
	// Another process's lab may appear between labtest's two reads: a
	// namespace this run left stays.
	assert.Eventually(t, func() bool { return slices.Equal(before, labtest.Namespaces()) }, 5*time.Second, 100*time.Millisecond,
		"namespaces left behind: before %v, now %v", before, labtest.Namespaces())
}
