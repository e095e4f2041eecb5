package lab_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/probe/natbehavior"
)

// relay coturn runs turnserver inside the WAN namespace, answering STUN on
// the relay's address, and Close stops it.
func TestCoturnInWANNamespace(t *testing.T) {
	labtest.Require(t)
	externaltest.LookPath(t, "turnserver", "coturn")
	top, err := lab.Build(lab.Config{Relay: lab.RelayCoturn, A: lab.Side{Preset: "port-restricted-cone"}})
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = top.Close()
		}
	})
	pid := top.RelayPID()
	require.Positive(t, pid)
	procNS, err := os.Stat(fmt.Sprintf("/proc/%d/ns/net", pid))
	require.NoError(t, err)
	wanNS, err := os.Stat("/run/netns/" + top.Namespaces()["wan"])
	require.NoError(t, err)
	require.True(t, os.SameFile(procNS, wanNS), "turnserver is not in the WAN namespace")
	// natkit nat through the side's NAT, against coturn's RFC 5780 pair
	// of addresses, classifies the preset as it does against natkit relay.
	res, err := natProbe(t, top)
	require.NoError(t, err)
	t.Logf("mapping %s, filtering %s, notes %v", res.Mapping, res.Filtering, res.Notes)
	require.Equal(t, natbehavior.MappingEIM, res.Mapping)
	require.Equal(t, natbehavior.FilteringAPDF, res.Filtering)
	require.NoError(t, top.Close())
	closed = true
	require.False(t, lab.ProcessAlive(pid), "turnserver %d still runs after Close", pid)
}

// Without turnserver, relay coturn is a *MissingError naming it and its
// apt package, and nothing is built.
func TestCoturnMissing(t *testing.T) {
	labtest.Require(t)
	dir := t.TempDir()
	for _, p := range []string{"ip", "nft", "tc"} {
		path, err := exec.LookPath(p)
		require.NoError(t, err)
		require.NoError(t, os.Symlink(path, filepath.Join(dir, p)))
	}
	t.Setenv("PATH", dir)
	before := labtest.Namespaces()
	_, err := lab.Build(lab.Config{Relay: lab.RelayCoturn})
	require.ErrorIs(t, err, lab.ErrMissing)
	require.Contains(t, err.Error(), "program turnserver; install with: apt-get install coturn")
	require.Equal(t, before, labtest.Namespaces())

	_, err = lab.Build(lab.Config{Relay: "pion"})
	require.ErrorIs(t, err, lab.ErrConfig)
}
