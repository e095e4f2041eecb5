package audit

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/natkit/natkit/reports"
)

// ReportKind is the kind of natkit audit reports.
const ReportKind = "audit"

// Report turns the result into a natkit report. A finding at failOn or
// worse fails its check (and the run); milder findings warn, which passes
// the run, with their severity in the observed column.
func (r *Result) Report(failOn Severity) *reports.Report {
	rep := reports.New(ReportKind, "audit "+r.Server)
	rep.Target = r.Server
	rep.Started = r.Started
	rep.Duration = reports.Duration(r.Duration)
	for _, c := range r.Checks {
		rc := reports.Check{ID: c.ID, Name: c.Name, Message: c.Message, Duration: reports.Duration(c.Duration), Expected: "no finding"}
		switch c.Verdict {
		case VerdictFinding:
			rc.Observed = "finding (" + string(c.Severity) + ")"
			rc.Verdict = reports.VerdictWarn
			if c.Severity.AtLeast(failOn) {
				rc.Verdict = reports.VerdictFail
			}
			rc.Message += "; fix: natkit relay: " + c.Fix.NatkitRelay + "; coturn: " + c.Fix.Coturn
		case VerdictPass:
			rc.Observed, rc.Verdict = "no finding", reports.VerdictPass
		case VerdictSkip:
			rc.Observed, rc.Verdict = "not tested", reports.VerdictSkip
		default:
			rc.Observed, rc.Verdict = "could not run", reports.VerdictSkip
		}
		rep.AddCheck(rc)
	}

	var rows [][]string
	for _, c := range r.Checks {
		if !c.Finding() {
			continue
		}
		rows = append(rows, []string{string(c.Severity), c.Name, c.Message, c.Fix.NatkitRelay, c.Fix.Coturn})
	}
	sort.SliceStable(rows, func(i, j int) bool { return Severity(rows[i][0]).rank() > Severity(rows[j][0]).rank() })
	if len(rows) > 0 {
		rep.Tables = append(rep.Tables, reports.Table{Title: "Findings", Columns: []string{"severity", "check", "what was found", "fix: natkit relay", "fix: coturn"}, Rows: rows})
	}
	var ev [][]string
	for _, c := range r.Checks {
		for _, e := range c.Evidence {
			ev = append(ev, []string{c.ID, e.Request, e.Answer})
		}
	}
	rep.Tables = append(rep.Tables, reports.Table{Title: "Evidence: every request and its answer", Columns: []string{"check", "sent", "answer"}, Rows: ev})
	dests := make([]string, 0, len(r.Sent.To))
	for d := range r.Sent.To {
		dests = append(dests, d)
	}
	sort.Strings(dests)
	var sent []string
	for _, d := range dests {
		sent = append(sent, d+": "+strconv.Itoa(r.Sent.To[d]))
	}
	rep.Tables = append(rep.Tables, reports.Table{Title: "What was sent", Columns: []string{"packets", "bytes", "destinations (packets)"},
		Rows: [][]string{{strconv.Itoa(r.Sent.Packets), strconv.Itoa(r.Sent.Bytes), strings.Join(sent, "; ")}}})

	rep.Summary = r.Diagnosis()
	if r.Cause == CauseFindings || r.Cause == CauseClean {
		rep.Summary += fmt.Sprintf(" (failing at %s or worse); sent %d packets, %d bytes", failOn, r.Sent.Packets, r.Sent.Bytes)
	}
	switch r.Cause {
	case CauseUnreachable, CauseUnauthorized:
		rep.AddCheck(reports.Check{ID: "audit", Name: "audit could run", Verdict: reports.VerdictError, Expected: "the server answers the audit's credentials", Observed: string(r.Cause), Message: r.Diagnosis()})
	case CauseInterrupted:
		rep.Interrupt()
	}
	if err := rep.SetDetails(r); err != nil {
		rep.AddCheck(reports.Check{ID: "details", Name: "details", Verdict: reports.VerdictError, Message: err.Error()})
	}
	return rep
}
