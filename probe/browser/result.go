package browser

import (
	"time"

	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/reports"
)

// Timings are measured by the page from the call's start (natkitPeer.start:
// joining the room), so the browser's own start-up is not in them; a zero
// value never happened.
type Timings struct {
	FirstCandidate  time.Duration `json:"first_candidate,omitempty"`
	FirstSrflx      time.Duration `json:"first_srflx,omitempty"`
	FirstRelay      time.Duration `json:"first_relay,omitempty"`
	ICEConnected    time.Duration `json:"ice_connected,omitempty"`
	Connected       time.Duration `json:"connected,omitempty"`
	DataChannelOpen time.Duration `json:"datachannel_open,omitempty"`
	FirstMessage    time.Duration `json:"first_message,omitempty"`
}

// Result is one browser peer's side of a call.
type Result struct {
	Peer    string `json:"peer"`
	Role    string `json:"role"`
	Browser Info   `json:"browser"`
	// PageLoad is loading the peer page until natkitPeer was ready.
	PageLoad time.Duration `json:"page_load"`
	// Started is when the page started the call.
	Started   time.Time `json:"started"`
	Timings   Timings   `json:"timings"`
	Connected bool      `json:"connected"`
	RelayOnly bool      `json:"relay_only,omitempty"`
	// Pair is the selected candidate pair (getStats), RelayProtocol its
	// local relay candidate's transport to the TURN server.
	Pair          *call.Pair `json:"pair,omitempty"`
	RelayProtocol string     `json:"relay_protocol,omitempty"`
	// ICERTT is the pair's currentRoundTripTime (STUN consent checks).
	ICERTT           time.Duration    `json:"ice_rtt,omitempty"`
	Candidates       []call.Candidate `json:"candidates"`
	RemoteCandidates []call.Candidate `json:"remote_candidates,omitempty"`
	// CandidateErrors are Chromium's icecandidateerror events.
	CandidateErrors []string `json:"candidate_errors,omitempty"`
	// Probes counts the probes this peer sent and got echoed.
	Probes   call.ProbeStats   `json:"probes"`
	ProbeRTT *reports.Recorder `json:"-"`
	Events   []call.Event      `json:"events"`
	// Errors are what the page itself reported.
	Errors []string `json:"errors,omitempty"`
	// Crashed: the browser died during the call; Error says how.
	Crashed bool   `json:"crashed,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Metric names of a browser peer (per peer, prefixed with "<peer>."
// by Metrics). Each is a one-sample distribution, so that repeated runs
// merge into percentiles.
const (
	MetricBrowserStart   = "browser_start"
	MetricPageLoad       = "page_load"
	MetricFirstCandidate = "time_to_first_candidate"
	MetricFirstSrflx     = "time_to_first_srflx"
	MetricFirstRelay     = "time_to_first_relay"
	MetricICEConnected   = "time_to_ice_connected"
	// MetricConnected is probe/call's name for the same moment.
	MetricConnected    = "time_to_connected"
	MetricFirstMessage = "time_to_first_message"
	MetricICERTT       = "ice_rtt"
)

// Metrics are the peer's figures, named "<prefix><metric>": browser start
// and page load apart from the call's own times (where the time goes), the
// ICE RTT, and the data-channel RTT of its probes.
func (r *Result) Metrics(prefix string) []reports.Metric {
	var out []reports.Metric
	add := func(name string, d time.Duration) {
		if d <= 0 {
			return
		}
		rec := reports.NewLatencyRecorder(prefix + name)
		rec.RecordDuration(d)
		out = append(out, rec.Metric())
	}
	add(MetricBrowserStart, r.Browser.StartTime)
	add(MetricPageLoad, r.PageLoad)
	add(MetricFirstCandidate, r.Timings.FirstCandidate)
	add(MetricFirstSrflx, r.Timings.FirstSrflx)
	add(MetricFirstRelay, r.Timings.FirstRelay)
	add(MetricICEConnected, r.Timings.ICEConnected)
	add(MetricConnected, r.Timings.Connected)
	add(MetricFirstMessage, r.Timings.FirstMessage)
	add(MetricICERTT, r.ICERTT)
	if r.ProbeRTT != nil && r.ProbeRTT.Count() > 0 {
		m := r.ProbeRTT.Metric()
		m.Name = prefix + m.Name
		out = append(out, m)
	}
	return out
}
