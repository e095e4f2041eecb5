package main

import (
	"errors"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/natkit/natkit/probe/gather"
	"github.com/natkit/natkit/probe/iceconfig"
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
	tcpRelay        bool
	dual            bool
	iceTCP          bool
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
508, TLS and DTLS certificate problems (unknown authority, wrong name,
expired), a turns: port that is not TLS or DTLS at all, TCP connection
refused.

ICE servers come from URLs (stun:, turn:, turns:, and turns:…?transport=udp
for TURN over DTLS, RFC 7350) with --user/--credential,
from --ice-servers FILE or - (an RTCConfiguration, an array of
RTCIceServer, a provider token response with ice_servers, or a TURN REST
API response), from --token-url, and --secret mints TURN REST credentials
locally. The credential and secret can also come from NATKIT_TURN_PASSWORD
and NATKIT_TURN_SECRET; they never appear in logs or reports.

--expect relay (or srflx) makes the command exit 1 unless such a candidate
was gathered: the CI step "do these TURN credentials yield relay
candidates?".

--tcp-relay also checks RFC 6062 TCP relaying on every TURN server reached
over TCP or TLS: two TCP allocations, a Connect from one to the other's
relayed address, ConnectionBind on both sides and a message each way. A
server that does not relay TCP answers 442, and the check says how to turn
it on.`,
		Example: `  natkit gather stun:stun.example.org:3478
  natkit gather turn:turn.example.org:3478 turns:turn.example.org:5349 --user alice --credential s3cret --expect relay
  natkit gather 'turns:turn.example.org:5349?transport=udp' --user alice --credential s3cret
  natkit gather turn:turn.example.org:3478 --user alice --credential s3cret --dual
  curl -s https://example.com/ice-token | natkit gather --ice-servers - --expect relay
  natkit gather turn:127.0.0.1:3478 --secret "$SECRET" --rest-ttl 1h --policy relay
  natkit gather 'turn:turn.example.org:3478?transport=tcp' turns:turn.example.org:5349 --user alice --credential s3cret --tcp-relay`,
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
	fl.BoolVar(&f.tcpRelay, "tcp-relay", false, "also check RFC 6062 TCP relaying on turn:?transport=tcp and turns: servers (two TCP allocations connect through the relay)")
	fl.BoolVar(&f.includeLoopback, "include-loopback", false, "also gather host candidates on loopback interfaces (browsers never do)")
	fl.BoolVar(&f.iceTCP, "ice-tcp", false, "also gather ICE-TCP host candidates (RFC 6544, passive, from a TCP listener), as browsers do")
	fl.BoolVar(&f.dual, "dual", false, "ask each TURN server for a dual allocation (RFC 8656 ADDITIONAL-ADDRESS-FAMILY): report its IPv4 and IPv6 relayed addresses, or why it gave one")
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
	bar := a.progress(ctx, "gather", len(servers))
	res, err := gather.Run(ctx, gather.Config{
		Servers:         servers,
		Policy:          gather.Policy(f.policy),
		Timeout:         f.timeout,
		IncludeLoopback: f.includeLoopback,
		TCPRelay:        f.tcpRelay,
		Dual:            f.dual,
		ICETCP:          f.iceTCP,
		Logger:          loggerForDiagnosis(a),
		OnServer: func(r gather.ServerResult) {
			bar.SetStatus(r.URL + " " + string(r.Cause))
			if r.Cause.OK() {
				bar.Increment()
			} else {
				bar.Fail()
			}
		},
	})
	bar.Done()
	if errors.Is(err, gather.ErrConfig) {
		return usageError(err)
	}
	return a.emit(res.Report(f.expect...), out)
}

// loggerForDiagnosis passes pion's logs through only at debug and trace:
// at the default level pion warns about every failed Allocate, which the
// report already diagnoses.
func loggerForDiagnosis(a *app) *slog.Logger {
	switch strings.ToLower(a.logLevel) {
	case "debug", "trace":
		return a.log()
	}
	return nil
}
