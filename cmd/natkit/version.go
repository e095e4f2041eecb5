package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natkit/natkit/reports"
)

// version and commit are set with -ldflags by `make build`; otherwise they
// come from the build info.
var (
	version = ""
	commit  = ""
)

func init() { register(newVersionCmd) }

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print natkit's version and commit, the Go version and the pion module versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env := environment()
			fmt.Fprintf(a.stdout, "%s\n%s %s/%s\n", versionLine(env), env.GoVersion, env.OS, env.Arch)
			names := make([]string, 0, len(env.Modules))
			for name := range env.Modules {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				fmt.Fprintf(a.stdout, "%-34s %s\n", name, env.Modules[name])
			}
			return nil
		},
	}
}

// versionLine names the version and, when the version does not already
// say it, the commit: an untagged build's version is its short commit
// (git describe --always), and "natkit 166c537 (commit 166c537)" says it
// twice.
func versionLine(env *reports.Environment) string {
	line := "natkit " + env.NatkitVersion
	c := env.Commit
	if c == "" {
		return line
	}
	short := c[:min(len(c), 7)]
	if strings.Contains(env.NatkitVersion, short) || strings.HasPrefix(c, strings.TrimSuffix(env.NatkitVersion, "-dirty")) {
		return line
	}
	return line + " (commit " + c + ")"
}

// environment describes this build and host for reports.
func environment() *reports.Environment {
	env := &reports.Environment{
		NatkitVersion: version,
		Commit:        commit,
		GoVersion:     runtime.Version(),
		OS:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		Modules:       map[string]string{},
	}
	env.Hostname, _ = os.Hostname()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if env.NatkitVersion == "" {
			env.NatkitVersion = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && env.Commit == "" {
				env.Commit = s.Value
			}
		}
		for _, dep := range bi.Deps {
			if strings.HasPrefix(dep.Path, "github.com/pion/") {
				v := dep.Version
				if dep.Replace != nil {
					v = dep.Replace.Version
				}
				env.Modules[dep.Path] = v
			}
		}
	}
	if env.NatkitVersion == "" || env.NatkitVersion == "(devel)" {
		env.NatkitVersion = "devel"
	}
	return env
}
