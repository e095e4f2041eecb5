package load

import (
	"fmt"

	"github.com/natkit/natkit/reports"
)

// sloCheckIDs are the checks that ApplySLO re-judges on merged totals.
var sloCheckIDs = map[string]bool{CheckAllocFailures: true, CheckLoss: true, CheckP99: true}

// ApplySLO judges slo on the totals of a bench report — typically one
// merged from several workers by reports.Merge — instead of on each
// worker's share: allocation failures and loss from the summed counters,
// p99 from the merged histogram, read back as typed Totals (TotalsOf). The
// workers' own SLO checks are replaced by these; their other checks (e.g.
// a run that stopped early) stay, and the verdict is recomputed from what
// remains. A report without a metric the SLO needs is an error
// (*MissingMetricError), and rep is left as it was.
func ApplySLO(rep *reports.Report, slo SLO) error {
	if rep.Kind != ReportKind {
		return fmt.Errorf("%w: SLOs apply to %q reports, not %q", ErrConfig, ReportKind, rep.Kind)
	}
	totals, err := TotalsOf(rep, slo)
	if err != nil {
		return err
	}
	kept := rep.Checks[:0:0]
	for _, c := range rep.Checks {
		if !sloCheckIDs[c.ID] {
			kept = append(kept, c)
		}
	}
	interrupted := rep.Verdict == reports.VerdictInterrupted
	rep.Checks = nil
	rep.Verdict = reports.VerdictPass
	for _, c := range kept {
		rep.AddCheck(c)
	}
	for _, c := range totals.judge(slo, " (all workers)") {
		rep.AddCheck(c)
	}
	if interrupted {
		rep.Verdict = reports.VerdictInterrupted
	}
	return nil
}
