package load

import (
	"fmt"
	"time"

	"github.com/natkit/natkit/reports"
)

// Names of the bench report metrics that SLOs are judged on. Report
// writes them and TotalsOf reads them back: one set of constants, so a
// renamed metric cannot silently read as zero.
const (
	MetricAllocationsSucceeded = "allocations.succeeded"
	MetricAllocationsFailed    = "allocations.failed"
	MetricPacketsSent          = "packets.sent"
	MetricPacketsLost          = "packets.lost"
	MetricTimeToRelay          = "turn.allocate.time_to_relay"
	MetricRTT                  = "relay.rtt"
	// MetricConnect is the time to open one allocation's connection over
	// tcp (the TCP handshake) or tls (TCP and TLS handshakes), before its
	// first Allocate; not recorded over udp.
	MetricConnect = "turn.connect.time"
)

// Totals are the typed figures an SLO is judged on: one run's, or the sum
// of several workers' (counters summed, histograms merged).
type Totals struct {
	AllocationsSucceeded int64
	AllocationsFailed    int64
	// Traffic is true when packets were sent: loss and the RTT p99 are
	// judged; otherwise the p99 is the time to a relayed address.
	Traffic bool
	Sent    int64
	Lost    int64
	// TimeToRelay and RTT are latency distributions in milliseconds.
	TimeToRelay reports.Metric
	RTT         reports.Metric
}

// Totals returns the run's own figures.
func (r *Result) Totals() Totals {
	return Totals{
		AllocationsSucceeded: r.AllocationsSucceeded, AllocationsFailed: r.AllocationsFailed,
		Traffic: r.Kind == KindTraffic, Sent: r.Sent, Lost: r.Lost(),
		TimeToRelay: r.AllocLatency, RTT: r.RTT,
	}
}

// TotalsOf reads the figures back from a bench report's metrics, e.g. one
// merged by reports.Merge. A metric that the judgement needs and the
// report lacks is a *MissingMetricError, never a silent zero: the p99
// metric is needed only when slo.MaxP99 is set.
func TotalsOf(rep *reports.Report, slo SLO) (Totals, error) {
	byName := make(map[string]reports.Metric, len(rep.Metrics))
	for _, m := range rep.Metrics {
		byName[m.Name] = m
	}
	get := func(name string) (reports.Metric, error) {
		m, ok := byName[name]
		if !ok {
			return m, &MissingMetricError{Report: rep.Name, Metric: name}
		}
		return m, nil
	}
	var t Totals
	var errs []error
	count := func(name string) int64 {
		m, err := get(name)
		if err != nil {
			errs = append(errs, err)
		}
		return int64(m.Value)
	}
	t.AllocationsSucceeded = count(MetricAllocationsSucceeded)
	t.AllocationsFailed = count(MetricAllocationsFailed)
	if sent, ok := byName[MetricPacketsSent]; ok && sent.Value > 0 {
		t.Traffic, t.Sent = true, int64(sent.Value)
		t.Lost = count(MetricPacketsLost)
	}
	if slo.MaxP99 > 0 {
		name, dst := MetricTimeToRelay, &t.TimeToRelay
		if t.Traffic {
			name, dst = MetricRTT, &t.RTT
		}
		m, err := get(name)
		if err != nil {
			errs = append(errs, err)
		}
		*dst = m
	}
	if len(errs) > 0 {
		return t, errs[0]
	}
	return t, nil
}

// AllocFailurePercent is the share of allocation attempts that failed.
func (t Totals) AllocFailurePercent() float64 {
	n := t.AllocationsSucceeded + t.AllocationsFailed
	if n == 0 {
		return 0
	}
	return 100 * float64(t.AllocationsFailed) / float64(n)
}

// LossPercent is Lost as a percentage of Sent.
func (t Totals) LossPercent() float64 {
	if t.Sent == 0 {
		return 0
	}
	return 100 * float64(t.Lost) / float64(t.Sent)
}

// Check IDs of the SLO checks.
const (
	CheckAllocFailures = "bench.alloc_failures"
	CheckLoss          = "bench.loss"
	CheckP99           = "bench.p99"
)

// judge returns the SLO checks on t: allocation failures, loss (traffic
// only) and the p99 (when slo.MaxP99 is set). scope is appended to the
// check names, e.g. " (all workers)".
func (t Totals) judge(slo SLO, scope string) []reports.Check {
	attempts := t.AllocationsSucceeded + t.AllocationsFailed
	out := []reports.Check{{ID: CheckAllocFailures, Name: "allocation failures" + scope,
		Verdict:  verdictIf(attempts > 0 && t.AllocFailurePercent() <= slo.MaxAllocFailurePercent),
		Expected: "≤ " + pct(slo.MaxAllocFailurePercent),
		Observed: fmt.Sprintf("%s (%d of %d)", pct(t.AllocFailurePercent()), t.AllocationsFailed, attempts)}}
	if t.Traffic {
		out = append(out, reports.Check{ID: CheckLoss, Name: "relayed packet loss" + scope,
			Verdict:  verdictIf(t.Sent > 0 && t.LossPercent() <= slo.MaxLossPercent),
			Expected: "≤ " + pct(slo.MaxLossPercent),
			Observed: fmt.Sprintf("%s (%d of %d lost)", pct(t.LossPercent()), t.Lost, t.Sent)})
	}
	if slo.MaxP99 > 0 {
		m, what := t.TimeToRelay, "time to relayed address p99"
		if t.Traffic {
			m, what = t.RTT, "relayed RTT p99"
		}
		p99 := time.Duration(m.P99 * float64(time.Millisecond))
		out = append(out, reports.Check{ID: CheckP99, Name: what + scope,
			Verdict: verdictIf(m.Count > 0 && p99 <= slo.MaxP99), Expected: "≤ " + slo.MaxP99.String(),
			Observed: fmt.Sprintf("%s over %d samples", ms(m.P99), m.Count)})
	}
	return out
}
