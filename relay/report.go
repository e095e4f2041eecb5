package relay

import (
	"fmt"

	"github.com/natkit/natkit/reports"
)

// ReportKind is the kind of the relay's run report.
const ReportKind = "relay"

// Report is the summary of a relay run from its counters at stop: what
// it served, what it refused and why. The caller adds the run's target and
// events (listening, stopped, drain).
func (st *Stats) Report() *reports.Report {
	rep := reports.New(ReportKind, "natkit relay")
	rep.Summary = fmt.Sprintf("served %d allocations; relayed %d packets to peers and %d to clients",
		st.Allocations[OutcomeCreated], st.PacketsToPeer, st.PacketsToClient)
	rep.Metrics = append(rep.Metrics,
		reports.Counter("packets_to_peer", "packets", float64(st.PacketsToPeer)),
		reports.Counter("bytes_to_peer", "bytes", float64(st.BytesToPeer)),
		reports.Counter("packets_to_client", "packets", float64(st.PacketsToClient)),
		reports.Counter("bytes_to_client", "bytes", float64(st.BytesToClient)),
		reports.Counter("binding_requests", "requests", float64(st.BindingRequests)),
		reports.Counter("bandwidth_drops", "packets", float64(st.BandwidthDrops)),
		reports.Counter("stale_nonces", "requests", float64(st.StaleNonces)),
		reports.Counter("auth_timeouts", "connections", float64(st.AuthTimeouts)),
		reports.Counter("accept_errors", "accepts", float64(st.AcceptErrors)),
	)
	rep.Tables = append(rep.Tables,
		reports.CountTable("Allocations by outcome", "outcome", st.Allocations),
		reports.CountTable("Auth failures by reason", "reason", st.AuthFailures),
		reports.CountTable("Permissions denied by rule", "rule", st.PermissionsDenied),
		reports.CountTable("Bad packets by reason", "reason", st.BadPackets),
	)
	_ = rep.SetDetails(st)
	return rep
}
