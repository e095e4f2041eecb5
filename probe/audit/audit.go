package audit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/natkit/natkit/probe/iceconfig"
)

// Severity ranks a finding.
type Severity string

// Severities, from worst to mildest. Info findings never fail a run.
const (
	SeverityHigh   Severity = "high"
	SeverityMedium Severity = "medium"
	SeverityLow    Severity = "low"
	SeverityInfo   Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case SeverityHigh:
		return 3
	case SeverityMedium:
		return 2
	case SeverityLow:
		return 1
	}
	return 0
}

// AtLeast reports whether s is as severe as min or more.
func (s Severity) AtLeast(min Severity) bool { return s.rank() >= min.rank() && s.rank() > 0 }

// ParseSeverity parses high, medium or low (the --fail-on values).
func ParseSeverity(s string) (Severity, error) {
	switch Severity(strings.ToLower(s)) {
	case SeverityHigh, SeverityMedium, SeverityLow:
		return Severity(strings.ToLower(s)), nil
	}
	return "", configErr("fail-on", s, "want high, medium or low")
}

// Verdict is one check's outcome.
type Verdict string

// Verdicts of a check.
const (
	// VerdictPass: the server resisted; no finding.
	VerdictPass Verdict = "pass"
	// VerdictFinding: the server has the hole; Severity says how bad.
	VerdictFinding Verdict = "finding"
	// VerdictSkip: not applicable here (e.g. TLS on a turn: URL) or not
	// decidable (e.g. the REST bound without --secret).
	VerdictSkip Verdict = "skip"
	// VerdictError: the check could not run (e.g. no answer).
	VerdictError Verdict = "error"
)

// Exchange is one piece of evidence: what the audit sent and what came
// back.
type Exchange struct {
	Request string `json:"request"`
	Answer  string `json:"answer"`
}

// Fix says how to close a finding.
type Fix struct {
	NatkitRelay string `json:"natkit_relay"`
	Coturn      string `json:"coturn"`
}

// Check is one check's result.
type Check struct {
	ID       string        `json:"id"`
	Name     string        `json:"name"`
	Verdict  Verdict       `json:"verdict"`
	Severity Severity      `json:"severity"`
	Message  string        `json:"message"`
	Evidence []Exchange    `json:"evidence,omitempty"`
	Fix      Fix           `json:"fix"`
	Duration time.Duration `json:"duration"`
}

// Finding reports whether the check found a hole.
func (c Check) Finding() bool { return c.Verdict == VerdictFinding }

// Cause is why an audit ended as it did.
type Cause string

// Causes.
const (
	// CauseClean: every check ran and none found a hole.
	CauseClean Cause = "clean"
	// CauseFindings: at least one check found a hole.
	CauseFindings Cause = "findings"
	// CauseUnreachable: the server never answered; no check ran.
	CauseUnreachable Cause = "unreachable"
	// CauseUnauthorized: the audit's credentials got 401; the checks that
	// need an allocation did not run.
	CauseUnauthorized Cause = "unauthorized"
	// CauseInterrupted: cancelled before the checks finished.
	CauseInterrupted Cause = "interrupted"
)

// Traffic is everything the audit sent.
type Traffic struct {
	Packets int            `json:"packets"`
	Bytes   int            `json:"bytes"`
	To      map[string]int `json:"to"` // destination → packets
}

// Result is an audit's outcome.
type Result struct {
	Server    string        `json:"server"`
	Started   time.Time     `json:"started"`
	Duration  time.Duration `json:"duration"`
	Checks    []Check       `json:"checks"`
	Sent      Traffic       `json:"sent"`
	Cause     Cause         `json:"cause"`
	StopError string        `json:"stop_error,omitempty"`
}

// Findings returns the checks with a finding of at least min.
func (r *Result) Findings(min Severity) []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Finding() && c.Severity.AtLeast(min) {
			out = append(out, c)
		}
	}
	return out
}

// Diagnosis is the one-sentence outcome.
func (r *Result) Diagnosis() string {
	switch r.Cause {
	case CauseUnreachable:
		return "the audit could not start: " + r.StopError + "; check the address, the transport, and that a firewall lets this host in"
	case CauseUnauthorized:
		return "the server refused the audit's credentials (" + r.StopError + "): give working ones with --user/--credential or --secret; the checks that need an allocation did not run"
	case CauseInterrupted:
		return "interrupted: the checks that ran are listed"
	case CauseClean:
		return fmt.Sprintf("no findings in %d checks", len(r.Checks))
	}
	count := map[Severity]int{}
	for _, c := range r.Checks {
		if c.Finding() {
			count[c.Severity]++
		}
	}
	var parts []string
	for _, s := range []Severity{SeverityHigh, SeverityMedium, SeverityLow, SeverityInfo} {
		if count[s] > 0 {
			parts = append(parts, strconv.Itoa(count[s])+" "+string(s))
		}
	}
	return "findings: " + strings.Join(parts, ", ")
}

// auditor holds one run's state.
type auditor struct {
	cfg  Config
	sent ledger
	mu   sync.Mutex
	res  *Result
	// seen collects every answer's SOFTWARE value for the disclosure
	// check.
	software []string
	// proven marks the ranges whose data path the sink already proved.
	proven map[netip.Prefix]bool
}

func (a *auditor) add(c Check) {
	a.mu.Lock()
	a.res.Checks = append(a.res.Checks, c)
	a.mu.Unlock()
	if a.cfg.OnCheck != nil {
		a.cfg.OnCheck(c)
	}
}

func (a *auditor) noteSoftware(an answer) {
	if an.Software == "" {
		return
	}
	for _, s := range a.software {
		if s == an.Software {
			return
		}
	}
	a.software = append(a.software, an.Software)
}

// Run audits one TURN server. It returns a *ConfigError (errors.Is
// ErrConfig) for bad input before sending anything, and a *StopError with
// the partial Result when the server is unreachable or refuses the
// audit's credentials.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &auditor{cfg: cfg, proven: map[netip.Prefix]bool{}, res: &Result{Server: cfg.Server.URL(), Started: time.Now()}}
	err := a.run(ctx)
	a.finish()
	if err != nil {
		var se *StopError
		if errors.As(err, &se) {
			a.res.Cause, a.res.StopError = se.Cause, se.Err.Error()
		} else if ctx.Err() != nil {
			a.res.Cause = CauseInterrupted
		}
		return a.res, err
	}
	return a.res, nil
}

func (a *auditor) finish() {
	r := a.res
	r.Duration = time.Since(r.Started)
	a.sent.mu.Lock()
	r.Sent = Traffic{Packets: a.sent.packets, Bytes: a.sent.bytes, To: map[string]int{}}
	for k, v := range a.sent.to {
		r.Sent.To[k] = v
	}
	a.sent.mu.Unlock()
	order := map[string]int{}
	for i, id := range checkOrder {
		order[id] = i
	}
	sort.SliceStable(r.Checks, func(i, j int) bool {
		return order[family(r.Checks[i].ID)] < order[family(r.Checks[j].ID)]
	})
	r.Cause = CauseClean
	for _, c := range r.Checks {
		if c.Finding() {
			r.Cause = CauseFindings
		}
	}
}

// checkOrder is the order checks appear in the report.
var checkOrder = []string{"peer", "tcp-connect", "self-loop", "unauthenticated-allocate", "rest-expiry", "nonce-replay",
	"fingerprint", "amplification", "idle-connections", "software", "tls", "quota", "lifetime"}

func family(id string) string {
	f, _, _ := strings.Cut(id, "/")
	return f
}

func (a *auditor) run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	// The idle-connection check mostly waits: it runs beside the others.
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.add(a.checkIdle(ctx))
	}()

	main, err := a.newSession(ctx, a.cfg.Server.Username, a.cfg.Server.Credential)
	if err != nil {
		return a.stop(err)
	}
	defer main.Close()
	unauth, err := a.checkUnauthenticated(ctx, main)
	if err != nil {
		return a.stop(err)
	}
	a.add(unauth)
	a.add(a.checkAmplification(ctx, main))

	// The main allocation asks for a large LIFETIME: the lifetime check
	// reads what was granted.
	start := time.Now()
	an, err := main.allocate(ctx, DefaultLargeLifetime)
	if err != nil {
		return a.stop(err)
	}
	a.noteSoftware(an)
	if !an.success() {
		if an.Code == 401 {
			return &StopError{Server: a.cfg.Server.URL(), Cause: CauseUnauthorized, Err: fmt.Errorf("%w: signed Allocate as %q got 401 %s", ErrUnauthorized, a.cfg.Server.Username, an.Reason)}
		}
		return &StopError{Server: a.cfg.Server.URL(), Cause: CauseUnauthorized, Err: fmt.Errorf("%w: signed Allocate as %q got %d %s", ErrUnauthorized, a.cfg.Server.Username, an.Code, an.Reason)}
	}
	allocateRaw := main.lastSigned
	a.add(lifetimeCheck(an, time.Since(start)))
	relayed := an.Relayed

	a.runPeerPolicy(ctx, main)
	a.runTCPRelay(ctx)
	a.add(a.checkSelfLoop(ctx, main, relayed))
	a.add(a.checkReplay(ctx, main, allocateRaw))
	a.add(a.checkFingerprint(ctx))
	a.add(a.checkRESTExpiry(ctx))
	a.add(a.checkQuota(ctx))
	if err := main.release(ctx); err != nil {
		a.cfg.Logger.Debug("audit: release main allocation", "err", err)
	}
	a.add(a.checkTLS(ctx))
	wg.Wait()
	a.add(a.softwareCheck())
	return ctx.Err()
}

// stop turns a dial or transaction failure before any allocation into the
// audit's stop cause.
func (a *auditor) stop(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &StopError{Server: a.cfg.Server.URL(), Cause: CauseUnreachable, Err: unreachableText(a.cfg.Server, err)}
}

func unreachableText(s iceconfig.Server, err error) error {
	if errors.Is(err, ErrNoAnswer) {
		return fmt.Errorf("%w: no answer from %s over %s (%w)", ErrUnreachable, s.Address(), s.Transport, err)
	}
	if errors.Is(err, ErrUnreachable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}
