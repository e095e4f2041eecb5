package call

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/natkit/natkit/reports"
)

// ReportOptions say what a call's report judges.
type ReportOptions struct {
	// Name names the report. Default "call".
	Name string
	// ExpectRelay makes the path check expect a relayed path (natkit call
	// --relay-only). Default false: any path passes.
	ExpectRelay bool
	// CheckAudio judges the audio packets received; only a report of both
	// peers can. Default false.
	CheckAudio bool
	// TimelineOnly leaves out the checks and the summary, for a producer
	// that judges the call against its own expectations (a scenario, a
	// matrix cell). Default false.
	TimelineOnly bool
}

// Report turns the result into a report of kind "call": the timeline, the
// metrics, the candidates and ICE settings, and (unless TimelineOnly) the
// checks with the Diagnosis of a call that did not connect.
func (r *Result) Report(o ReportOptions) *reports.Report {
	if o.Name == "" {
		o.Name = "call"
	}
	rep := reports.New("call", o.Name)
	rep.Started = r.Started
	if n := len(r.Events); n > 0 {
		rep.Duration = reports.Duration(r.Events[n-1].At.Sub(r.Started))
	}
	r.addTimeline(rep)
	if o.TimelineOnly {
		return rep
	}
	if r.Cause == CauseSignalingFailed {
		rep.AddCheck(reports.Check{ID: "signal", Name: "signaling", Verdict: reports.VerdictFail, Observed: r.Error, Message: r.Diagnosis()})
		rep.Summary = r.Error
		_ = rep.SetDetails(r)
		return rep
	}
	obs := "not connected"
	if r.Connected {
		obs = fmt.Sprintf("connected in %v", r.TimeToConnected.Round(time.Millisecond))
	}
	c := reports.Check{ID: "connected", Name: "the call connects", Expected: "connected", Observed: obs, Verdict: reports.VerdictPass}
	switch {
	case !r.Cause.Completed() && !r.Connected:
		c.Verdict, c.Observed, c.Message = reports.VerdictInterrupted, string(r.Cause), r.Diagnosis()
	case !r.Connected:
		c.Verdict = reports.VerdictFail
		c.Message = r.Diagnosis()
	}
	rep.AddCheck(c)
	if r.Connected {
		v := reports.VerdictPass
		if o.ExpectRelay && r.Path.Class != PathRelay {
			v = reports.VerdictFail
		}
		rep.AddCheck(reports.Check{ID: "path", Name: "media path", Verdict: v, Expected: map[bool]string{true: "relay", false: "any"}[o.ExpectRelay], Observed: r.Path.Describe()})
	}
	if r.Messages.Sent > 0 {
		v := reports.VerdictPass
		if r.Messages.Lost() > 0 {
			v = reports.VerdictFail
		}
		rep.AddCheck(reports.Check{ID: "messages", Name: "probe messages echoed", Verdict: v,
			Expected: fmt.Sprint(r.Messages.Sent), Observed: fmt.Sprintf("%d of %d (%d lost)", r.Messages.Received, r.Messages.Sent, r.Messages.Lost())})
	}
	if o.CheckAudio && r.Audio != nil && r.Audio.Sent > 0 {
		v := reports.VerdictPass
		if r.Audio.Received == 0 {
			v = reports.VerdictFail
		}
		rep.AddCheck(reports.Check{ID: "audio", Name: "audio packets received", Verdict: v,
			Expected: "> 0", Observed: fmt.Sprintf("%d of %d RTP packets", r.Audio.Received, r.Audio.Sent)})
	}
	parts := []string{obs}
	if r.Connected {
		parts = append(parts, r.Path.Describe())
	} else if d := r.Diagnosis(); d != "" {
		parts = append(parts, d)
	}
	if r.Messages.Sent > 0 {
		parts = append(parts, fmt.Sprintf("%d/%d messages echoed", r.Messages.Received, r.Messages.Sent))
	}
	rep.Summary = strings.Join(parts, "; ")
	_ = rep.SetDetails(r)
	return rep
}

// addTimeline adds the call's timeline, metrics and candidates to rep.
func (r *Result) addTimeline(rep *reports.Report) {
	for _, e := range r.Events {
		rep.AddEvent(e.At, e.Peer, string(e.Kind), e.Text())
	}
	if r.Connected {
		rep.Metrics = append(rep.Metrics, reports.Gauge("time_to_connected", "ms", float64(r.TimeToConnected)/float64(time.Millisecond)))
	}
	if r.RTT != nil && r.RTT.Count() > 0 {
		rep.Metrics = append(rep.Metrics, r.RTT.Metric())
	}
	if r.Audio != nil {
		rep.Metrics = append(rep.Metrics,
			reports.Counter("audio_packets_sent", "packets", float64(r.Audio.Sent)),
			reports.Counter("audio_packets_received", "packets", float64(r.Audio.Received)))
	}
	if r.Messages.Sent > 0 {
		rep.Metrics = append(rep.Metrics,
			reports.Counter("messages_sent", "messages", float64(r.Messages.Sent)),
			reports.Counter("messages_lost", "messages", float64(r.Messages.Lost())))
	}
	t := reports.Table{Title: "candidates", Columns: []string{"peer", "type", "protocol", "address", "base"}}
	names := make([]string, 0, len(r.Candidates))
	for name := range r.Candidates {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, c := range r.Candidates[name] {
			// An ICE-TCP candidate's role (active, passive) goes with its protocol.
			t.Rows = append(t.Rows, []string{name, c.Type, strings.TrimSpace(c.Protocol + " " + c.TCPType), c.Address, c.Related})
		}
	}
	rep.Tables = append(rep.Tables, t)
	if len(r.TURNErrors) > 0 {
		tt := reports.Table{Title: "turn error responses", Columns: []string{"server", "request", "error", "peer address"}}
		for _, e := range r.TURNErrors {
			tt.Rows = append(tt.Rows, []string{e.Server, e.Method, fmt.Sprintf("%d %s", e.Code, e.Reason), e.PeerAddr})
		}
		rep.Tables = append(rep.Tables, tt)
	}
	rep.Tables = append(rep.Tables, reports.Table{Title: "ice settings", Columns: []string{"setting", "value"}, Rows: [][]string{
		{"disconnected timeout", r.ICE.DisconnectedTimeout.String()}, {"failed timeout", r.ICE.FailedTimeout.String()},
		{"keepalive", r.ICE.KeepAlive.String()}, {"host wait", r.ICE.HostWait.String()}, {"srflx wait", r.ICE.SrflxWait.String()},
		{"prflx wait", r.ICE.PrflxWait.String()}, {"relay wait", r.ICE.RelayWait.String()},
	}})
}
