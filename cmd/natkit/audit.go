package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/natkit/natkit/probe/audit"
	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/reports"
)

func init() { register(newAuditCmd) }

type auditFlags struct {
	iceServers     string
	tokenURL       string
	user           string
	credential     string
	secret         string
	sink           string
	failOn         string
	maxAllocations int
	timeout        time.Duration
	idleWait       time.Duration
	caFile         string
	tcpRelay       bool
}

func newAuditCmd(a *app) *cobra.Command {
	var f auditFlags
	var out outputFlags
	cmd := &cobra.Command{
		Use:   "audit turn:HOST:PORT",
		Short: "Check a TURN server for the known security holes, each finding with its evidence and its fix",
		Long: `audit tries the known TURN security holes against one server, as an attacker
would, and says how to close each one in natkit relay and in coturn:

  - peer policy: CreatePermission and ChannelBind toward every encoding of an
    internal address (loopback, RFC 1918, cloud metadata 169.254.169.254,
    IPv4-mapped, NAT64, 6to4, Teredo, …); a granted permission is the finding;
  - with --tcp-relay (a turn:?transport=tcp or turns: URL): an RFC 6062 TCP
    allocation, then Connect toward every loopback encoding; a granted
    Connect (or a 447, which means the relay tried) is the finding. Only
    loopback targets are tried, so nothing leaves the server's host;
  - a self-loop to the server's own addresses (proved with a Binding request);
  - an unauthenticated Allocate, the REST username expiry bound (--secret),
    a nonce replayed from another 5-tuple, a wrong FINGERPRINT;
  - the amplification of unauthenticated answers, idle unauthenticated
    TCP/TLS connections (DTLS associations over turns:…?transport=udp),
    SOFTWARE disclosure, TLS versions and the TLS or DTLS certificate;
  - the per-user quota (at most --max-allocations, all released) and the
    LIFETIME granted to a large request.

It sends only to the server under test, plus one datagram per granted range
to a sink natkit runs on this host (--sink; by default 127.0.0.1 when the
server is on loopback). Every check is bounded; the whole audit takes about
15 s against a healthy server (10 s of it waiting for idle connections to be
closed). There is no flood mode. The report lists every request and answer.

Exit codes: 0 no finding at --fail-on or worse; 1 such a finding; 2 bad
input, a stun: URL, a sink that is not local, or credentials the server
refuses (401); 3 the server is unreachable.`,
		Example: `  natkit audit turn:turn.example.org:3478 --user alice --credential s3cret
  natkit audit turns:turn.example.org:5349 --secret "$SECRET" --fail-on high --report audit.html
  natkit audit 'turn:turn.example.org:3478?transport=tcp' --secret "$SECRET" --tcp-relay
  natkit audit 'turns:turn.example.org:5349?transport=udp' --secret "$SECRET" --ca-file ca.pem
  curl -s https://example.com/ice-token | natkit audit --ice-servers -`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAudit(cmd, a, args, &f, &out)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.iceServers, "ice-servers", "", "read ICE servers from FILE, or - for stdin (every TURN server in it is audited)")
	fl.StringVar(&f.tokenURL, "token-url", "", "GET the ICE servers from this URL")
	fl.StringVar(&f.user, "user", "", "TURN username")
	fl.StringVar(&f.credential, "credential", "", "TURN password (default $NATKIT_TURN_PASSWORD)")
	fl.StringVar(&f.secret, "secret", "", "TURN REST shared secret: mint credentials and check the expiry bound (default $NATKIT_TURN_SECRET)")
	fl.StringVar(&f.sink, "sink", "", "local UDP IP:PORT natkit listens on for data-path proof; must be an address of this host (default 127.0.0.1:0 for a loopback server)")
	fl.StringVar(&f.failOn, "fail-on", string(audit.SeverityMedium), "exit 1 when a finding of this severity or worse exists: high, medium or low")
	fl.IntVar(&f.maxAllocations, "max-allocations", audit.DefaultMaxAllocations, "most allocations the quota check holds at once (all released)")
	fl.DurationVar(&f.timeout, "timeout", audit.DefaultTimeout, "bound for each transaction")
	fl.DurationVar(&f.idleWait, "idle-wait", audit.DefaultIdleWait, "how long to wait for the server to close idle unauthenticated connections (at most 30s)")
	fl.BoolVar(&f.tcpRelay, "tcp-relay", false, "also audit RFC 6062 TCP relaying: Connect toward loopback from a TCP allocation (turn:?transport=tcp or turns: URLs)")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM roots that verify a turns: certificate (default: the system roots)")
	addOutputFlags(cmd, &out)
	_ = cmd.RegisterFlagCompletionFunc("fail-on", fixedCompletion("high", "medium", "low"))
	return cmd
}

func runAudit(cmd *cobra.Command, a *app, args []string, f *auditFlags, out *outputFlags) error {
	if err := out.validate(); err != nil {
		return err
	}
	failOn, err := audit.ParseSeverity(f.failOn)
	if err != nil {
		return usageErrorf("--fail-on %q: want high, medium or low", f.failOn)
	}
	if f.timeout <= 0 {
		return usageErrorf("--timeout %s: must be positive", f.timeout)
	}
	ctx := cmd.Context()
	if !cmd.Flags().Changed("credential") && f.user != "" {
		f.credential = os.Getenv("NATKIT_TURN_PASSWORD")
	}
	if !cmd.Flags().Changed("secret") && f.user == "" {
		f.secret = os.Getenv("NATKIT_TURN_SECRET")
	}
	servers, err := iceconfig.Load(ctx, iceconfig.Input{
		URLs: args, Username: f.user, Credential: f.credential,
		File: f.iceServers, Stdin: a.stdin, TokenURL: f.tokenURL, Secret: f.secret,
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return usageError(err)
	}
	turn := servers.TURN()
	if len(turn) == 0 {
		return usageErrorf("%s: %v: give a turn: or turns: URL", servers[0].URL(), audit.ErrNotTURN)
	}
	var roots *x509.CertPool
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return usageErrorf("--ca-file %s: %v", f.caFile, errors.Unwrap(err))
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return usageErrorf("--ca-file %s: no PEM certificate in it", f.caFile)
		}
	}
	var reps []*reports.Report
	var unauthorized error
	for _, s := range turn {
		bar := a.progress(ctx, "audit "+s.URL(), 0)
		res, err := audit.Run(ctx, audit.Config{
			Server: s, Secret: f.secret, Sink: f.sink, MaxAllocations: f.maxAllocations,
			Timeout: f.timeout, IdleWait: f.idleWait, RootCAs: roots, Logger: a.log(), TCPRelay: f.tcpRelay,
			OnCheck: func(c audit.Check) {
				bar.SetStatus(c.ID)
				if c.Finding() {
					bar.Fail()
				} else {
					bar.Increment()
				}
			},
		})
		bar.Done()
		if errors.Is(err, audit.ErrConfig) {
			return usageError(err)
		}
		if res == nil {
			return err
		}
		if res.Cause == audit.CauseUnauthorized {
			unauthorized = fmt.Errorf("%s: %s", s.URL(), res.StopError)
		}
		rep := res.Report(failOn)
		if ctx.Err() != nil {
			rep.Interrupt()
		}
		reps = append(reps, rep)
	}
	rep := reps[0]
	if len(reps) > 1 {
		rep = reports.New(audit.ReportKind, "audit")
		rep.Target = fmt.Sprintf("%d turn servers", len(turn))
		var sums []string
		for _, c := range reps {
			rep.Children = append(rep.Children, c)
			rep.Verdict = reports.Worse(rep.Verdict, c.Verdict)
			sums = append(sums, c.Target+": "+c.Summary)
		}
		rep.Summary = strings.Join(sums, "; ")
		rep.Finish()
	}
	err = a.emit(rep, out)
	if unauthorized != nil {
		// The report is written; wrong credentials are bad input.
		return usageErrorf("%v", unauthorized)
	}
	return err
}
