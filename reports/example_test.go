package reports_test

import (
	"os"
	"time"

	"github.com/natkit/natkit/reports"
)

// A producer builds a report from its result; a renderer writes it.
func Example() {
	rep := reports.New("gather", "ci-turn")
	rep.Target = "turn:turn.example.org:3478?transport=udp"
	rep.Started = time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)
	rep.Duration = reports.Duration(1500 * time.Millisecond)
	rep.AddCheck(reports.Check{ID: "relay", Name: "relay candidate", Verdict: reports.VerdictFail,
		Expected: "a relay candidate", Observed: "none", Message: "401 Unauthorized: wrong username or password"})
	rep.AddCheck(reports.Check{ID: "srflx", Name: "server-reflexive candidate", Verdict: reports.VerdictPass,
		Expected: "one", Observed: "203.0.113.7:54321"})
	rep.Metrics = []reports.Metric{reports.Counter("candidates", "candidates", 3)}
	rep.Summary = "no relay candidate: the server answered 401 to every Allocate"

	_ = reports.RenderText(os.Stdout, rep, reports.RenderOptions{})
	// Output:
	// FAIL gather ci-turn → turn:turn.example.org:3478?transport=udp  (1.5s)
	// no relay candidate: the server answered 401 to every Allocate
	//
	// Checks
	//         check                       expected           observed
	//   FAIL  relay candidate             a relay candidate  none
	//   PASS  server-reflexive candidate  one                203.0.113.7:54321
	//   relay candidate: 401 Unauthorized: wrong username or password
	//
	// Metrics
	//   metric      count/value  min  mean  p50  p90  p99  max  unit
	//   candidates  3                                           candidates
}
