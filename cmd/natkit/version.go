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
			fmt.Fprintf(a.stdout, "natkit %s", env.NatkitVersion)
			if env.Commit != "" {
				fmt.Fprintf(a.stdout, " (commit %s)", env.Commit)
			}
			fmt.Fprintf(a.stdout, "\n%s %s/%s\n", env.GoVersion, env.OS, env.Arch)
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
