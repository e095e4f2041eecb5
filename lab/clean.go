package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

var execLookPath = exec.LookPath

var runPrefixRE = regexp.MustCompile(`^(nk[0-9a-f]{6}-)`)

// namespacesWithPrefix lists the named namespaces starting with prefix.
func namespacesWithPrefix(prefix string) []string {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// removeNamespaces deletes namespaces in one ip process. Deleting a
// namespace deletes its links, nft tables and qdiscs with it.
func removeNamespaces(names []string) error {
	if len(names) == 0 {
		return nil
	}
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "netns del %s\n", n)
	}
	if _, err := run(nil, b.String(), "ip", "-force", "-batch", "-"); err != nil {
		return fmt.Errorf("remove namespaces: %w", err)
	}
	return nil
}

// Runs returns the state of every run whose owner file is in stateDir
// ("" for DefaultStateDir) and whose owner is alive.
func Runs(stateDir string) ([]State, error) {
	all, err := AllRuns(stateDir)
	var out []State
	for _, st := range all {
		if processAlive(st.PID) {
			out = append(out, st)
		}
	}
	return out, err
}

// AllRuns returns the state of every run with an owner file in stateDir
// ("" for DefaultStateDir), alive or not.
func AllRuns(stateDir string) ([]State, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	files, err := filepath.Glob(filepath.Join(stateDir, "nk*-state.json"))
	if err != nil {
		return nil, err
	}
	var out []State
	for _, f := range files {
		if st, err := readState(f); err == nil {
			out = append(out, st)
		}
	}
	return out, nil
}

func readState(path string) (State, error) {
	var st State
	b, err := os.ReadFile(path) //nolint:gosec // a state file under the lab's own state directory
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// Clean removes what runs that are no longer alive left behind: their
// namespaces (found by prefix) and owner files. Runs whose owner process is
// alive are kept. It returns the namespaces it removed.
func Clean(stateDir string) ([]string, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	// Namespaces first: a run writes its owner file before it makes a
	// namespace, so every namespace listed here has its owner file already.
	spaces := namespacesWithPrefix("nk")
	live := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(stateDir, "nk*-state.json"))
	var errs []error
	for _, f := range files {
		st, err := readState(f)
		if err == nil && processAlive(st.PID) {
			live[st.Prefix] = true
			continue
		}
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	var stale []string
	for _, n := range spaces {
		m := runPrefixRE.FindStringSubmatch(n)
		if m == nil || live[m[1]] {
			continue
		}
		stale = append(stale, n)
	}
	if err := removeNamespaces(stale); err != nil {
		errs = append(errs, err)
	}
	return stale, errors.Join(errs...)
}

// ProcessAlive tells whether pid is a running process (for the owner PIDs
// in State).
func ProcessAlive(pid int) bool { return processAlive(pid) }
