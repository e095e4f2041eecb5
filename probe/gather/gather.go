package gather

import (
	"context"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pion/logging"

	"github.com/natkit/natkit/internal/pionlog"
	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/probe/natbehavior"
	"github.com/natkit/natkit/reports"
)

type gatherer struct {
	cfg   Config
	start time.Time
	// pionLogs adapts cfg.Logger for pion's ICE agent and TURN client.
	pionLogs logging.LoggerFactory

	mu sync.Mutex
	// unfreed counts, per server address, direct-probe allocations whose
	// release (Refresh with lifetime 0) was not confirmed: natkit's own
	// share of a quota.
	unfreed map[string]int
}

func (g *gatherer) hold(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.unfreed == nil {
		g.unfreed = map[string]int{}
	}
	g.unfreed[addr]++
}

func (g *gatherer) held(addr string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.unfreed[addr]
}

// Run probes every server, gathers through each on its own and through all
// together, and returns the verdicts. It returns an error only for an
// invalid Config; everything that goes wrong on the network is a
// diagnosis in the Result. When ctx is cancelled it returns what it has
// with ctx's error.
//
// Direct TURN probes and the per-server gathers of TURN servers run one
// after the other and each direct allocation is released before the next
// step, so natkit never trips a per-user quota by itself. STUN servers are
// probed in parallel.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	g := &gatherer{cfg: cfg, start: start, pionLogs: pionlog.NewFactory(cfg.Logger)}
	res := &Result{Policy: cfg.Policy, Servers: make([]ServerResult, len(cfg.Servers))}
	now := cfg.Now()

	var usable iceconfig.Servers
	var wg sync.WaitGroup
	var turnMu sync.Mutex
	for i, s := range cfg.Servers {
		r := &res.Servers[i]
		r.URL, r.Source, r.Scheme, r.Transport = s.URL(), s.Source, string(s.Scheme), string(s.Transport)
		if err := s.CheckExpiry(now); err != nil {
			exp, _ := iceconfig.RESTExpiry(s.Username)
			r.Cause = CauseExpired
			r.Diagnosis = "REST username already expired at " + exp.UTC().Format(time.RFC3339) + " (" + reports.Ago(exp, now) +
				"), detected locally, nothing sent: the server would answer 401; fetch fresh credentials from the token URL or mint them with --secret"
			continue
		}
		usable = append(usable, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.OnServer != nil {
				defer func() { cfg.OnServer(*r) }()
			}
			if s.IsTURN() {
				turnMu.Lock()
				defer turnMu.Unlock()
			}
			pstart := time.Now()
			if s.IsTURN() {
				g.probeTURN(ctx, s, r)
				if g.wantsTCPRelay(s, r) {
					r.TCPRelay = g.tcpRelayCheck(ctx, s)
				}
			} else {
				g.probeSTUN(ctx, s, r)
			}
			r.Duration = time.Since(pstart)
			if ctx.Err() != nil || unreachable(r.Cause) || (cfg.Policy == PolicyRelay && !s.IsTURN()) {
				return
			}
			r.Gather = g.iceGather(ctx, iceconfig.Servers{s}, g.expect(iceconfig.Servers{s}, []ServerResult{*r}))
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		res.Mappings, res.MappingVaries = g.mappingCheck(ctx, usable)
	}()
	wg.Wait()

	// The combined gather leaves out servers the direct probe found
	// unreachable: they yield no candidate and would only hold the gather
	// until its timeout. Like a browser, it runs even with no server left:
	// host candidates still come.
	var reachable iceconfig.Servers
	var verdicts []ServerResult
	var left []string
	for i, s := range cfg.Servers {
		switch c := res.Servers[i].Cause; {
		case c == CauseExpired:
		case unreachable(c):
			left = append(left, s.URL()+" ("+string(c)+")")
		default:
			reachable = append(reachable, s)
			verdicts = append(verdicts, res.Servers[i])
		}
	}
	if ctx.Err() == nil && (len(reachable.TURN()) > 0 || cfg.Policy == PolicyAll) {
		res.Combined = g.iceGather(ctx, reachable, g.expect(reachable, verdicts))
		if len(left) > 0 {
			res.Combined.Note = "left out, unreachable: " + strings.Join(left, ", ")
		}
	} else {
		res.Combined = &Gather{Count: map[string]int{}, Note: "not run: no usable turn server under the relay policy"}
		if ctx.Err() != nil {
			res.Combined.Note = "interrupted"
		}
	}
	if ctx.Err() == nil {
		res.Probed = g.otherTransports(ctx, res)
	}
	res.Transports = transports(cfg.Servers, res.Servers, res.Probed)
	res.Duration = time.Since(start)
	res.Interrupted = ctx.Err() != nil
	return res, ctx.Err()
}

// unreachable causes make a gather through the server pointless.
func unreachable(c Cause) bool {
	switch c {
	case CauseNoAnswer, CauseDNS, CauseUnreachable, CauseConnRefused, CauseTLS, CauseNotTLS, CauseDTLS, CauseNotDTLS, CauseTURNDisabled, CauseNetwork, CauseInterrupted:
		return true
	}
	return false
}

// mappingCheck sends a Binding request from one socket to every distinct
// UDP server address and compares the public addresses they saw.
func (g *gatherer) mappingCheck(ctx context.Context, servers iceconfig.Servers) (map[string]string, bool) {
	addrs := map[string]string{} // resolved address → first URL
	var order []string
	for _, s := range servers {
		// A DTLS port answers no plain Binding: it would hold the check
		// until its timeout.
		if s.Transport != iceconfig.TransportUDP || s.DTLS() {
			continue
		}
		// One IPv4 socket: mappings are compared within IPv4, where NAT
		// is; an IPv6 server's view would differ by family alone.
		a, err := g.resolveUDP(s)
		if err != nil || a.IP.To4() == nil {
			continue
		}
		if _, ok := addrs[a.String()]; !ok {
			addrs[a.String()] = s.URL()
			order = append(order, a.String())
		}
	}
	if len(order) < 2 {
		return nil, false
	}
	pc, err := g.cfg.Net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		return nil, false
	}
	c := natbehavior.NewClient(pc, g.cfg.Retransmit)
	defer c.Close()
	var mu sync.Mutex
	out := map[string]string{}
	var wg sync.WaitGroup
	for _, a := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst, err := net.ResolveUDPAddr("udp4", a)
			if err != nil {
				return
			}
			req, err := natbehavior.BindingRequest(0, 0)
			if err != nil {
				return
			}
			r, err := c.Do(ctx, dst, req)
			if err != nil || r.Mapped == nil {
				return
			}
			mu.Lock()
			out[addrs[a]] = r.Mapped.String()
			mu.Unlock()
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, m := range out {
		seen[m] = true
	}
	if len(out) == 0 {
		return nil, false
	}
	return out, len(seen) > 1
}

// otherTransports probes, for each turn: URL, the other of UDP and TCP on
// the same host and port when the input does not list it, with a direct
// Allocate only, so that the transports table is complete. TLS needs its
// own port and is never guessed.
func (g *gatherer) otherTransports(ctx context.Context, res *Result) []ServerResult {
	listed := map[string]bool{}
	for _, s := range g.cfg.Servers {
		if s.Scheme == iceconfig.SchemeTURN {
			listed[s.Address()+" "+string(s.Transport)] = true
		}
	}
	var out []ServerResult
	for i, s := range g.cfg.Servers {
		if s.Scheme != iceconfig.SchemeTURN {
			continue
		}
		switch res.Servers[i].Cause {
		case CauseExpired, CauseDNS, CauseInterrupted:
			continue
		}
		other := s
		other.Transport, other.ExplicitTransport = iceconfig.TransportTCP, true
		if s.Transport == iceconfig.TransportTCP {
			other.Transport = iceconfig.TransportUDP
		}
		key := other.Address() + " " + string(other.Transport)
		if listed[key] {
			continue
		}
		listed[key] = true
		r := ServerResult{URL: other.URL(), Source: "probed: same host and port as " + s.URL(), Scheme: string(other.Scheme), Transport: string(other.Transport)}
		pstart := time.Now()
		g.probeTURN(ctx, other, &r)
		r.Duration = time.Since(pstart)
		out = append(out, r)
	}
	return out
}

func transports(servers iceconfig.Servers, results, probed []ServerResult) []TransportResult {
	byHost := map[string]*TransportResult{}
	var hosts []string
	for i, s := range servers {
		if !s.IsTURN() {
			continue
		}
		tr, ok := byHost[s.Host]
		if !ok {
			tr = &TransportResult{Host: s.Host}
			byHost[s.Host] = tr
			hosts = append(hosts, s.Host)
		}
		state := "failed"
		if results[i].Cause.OK() {
			state = "ok"
		}
		var slot *string
		switch {
		case s.DTLS():
			slot = &tr.DTLS
		case s.Scheme == iceconfig.SchemeTURNS:
			slot = &tr.TLS
		case s.Transport == iceconfig.TransportTCP:
			slot = &tr.TCP
		default:
			slot = &tr.UDP
		}
		if *slot != "ok" {
			*slot = state
		}
	}
	for _, r := range probed {
		tr := byHost[hostOfURL(r.URL)]
		if tr == nil {
			continue
		}
		slot := &tr.UDP
		if r.Transport == string(iceconfig.TransportTCP) {
			slot = &tr.TCP
		}
		if *slot != "" {
			continue
		}
		*slot = "failed (" + string(r.Cause) + ", probed)"
		if r.Cause.OK() {
			*slot = "ok (probed)"
		}
	}
	sort.Strings(hosts)
	out := make([]TransportResult, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, *byHost[h])
	}
	return out
}

func hostOfURL(u string) string {
	s, err := iceconfig.ParseURL(u, "")
	if err != nil {
		return ""
	}
	return s.Host
}
