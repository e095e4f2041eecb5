// Package labtest builds kernel lab topologies for tests: it skips (or,
// with NATKIT_REQUIRE_EXTERNAL=1, fails) when the machine cannot run the
// lab, and removes the topology in t.Cleanup.
package labtest

import (
	"errors"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/lab"
)

// Require skips t (fails under NATKIT_REQUIRE_EXTERNAL=1) when the lab
// cannot run here, naming what is missing.
func Require(t testing.TB) {
	t.Helper()
	if err := lab.Check(); err != nil {
		if externaltest.Required() {
			t.Fatalf("%v (%s=1)", err, externaltest.RequireEnv)
		}
		t.Skip(err)
	}
}

// Build builds cfg's topology and closes it in t.Cleanup.
func Build(t testing.TB, cfg lab.Config) *lab.Topology {
	t.Helper()
	Require(t)
	top, err := lab.Build(cfg)
	if err != nil {
		var me *lab.MissingError
		if errors.As(err, &me) && !externaltest.Required() {
			t.Skip(err)
		}
		t.Fatalf("build lab %s/%s: %v", cfg.A.Preset, cfg.B.Preset, err)
	}
	t.Cleanup(func() {
		if err := top.Close(); err != nil {
			t.Errorf("close lab: %v", err)
		}
	})
	return top
}

// Namespaces lists the named network namespaces (as `ip netns list`),
// leaving out the lab runs of other test processes running at the same
// time (go test runs packages in parallel): runs whose owner, or whose
// owner's parent, is alive and neither this process nor its child.
func Namespaces() []string {
	me := os.Getpid()
	foreign := map[string]bool{}
	runs, _ := lab.AllRuns("")
	for _, r := range runs {
		switch {
		case r.PID == me || r.ParentPID == me:
		case lab.ProcessAlive(r.PID), lab.ProcessAlive(r.ParentPID):
			foreign[r.Prefix] = true
		}
	}
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		if p, ok := runPrefix(e.Name()); ok && foreign[p] {
			continue
		}
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// runPrefix returns "nkXXXXXX-" of a lab namespace name.
func runPrefix(name string) (string, bool) {
	if len(name) < 9 || !strings.HasPrefix(name, "nk") || name[8] != '-' {
		return "", false
	}
	return name[:9], true
}

// CheckNoLeftovers returns a function for TestMain: it fails (returns 1)
// when a namespace made by natkit's lab exists after the tests that did not
// before.
func CheckNoLeftovers() func(code int) int {
	before := map[string]bool{}
	for _, n := range Namespaces() {
		before[n] = true
	}
	return func(code int) int {
		var left []string
		for _, n := range Namespaces() {
			if !before[n] && strings.HasPrefix(n, "nk") {
				left = append(left, n)
			}
		}
		if len(left) > 0 {
			os.Stderr.WriteString("lab namespaces left behind: " + strings.Join(left, " ") + "\n")
			if code == 0 {
				code = 1
			}
		}
		return code
	}
}
