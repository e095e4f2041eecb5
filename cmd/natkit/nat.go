package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/natkit/natkit/probe/natbehavior"
	"github.com/natkit/natkit/reports"
)

func init() { register(newNatCmd) }

type natFlags struct {
	server      string
	altServer   string
	local       string
	hairpin     bool
	lifetime    bool
	lifetimeMax time.Duration
	timeout     time.Duration
}

func newNatCmd(a *app) *cobra.Command {
	var f natFlags
	var out outputFlags
	cmd := &cobra.Command{
		Use:   "nat --server HOST:PORT",
		Short: "Classify NAT mapping and filtering behaviour (RFC 5780) and explain what it means for calls",
		Long: `nat runs the RFC 5780 tests against a STUN server that supports them
(natkit relay with --alt-ip, or coturn listening on two IPs): mapping tests
I-III, filtering tests I-III on a fresh socket, and, when asked, the
hairpinning test and binding-lifetime discovery (bounded by --lifetime-max,
reported as a range). It reports the mapping (EIM/ADM/APDM or no NAT), the
filtering (EIF/ADF/APDF), the public address, port preservation, the
classic RFC 3489 name and what that means for calls.

When the server gives no OTHER-ADDRESS, nat says so: with --alt-server it
compares the mappings two independent servers see, and it reports
filtering as not determined rather than guessing.`,
		Example: `  natkit nat --server 127.0.0.1:3478
  natkit nat --server stun.example.org:3478 --hairpin --lifetime --lifetime-max 2m
  natkit nat --server stun1.example.org:3478 --alt-server stun2.example.net:3478`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNat(cmd, a, &f, &out)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "RFC 5780 STUN server HOST:PORT (required; port defaults to 3478)")
	fl.StringVar(&f.altServer, "alt-server", "", "an independent second STUN server HOST:PORT, used when --server lacks OTHER-ADDRESS")
	fl.StringVar(&f.local, "local", natbehavior.DefaultLocal, "local IP:PORT for the mapping test")
	fl.BoolVar(&f.hairpin, "hairpin", false, "also test hairpinning (RFC 5780 §4.5)")
	fl.BoolVar(&f.lifetime, "lifetime", false, "also discover the binding lifetime (RFC 5780 §4.6), up to --lifetime-max")
	fl.DurationVar(&f.lifetimeMax, "lifetime-max", natbehavior.DefaultLifetimeMax, "longest binding lifetime to probe for (with --lifetime)")
	fl.DurationVar(&f.timeout, "timeout", natbehavior.DefaultTimeout, "bound for the whole run, lifetime discovery excluded")
	addOutputFlags(cmd, &out)
	return cmd
}

func runNat(cmd *cobra.Command, a *app, f *natFlags, out *outputFlags) error {
	if err := out.validate(); err != nil {
		return err
	}
	if f.server == "" {
		return usageErrorf("--server: required: the HOST:PORT of an RFC 5780 STUN server")
	}
	if f.timeout <= 0 {
		return usageErrorf("--timeout %s: must be positive", f.timeout)
	}
	if f.lifetimeMax <= 0 {
		return usageErrorf("--lifetime-max %s: must be positive", f.lifetimeMax)
	}
	if cmd.Flags().Changed("lifetime-max") && !f.lifetime {
		return usageErrorf("--lifetime-max: only applies with --lifetime")
	}
	ctx := cmd.Context()
	rep := reports.New("nat", "nat")
	rep.Target = f.server
	res, err := natbehavior.Run(ctx, natbehavior.Config{
		Server: f.server, AltServer: f.altServer, Local: f.local,
		Hairpin: f.hairpin, Lifetime: f.lifetime, LifetimeMax: f.lifetimeMax, Timeout: f.timeout,
	})
	var ce *natbehavior.ConfigError
	if errors.As(err, &ce) {
		return usageErrorf("--%s", ce.Error())
	}
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, natbehavior.ErrResolve):
		return usageErrorf("--server %q: %v", f.server, err)
	case err != nil:
		rep.AddCheck(reports.Check{ID: "server", Name: "server answers", Verdict: reports.VerdictFail, Expected: "a Binding response", Observed: "none", Message: natServerDiagnosis(f.server, err)})
		rep.Summary = "the STUN server did not answer; NAT behaviour not determined"
	}
	if res != nil && err == nil || res != nil && ctx.Err() != nil && res.Public != "" {
		natReport(rep, res)
	}
	rep.Finish()
	if ctx.Err() != nil {
		rep.Interrupt()
	}
	return a.emit(rep, out)
}

func natServerDiagnosis(server string, err error) string {
	if errors.Is(err, natbehavior.ErrNoAnswer) {
		return fmt.Sprintf("%v: UDP to %s is blocked, or no STUN server listens there", err, server)
	}
	return err.Error()
}

func natReport(rep *reports.Report, res *natbehavior.Result) {
	natText := "yes"
	if !res.NAT {
		natText = "no (the public address is local)"
	}
	rows := [][]string{
		{"NAT", natText},
		{"public address", res.Public},
		{"local address", res.Local},
		{"mapping", fmt.Sprintf("%s — %s", res.Mapping, res.Mapping.Describe())},
		{"filtering", fmt.Sprintf("%s — %s", res.Filtering, res.Filtering.Describe())},
		{"classic name (RFC 3489)", res.Classic},
		{"port preservation (observed)", yesNo(res.PortPreserved)},
		{"server RFC 5780", rfc5780Text(res)},
	}
	if res.Hairpin != nil {
		h := yesNo(res.Hairpin.Supported)
		if res.Hairpin.Note != "" {
			h += " — " + res.Hairpin.Note
		}
		rows = append(rows, []string{"hairpinning", h})
	}
	if res.Lifetime != nil {
		l := res.Lifetime.Range()
		if res.Lifetime.Note != "" {
			l += " — " + res.Lifetime.Note
		}
		rows = append(rows, []string{"binding lifetime", l})
	}
	rep.Tables = append(rep.Tables, reports.Table{Title: "NAT behaviour", Columns: []string{"", ""}, Rows: rows})

	mean := make([][]string, 0, len(res.Implications))
	for _, s := range res.Implications {
		mean = append(mean, []string{"•", s})
	}
	rep.Tables = append(rep.Tables, reports.Table{Title: "What it means for calls", Rows: mean})

	trows := make([][]string, 0, len(res.Tests))
	for _, t := range res.Tests {
		rtt := "-"
		if t.Answered && t.RTT > 0 {
			rtt = roundMillis(t.RTT)
		}
		answered := "no answer"
		if t.Answered {
			answered = "answered"
		}
		if t.Error != "" && !strings.Contains(t.Error, "no answer") {
			answered = t.Error
		}
		trows = append(trows, []string{t.Name, t.Local, t.To, dash(t.Change), answered, dash(t.From), dash(t.Mapped), rtt, strconv.Itoa(t.Requests)})
	}
	rep.Tables = append(rep.Tables, reports.Table{Title: "Tests", Columns: []string{"test", "local", "to", "change", "result", "from", "mapped", "round trip", "requests"}, Rows: trows})

	notes := strings.Join(res.Notes, "; ")
	rep.AddCheck(determined("mapping", "mapping behaviour", string(res.Mapping), res.Mapping != natbehavior.MappingUnknown, notes))
	rep.AddCheck(determined("filtering", "filtering behaviour", string(res.Filtering), res.Filtering != natbehavior.FilteringUnknown, notes))
	if res.Hairpin != nil {
		rep.AddCheck(reports.Check{ID: "hairpin", Name: "hairpinning", Verdict: reports.VerdictPass, Observed: yesNo(res.Hairpin.Supported), Message: res.Hairpin.Note})
	}
	if res.Lifetime != nil {
		v := reports.VerdictPass
		if res.Lifetime.Note != "" && len(res.Lifetime.Probes) == 0 {
			v = reports.VerdictSkip
		}
		rep.AddCheck(reports.Check{ID: "lifetime", Name: "binding lifetime", Verdict: v, Observed: res.Lifetime.Range(), Message: res.Lifetime.Note})
	}
	who := res.Classic
	if res.NAT {
		who = fmt.Sprintf("%s (mapping %s, filtering %s)", res.Classic, res.Mapping, res.Filtering)
	}
	rep.Summary = fmt.Sprintf("%s; public address %s", who, res.Public)
	if err := rep.SetDetails(res); err != nil {
		rep.AddCheck(reports.Check{ID: "details", Name: "details", Verdict: reports.VerdictError, Message: err.Error()})
	}
}

// determined is a check that passes when a behaviour was classified and
// is skipped, with the reason, when it could not be.
func determined(id, name, observed string, ok bool, notes string) reports.Check {
	c := reports.Check{ID: id, Name: name, Verdict: reports.VerdictPass, Expected: "determined", Observed: observed}
	if !ok {
		c.Verdict = reports.VerdictSkip
		c.Message = notes
	}
	return c
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func rfc5780Text(res *natbehavior.Result) string {
	if res.RFC5780 {
		return "yes, OTHER-ADDRESS " + res.OtherAddress
	}
	return "no (no OTHER-ADDRESS)"
}
