package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/pion/logging"
	"github.com/spf13/cobra"

	"github.com/natkit/natkit/reports"
	"github.com/natkit/natkit/scenarios"
)

func init() { register(newScenarioCmd) }

// vnetPionLoggers gives pion's logs to calls in a virtual network only at
// --log-level debug or below: there pion warns about every packet a NAT
// drops, which is the point of the exercise, not a problem.
func vnetPionLoggers(a *app) logging.LoggerFactory {
	if a.log().Enabled(context.Background(), slog.LevelDebug) {
		return a.pionLoggers()
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
	)
	cmd := &cobra.Command{
		Use:   "run NAME|FILE...",
		Short: "Run shipped scenarios by name or scenario files, and check their expectations",
		Example: `  natkit scenario run lossy-link
  natkit scenario run my-app.yaml --report scenario.html
  natkit scenario run $(natkit scenario list | cut -d' ' -f1) --parallel 4`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: scenarioNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if parallel < 1 {
				return usageErrorf("--parallel %d: want 1 or more", parallel)
			}
			var specs []*scenarios.Spec
			for _, arg := range args {
				s, err := scenarios.Load(arg)
				if err != nil {
					return usageError(err)
				}
				specs = append(specs, s)
			}
			rep := runScenarios(cmd.Context(), a, specs, parallel)
			if cmd.Context().Err() != nil {
				rep.Interrupt()
			}
			return a.emit(rep, &out)
		},
	}
	addOutputFlags(cmd, &out)
	cmd.Flags().IntVar(&parallel, "parallel", 1, "scenarios to run at once (each has its own virtual network)")
	return cmd
}

// runScenarios runs specs, parallel at a time, and returns one report: the
// scenario's own for one, or a parent with one child and one check per
// scenario for several.
func runScenarios(ctx context.Context, a *app, specs []*scenarios.Spec, parallel int) *reports.Report {
	children := make([]*reports.Report, len(specs))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Add(1)
		go func(i int, s *scenarios.Spec) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				children[i] = notRun(s.Name, ctx.Err())
				return
			}
			defer func() { <-sem }()
			res, err := scenarios.Run(ctx, s, scenarios.Options{LoggerFactory: vnetPionLoggers(a)})
			if res == nil {
				children[i] = notRun(s.Name, err)
				return
			}
			children[i] = res.Report()
			if err != nil && !errors.Is(err, context.Canceled) {
				children[i].AddCheck(reports.Check{ID: "run", Name: "scenario ran", Verdict: reports.VerdictError, Message: err.Error()})
			}
		}(i, s)
	}
	wg.Wait()
	if len(children) == 1 {
		return children[0]
	}
	rep := reports.New("scenarios", fmt.Sprintf("%d scenarios", len(children)))
	failed := 0
	for _, ch := range children {
		c := reports.Check{ID: "scenario/" + ch.Name, Name: ch.Name, Verdict: ch.Verdict, Observed: ch.Summary}
		var msgs []string
		for _, cc := range ch.Checks {
			if cc.Verdict != reports.VerdictPass && cc.Verdict != reports.VerdictSkip {
				msgs = append(msgs, fmt.Sprintf("%s: expected %s, observed %s", cc.Name, cc.Expected, cc.Observed))
			}
		}
		c.Message = strings.Join(msgs, "; ")
		if ch.Verdict != reports.VerdictPass {
			failed++
		}
		rep.AddCheck(c)
		rep.Children = append(rep.Children, ch)
	}
	rep.Summary = fmt.Sprintf("%d of %d scenarios passed", len(children)-failed, len(children))
	rep.Finish()
	return rep
}

func notRun(name string, err error) *reports.Report {
	r := reports.New("scenario", name)
	msg := "not run"
	if err != nil {
		msg += ": " + err.Error()
	}
	r.Summary = msg
	r.AddCheck(reports.Check{ID: "run", Name: "scenario ran", Verdict: reports.VerdictError, Message: msg})
	return r
}
