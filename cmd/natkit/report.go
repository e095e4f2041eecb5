package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/natkit/natkit/probe/load"
	"github.com/natkit/natkit/reports"
)

func init() { register(newReportCmd) }

func newReportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Re-render a saved JSON report, or merge reports from parallel workers",
	}
	cmd.AddCommand(newReportRenderCmd(a), newReportMergeCmd(a))
	return cmd
}

func newReportRenderCmd(a *app) *cobra.Command {
	var out outputFlags
	cmd := &cobra.Command{
		Use:   "render FILE.json",
		Short: "Render a saved JSON report as text, json, junit, markdown or html",
		Example: `  natkit report render bench.json --format html > bench.html
  natkit report render matrix.json --format junit --report matrix.xml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			rep, err := loadReport(args[0])
			if err != nil {
				return err
			}
			// Re-rendering reproduces the saved verdict as the exit code,
			// so a CI step can gate on a report produced elsewhere.
			return a.emitSaved(rep, &out)
		},
	}
	addOutputFlags(cmd, &out)
	return cmd
}

func newReportMergeCmd(a *app) *cobra.Command {
	var out outputFlags
	var maxLoss, maxAllocFailures string
	var maxP99 time.Duration
	cmd := &cobra.Command{
		Use:   "merge A.json B.json...",
		Short: "Merge reports of the same kind: histograms merged exactly, counters summed, worst verdict",
		Long: `Merge combines JSON reports of one kind, e.g. one natkit bench per CI job or
pod. Percentiles are recomputed from the merged HDR histograms, never
averaged; counters are summed; gauges keep the maximum; checks, series and
events are kept, labelled with the worker they came from; the verdict is the
worst of all.

For bench reports, --max-loss, --max-p99 and --max-alloc-failures judge the
SLO on the merged totals (loss from the summed counters, p99 from the merged
histogram) instead of on each worker's share; they replace the workers' own
SLO checks.`,
		Example: `  natkit report merge worker-*.json --report merged.json --report merged.html
  natkit report merge worker-*.json --max-loss 0.1 --max-p99 50ms --report merged.xml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			var reps []*reports.Report
			for _, p := range args {
				rep, err := loadReport(p)
				if err != nil {
					return err
				}
				reps = append(reps, rep)
			}
			merged, err := reports.Merge(reps...)
			if err != nil {
				var km *reports.KindMismatchError
				var he *reports.HistogramError
				if errors.As(err, &km) || errors.As(err, &he) {
					return usageErrorf("merge: %v", err)
				}
				return fmt.Errorf("merge: %w", err)
			}
			fl := cmd.Flags()
			if fl.Changed("max-loss") || fl.Changed("max-p99") || fl.Changed("max-alloc-failures") {
				if merged.Kind != load.ReportKind {
					return usageErrorf("--max-loss, --max-p99 and --max-alloc-failures apply to %s reports; these are %q reports", load.ReportKind, merged.Kind)
				}
				slo := load.DefaultSLO()
				if slo.MaxLossPercent, err = parsePercent("max-loss", maxLoss); err != nil {
					return err
				}
				if slo.MaxAllocFailurePercent, err = parsePercent("max-alloc-failures", maxAllocFailures); err != nil {
					return err
				}
				if maxP99 < 0 {
					return usageErrorf("--max-p99 %s: want a positive duration", maxP99)
				}
				slo.MaxP99 = maxP99
				// A worker without a metric the SLO needs would count as 0
				// in the merged sums: name the file instead.
				for i, rep := range reps {
					if _, err := load.TotalsOf(rep, slo); err != nil {
						return usageErrorf("%s: %v", args[i], err)
					}
				}
				if err := load.ApplySLO(merged, slo); err != nil {
					return usageErrorf("merge: %v", err)
				}
			}
			return a.emitSaved(merged, &out)
		},
	}
	addOutputFlags(cmd, &out)
	cmd.Flags().StringVar(&maxLoss, "max-loss", "1%", "bench: fail when the merged relayed packet loss is above this percentage")
	cmd.Flags().DurationVar(&maxP99, "max-p99", 0, "bench: fail when the merged p99 (RTT, or time to relayed address) is above this; 0 = not checked")
	cmd.Flags().StringVar(&maxAllocFailures, "max-alloc-failures", "1%", "bench: fail when more than this percentage of all allocations failed")
	return cmd
}

// emitSaved writes a report read from disk: its environment is the one it
// was produced in, not ours.
func (a *app) emitSaved(rep *reports.Report, out *outputFlags) error {
	if rep.Environment == nil {
		rep.Environment = &reports.Environment{}
	}
	return a.emit(rep, out)
}

// loadReport reads a JSON report; every failure is bad input naming the file.
func loadReport(path string) (*reports.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usageErrorf("%s: no such file", path)
		}
		return nil, usageErrorf("%s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	rep, err := reports.Decode(f)
	if err != nil {
		return nil, usageErrorf("%s: %v", path, err)
	}
	return rep, nil
}
