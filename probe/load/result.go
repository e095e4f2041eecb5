package load

import (
	"errors"
	"time"

	"github.com/natkit/natkit/reports"
)

// Kinds of load.
const (
	KindAllocation = "allocation" // allocate, refresh, delete; no traffic
	KindTraffic    = "traffic"    // relayed packets through held allocations
)

// Outcome counts the responses of one kind to one request method: "ok",
// "401-challenge" (the expected first 401), an error code such as "486",
// "timeout" or "network-error".
type Outcome struct {
	Method  string `json:"method"`
	Outcome string `json:"outcome"`
	Count   int64  `json:"count"`
}

// Cause is how a load run ended.
type Cause string

// Causes.
const (
	// CauseCompleted: the run went its course; the SLO checks judge it.
	CauseCompleted Cause = "completed"
	// CauseUnauthorized: every Allocate was refused with 401.
	CauseUnauthorized Cause = "unauthorized"
	// CauseUnreachable: the server answered no request at all.
	CauseUnreachable Cause = "unreachable"
	// CauseServerStopped: the server stopped answering mid-run.
	CauseServerStopped Cause = "server-stopped"
	// CauseTLS: the TLS (or DTLS) handshake failed for every allocation.
	CauseTLS Cause = "tls"
	// CauseTCPUnsupported: every TCP Allocate got 442.
	CauseTCPUnsupported Cause = "tcp-unsupported"
	// CauseInterrupted: the context ended the run early.
	CauseInterrupted Cause = "interrupted"
	// CausePeerFamily: the relayed address and Config.Peer are of
	// different address families (PeerFamilyError).
	CausePeerFamily Cause = "peer-family"
)

// causeOf names how a run ended from its stop error.
func causeOf(stopped error, interrupted bool) Cause {
	switch {
	case errors.Is(stopped, ErrUnauthorized):
		return CauseUnauthorized
	case errors.Is(stopped, ErrTLS):
		return CauseTLS
	case errors.Is(stopped, ErrTCPUnsupported):
		return CauseTCPUnsupported
	case errors.Is(stopped, ErrUnreachable):
		return CauseUnreachable
	case errors.Is(stopped, ErrServerStopped):
		return CauseServerStopped
	case errors.Is(stopped, ErrPeerFamily):
		return CausePeerFamily
	case interrupted:
		return CauseInterrupted
	}
	return CauseCompleted
}

// Diagnosis is the one-line account of the run: the load and what it
// measured, and why it stopped early if it did.
func (r *Result) Diagnosis() string { return r.summary() }

// Result is what one load run measured.
type Result struct {
	// Cause is how the run ended.
	Cause     Cause     `json:"cause"`
	Kind      string    `json:"kind"`
	Server    string    `json:"server"`
	Transport string    `json:"transport"`
	Mode      string    `json:"mode"`
	Peer      string    `json:"peer,omitempty"`
	Pair      bool      `json:"pair,omitempty"`
	Started   time.Time `json:"started"`
	// The load asked for.
	Allocations int           `json:"allocations"`
	Rate        float64       `json:"rate"`
	PPS         float64       `json:"pps,omitempty"`
	Size        int           `json:"size"`
	Duration    time.Duration `json:"duration"`

	Elapsed time.Duration `json:"elapsed"`
	// DataPath is how relayed packets were sent and read: DataPathBatched
	// (Linux, UDP: a thread per core, epoll and recvmmsg, RTT from the
	// kernel's receive timestamp) or DataPathPerSession (a reader goroutine
	// per session, RTT from the time it woke).
	DataPath string `json:"data_path,omitempty"`
	// SendPath is the batched path's send call: "io_uring" (one
	// submission per wake for every allocation's due packet), or "send"
	// with why io_uring was refused, e.g. "send (io_uring_setup: operation
	// not permitted)". Empty on the per-session path.
	SendPath string `json:"send_path,omitempty"`
	// RxWakeStamped counts batched-path packets that carried no kernel
	// receive timestamp, so were timestamped when the thread woke (up to
	// one fastTick late).
	RxWakeStamped int64 `json:"rx_wake_stamped,omitempty"`
	Interrupted   bool  `json:"interrupted,omitempty"`
	// Stopped says why the run ended early (ErrUnauthorized,
	// ErrUnreachable, ErrServerStopped); nil when it ran its course.
	Stopped error `json:"-"`
	// StopReason is Stopped as text, for the report details.
	StopReason string `json:"stop_reason,omitempty"`
	// LastResponse is when anything last came back from the server (since
	// Started); 0 if nothing ever did.
	LastResponse time.Duration `json:"last_response"`

	AllocationsSucceeded int64 `json:"allocations_succeeded"`
	AllocationsFailed    int64 `json:"allocations_failed"`
	// RelayedIPv6 counts the allocations granted an IPv6 relayed
	// address; the others got IPv4.
	RelayedIPv6     int64     `json:"relayed_ipv6,omitempty"`
	PeakAllocations int64     `json:"peak_allocations"`
	Outcomes        []Outcome `json:"outcomes"`
	// PeerSetupFailed counts allocations whose permission or channel bind
	// failed, so they sent no traffic.
	PeerSetupFailed int64 `json:"peer_setup_failed,omitempty"`

	// ConnectLatency is MetricConnect: the TCP connect and TLS handshake
	// of each allocation's connection (tcp and tls only).
	ConnectLatency           reports.Metric   `json:"-"`
	AllocLatency             reports.Metric   `json:"-"`
	AllocLatencyFromSchedule reports.Metric   `json:"-"`
	RequestLatency           []reports.Metric `json:"-"`

	// Relayed traffic.
	Senders         int            `json:"senders,omitempty"`
	TrafficDuration time.Duration  `json:"traffic_duration,omitempty"`
	Sent            int64          `json:"sent,omitempty"`
	Received        int64          `json:"received,omitempty"` // unique echoes
	Duplicates      int64          `json:"duplicates,omitempty"`
	Reordered       int64          `json:"reordered,omitempty"`
	Late            int64          `json:"late,omitempty"` // sends more than LateAfter behind schedule
	SendErrors      int64          `json:"send_errors,omitempty"`
	Foreign         int64          `json:"foreign,omitempty"` // payloads that were not natkit's
	ICMPUnreachable int64          `json:"icmp_unreachable,omitempty"`
	BytesSent       int64          `json:"bytes_sent,omitempty"`
	BytesReceived   int64          `json:"bytes_received,omitempty"`
	RTT             reports.Metric `json:"-"`
	RTTFromSchedule reports.Metric `json:"-"`
	SendLag         reports.Metric `json:"-"`
	Jitter          reports.Metric `json:"-"`

	Series []reports.Series `json:"-"`

	// The tool's own cost.
	CPU    time.Duration `json:"cpu"`
	MaxRSS int64         `json:"max_rss"`
}

// Lost is the number of packets sent whose echo never came back.
func (r *Result) Lost() int64 {
	if r.Received >= r.Sent {
		return 0
	}
	return r.Sent - r.Received
}

// LossPercent is Lost as a percentage of Sent.
func (r *Result) LossPercent() float64 {
	if r.Sent == 0 {
		return 0
	}
	return 100 * float64(r.Lost()) / float64(r.Sent)
}

// AllocFailurePercent is the percentage of allocation attempts that failed.
func (r *Result) AllocFailurePercent() float64 {
	n := r.AllocationsSucceeded + r.AllocationsFailed
	if n == 0 {
		return 0
	}
	return 100 * float64(r.AllocationsFailed) / float64(n)
}

// LatePercent is the share of sends that left later than LateAfter.
func (r *Result) LatePercent() float64 {
	if r.Sent == 0 {
		return 0
	}
	return 100 * float64(r.Late) / float64(r.Sent)
}

// Count returns the number of responses of method with outcome.
func (r *Result) Count(method, outcome string) int64 {
	for _, o := range r.Outcomes {
		if o.Method == method && o.Outcome == outcome {
			return o.Count
		}
	}
	return 0
}

// URL is the server as a TURN URL: turns:HOST:PORT?transport=tcp over
// tls, ?transport=udp over dtls.
func (r *Result) URL() string {
	switch r.Transport {
	case TransportTLS:
		return "turns:" + r.Server + "?transport=tcp"
	case TransportDTLS:
		return "turns:" + r.Server + "?transport=udp"
	}
	return "turn:" + r.Server + "?transport=" + r.Transport
}
