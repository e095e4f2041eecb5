package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

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
	cmd := &cobra.Command{
		Use:   "merge A.json B.json...",
		Short: "Merge reports of the same kind: histograms merged exactly, counters summed, worst verdict",
		Long: `Merge combines JSON reports of one kind, e.g. one natkit bench per CI job or
pod. Percentiles are recomputed from the merged HDR histograms, never
averaged; counters are summed; gauges keep the maximum; checks, series and
events are kept, labelled with the worker they came from; the verdict is the
worst of all.`,
		Example: `  natkit report merge worker-*.json --report merged.json --report merged.html`,
		Args:    cobra.MinimumNArgs(1),
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
			return a.emitSaved(merged, &out)
		},
	}
	addOutputFlags(cmd, &out)
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
