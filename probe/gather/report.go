package gather

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/natkit/natkit/reports"
)

// ReportKind is the kind of gather reports.
const ReportKind = "gather"

// Candidate types, as --expect takes them.
const (
	TypeHost  = "host"
	TypeSrflx = "srflx"
	TypeRelay = "relay"
)

// CandidateColumns are the columns of the candidate tables, after the
// Trickle ICE sample.
var CandidateColumns = []string{"time (ms)", "component", "type", "foundation", "protocol", "family", "address:port", "priority", "related address", "server URL", "relay protocol"}

// Report turns the result into a natkit report: a check per server (its
// cause and diagnosis), the candidate, server, transport and mapping
// tables, and, for each type in expect ("srflx", "relay"), a check that
// fails, naming the cause, unless the combined gather yielded such a
// candidate. A nil Result gives an empty report.
func (r *Result) Report(expect ...string) *reports.Report {
	rep := reports.New(ReportKind, "gather")
	if r == nil {
		return rep
	}
	rep.Started = time.Now().Add(-r.Duration)
	rep.Duration = reports.Duration(r.Duration)
	rep.Target = r.target()
	combined := r.Combined
	if combined == nil {
		combined = &Gather{Count: map[string]int{}}
	}
	rep.Tables = append(rep.Tables, reports.Table{Title: "Candidates (all servers together)", Columns: CandidateColumns, Rows: candidateRows(combined.Candidates)})

	rows := make([][]string, 0, len(r.Servers))
	for _, s := range r.Servers {
		verdict := reports.VerdictPass
		expected := "STUN OK"
		if s.Scheme != "stun" {
			expected = "TURN OK"
		}
		if !s.Cause.OK() {
			verdict = reports.VerdictFail
		}
		rep.AddCheck(reports.Check{
			ID: "server/" + s.URL, Name: s.URL, Verdict: verdict, Expected: expected,
			Observed: string(s.Cause), Message: s.Diagnosis, Duration: reports.Duration(s.Duration),
		})
		if c, ok := s.familyCheck(); ok {
			rep.AddCheck(c)
		}
		if c, ok := s.tcpRelayCheck(); ok {
			rep.AddCheck(c)
		}
		rtt := s.RTT
		if s.AllocateRTT > 0 {
			rtt = s.AllocateRTT
		}
		lifetime := ""
		if s.Lifetime > 0 {
			lifetime = s.Lifetime.String()
		}
		rttText := ""
		if rtt > 0 {
			rttText = roundMS(rtt)
		}
		relay := withFamily(s.Relay)
		if familyOf(s.RelayDual) != "" { // a dual allocation's second address
			relay += ", " + withFamily(s.RelayDual)
		}
		rows = append(rows, []string{s.URL, dash(firstOf(s.Family, familyOf(hostOfURL(s.URL)))), string(s.Cause), withFamily(s.Public), relay, dash(lifetime), dash(rttText), s.Gather.counts()})
	}
	rep.Tables = append(rep.Tables, reports.Table{Title: "Servers", Columns: []string{"server", "family", "verdict", "public address", "relay address", "lifetime", "round trip", "candidates alone"}, Rows: rows})

	if len(r.Transports) > 0 {
		dtls := false // the column shows only when a dtls server was given
		for _, tr := range r.Transports {
			dtls = dtls || tr.DTLS != ""
		}
		trows := make([][]string, 0, len(r.Transports))
		for _, tr := range r.Transports {
			row := []string{tr.Host, notTested(tr.UDP), notTested(tr.TCP), notTested(tr.TLS)}
			if dtls {
				row = append(row, notTested(tr.DTLS))
			}
			trows = append(trows, row)
		}
		cols := []string{"host", "udp", "tcp", "tls"}
		if dtls {
			cols = append(cols, "dtls")
		}
		rep.Tables = append(rep.Tables, reports.Table{Title: "TURN transports", Columns: cols, Rows: trows})
	}
	if len(r.Mappings) > 0 {
		urls := make([]string, 0, len(r.Mappings))
		for u := range r.Mappings {
			urls = append(urls, u)
		}
		sort.Strings(urls)
		mrows := make([][]string, 0, len(urls))
		for _, u := range urls {
			mrows = append(mrows, []string{u, r.Mappings[u]})
		}
		rep.Tables = append(rep.Tables, reports.Table{Title: "Public address per server (one socket)", Columns: []string{"server", "public address"}, Rows: mrows})
	}

	for _, typ := range expect {
		rep.AddCheck(r.expectCheck(typ))
	}
	rep.Summary = r.Diagnosis()
	if err := rep.SetDetails(r); err != nil {
		rep.AddCheck(reports.Check{ID: "details", Name: "details", Verdict: reports.VerdictError, Message: err.Error()})
	}
	if r.Interrupted {
		rep.Interrupt()
	}
	return rep
}

// Diagnosis is the one-line verdict on the whole run: how many servers
// work, what the combined gather yielded, and whether the NAT's mapping
// depends on the destination.
func (r *Result) Diagnosis() string {
	ok := 0
	for _, s := range r.Servers {
		if s.Cause.OK() {
			ok++
		}
	}
	summary := []string{
		fmt.Sprintf("%d/%d servers OK", ok, len(r.Servers)),
		"gathered " + r.Combined.counts(),
	}
	if r.MappingVaries {
		summary = append(summary, "the public address differs per server: destination-dependent (symmetric) NAT mapping; peers behind port-restricted or symmetric NATs will need TURN")
	}
	return strings.Join(summary, "; ")
}

func (r *Result) target() string {
	if len(r.Servers) == 1 {
		return r.Servers[0].URL
	}
	return fmt.Sprintf("%d ice servers", len(r.Servers))
}

func candidateRows(cs []Candidate) [][]string {
	rows := make([][]string, 0, len(cs))
	for _, c := range cs {
		component := "rtp"
		if c.Component != 1 {
			component = strconv.Itoa(int(c.Component))
		}
		rows = append(rows, []string{
			strconv.FormatInt(c.At.Milliseconds(), 10), component, c.Type, c.Foundation, strings.TrimSpace(c.Protocol + " " + c.TCPType), dash(firstOf(c.Family, familyOf(c.Address))),
			hostPort(c.Address, c.Port), strconv.FormatUint(uint64(c.Priority), 10), dash(c.RelatedAddress), dash(c.ServerURL), dash(c.RelayProtocol),
		})
	}
	return rows
}

func hostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// firstOf returns a, or b when a is empty: results read from older JSON
// have no family fields.
func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// withFamily appends an address's family: "[::1]:50000 (IPv6)".
func withFamily(addr string) string {
	if f := familyOf(addr); f != "" {
		return addr + " (" + f + ")"
	}
	return dash(addr)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func notTested(s string) string {
	if s == "" {
		return "not tested"
	}
	return s
}

// counts renders the candidate counts, e.g. "host 1, relay 1 (note)".
func (g *Gather) counts() string {
	if g == nil {
		return "not gathered"
	}
	var parts []string
	for _, typ := range []string{TypeHost, TypeSrflx, TypeRelay} {
		if n := g.Count[typ]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", typ, n))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	s := strings.Join(parts, ", ")
	if g.Note != "" {
		s += " (" + g.Note + ")"
	}
	return s
}

// expectCheck judges --expect TYPE, naming the cause when it failed.
func (r *Result) expectCheck(typ string) reports.Check {
	c := reports.Check{ID: "expect/" + typ, Name: "expect " + typ + " candidate", Expected: "at least one " + typ + " candidate", Verdict: reports.VerdictPass}
	n := 0
	if r.Combined != nil {
		n = r.Combined.Count[typ]
	}
	c.Observed = fmt.Sprintf("%d %s", n, typ)
	if n > 0 {
		return c
	}
	c.Verdict = reports.VerdictFail
	var why []string
	for _, s := range r.Servers {
		relevant := s.Scheme != "stun"
		if typ == TypeSrflx {
			relevant = true
		}
		if relevant && !s.Cause.OK() {
			why = append(why, s.URL+": "+s.Diagnosis)
		}
	}
	switch {
	case typ == TypeRelay && !r.hasTURN():
		c.Message = "no relay candidate: no turn: or turns: server was given"
	case typ == TypeSrflx && r.Policy == PolicyRelay:
		c.Message = "no srflx candidate: --policy relay gathers relay candidates only"
	case len(why) > 0:
		c.Message = fmt.Sprintf("no %s candidate: %s", typ, strings.Join(why, "; "))
	case typ == TypeSrflx:
		c.Message = "no srflx candidate although the servers answered directly: the public address equals a host address (no NAT), so the ICE agent dropped the duplicate"
	default:
		c.Message = "no relay candidate although the direct Allocate succeeded: pion's ICE agent failed to allocate (see --log-level debug)"
	}
	return c
}

func (r *Result) hasTURN() bool {
	for _, s := range r.Servers {
		if s.Scheme != "stun" {
			return true
		}
	}
	return false
}
