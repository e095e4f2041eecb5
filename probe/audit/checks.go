package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pion/stun/v3"

	"github.com/natkit/natkit/probe/iceconfig"
)

// The fixes that are not about one peer range.
var (
	fixUnauthenticated = Fix{
		NatkitRelay: "natkit relay always requires long-term credentials; give --user or --secret (never run a patched build without auth)",
		Coturn:      "lt-cred-mech (or use-auth-secret with static-auth-secret=…); remove no-auth",
	}
	fixSelfLoop = Fix{
		NatkitRelay: "upgrade natkit: natkit relay refuses its own listening and relayed addresses; do not --allow-peer them",
		Coturn:      "denied-peer-ip=<each listening-ip and relay-ip> (and no-loopback-peers)",
	}
	fixREST = Fix{
		NatkitRelay: "natkit relay --max-rest-ttl 48h (the default; older natkit: upgrade): refuse REST usernames whose expiry lies further ahead",
		Coturn:      "no coturn setting bounds the expiry: mint short-lived credentials at the token service (ttl ≤ 24h) and rotate static-auth-secret",
	}
	fixReplay = Fix{
		NatkitRelay: "upgrade natkit: natkit relay binds nonces to the client's 5-tuple (--nonce-lifetime, default 10m)",
		Coturn:      "coturn binds nonces to the 5-tuple by default; keep stale-nonce (default 600 s) and do not patch it out",
	}
	fixFingerprint = Fix{
		NatkitRelay: "upgrade natkit: natkit relay discards a request whose FINGERPRINT does not match",
		Coturn:      "upgrade coturn (it discards bad FINGERPRINTs)",
	}
	fixAmplification = Fix{
		NatkitRelay: "natkit relay answers unauthenticated requests with small responses; nothing to set",
		Coturn:      "no-software-attribute, and rfc5780 off (no-rfc5780) to drop OTHER-ADDRESS/RESPONSE-ORIGIN from Binding responses",
	}
	fixIdle = Fix{
		NatkitRelay: "natkit relay --auth-timeout 5s (the default; older natkit: upgrade): connections without valid credentials in time are closed",
		Coturn:      "max-allocate-timeout=5 (default 60 s): coturn then closes unauthenticated TCP/TLS sessions after 5 s",
	}
	fixSoftware = Fix{
		NatkitRelay: "natkit relay sends no SOFTWARE attribute; nothing to set",
		Coturn:      "no-software-attribute",
	}
	fixTLS = Fix{
		NatkitRelay: "natkit relay --tls-cert/--tls-key with a certificate for the server's name from a public CA; it offers TLS 1.2 and 1.3 only",
		Coturn:      "cert=/pkey= with a valid certificate for the name, no-tlsv1 and no-tlsv1_1",
	}
	fixQuota = Fix{
		NatkitRelay: "natkit relay --user-quota 10 (and --max-allocations for the total)",
		Coturn:      "user-quota=10 (and total-quota=…)",
	}
	fixLifetime = Fix{
		NatkitRelay: "natkit relay --max-lifetime 1h (the default)",
		Coturn:      "max-allocate-lifetime=3600 (the default)",
	}
)

// checkUnauthenticated sends an Allocate without credentials. A 401 with
// REALM and NONCE is right; a success is an open relay.
func (a *auditor) checkUnauthenticated(ctx context.Context, s *session) (Check, error) {
	c := Check{ID: "unauthenticated-allocate", Name: "unauthenticated Allocate", Severity: SeverityHigh, Fix: fixUnauthenticated}
	start := time.Now()
	an, m, err := s.request(ctx, stun.MethodAllocate, false, requestedTransportUDP)
	c.Duration = time.Since(start)
	if err != nil {
		return c, err
	}
	a.noteSoftware(an)
	c.Evidence = []Exchange{{Request: fmt.Sprintf("Allocate without credentials, REQUESTED-TRANSPORT udp (%d bytes) from %s", len(m.Raw), s.w.localAddr()), Answer: an.String()}}
	switch {
	case an.success():
		c.Verdict = VerdictFinding
		c.Message = "the server allocated a relay without credentials: anyone can use it as an open relay"
		if rel, _, err := s.request(ctx, stun.MethodRefresh, false, lifetimeAttr(0)); err == nil {
			c.Evidence = append(c.Evidence, Exchange{Request: "Refresh LIFETIME 0 (release)", Answer: rel.String()})
		}
	case an.Code == 401:
		c.Verdict = VerdictPass
		var revealed []string
		if an.Realm != "" {
			revealed = append(revealed, "realm "+strconv.Quote(an.Realm))
		}
		if an.Software != "" {
			revealed = append(revealed, "software "+strconv.Quote(an.Software))
		}
		c.Message = "401 Unauthorized, as it should"
		if len(revealed) > 0 {
			c.Message += "; it reveals " + strings.Join(revealed, " and ")
		}
		if an.Nonce == "" || an.Realm == "" {
			c.Message += "; but the 401 lacks REALM or NONCE, so no client can authenticate"
		}
	default:
		c.Verdict = VerdictPass
		c.Message = fmt.Sprintf("refused with %d %s (RFC 8656 expects 401 with REALM and NONCE)", an.Code, an.Reason)
	}
	s.realm, s.nonce = an.Realm, an.Nonce
	return c, nil
}

// checkAmplification compares the size of unauthenticated answers with
// the requests that caused them: a reflector's gain for a spoofed source.
func (a *auditor) checkAmplification(ctx context.Context, s *session) Check {
	c := Check{ID: "amplification", Name: "amplification of unauthenticated answers", Fix: fixAmplification}
	start := time.Now()
	defer func() { c.Duration = time.Since(start) }()
	probes := []struct {
		name   string
		method stun.Method
		attrs  []stun.Setter
	}{
		{"Binding", stun.MethodBinding, nil},
		{"Allocate without credentials", stun.MethodAllocate, []stun.Setter{requestedTransportUDP}},
	}
	worst := 0.0
	for _, p := range probes {
		an, m, err := s.request(ctx, p.method, false, p.attrs...)
		if err != nil {
			c.Evidence = append(c.Evidence, Exchange{Request: fmt.Sprintf("%s (%d bytes)", p.name, len(m.Raw)), Answer: "no answer: " + err.Error()})
			continue
		}
		a.noteSoftware(an)
		f := float64(an.Size) / float64(len(m.Raw))
		worst = max(worst, f)
		c.Evidence = append(c.Evidence, Exchange{Request: fmt.Sprintf("%s (%d bytes)", p.name, len(m.Raw)), Answer: fmt.Sprintf("%s: factor %.1f", an, f)})
	}
	switch {
	case len(c.Evidence) == 0 || worst == 0:
		c.Verdict, c.Severity, c.Message = VerdictError, SeverityInfo, "no unauthenticated request was answered"
	case !s.w.datagram():
		c.Verdict, c.Severity = VerdictPass, SeverityInfo
		c.Message = fmt.Sprintf("largest factor %.1f, over %s: a stream cannot be reflected at a spoofed source", worst, a.cfg.Server.Transport)
	case a.cfg.Server.DTLS():
		// The association's handshake (with its cookie exchange) already
		// proved the source address.
		c.Verdict, c.Severity = VerdictPass, SeverityInfo
		c.Message = fmt.Sprintf("largest factor %.1f, over DTLS: TURN messages flow only after a handshake from the real source, so they cannot be reflected at a spoofed one", worst)
	case worst > 10:
		c.Verdict, c.Severity = VerdictFinding, SeverityMedium
		c.Message = fmt.Sprintf("an unauthenticated UDP answer is %.1f× its request: a strong reflector for spoofed-source floods", worst)
	case worst > 4:
		c.Verdict, c.Severity = VerdictFinding, SeverityLow
		c.Message = fmt.Sprintf("an unauthenticated UDP answer is %.1f× its request: a modest reflector for spoofed-source floods", worst)
	default:
		c.Verdict, c.Severity = VerdictPass, SeverityInfo
		c.Message = fmt.Sprintf("largest factor %.1f: at most 4× is the usual bar for a STUN server", worst)
	}
	return c
}

// lifetimeCheck judges the LIFETIME granted to the main allocation, which
// asked for DefaultLargeLifetime.
func lifetimeCheck(an answer, d time.Duration) Check {
	c := Check{ID: "lifetime", Name: "LIFETIME granted for a large request", Fix: fixLifetime, Duration: d, Severity: SeverityLow}
	c.Evidence = []Exchange{{Request: fmt.Sprintf("signed Allocate with LIFETIME %ds", int(DefaultLargeLifetime.Seconds())), Answer: an.String()}}
	switch {
	case !an.HasLifetime:
		c.Verdict, c.Severity, c.Message = VerdictFinding, SeverityInfo, "the Allocate success carries no LIFETIME (RFC 8656 requires one)"
	case an.Lifetime > time.Hour:
		c.Verdict = VerdictFinding
		c.Message = fmt.Sprintf("granted %s: an abandoned allocation holds a port and a quota slot that long (RFC 8656 recommends at most 1h)", an.Lifetime)
	default:
		c.Verdict = VerdictPass
		c.Message = fmt.Sprintf("granted %s for %s requested", an.Lifetime, DefaultLargeLifetime)
	}
	return c
}

// runPeerPolicy asks a permission and a channel for every internal
// encoding. Nothing is sent to those addresses; only the sink, ours, may
// get one datagram as proof.
func (a *auditor) runPeerPolicy(ctx context.Context, s *session) {
	sink, sinkAddr := a.openSink()
	if sink != nil {
		defer sink.Close()
	}
	// IPv6 peers go through an IPv6 allocation (RFC 6156): from the IPv4
	// one a server that checks families answers 443 before its IPv6 peer
	// policy. Without an IPv6 relay address (440) they go through the
	// IPv4 one, and a 443 there is the server's whole answer.
	s6, note := a.ipv6Session(ctx)
	if s6 != nil {
		defer func() {
			_ = s6.release(ctx)
			_ = s6.Close()
		}()
	}
	for i, pcase := range peerCases {
		if ctx.Err() != nil {
			return
		}
		on := s
		if pcase.Addr.Is6() && s6 != nil {
			on = s6
		}
		c := a.checkPeer(ctx, on, i, pcase, sink, sinkAddr)
		if pcase.Addr.Is6() && note != "" {
			c.Evidence = append([]Exchange{{Request: "Allocate with REQUESTED-ADDRESS-FAMILY IPv6, for the IPv6 peers", Answer: note}}, c.Evidence...)
		}
		a.add(c)
	}
}

// ipv6Session allocates an IPv6 relayed address for the IPv6 peer cases;
// nil (and what the server answered) when it has none.
func (a *auditor) ipv6Session(ctx context.Context) (*session, string) {
	s6, err := a.newSession(ctx, a.cfg.Server.Username, a.cfg.Server.Credential)
	if err != nil {
		return nil, "could not connect: " + err.Error()
	}
	an, err := s6.do(ctx, stun.MethodAllocate, requestedTransportUDP, requestedFamilyIPv6)
	switch {
	case err != nil:
		_ = s6.Close()
		return nil, "no answer: " + err.Error()
	case !an.success():
		_ = s6.Close()
		return nil, an.String()
	}
	return s6, ""
}

// noIPv6Relay explains a 443 to an IPv6 peer from an IPv4 allocation, made
// after the server refused an IPv6 one.
const noIPv6Relay = " (the server has no IPv6 relayed address for this client, so it cannot relay there at all; its IPv6 peer policy was not reached)"

func (a *auditor) checkPeer(ctx context.Context, s *session, i int, pcase peerCase, sink *sinkListener, sinkAddr netip.AddrPort) Check {
	c := Check{ID: "peer/" + pcase.Addr.String(), Name: "peer policy: " + pcase.Group + " " + pcase.Addr.String(), Severity: pcase.Severity, Fix: peerFix(pcase)}
	start := time.Now()
	defer func() { c.Duration = time.Since(start) }()
	// Port 9 (discard): permissions ignore ports, and nothing is sent.
	peer := netip.AddrPortFrom(pcase.Addr, 9)
	perm, err := s.do(ctx, stun.MethodCreatePermission, peerAddr(peer))
	if err != nil {
		c.Verdict, c.Message = VerdictError, "CreatePermission: "+err.Error()
		return c
	}
	c.Evidence = append(c.Evidence, Exchange{Request: "CreatePermission XOR-PEER-ADDRESS " + peer.String(), Answer: perm.String()})
	ch := uint16(0x4000 + i) //nolint:gosec // i < len(peerCases)
	bind, err := s.do(ctx, stun.MethodChannelBind, channelAttr(ch), peerAddr(peer))
	if err != nil {
		c.Evidence = append(c.Evidence, Exchange{Request: fmt.Sprintf("ChannelBind 0x%04x to %s", ch, peer), Answer: "no answer: " + err.Error()})
	} else {
		c.Evidence = append(c.Evidence, Exchange{Request: fmt.Sprintf("ChannelBind 0x%04x to %s", ch, peer), Answer: bind.String()})
	}
	granted := []string{}
	if perm.success() {
		granted = append(granted, "CreatePermission")
	}
	if err == nil && bind.success() {
		granted = append(granted, "ChannelBind")
	}
	if len(granted) == 0 {
		c.Verdict = VerdictPass
		c.Message = fmt.Sprintf("refused: %s", refusal(perm))
		if perm.Code == 443 {
			c.Message += noIPv6Relay
		}
		return c
	}
	c.Verdict = VerdictFinding
	c.Message = fmt.Sprintf("the server granted %s toward %s (%s): the relay would forward a client's data into that range", strings.Join(granted, " and "), pcase.Addr, pcase.Range)
	if pcase.Embedded.IsValid() {
		c.Message += fmt.Sprintf(" (the address embeds %s)", pcase.Embedded)
	}
	// Data-path proof, only toward our own sink and only when the sink is
	// in the range that was granted.
	if sink != nil && pcase.Range.Contains(sinkAddr.Addr()) && !a.proven[pcase.Range] {
		a.proven[pcase.Range] = true
		c.Evidence = append(c.Evidence, a.proveSink(ctx, s, sink, sinkAddr)...)
	}
	return c
}

func refusal(an answer) string {
	if an.Code == 0 {
		return an.String()
	}
	return fmt.Sprintf("%d %s", an.Code, an.Reason)
}

// proveSink sends one datagram through the relay to natkit's own sink.
func (a *auditor) proveSink(ctx context.Context, s *session, sink *sinkListener, sinkAddr netip.AddrPort) []Exchange {
	var out []Exchange
	perm, err := s.do(ctx, stun.MethodCreatePermission, peerAddr(sinkAddr))
	if err != nil || !perm.success() {
		return append(out, Exchange{Request: "CreatePermission to natkit's own sink " + sinkAddr.String(), Answer: fmt.Sprint(perm, err)})
	}
	out = append(out, Exchange{Request: "CreatePermission to natkit's own sink " + sinkAddr.String(), Answer: perm.String()})
	token := make([]byte, 8)
	_, _ = rand.Read(token)
	payload := []byte("natkit-audit sink proof " + hex.EncodeToString(token))
	ex := Exchange{Request: fmt.Sprintf("Send indication to natkit's own sink %s, %d bytes", sinkAddr, len(payload))}
	if err := s.sendIndication(sinkAddr, payload); err != nil {
		ex.Answer = "could not send: " + err.Error()
		return append(out, ex)
	}
	a.sent.add(sinkAddr.String()+" (sink, via the relay)", len(payload))
	if from, ok := sink.await(ctx, payload, a.cfg.Timeout); ok {
		ex.Answer = "the sink received the datagram from " + from + ": the data path into this range is open"
	} else {
		ex.Answer = "the sink received nothing in " + a.cfg.Timeout.String()
	}
	return append(out, ex)
}

// checkSelfLoop asks permissions toward the server's own listening and
// relayed addresses and proves a loop only with a Binding request, which
// any STUN server answers without side effects.
func (a *auditor) checkSelfLoop(ctx context.Context, s *session, relayed netip.AddrPort) Check {
	c := Check{ID: "self-loop", Name: "self-loop to the server's own addresses", Severity: SeverityHigh, Fix: fixSelfLoop}
	start := time.Now()
	defer func() { c.Duration = time.Since(start) }()
	targets := []struct {
		what string
		addr netip.AddrPort
	}{}
	if ap, err := netip.ParseAddrPort(a.cfg.Server.Address()); err == nil {
		targets = append(targets, struct {
			what string
			addr netip.AddrPort
		}{"listening address", ap})
	}
	if relayed.IsValid() {
		targets = append(targets, struct {
			what string
			addr netip.AddrPort
		}{"relayed address", relayed})
	}
	if len(targets) == 0 {
		c.Verdict, c.Message = VerdictSkip, "the server is named by a host name and gave no relayed address: nothing to loop to"
		return c
	}
	var looped, granted []string
	for _, t := range targets {
		perm, err := s.do(ctx, stun.MethodCreatePermission, peerAddr(t.addr))
		if err != nil {
			c.Evidence = append(c.Evidence, Exchange{Request: "CreatePermission to own " + t.what + " " + t.addr.String(), Answer: "no answer: " + err.Error()})
			continue
		}
		c.Evidence = append(c.Evidence, Exchange{Request: "CreatePermission to own " + t.what + " " + t.addr.String(), Answer: perm.String()})
		// Permissions are per IP: one granted toward the same IP by the
		// peer checks would let data through even when this one is
		// refused, so the Binding is sent either way (a shorter wait then).
		wait := a.cfg.Timeout
		if perm.success() {
			granted = append(granted, t.what)
		} else {
			wait = min(wait, 500*time.Millisecond)
		}
		bind, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
		if err != nil {
			continue
		}
		if err := s.sendIndication(t.addr, bind.Raw); err != nil {
			continue
		}
		data, ok := s.waitData(ctx, t.addr, wait)
		ex := Exchange{Request: fmt.Sprintf("Send indication to own %s carrying a Binding request (%d bytes)", t.what, len(bind.Raw))}
		switch {
		case !ok:
			ex.Answer = "no Data indication came back in " + wait.String()
		default:
			ex.Answer = fmt.Sprintf("Data indication from %s with %d bytes", t.addr, len(data))
			if an, err := parseAnswer(data); err == nil {
				ex.Answer += ": " + an.String()
			}
			looped = append(looped, t.what)
		}
		c.Evidence = append(c.Evidence, ex)
	}
	switch {
	case len(looped) > 0:
		c.Verdict = VerdictFinding
		c.Message = "the relay forwards to itself (" + strings.Join(looped, ", ") + "): a loop that multiplies traffic and reaches its own listener as a trusted local source"
	case len(granted) > 0:
		c.Verdict, c.Severity = VerdictFinding, SeverityMedium
		c.Message = "the server granted a permission toward its own " + strings.Join(granted, " and ") + ", though the Binding sent through it came back empty"
	case len(c.Evidence) == 0:
		c.Verdict, c.Message = VerdictError, "no answer to CreatePermission"
	default:
		c.Verdict, c.Message = VerdictPass, "refused permissions toward its own addresses"
	}
	return c
}

// checkReplay resends the main session's signed Allocate byte for byte
// from a new 5-tuple. A server that binds its nonce to the 5-tuple answers
// 438 or 401.
func (a *auditor) checkReplay(ctx context.Context, main *session, raw []byte) Check {
	c := Check{ID: "nonce-replay", Name: "nonce replay from another 5-tuple", Severity: SeverityMedium, Fix: fixReplay}
	start := time.Now()
	defer func() { c.Duration = time.Since(start) }()
	s, err := a.newSession(ctx, main.user, main.pass)
	if err != nil {
		c.Verdict, c.Message = VerdictError, err.Error()
		return c
	}
	defer s.Close()
	var tx [stun.TransactionIDSize]byte
	copy(tx[:], raw[8:20])
	an, err := s.roundTrip(ctx, raw, tx)
	s.realm, s.nonce = main.realm, main.nonce // to release what a replay got
	req := fmt.Sprintf("the signed Allocate of %s, %d bytes, replayed byte for byte from %s", main.w.localAddr(), len(raw), s.w.localAddr())
	c.judgeServed(ctx, s, req, an, err, VerdictPass, "the replay was ignored",
		"a captured signed Allocate gets a new allocation from another address: the nonce is not bound to the 5-tuple, so a sniffed request can be replayed for as long as the nonce lives")
	return c
}

// judgeServed judges the answer to a request the server should refuse: a
// refusal passes, no answer is silent (its verdict given), and a success
// is the finding, whose allocation is released at once.
func (c *Check) judgeServed(ctx context.Context, s *session, req string, an answer, err error, silent Verdict, silentMsg, finding string) {
	if err != nil {
		c.Evidence = []Exchange{{Request: req, Answer: "no answer: " + err.Error()}}
		c.Verdict, c.Message = silent, silentMsg
		return
	}
	c.Evidence = []Exchange{{Request: req, Answer: an.String()}}
	if !an.success() {
		c.Verdict, c.Message = VerdictPass, "refused: "+refusal(an)
		return
	}
	c.Verdict, c.Message = VerdictFinding, finding
	if err := s.release(ctx); err != nil {
		c.Evidence = append(c.Evidence, Exchange{Request: "Refresh LIFETIME 0 (release)", Answer: err.Error()})
	}
}

// checkFingerprint sends a correctly signed Allocate whose FINGERPRINT is
// wrong. RFC 8489 §7.3: such a message is discarded.
func (a *auditor) checkFingerprint(ctx context.Context) Check {
	c := Check{ID: "fingerprint", Name: "FINGERPRINT mismatch accepted", Severity: SeverityLow, Fix: fixFingerprint}
	start := time.Now()
	defer func() { c.Duration = time.Since(start) }()
	s, err := a.newSession(ctx, a.cfg.Server.Username, a.cfg.Server.Credential)
	if err != nil {
		c.Verdict, c.Message = VerdictError, err.Error()
		return c
	}
	defer s.Close()
	first, _, err := s.request(ctx, stun.MethodAllocate, false, requestedTransportUDP)
	if err != nil || first.Nonce == "" {
		c.Verdict, c.Message = VerdictError, "no 401 with a nonce to sign with"
		return c
	}
	s.realm, s.nonce = first.Realm, first.Nonce
	m, err := s.build(stun.MethodAllocate, true, requestedTransportUDP)
	if err != nil {
		c.Verdict, c.Message = VerdictError, err.Error()
		return c
	}
	// FINGERPRINT is last: flip its value's last byte.
	m.Raw[len(m.Raw)-1] ^= 0xFF
	an, err := s.roundTrip(ctx, m.Raw, m.TransactionID)
	req := fmt.Sprintf("signed Allocate with a wrong FINGERPRINT (%d bytes)", len(m.Raw))
	c.judgeServed(ctx, s, req, an, err, VerdictPass, "discarded, as RFC 8489 says",
		"a request with a wrong FINGERPRINT was served: the server does not check it (RFC 8489 §7.3 says discard), so corrupted or demultiplexing-confused packets are acted on")
	return c
}

// checkRESTExpiry mints a REST username that expires in ten years.
func (a *auditor) checkRESTExpiry(ctx context.Context) Check {
	c := Check{ID: "rest-expiry", Name: "REST username expiry bound", Severity: SeverityLow, Fix: fixREST}
	start := time.Now()
	defer func() { c.Duration = time.Since(start) }()
	if a.cfg.Secret == "" {
		c.Verdict, c.Message = VerdictSkip, "needs --secret (the server's TURN REST shared secret) to mint a far-future username"
		return c
	}
	user, pass, err := iceconfig.MintREST(a.cfg.Secret, "natkit-audit", DefaultRESTProbeExpiry)
	if err != nil {
		c.Verdict, c.Message = VerdictError, err.Error()
		return c
	}
	s, err := a.newSession(ctx, user, pass)
	if err != nil {
		c.Verdict, c.Message = VerdictError, err.Error()
		return c
	}
	defer s.Close()
	an, err := s.allocate(ctx, 0)
	req := fmt.Sprintf("signed Allocate as %q (expiry %s)", user, time.Now().Add(DefaultRESTProbeExpiry).UTC().Format("2006-01-02"))
	c.judgeServed(ctx, s, req, an, err, VerdictError, "no answer",
		"a REST username valid for ten years was accepted: a credential minted by mistake, or leaked, never expires in practice")
	return c
}

// checkQuota holds up to MaxAllocations allocations for the audit's user
// at once (the main one included), each from its own 5-tuple, then
// releases them all.
func (a *auditor) checkQuota(ctx context.Context) Check {
	c := Check{ID: "quota", Name: "per-user allocation quota", Severity: SeverityLow, Fix: fixQuota}
	start := time.Now()
	defer func() { c.Duration = time.Since(start) }()
	var held []*session
	defer func() {
		for _, s := range held {
			if err := s.release(ctx); err != nil {
				a.cfg.Logger.Debug("audit: release", "err", err)
			}
			s.Close()
		}
	}()
	want := a.cfg.MaxAllocations - 1 // the main allocation is still held
	var stopped answer
	for range want {
		s, err := a.newSession(ctx, a.cfg.Server.Username, a.cfg.Server.Credential)
		if err != nil {
			break
		}
		an, err := s.allocate(ctx, 0)
		if err != nil || !an.success() {
			s.Close()
			stopped = an
			break
		}
		held = append(held, s)
	}
	total := len(held) + 1
	req := fmt.Sprintf("up to %d concurrent signed Allocates as %q, one per 5-tuple, all released after", want, a.cfg.Server.Username)
	if stopped.Code != 0 {
		c.Evidence = []Exchange{{Request: req, Answer: fmt.Sprintf("%d allocations held, then %s", total, stopped)}}
		c.Verdict = VerdictPass
		c.Message = fmt.Sprintf("the server stopped this user at %d allocations: %s", total, refusal(stopped))
		if stopped.Code != 486 && stopped.Code != 508 {
			c.Message += " (486 is the quota answer)"
		}
		return c
	}
	c.Evidence = []Exchange{{Request: req, Answer: fmt.Sprintf("%d allocations held", total)}}
	if total < a.cfg.MaxAllocations {
		c.Verdict, c.Message = VerdictError, fmt.Sprintf("only %d allocations were tried: a socket or the server failed", total)
		return c
	}
	c.Verdict = VerdictFinding
	c.Message = fmt.Sprintf("one user held %d allocations at once and the server never said 486: a leaked credential can take many relay ports", total)
	return c
}

// softwareCheck judges the SOFTWARE values seen in every answer.
func (a *auditor) softwareCheck() Check {
	c := Check{ID: "software", Name: "SOFTWARE attribute disclosure", Severity: SeverityLow, Fix: fixSoftware}
	if len(a.software) == 0 {
		c.Verdict, c.Message = VerdictPass, "no answer carried a SOFTWARE attribute"
		return c
	}
	for _, s := range a.software {
		c.Evidence = append(c.Evidence, Exchange{Request: "any request (SOFTWARE seen in the answers)", Answer: "SOFTWARE " + strconv.Quote(s)})
	}
	c.Verdict = VerdictFinding
	versioned := false
	for _, s := range a.software {
		if strings.ContainsAny(s, "0123456789") {
			versioned = true
		}
	}
	if !versioned {
		c.Severity = SeverityInfo
	}
	c.Message = "the server names its software in every answer (" + strings.Join(a.software, ", ") + "): an attacker can match it to known CVEs without authenticating"
	return c
}
