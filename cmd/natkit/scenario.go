package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/natkit/natkit/scenarios"
)

func init() { register(newScenarioCmd) }

// vnetPionLogger gives pion's logs to calls only at --log-level debug or
// below: in a virtual network pion warns about every packet a NAT drops,
// which is the point of the exercise, not a problem; in a real call the
// causes that matter (e.g. a relay's 403) are in the call's result.
func vnetPionLogger(a *app) *slog.Logger {
	if a.log().Enabled(context.Background(), slog.LevelDebug) {
		return a.log()
	}
	return nil
}

func newScenarioCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scenario",
		Short: "Replay scripted two-peer calls across simulated NATs",
		Long: `scenario replays two-peer WebRTC calls across pion's virtual network: two
sides behind NAT presets with impairments, a STUN/TURN relay on the WAN,
signaling races and mid-call events, and compares what happened with the
scenario's expectations. Shipped scenarios are embedded in the binary; your
own are YAML files (see docs/scenarios.md).`,
	}
	cmd.AddCommand(newScenarioListCmd(a), newScenarioShowCmd(a), newScenarioRunCmd(a))
	return cmd
}

func scenarioNames(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return scenarios.LibraryNames(), cobra.ShellCompDirectiveDefault
}

func newScenarioListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the shipped scenarios",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			for _, name := range scenarios.LibraryNames() {
				s, err := scenarios.Library(name)
				if err != nil {
					return err
				}
				desc := strings.Join(strings.Fields(s.Description), " ")
				if i := strings.Index(desc, ". "); i > 0 {
					desc = desc[:i+1]
				}
				fmt.Fprintf(tw, "%s\t%s\n", name, desc)
			}
			return tw.Flush()
		},
	}
}

func newScenarioShowCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:               "show NAME",
		Short:             "Print a shipped scenario's YAML",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: scenarioNames,
		RunE: func(_ *cobra.Command, args []string) error {
			b, err := scenarios.LibrarySource(args[0])
			if err != nil {
				return usageError(err)
			}
			_, err = a.stdout.Write(b)
			return err
		},
	}
}

func newScenarioRunCmd(a *app) *cobra.Command {
	var (
		out      outputFlags
		parallel int
		all      bool
		netName  string
		repeat   int
	)
	cmd := &cobra.Command{
		Use:   "run NAME|FILE... | --all",
		Short: "Run shipped scenarios by name or scenario files, and check their expectations",
		Example: `  natkit scenario run lossy-link
  natkit scenario run my-app.yaml --report scenario.html
  natkit scenario run --all --parallel 4
  natkit scenario run lossy-link --repeat 5 --report lossy.html`,
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return usageErrorf("--all runs every shipped scenario: give no names with it")
			case !all && len(args) == 0:
				return usageErrorf("name a scenario (see natkit scenario list), give a scenario file, or use --all")
			}
			return nil
		},
		ValidArgsFunction: scenarioNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if parallel < 1 {
				return usageErrorf("--parallel %d: want 1 or more", parallel)
			}
			if repeat < 1 {
				return usageErrorf("--repeat %d: want 1 or more", repeat)
			}
			if netName != scenarios.NetVNet && netName != scenarios.NetKernel {
				return usageErrorf("--net %q: want %s or %s", netName, scenarios.NetVNet, scenarios.NetKernel)
			}
			if all {
				args = scenarios.LibraryNamesFor(netName)
			}
			var specs []*scenarios.Spec
			for _, arg := range args {
				s, err := scenarios.Load(arg)
				if err != nil {
					return usageError(err)
				}
				if err := s.CheckBackend(netName); err != nil {
					return usageError(err)
				}
				specs = append(specs, s)
			}
			bar := a.progress(cmd.Context(), "scenario run", len(specs)*repeat)
			onDone := func(run scenarios.SuiteRun) {
				bar.SetStatus(run.Name)
				if run.Result != nil && run.Result.Passed() {
					bar.Increment()
				} else {
					bar.Fail()
				}
			}
			opts := scenarios.Options{Logger: vnetPionLogger(a), Parallel: parallel, OnScenario: onDone, Net: netName, Repeat: repeat}
			if exe, err := os.Executable(); err == nil {
				opts.Natkit = exe // a pion-process peer is this natkit's call
			}
			if err := checkKernel(netName); err != nil {
				return err
			}
			res, err := scenarios.RunAll(cmd.Context(), specs, opts)
			bar.Done()
			if res == nil {
				return err
			}
			rep := res.Report()
			if cmd.Context().Err() != nil {
				rep.Interrupt()
			}
			return a.emit(rep, &out)
		},
	}
	addOutputFlags(cmd, &out)
	cmd.Flags().IntVar(&parallel, "parallel", 1, "scenarios to run at once (each has its own virtual network)")
	cmd.Flags().IntVar(&repeat, "repeat", 1, "run each scenario this many times (topology seed +1 each time) and report the distribution: success rate, p50/p90/p99 time to connected; a scenario fails if any run fails its expectations")
	cmd.Flags().BoolVar(&all, "all", false, "run every shipped scenario (natkit scenario list)")
	cmd.Flags().StringVar(&netName, "net", scenarios.NetVNet, "network backend: vnet (simulated, no root) or kernel (network namespaces and nftables; root)")
	return cmd
}
