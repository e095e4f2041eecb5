package browser

import (
	"fmt"
	"strings"
	"time"

	"github.com/natkit/natkit/reports"
)

// Report turns one browser peer's result into a report of kind
// "browser-peer": its timeline, metrics, candidates and the browser's
// version and flags.
func (r *Result) Report() *reports.Report {
	rep := reports.New("browser-peer", r.Peer)
	rep.Started = r.Started
	for _, e := range r.Events {
		rep.AddEvent(e.At, e.Peer, string(e.Kind), e.Text())
	}
	rep.Metrics = append(rep.Metrics, r.Metrics("")...)
	rep.Tables = append(rep.Tables, r.InfoTable(), r.CandidatesTable())
	rep.Summary = r.Summary()
	_ = rep.SetDetails(r)
	return rep
}

// Summary says in one line how the peer did and where its time went.
func (r *Result) Summary() string {
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	head := fmt.Sprintf("chromium %s (%s)", r.Peer, r.Role)
	switch {
	case r.Crashed:
		return head + ": crashed: " + r.Error
	case !r.Connected:
		return fmt.Sprintf("%s: not connected (browser start %s, page %s)", head, ms(r.Browser.StartTime), ms(r.PageLoad))
	}
	s := fmt.Sprintf("%s: browser start %s, page %s, then ICE connected in %s", head, ms(r.Browser.StartTime), ms(r.PageLoad), ms(r.Timings.ICEConnected))
	if r.Pair != nil {
		s += fmt.Sprintf(" over %s/%s %s", r.Pair.Local.Type, r.Pair.Remote.Type, r.Pair.Local.Protocol)
		if r.RelayProtocol != "" {
			s += " (relay over " + r.RelayProtocol + ")"
		}
	}
	return s
}

// InfoTable is the browser's identity (version, PID, namespace, flags) and
// the selected pair.
func (r *Result) InfoTable() reports.Table {
	info := reports.Table{Title: "chromium " + r.Peer, Columns: []string{"field", "value"}, Rows: [][]string{
		{"version", r.Browser.Version},
		{"pid", fmt.Sprint(r.Browser.PID)},
		{"namespace", r.Browser.Namespace},
		{"flags", strings.Join(r.Browser.Flags, " ")},
	}}
	if r.Pair != nil {
		info.Rows = append(info.Rows,
			[]string{"selected local", fmt.Sprintf("%s %s %s", r.Pair.Local.Type, r.Pair.Local.Protocol, r.Pair.Local.Address)},
			[]string{"selected remote", fmt.Sprintf("%s %s %s", r.Pair.Remote.Type, r.Pair.Remote.Protocol, r.Pair.Remote.Address)},
			[]string{"relay protocol", r.RelayProtocol})
	}
	if r.Crashed {
		info.Rows = append(info.Rows, []string{"crashed", r.Error})
	}
	return info
}

// CandidatesTable lists the browser's local candidates.
func (r *Result) CandidatesTable() reports.Table {
	cands := reports.Table{Title: "candidates of chromium " + r.Peer, Columns: []string{"type", "protocol", "address", "base"}}
	for _, c := range r.Candidates {
		cands.Rows = append(cands.Rows, []string{c.Type, c.Protocol, c.Address, c.Related})
	}
	return cands
}
