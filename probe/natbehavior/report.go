package natbehavior

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/natkit/natkit/reports"
)

// ReportKind is the kind of nat reports.
const ReportKind = "nat"

// Diagnosis is the one-line verdict: the classic name with mapping and
// filtering and the public address, or why the server told nothing.
func (r *Result) Diagnosis() string {
	switch r.Cause {
	case CauseClassified, CauseInterrupted:
		who := r.Classic
		if r.NAT {
			who = fmt.Sprintf("%s (mapping %s, filtering %s)", r.Classic, r.Mapping, r.Filtering)
		}
		return fmt.Sprintf("%s; public address %s", who, r.Public)
	case CauseNoAnswer:
		return fmt.Sprintf("%s: UDP to %s is blocked, or no STUN server listens there", r.Error, r.Server)
	}
	return r.Error
}

// Report turns the result into a natkit report: the behaviour table, what
// it means for calls, every test, and checks that pass when mapping and
// filtering were determined and are skipped, with the reason, when they
// were not. When the server told nothing the report has one failing check
// that says why. A nil Result gives an empty report.
func (r *Result) Report() *reports.Report {
	rep := reports.New(ReportKind, "nat")
	if r == nil {
		return rep
	}
	rep.Started = time.Now().Add(-r.Duration)
	rep.Duration = reports.Duration(r.Duration)
	rep.Target = r.Server
	switch {
	case r.Cause == CauseClassified, r.Cause == CauseInterrupted && r.Public != "":
		r.fill(rep)
	case r.Cause != CauseInterrupted:
		rep.AddCheck(reports.Check{ID: "server", Name: "server answers", Verdict: reports.VerdictFail, Expected: "a Binding response", Observed: "none", Message: r.Diagnosis()})
		rep.Summary = "the STUN server did not answer; NAT behaviour not determined"
	}
	if r.Cause == CauseInterrupted {
		rep.Interrupt()
	}
	return rep
}

func (r *Result) fill(rep *reports.Report) {
	natText := "yes"
	if !r.NAT {
		natText = "no (the public address is local)"
	}
	rows := [][]string{
		{"NAT", natText},
		{"public address", r.Public},
		{"local address", r.Local},
		{"mapping", fmt.Sprintf("%s — %s", r.Mapping, r.Mapping.Describe())},
		{"filtering", fmt.Sprintf("%s — %s", r.Filtering, r.Filtering.Describe())},
		{"classic name (RFC 3489)", r.Classic},
		{"port preservation (observed)", yesNo(r.PortPreserved)},
		{"server RFC 5780", r.rfc5780Text()},
	}
	if r.Hairpin != nil {
		h := yesNo(r.Hairpin.Supported)
		if r.Hairpin.Note != "" {
			h += " — " + r.Hairpin.Note
		}
		rows = append(rows, []string{"hairpinning", h})
	}
	if r.Clash != nil {
		rows = append(rows, []string{"peer's packet first (clash test)", r.Clash.Describe()})
	}
	if r.Lifetime != nil {
		l := r.Lifetime.Range()
		if r.Lifetime.Note != "" {
			l += " — " + r.Lifetime.Note
		}
		rows = append(rows, []string{"binding lifetime", l})
	}
	rep.Tables = append(rep.Tables, reports.Table{Title: "NAT behaviour", Columns: []string{"", ""}, Rows: rows})

	mean := make([][]string, 0, len(r.Implications))
	for _, s := range r.Implications {
		mean = append(mean, []string{"•", s})
	}
	rep.Tables = append(rep.Tables, reports.Table{Title: "What it means for calls", Rows: mean})

	trows := make([][]string, 0, len(r.Tests))
	for _, t := range r.Tests {
		rtt := "-"
		if t.Answered && t.RTT > 0 {
			rtt = roundMS(t.RTT)
		}
		answered := "no answer"
		if t.Answered {
			answered = "answered"
		}
		if t.Error != "" && !strings.Contains(t.Error, "no answer") {
			answered = t.Error
		}
		trows = append(trows, []string{t.Name, t.Local, t.To, dash(t.Change), answered, dash(t.From), dash(t.Mapped), rtt, strconv.Itoa(t.Requests)})
	}
	rep.Tables = append(rep.Tables, reports.Table{Title: "Tests", Columns: []string{"test", "local", "to", "change", "result", "from", "mapped", "round trip", "requests"}, Rows: trows})

	notes := strings.Join(r.Notes, "; ")
	rep.AddCheck(determined("mapping", "mapping behaviour", string(r.Mapping), r.Mapping != MappingUnknown, notes))
	rep.AddCheck(determined("filtering", "filtering behaviour", string(r.Filtering), r.Filtering != FilteringUnknown, notes))
	if r.Hairpin != nil {
		rep.AddCheck(reports.Check{ID: "hairpin", Name: "hairpinning", Verdict: reports.VerdictPass, Observed: yesNo(r.Hairpin.Supported), Message: r.Hairpin.Note})
	}
	if r.Lifetime != nil {
		v := reports.VerdictPass
		if r.Lifetime.Note != "" && len(r.Lifetime.Probes) == 0 {
			v = reports.VerdictSkip
		}
		rep.AddCheck(reports.Check{ID: "lifetime", Name: "binding lifetime", Verdict: v, Observed: r.Lifetime.Range(), Message: r.Lifetime.Note})
	}
	rep.Summary = r.Diagnosis()
	if err := rep.SetDetails(r); err != nil {
		rep.AddCheck(reports.Check{ID: "details", Name: "details", Verdict: reports.VerdictError, Message: err.Error()})
	}
}

// determined is a check that passes when a behaviour was classified and
// is skipped, with the reason, when it could not be.
func determined(id, name, observed string, ok bool, notes string) reports.Check {
	c := reports.Check{ID: id, Name: name, Verdict: reports.VerdictPass, Expected: "determined", Observed: observed}
	if !ok {
		c.Verdict = reports.VerdictSkip
		c.Message = notes
	}
	return c
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func roundMS(d time.Duration) string {
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}

func (r *Result) rfc5780Text() string {
	if r.RFC5780 && r.NAT64Prefix != "" {
		return "yes, OTHER-ADDRESS " + r.OtherAddress + " (reached through the NAT64 prefix " + r.NAT64Prefix + ")"
	}
	if r.RFC5780 {
		return "yes, OTHER-ADDRESS " + r.OtherAddress
	}
	return "no (no OTHER-ADDRESS)"
}
