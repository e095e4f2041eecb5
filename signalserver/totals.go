package signalserver

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Totals are the server's counters since it started, for a summary.
type Totals struct {
	Connections int               `json:"connections"`
	Rooms       int               `json:"rooms"`
	Peers       int               `json:"peers"`
	Relayed     map[string]uint64 `json:"relayed_by_type"`
	Errors      map[string]uint64 `json:"errors_by_code"`
	Disconnects map[string]uint64 `json:"disconnects_by_reason"`
	Queued      uint64            `json:"queued"`
	Expired     uint64            `json:"expired"`
	ICETokens   uint64            `json:"ice_tokens"`
}

// Gatherer serves the server's Prometheus metrics (e.g. on a separate
// metrics listener).
func (s *Server) Gatherer() prometheus.Gatherer { return s.metrics.reg }

// Totals reads the counters.
func (s *Server) Totals() Totals {
	t := Totals{Relayed: map[string]uint64{}, Errors: map[string]uint64{}, Disconnects: map[string]uint64{}}
	fams, err := s.metrics.reg.Gather()
	if err != nil {
		return t
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			v := value(m)
			switch f.GetName() {
			case "natkit_signal_connections":
				t.Connections = int(v)
			case "natkit_signal_rooms":
				t.Rooms = int(v)
			case "natkit_signal_peers":
				t.Peers = int(v)
			case "natkit_signal_messages_relayed_total":
				t.Relayed[label(m, "type")] = uint64(v)
			case "natkit_signal_errors_total":
				t.Errors[label(m, "code")] = uint64(v)
			case "natkit_signal_disconnects_total":
				t.Disconnects[label(m, "reason")] = uint64(v)
			case "natkit_signal_queued_messages_total":
				t.Queued = uint64(v)
			case "natkit_signal_expired_messages_total":
				t.Expired = uint64(v)
			case "natkit_signal_ice_tokens_total":
				t.ICETokens = uint64(v)
			}
		}
	}
	return t
}

func value(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
