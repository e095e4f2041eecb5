package load

import (
	"fmt"
	"time"

	"github.com/natkit/natkit/reports"
)

// sloCheckIDs are the checks that ApplySLO re-judges on merged totals.
var sloCheckIDs = map[string]bool{"bench.alloc_failures": true, "bench.loss": true, "bench.p99": true}

// ApplySLO judges slo on the totals of a bench report — typically one
// merged from several workers by reports.Merge — instead of on each
// worker's share: allocation failures and loss from the summed counters,
// p99 from the merged histogram. The workers' own SLO checks are replaced
// by these; their other checks (e.g. a run that stopped early) stay, and
// the verdict is recomputed from what remains.
func ApplySLO(rep *reports.Report, slo SLO) error {
	if rep.Kind != ReportKind {
		return fmt.Errorf("%w: SLOs apply to %q reports, not %q", ErrConfig, ReportKind, rep.Kind)
	}
	counter := func(name string) float64 {
		for _, m := range rep.Metrics {
			if m.Name == name {
				return m.Value
			}
		}
		return 0
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

	failed, ok := counter("allocations.failed"), counter("allocations.succeeded")
	attempts := failed + ok
	failPct := 0.0
	if attempts > 0 {
		failPct = 100 * failed / attempts
	}
	rep.AddCheck(reports.Check{ID: "bench.alloc_failures", Name: "allocation failures (all workers)",
		Verdict:  verdictIf(attempts > 0 && failPct <= slo.MaxAllocFailurePercent),
		Expected: "≤ " + pct(slo.MaxAllocFailurePercent),
		Observed: fmt.Sprintf("%s (%.0f of %.0f)", pct(failPct), failed, attempts)})

	p99Metric, p99Name := "turn.allocate.time_to_relay", "time to relayed address p99 (all workers)"
	if sent := counter("packets.sent"); sent > 0 {
		lost := counter("packets.lost")
		lossPct := 100 * lost / sent
		rep.AddCheck(reports.Check{ID: "bench.loss", Name: "relayed packet loss (all workers)",
			Verdict:  verdictIf(lossPct <= slo.MaxLossPercent),
			Expected: "≤ " + pct(slo.MaxLossPercent),
			Observed: fmt.Sprintf("%s (%.0f of %.0f lost)", pct(lossPct), lost, sent)})
		p99Metric, p99Name = "relay.rtt", "relayed RTT p99 (all workers)"
	}
	if slo.MaxP99 > 0 {
		var m reports.Metric
		for _, x := range rep.Metrics {
			if x.Name == p99Metric {
				m = x
			}
		}
		p99 := time.Duration(m.P99 * float64(time.Millisecond))
		rep.AddCheck(reports.Check{ID: "bench.p99", Name: p99Name,
			Verdict:  verdictIf(m.Count > 0 && p99 <= slo.MaxP99),
			Expected: "≤ " + slo.MaxP99.String(),
			Observed: fmt.Sprintf("%s over %d samples", ms(m.P99), m.Count)})
	}
	if interrupted {
		rep.Verdict = reports.VerdictInterrupted
	}
	return nil
}
