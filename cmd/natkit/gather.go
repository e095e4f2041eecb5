package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pion/logging"
	"github.com/spf13/cobra"

	"github.com/natkit/natkit/probe/gather"
	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/reports"
)

func init() { register(newGatherCmd) }

type gatherFlags struct {
	iceServers      string
	tokenURL        string
	user            string
	credential      string
	secret          string
	restUser        string
	restTTL         time.Duration
	policy          string
	timeout         time.Duration
	expect          []string
	includeLoopback bool
}

func newGatherCmd(a *app) *cobra.Command {
	var f gatherFlags
	var out outputFlags
	cmd := &cobra.Command{
		Use:   "gather [URL...]",
		Short: "Gather ICE candidates through ICE servers and give each server a verdict that names the cause",
		Long: `gather gathers ICE candidates the way a browser does (pion's ICE agent),
through each ICE server on its own and through all of them together, and
probes each server directly (STUN Binding, TURN Allocate) to name the cause
of every failure: no answer, DNS, port unreachable, 401 wrong credentials,
an expired REST username (detected before sending), 403, 437, 438, 486,
508, TLS certificate problems, TCP connection refused.

ICE servers come from URLs (stun:, turn:, turns:) with --user/--credential,
from --ice-servers FILE or - (an RTCConfiguration, an array of
RTCIceServer, a provider token response with ice_servers, or a TURN REST
API response), from --token-url, and --secret mints TURN REST credentials
locally. The credential and secret can also come from NATKIT_TURN_PASSWORD
and NATKIT_TURN_SECRET; they never appear in logs or reports.

--expect relay (or srflx) makes the command exit 1 unless such a candidate
was gathered: the CI step "do these TURN credentials yield relay
candidates?".`,
		Example: `  natkit gather stun:stun.example.org:3478
  natkit gather turn:turn.example.org:3478 turns:turn.example.org:5349 --user alice --credential s3cret --expect relay
  curl -s https://example.com/ice-token | natkit gather --ice-servers - --expect relay
  natkit gather turn:127.0.0.1:3478 --secret "$SECRET" --rest-ttl 1h --policy relay`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGather(cmd, a, args, &f, &out)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.iceServers, "ice-servers", "", "read ICE servers from FILE, or - for stdin (RTCConfiguration, RTCIceServer array, provider token or TURN REST response)")
	fl.StringVar(&f.tokenURL, "token-url", "", "GET the ICE servers from this URL (any form --ice-servers takes)")
	fl.StringVar(&f.user, "user", "", "TURN username for URLs given as arguments")
	fl.StringVar(&f.credential, "credential", "", "TURN password (default $NATKIT_TURN_PASSWORD)")
	fl.StringVar(&f.secret, "secret", "", "TURN REST shared secret: mint credentials locally (default $NATKIT_TURN_SECRET)")
	fl.StringVar(&f.restUser, "rest-user", "", "user part of the minted REST username (default \"natkit\"; needs --secret)")
	fl.DurationVar(&f.restTTL, "rest-ttl", 0, "lifetime of the minted REST credentials (default 24h; needs --secret)")
	fl.StringVar(&f.policy, "policy", "all", "ICE transport policy: all or relay")
	fl.DurationVar(&f.timeout, "timeout", gather.DefaultTimeout, "bound for each probe and each gather")
	fl.StringArrayVar(&f.expect, "expect", nil, "fail (exit 1) unless a candidate of this type was gathered: srflx or relay; repeatable")
	fl.BoolVar(&f.includeLoopback, "include-loopback", false, "also gather host candidates on loopback interfaces (browsers never do)")
	addOutputFlags(cmd, &out)
	_ = cmd.RegisterFlagCompletionFunc("policy", fixedCompletion("all", "relay"))
	_ = cmd.RegisterFlagCompletionFunc("expect", fixedCompletion("srflx", "relay"))
	return cmd
}

func fixedCompletion(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

func (f *gatherFlags) validate() error {
	switch f.policy {
	case "all", "relay":
	default:
		return usageErrorf("--policy %q: want all or relay", f.policy)
	}
	if f.timeout <= 0 {
		return usageErrorf("--timeout %s: must be positive", f.timeout)
	}
	if f.restTTL < 0 {
		return usageErrorf("--rest-ttl %s: must be positive", f.restTTL)
	}
	for _, e := range f.expect {
		if e != "srflx" && e != "relay" {
			return usageErrorf("--expect %q: want srflx or relay", e)
		}
	}
	return nil
}

func runGather(cmd *cobra.Command, a *app, args []string, f *gatherFlags, out *outputFlags) error {
	if err := out.validate(); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	ctx := cmd.Context()
	if !cmd.Flags().Changed("credential") && f.user != "" {
		f.credential = os.Getenv("NATKIT_TURN_PASSWORD")
	}
	in := iceconfig.Input{
		URLs: args, Username: f.user, Credential: f.credential,
		File: f.iceServers, Stdin: a.stdin, TokenURL: f.tokenURL,
		Secret: f.secret, RESTUser: f.restUser, RESTTTL: f.restTTL,
	}
	servers, err := iceconfig.Load(ctx, in)
	// $NATKIT_TURN_SECRET applies only where credentials are missing.
	if env := os.Getenv("NATKIT_TURN_SECRET"); errors.Is(err, iceconfig.ErrMissingCredentials) && env != "" && !cmd.Flags().Changed("secret") && f.user == "" {
		in.Secret = env
		servers, err = iceconfig.Load(ctx, in)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return usageError(err)
	}
	rep := reports.New("gather", "gather")
	rep.Target = targetOf(servers)
	res, err := gather.Run(ctx, gather.Config{
		Servers:         servers,
		Policy:          gather.Policy(f.policy),
		Timeout:         f.timeout,
		IncludeLoopback: f.includeLoopback,
		LoggerFactory:   pionLoggersForDiagnosis(a),
	})
	if errors.Is(err, gather.ErrConfig) {
		return usageError(err)
	}
	if res != nil {
		gatherReport(rep, res, f.expect)
	}
	rep.Finish()
	if ctx.Err() != nil {
		rep.Interrupt()
	}
	return a.emit(rep, out)
}

// pionLoggersForDiagnosis passes pion's logs through only at debug and
// trace: at the default level pion warns about every failed Allocate,
// which the report already diagnoses.
func pionLoggersForDiagnosis(a *app) logging.LoggerFactory {
	switch strings.ToLower(a.logLevel) {
	case "debug", "trace":
		return a.pionLoggers()
	}
	return nil
}

func targetOf(servers iceconfig.Servers) string {
	if len(servers) == 1 {
		return servers[0].URL()
	}
	return fmt.Sprintf("%d ice servers", len(servers))
}

var candidateColumns = []string{"time (ms)", "component", "type", "foundation", "protocol", "address:port", "priority", "related address", "server URL", "relay protocol"}

func candidateRows(cs []gather.Candidate) [][]string {
	rows := make([][]string, 0, len(cs))
	for _, c := range cs {
		component := "rtp"
		if c.Component != 1 {
			component = strconv.Itoa(int(c.Component))
		}
		rows = append(rows, []string{
			strconv.FormatInt(c.At.Milliseconds(), 10), component, c.Type, c.Foundation, c.Protocol,
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

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func countString(g *gather.Gather) string {
	if g == nil {
		return "not gathered"
	}
	var parts []string
	for _, typ := range []string{"host", "srflx", "relay"} {
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

func gatherReport(rep *reports.Report, res *gather.Result, expect []string) {
	rep.Tables = append(rep.Tables, reports.Table{Title: "Candidates (all servers together)", Columns: candidateColumns, Rows: candidateRows(res.Combined.Candidates)})

	rows := make([][]string, 0, len(res.Servers))
	failed := 0
	for _, s := range res.Servers {
		verdict := reports.VerdictPass
		expected := "STUN OK"
		if s.Scheme != "stun" {
			expected = "TURN OK"
		}
		if !s.Cause.OK() {
			verdict = reports.VerdictFail
			failed++
		}
		rep.AddCheck(reports.Check{
			ID: "server/" + s.URL, Name: s.URL, Verdict: verdict, Expected: expected,
			Observed: string(s.Cause), Message: s.Diagnosis, Duration: reports.Duration(s.Duration),
		})
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
			rttText = roundMillis(rtt)
		}
		rows = append(rows, []string{s.URL, string(s.Cause), dash(s.Public), dash(s.Relay), dash(lifetime), dash(rttText), countString(s.Gather)})
	}
	rep.Tables = append(rep.Tables, reports.Table{Title: "Servers", Columns: []string{"server", "verdict", "public address", "relay address", "lifetime", "round trip", "candidates alone"}, Rows: rows})

	if len(res.Transports) > 0 {
		trows := make([][]string, 0, len(res.Transports))
		for _, tr := range res.Transports {
			trows = append(trows, []string{tr.Host, notTested(tr.UDP), notTested(tr.TCP), notTested(tr.TLS)})
		}
		rep.Tables = append(rep.Tables, reports.Table{Title: "TURN transports", Columns: []string{"host", "udp", "tcp", "tls"}, Rows: trows})
	}
	if len(res.Mappings) > 0 {
		urls := make([]string, 0, len(res.Mappings))
		for u := range res.Mappings {
			urls = append(urls, u)
		}
		sort.Strings(urls)
		mrows := make([][]string, 0, len(urls))
		for _, u := range urls {
			mrows = append(mrows, []string{u, res.Mappings[u]})
		}
		rep.Tables = append(rep.Tables, reports.Table{Title: "Public address per server (one socket)", Columns: []string{"server", "public address"}, Rows: mrows})
	}

	for _, typ := range expect {
		rep.AddCheck(expectCheck(res, typ))
	}

	var summary []string
	summary = append(summary, fmt.Sprintf("%d/%d servers OK", len(res.Servers)-failed, len(res.Servers)))
	summary = append(summary, "gathered "+countString(res.Combined))
	if res.MappingVaries {
		summary = append(summary, "the public address differs per server: destination-dependent (symmetric) NAT mapping; peers behind port-restricted or symmetric NATs will need TURN")
	}
	rep.Summary = strings.Join(summary, "; ")
	if err := rep.SetDetails(res); err != nil {
		rep.AddCheck(reports.Check{ID: "details", Name: "details", Verdict: reports.VerdictError, Message: err.Error()})
	}
}

func notTested(s string) string {
	if s == "" {
		return "not tested"
	}
	return s
}

func roundMillis(d time.Duration) string {
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}

// expectCheck judges --expect TYPE, naming the cause when it failed.
func expectCheck(res *gather.Result, typ string) reports.Check {
	c := reports.Check{ID: "expect/" + typ, Name: "expect " + typ + " candidate", Expected: "at least one " + typ + " candidate", Verdict: reports.VerdictPass}
	n := res.Combined.Count[typ]
	c.Observed = fmt.Sprintf("%d %s", n, typ)
	if n > 0 {
		return c
	}
	c.Verdict = reports.VerdictFail
	var why []string
	for _, s := range res.Servers {
		relevant := s.Scheme != "stun"
		if typ == "srflx" {
			relevant = true
		}
		if relevant && !s.Cause.OK() {
			why = append(why, s.URL+": "+s.Diagnosis)
		}
	}
	switch {
	case typ == "relay" && !hasTURN(res):
		c.Message = "no relay candidate: no turn: or turns: server was given"
	case typ == "srflx" && res.Policy == gather.PolicyRelay:
		c.Message = "no srflx candidate: --policy relay gathers relay candidates only"
	case len(why) > 0:
		c.Message = fmt.Sprintf("no %s candidate: %s", typ, strings.Join(why, "; "))
	case typ == "srflx":
		c.Message = "no srflx candidate although the servers answered directly: the public address equals a host address (no NAT), so the ICE agent dropped the duplicate"
	default:
		c.Message = "no relay candidate although the direct Allocate succeeded: pion's ICE agent failed to allocate (see --log-level debug)"
	}
	return c
}

func hasTURN(res *gather.Result) bool {
	for _, s := range res.Servers {
		if s.Scheme != "stun" {
			return true
		}
	}
	return false
}
