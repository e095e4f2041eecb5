package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/lab/labtest"
)

func TestLabBadInputExitsTwoAndBuildsNothing(t *testing.T) {
	labtest.Require(t)
	before := labtest.Namespaces()
	for _, args := range [][]string{
		{"lab", "up", "--nat", "bogus"},
		{"lab", "up", "--nat", "a,b,c"},
		{"lab", "up", "--prefix", "xx", "--nat", "open"},
		{"lab", "up"},
	} {
		code, _, stderr := runNatkit(t, context.Background(), args...)
		assert.Equal(t, 2, code, "%v: %s", args, stderr)
	}
	assert.Equal(t, before, labtest.Namespaces())
}

// startLabUp runs a built natkit lab up and waits for its ready line.
func startLabUp(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"lab", "up"}, args...)...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready:") && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		require.True(t, ok, "natkit lab up exited before it was ready")
	case <-time.After(20 * time.Second):
		t.Fatal("natkit lab up not ready after 20s")
	}
	return cmd
}

func buildNatkit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "natkit")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// TestLabCleanupAfterSignals: Ctrl-C removes everything; after SIGKILL,
// natkit lab clean does. ip netns list is the same before and after.
func TestLabCleanupAfterSignals(t *testing.T) {
	labtest.Require(t)
	bin := buildNatkit(t)
	before := labtest.Namespaces()

	t.Run("SIGINT", func(t *testing.T) {
		cmd := startLabUp(t, bin, "--nat", "linux-masquerade,open")
		require.Greater(t, len(labtest.Namespaces()), len(before))
		out, err := exec.Command(bin, "lab", "exec", "--run", prefixOf(t, before), "a", "--", "ip", "-o", "-4", "addr").CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "10.1.0.2/24")
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		require.NoError(t, cmd.Wait())
		assert.Equal(t, before, labtest.Namespaces())
	})
	t.Run("SIGKILL then clean", func(t *testing.T) {
		cmd := startLabUp(t, bin, "--nat", "cgnat,symmetric")
		prefix := prefixOf(t, before)
		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()
		require.Contains(t, strings.Join(labtest.Namespaces(), " "), prefix, "a killed run leaves its namespaces")
		out, err := exec.Command(bin, "lab", "clean").CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "removed "+prefix)
		assert.Equal(t, before, labtest.Namespaces())
	})
	t.Run("NAT64 SIGKILL then clean", func(t *testing.T) {
		cmd := startLabUp(t, bin, "--preset", "ipv6-only-nat64,dual-stack")
		prefix := prefixOf(t, before)
		tun, err := exec.Command("ip", "-n", prefix+"ar0", "-o", "link", "show", prefix+"a64").CombinedOutput()
		require.NoError(t, err, "the translator's TUN device is up in a's router: %s", tun)
		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()
		out, err := exec.Command(bin, "lab", "clean").CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "removed "+prefix)
		assert.Equal(t, before, labtest.Namespaces())
		links, err := exec.Command("ip", "-o", "link", "show").CombinedOutput()
		require.NoError(t, err)
		assert.NotContains(t, string(links), prefix, "no TUN or veth of the run is left in the root namespace")
	})
	t.Run("taken prefix", func(t *testing.T) {
		cmd := startLabUp(t, bin, "--nat", "open")
		prefix := prefixOf(t, before)
		code, _, stderr := runNatkit(t, context.Background(), "lab", "up", "--prefix", prefix, "--nat", "open")
		assert.Equal(t, 2, code, stderr)
		assert.Contains(t, stderr, "in use")
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, cmd.Wait())
		assert.Equal(t, before, labtest.Namespaces())
	})
}

// TestLabUpHonoursScenarioKeys: lab up SCENARIO runs the scenario's relay
// software and says that it does not start a command peer's program,
// rather than ignoring either key.
func TestLabUpHonoursScenarioKeys(t *testing.T) {
	labtest.Require(t)
	externaltest.LookPath(t, "turnserver", "coturn")
	bin := buildNatkit(t)
	before := labtest.Namespaces()
	file := filepath.Join(t.TempDir(), "keys.yaml")
	require.NoError(t, os.WriteFile(file, []byte("name: keys\nrelay: coturn\ntopology:\n  a: {nat: open, peer: command, command: [/bin/true, x]}\n  b: {nat: open}\n"), 0o600))
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "lab", "up", file)
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	var banner []string
	for sc.Scan() {
		banner = append(banner, sc.Text())
		if strings.HasPrefix(sc.Text(), "ready:") {
			break
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	go func() { _, _ = io.Copy(io.Discard, out) }()
	require.NoError(t, cmd.Wait(), stderr.String())
	assert.Contains(t, strings.Join(banner, "\n"), "relay (coturn turnserver, pid ")
	assert.Contains(t, stderr.String(), "side a: peer: command is not started by lab up; run it with: natkit lab exec a -- /bin/true x")
	assert.Equal(t, before, labtest.Namespaces())
}

// prefixOf returns the prefix of the one lab run not in before.
func prefixOf(t *testing.T, before []string) string {
	t.Helper()
	for _, n := range labtest.Namespaces() {
		if !slices.Contains(before, n) && strings.HasPrefix(n, "nk") && strings.HasSuffix(n, "-wan") {
			return strings.TrimSuffix(n, "wan")
		}
	}
	t.Fatal("no new lab run")
	return ""
}

// TestLabMissingToolsOrPrivilegesExitThree: without ip/nft/tc on PATH, or
// without root, natkit lab up exits 3, names what is missing and the apt
// package, and builds nothing.
func TestLabMissingToolsOrPrivilegesExitThree(t *testing.T) {
	labtest.Require(t)
	bin := buildNatkit(t)
	require.NoError(t, os.Chmod(filepath.Dir(bin), 0o755))
	before := labtest.Namespaces()
	cmd := exec.Command(bin, "lab", "up", "--nat", "open")
	cmd.Env = []string{"PATH=/nonexistent"}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 3, ee.ExitCode(), "%s", out)
	assert.Contains(t, string(out), "program nft")
	assert.Contains(t, string(out), "apt-get install iproute2 nftables")
	if setpriv, err := exec.LookPath("setpriv"); err == nil {
		cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin, "lab", "up", "--nat", "open")
		out, err := cmd.CombinedOutput()
		require.ErrorAs(t, err, &ee, "%s", out)
		assert.Equal(t, 3, ee.ExitCode(), "%s", out)
		assert.Contains(t, string(out), "CAP_NET_ADMIN")
	}
	assert.Equal(t, before, labtest.Namespaces())
}
