package signalserver

import (
	"fmt"

	"github.com/natkit/natkit/reports"
)

// ReportKind is the kind of the signaling server's run report.
const ReportKind = "signal"

// Report is the summary of a signaling server run from its totals at stop.
// The caller adds the run's target and events (listening, stopped).
func (t *Totals) Report() *reports.Report {
	rep := reports.New(ReportKind, "natkit signal")
	var relayed, errs uint64
	for _, v := range t.Relayed {
		relayed += v
	}
	for _, v := range t.Errors {
		errs += v
	}
	rep.Summary = fmt.Sprintf("relayed %d messages; %d error frames; %d queued, %d expired undelivered; %d TURN credentials minted", relayed, errs, t.Queued, t.Expired, t.ICETokens)
	rep.Metrics = append(rep.Metrics,
		reports.Counter("messages_relayed", "messages", float64(relayed)),
		reports.Counter("error_frames", "frames", float64(errs)),
		reports.Counter("queued", "messages", float64(t.Queued)),
		reports.Counter("expired_undelivered", "messages", float64(t.Expired)),
		reports.Counter("ice_tokens", "credentials", float64(t.ICETokens)),
	)
	rep.Tables = append(rep.Tables,
		reports.CountTable("Messages relayed by type", "type", t.Relayed),
		reports.CountTable("Error frames by code", "code", t.Errors),
		reports.CountTable("Disconnects by reason", "reason", t.Disconnects),
	)
	_ = rep.SetDetails(t)
	return rep
}
