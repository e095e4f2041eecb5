package load

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/natkit/natkit/reports"
)

// ReportKind is the kind of natkit bench reports.
const ReportKind = "bench"

// SLO holds the thresholds that turn a run into pass or fail.
type SLO struct {
	// MaxLossPercent is the highest acceptable packet loss. Default 1.
	MaxLossPercent float64
	// MaxP99 is the highest acceptable p99: of the RTT for traffic, of the
	// time to a relayed address for allocation load. 0: not checked.
	MaxP99 time.Duration
	// MaxAllocFailurePercent is the highest acceptable share of failed
	// allocations. Default 1.
	MaxAllocFailurePercent float64
	// MaxLatePercent is the share of sends behind schedule above which the
	// report warns that the tool was the bottleneck. Default 1.
	MaxLatePercent float64
}

// DefaultSLO returns the defaults documented on SLO.
func DefaultSLO() SLO {
	return SLO{MaxLossPercent: 1, MaxAllocFailurePercent: 1, MaxLatePercent: 1}
}

func pct(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "%" }

func ms(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) + " ms" }

// outcomeMeaning explains an outcome label in the report table.
func outcomeMeaning(o string) string {
	switch o {
	case OutcomeOK:
		return "success"
	case OutcomeChallenge:
		return "expected challenge carrying realm and nonce"
	case OutcomeTimeout:
		return "no response, retransmissions included"
	case OutcomeNetwork:
		return "could not send (socket error)"
	case OutcomeMalformed:
		return "unparseable response"
	}
	if code, err := strconv.Atoi(o); err == nil {
		return codeHint(code)
	}
	return ""
}

// Report turns the result into a natkit report with checks against slo.
// Metrics are counters (summed by `natkit report merge`), distributions
// (merged from their histograms) and gauges (max), so N worker reports
// merge into one exact report.
func (r *Result) Report(slo SLO) *reports.Report {
	name := "turn allocation load"
	if r.Kind == KindTraffic {
		name = "relayed traffic"
	}
	rep := reports.New(ReportKind, name)
	rep.Started = r.Started
	rep.Duration = reports.Duration(r.Elapsed)
	rep.Target = r.URL()

	for _, c := range r.Totals().judge(slo, "") {
		switch c.ID {
		case CheckAllocFailures:
			c.Message = r.failureMessage()
		case CheckLoss:
			if r.Sent == 0 {
				c.Message = "no packet was sent: no allocation got a working permission/channel to the peer"
			}
		}
		rep.AddCheck(c)
		if c.ID == CheckLoss && r.PeerSetupFailed > 0 {
			rep.AddCheck(reports.Check{ID: "bench.peer_setup", Name: "permissions and channels",
				Verdict: reports.VerdictFail, Expected: "every allocation reaches the peer",
				Observed: fmt.Sprintf("%d allocations could not set up a permission or channel", r.PeerSetupFailed),
				Message:  r.outcomeSummary(methodPermission, methodChannelBind) + peerHint(r),
			})
		}
	}
	if r.Stopped != nil {
		rep.AddCheck(reports.Check{ID: "bench.completed", Name: "run completed",
			Verdict: reports.VerdictFail, Expected: "the full " + r.Duration.String(),
			Observed: "stopped early after " + r.Elapsed.Round(time.Millisecond).String(), Message: r.Stopped.Error()})
		rep.AddEvent(r.Started.Add(r.Elapsed), "bench", "stopped", r.Stopped.Error())
	}
	if r.Kind == KindTraffic && r.Sent > 0 {
		c := reports.Check{ID: "bench.schedule", Name: "send schedule kept (the tool was not the bottleneck)",
			Verdict: reports.VerdictPass, Expected: "≤ " + pct(slo.MaxLatePercent) + " of sends late",
			Observed: fmt.Sprintf("%s late, send lag p99 %s, CPU %.0f%% of one core", pct(r.LatePercent()), ms(r.SendLag.P99), r.cpuPercent())}
		if r.LatePercent() > slo.MaxLatePercent {
			// A warning, not a relay failure: the numbers understate what
			// the relay can do.
			c.Verdict = reports.VerdictWarn
			c.Message = "natkit bench could not keep its send schedule; the tool, not the relay, was the bottleneck. " +
				"RTT from the schedule includes the tool's lag. Use fewer packets per worker or more workers."
			rep.AddEvent(r.Started.Add(r.Elapsed), "bench", "warning", c.Message)
		}
		rep.AddCheck(c)
	}

	rep.Summary = r.Diagnosis()
	rep.Metrics = r.metrics()
	if r.Kind == KindTraffic {
		rep.Headline = []string{MetricRTT}
	}
	rep.Series = r.Series
	rep.Tables = append(rep.Tables, r.outcomeTable())
	_ = rep.SetDetails(r)
	if r.Interrupted {
		rep.Interrupt()
	}
	return rep
}

func verdictIf(ok bool) reports.Verdict {
	if ok {
		return reports.VerdictPass
	}
	return reports.VerdictFail
}

func (r *Result) cpuPercent() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return 100 * r.CPU.Seconds() / r.Elapsed.Seconds()
}

func (r *Result) summary() string {
	var b strings.Builder
	if r.Kind == KindAllocation {
		rate := 0.0
		if r.Elapsed > 0 {
			rate = float64(r.AllocationsSucceeded) / r.Elapsed.Seconds()
		}
		fmt.Fprintf(&b, "%d allocations (%.0f/s), %d failed", r.AllocationsSucceeded, rate, r.AllocationsFailed)
		if r.AllocLatency.Count > 0 {
			fmt.Fprintf(&b, "; time to relay p50 %s p99 %s", ms(r.AllocLatency.P50), ms(r.AllocLatency.P99))
		}
	} else {
		pps := 0.0
		if r.TrafficDuration > 0 {
			pps = float64(r.Sent) / r.TrafficDuration.Seconds()
		}
		fmt.Fprintf(&b, "%d allocations × %g pps × %d B via %s: %d sent (%.0f/s), loss %s",
			r.Senders, r.PPS, r.Size, r.Mode, r.Sent, pps, pct(r.LossPercent()))
		if r.RTT.Count > 0 {
			fmt.Fprintf(&b, ", RTT p50 %s p99 %s", ms(r.RTT.P50), ms(r.RTT.P99))
		}
	}
	if r.RelayedIPv6 > 0 {
		fmt.Fprintf(&b, "; %d of %d relayed addresses IPv6", r.RelayedIPv6, r.AllocationsSucceeded)
	}
	fmt.Fprintf(&b, "; natkit used %.2f CPU s", r.CPU.Seconds())
	if r.Stopped != nil {
		b.WriteString("; stopped early: " + r.Stopped.Error())
	}
	return b.String()
}

// failureMessage explains allocation failures by their dominant outcome.
func (r *Result) failureMessage() string {
	if r.AllocationsFailed == 0 {
		return ""
	}
	s := r.outcomeSummary(methodAllocate)
	switch {
	case r.Count(methodAllocate, "401") > 0 && r.AllocationsSucceeded == 0:
		s += "; the server answered 401 to every Allocate: the credentials are wrong or expired"
	case r.Count(methodAllocate, "486") > 0:
		s += "; 486 means a quota (user-quota/total-quota) was reached: lower --allocations or raise the quota"
	case r.Count(methodAllocate, "508") > 0:
		s += "; 508 means the server ran out of relay ports"
	case r.Count(methodAllocate, OutcomeTimeout) > 0 && r.LastResponse == 0:
		s += "; the server never answered: check host, port and transport"
	}
	return s
}

func (r *Result) outcomeSummary(methods ...string) string {
	var parts []string
	for _, o := range r.Outcomes {
		for _, m := range methods {
			if o.Method == m && o.Outcome != OutcomeOK && o.Outcome != OutcomeChallenge {
				parts = append(parts, fmt.Sprintf("%s %s ×%d", o.Method, o.Outcome, o.Count))
			}
		}
	}
	if len(parts) == 0 {
		return "no error responses"
	}
	return strings.Join(parts, ", ")
}

func peerHint(r *Result) string {
	if r.Count(methodPermission, "403") > 0 {
		return "; 403 to CreatePermission: the server's peer policy forbids this peer (coturn: loopback and private peers need --allow-loopback-peers / --allowed-peer-ip)"
	}
	return ""
}

func (r *Result) outcomeTable() reports.Table {
	t := reports.Table{Title: "TURN request outcomes", Columns: []string{"request", "outcome", "count", "meaning"}}
	for _, o := range r.Outcomes {
		t.Rows = append(t.Rows, []string{o.Method, o.Outcome, strconv.FormatInt(o.Count, 10), outcomeMeaning(o.Outcome)})
	}
	return t
}

func (r *Result) metrics() []reports.Metric {
	ms := []reports.Metric{
		reports.Counter(MetricAllocationsSucceeded, "allocations", float64(r.AllocationsSucceeded)),
		reports.Counter(MetricAllocationsFailed, "allocations", float64(r.AllocationsFailed)),
		reports.Gauge("allocations.peak", "allocations", float64(r.PeakAllocations)),
		r.AllocLatency,
		r.AllocLatencyFromSchedule,
	}
	if r.Transport != TransportUDP {
		ms = append(ms, r.ConnectLatency)
	}
	ms = append(ms, r.RequestLatency...)
	for _, o := range r.Outcomes {
		ms = append(ms, reports.Counter("turn."+o.Method+"."+o.Outcome, "responses", float64(o.Count)))
	}
	if r.Kind == KindTraffic {
		secs := r.TrafficDuration.Seconds()
		rate := func(v int64) float64 {
			if secs <= 0 {
				return 0
			}
			return float64(v) / secs
		}
		ms = append(ms,
			reports.Counter(MetricPacketsSent, "packets", float64(r.Sent)),
			reports.Counter("packets.received", "packets", float64(r.Received)),
			reports.Counter(MetricPacketsLost, "packets", float64(r.Lost())),
			reports.Counter("packets.duplicate", "packets", float64(r.Duplicates)),
			reports.Counter("packets.reordered", "packets", float64(r.Reordered)),
			reports.Counter("packets.late_sends", "packets", float64(r.Late)),
			reports.Counter("bytes.sent", "bytes", float64(r.BytesSent)),
			reports.Counter("bytes.received", "bytes", float64(r.BytesReceived)),
			// Rates of concurrent workers add up, so they are counters.
			reports.Counter("packets.sent_rate", "packets/s", rate(r.Sent)),
			reports.Counter("throughput.received", "bit/s", 8*rate(r.BytesReceived)),
			r.RTT, r.RTTFromSchedule, r.SendLag, r.Jitter,
		)
	}
	ms = append(ms,
		reports.Counter("bench.cpu", "s", r.CPU.Seconds()),
		reports.Gauge("bench.cpu_percent", "% of one core", r.cpuPercent()),
		reports.Gauge("bench.max_rss", "MiB", float64(r.MaxRSS)/(1<<20)),
	)
	if r.Kind == KindTraffic && r.Sent > 0 {
		ms = append(ms, reports.Gauge("bench.cpu_per_million_packets", "s", r.CPU.Seconds()/(float64(r.Sent+r.Received)/1e6)))
	}
	return ms
}
