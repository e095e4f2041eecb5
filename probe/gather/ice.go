package gather

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v3"

	"github.com/natkit/natkit/probe/iceconfig"
)

// trackingNet wraps a transport.Net: it remembers every socket pion's agent
// opens, and the first destination each UDP socket writes to, so that
// candidates can be attributed to servers and every socket closed at the
// end.
type trackingNet struct {
	transport.Net
	mu     sync.Mutex
	conns  []interface{ Close() error }
	dest   map[string]string // "udp:<local port>" or "tcp:<local port>" → "ip:port"
	closed bool
}

func newTrackingNet(n transport.Net) *trackingNet {
	return &trackingNet{Net: n, dest: map[string]string{}}
}

func (t *trackingNet) track(c interface{ Close() error }) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = c.Close()
		return
	}
	t.conns = append(t.conns, c)
}

func (t *trackingNet) firstWrite(local net.Addr, to net.Addr) {
	if to == nil {
		return
	}
	key := "udp:" + portString(local)
	t.mu.Lock()
	if _, ok := t.dest[key]; !ok {
		t.dest[key] = to.String()
	}
	t.mu.Unlock()
}

func (t *trackingNet) destination(proto string, port int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dest[proto+":"+strconv.Itoa(port)]
}

func (t *trackingNet) closeAll() {
	t.mu.Lock()
	conns := t.conns
	t.conns, t.closed = nil, true
	t.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func portString(a net.Addr) string {
	switch v := a.(type) {
	case *net.UDPAddr:
		return strconv.Itoa(v.Port)
	case *net.TCPAddr:
		return strconv.Itoa(v.Port)
	}
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

func (t *trackingNet) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := t.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	w := &trackedPacketConn{PacketConn: c, t: t}
	t.track(w)
	return w, nil
}

func (t *trackingNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := t.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	w := &trackedUDPConn{UDPConn: c, t: t}
	t.track(w)
	return w, nil
}

func (t *trackingNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := t.Net.DialUDP(network, laddr, raddr)
	if err != nil {
		return nil, err
	}
	t.firstWrite(c.LocalAddr(), raddr)
	t.track(c)
	return c, nil
}

func (t *trackingNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	c, err := t.Net.DialTCP(network, laddr, raddr)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.dest["tcp:"+portString(c.LocalAddr())] = raddr.String()
	t.mu.Unlock()
	t.track(c)
	return c, nil
}

type trackedPacketConn struct {
	net.PacketConn
	t *trackingNet
}

func (c *trackedPacketConn) WriteTo(b []byte, to net.Addr) (int, error) {
	c.t.firstWrite(c.LocalAddr(), to)
	return c.PacketConn.WriteTo(b, to)
}

type trackedUDPConn struct {
	transport.UDPConn
	t *trackingNet
}

func (c *trackedUDPConn) WriteTo(b []byte, to net.Addr) (int, error) {
	c.t.firstWrite(c.LocalAddr(), to)
	return c.UDPConn.WriteTo(b, to)
}

func (c *trackedUDPConn) WriteToUDP(b []byte, to *net.UDPAddr) (int, error) {
	c.t.firstWrite(c.LocalAddr(), to)
	return c.UDPConn.WriteToUDP(b, to)
}

// attribution maps server addresses to URLs.
type attribution struct {
	udp map[string][]string // "ip:port" → every URL with that address (srflx)
	// relay: "<relay protocol> ip:port" → TURN URLs
	relay map[string][]string
	// v4 and v6 say which families the servers resolved to.
	v4, v6 bool
}

func (g *gatherer) attribution(servers iceconfig.Servers) *attribution {
	a := &attribution{udp: map[string][]string{}, relay: map[string][]string{}}
	for _, s := range servers {
		addr, err := g.resolveUDP(s)
		if err != nil {
			continue
		}
		if addr.IP.To4() == nil {
			a.v6 = true
		} else {
			a.v4 = true
		}
		key := addr.String()
		a.udp[key] = appendUnique(a.udp[key], s.URL())
		if !s.IsTURN() {
			continue
		}
		proto := string(s.Transport)
		if s.Scheme == iceconfig.SchemeTURNS {
			proto = map[bool]string{true: "dtls", false: "tls"}[s.DTLS()] // pion's relay protocol names
		}
		a.relay[proto+" "+key] = appendUnique(a.relay[proto+" "+key], s.URL())
	}
	return a
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// expectation is what a gather waits for: per server URL, the candidate
// types its direct probe says it will yield. pion's agent declares the
// gather complete only when every attempt ended, and it also sends a
// srflx Binding over UDP to turns: and turn:?transport=tcp URLs, which a
// TLS- or TCP-only listener never answers: without this the gather would
// wait for Timeout although every server has answered.
type expectation map[string][]string

// expect lists what the servers' direct verdicts promise: a relay
// candidate from a working TURN server; under PolicyAll also a srflx
// candidate from a working stun: server or turn: UDP server.
func (g *gatherer) expect(servers iceconfig.Servers, verdicts []ServerResult) expectation {
	e := expectation{}
	for i, s := range servers {
		switch {
		case verdicts[i].Cause == CauseTURNOK:
			e[s.URL()] = append(e[s.URL()], "relay")
			if g.cfg.Policy == PolicyAll && s.Scheme == iceconfig.SchemeTURN && s.Transport == iceconfig.TransportUDP {
				e[s.URL()] = append(e[s.URL()], "srflx")
			}
		case verdicts[i].Cause == CauseSTUNOK && g.cfg.Policy == PolicyAll:
			e[s.URL()] = append(e[s.URL()], "srflx")
		}
	}
	return e
}

// met reports whether every expected candidate has come.
func (e expectation) met(got []Candidate) bool {
	if len(e) == 0 {
		return false
	}
	for url, types := range e {
		for _, typ := range types {
			found := false
			for _, c := range got {
				if c.Type == typ && containsWord(c.ServerURL, url) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
}

func containsWord(list, word string) bool {
	for _, w := range strings.Fields(list) {
		if w == word {
			return true
		}
	}
	return false
}

// minSettle is the least a gather waits after its expected candidates,
// for late ones from the same servers (a srflx Binding answered after the
// Allocate).
const minSettle = 200 * time.Millisecond

// iceGather gathers candidates with pion's ICE agent through servers. It
// ends when pion's agent completes, or, once every candidate in want has
// come at time T, at T + max(T, minSettle).
func (g *gatherer) iceGather(ctx context.Context, servers iceconfig.Servers, want expectation) *Gather {
	out := &Gather{Count: map[string]int{}, Started: time.Since(g.start)}
	attr := g.attribution(servers)
	fnet := &familyNet{Net: g.cfg.Net}
	networks := []ice.NetworkType{ice.NetworkTypeUDP4}
	if attr.v6 {
		// IPv6 host and srflx candidates, and TURN sockets that reach
		// IPv6 servers: IPv6 only when every server is IPv6, else
		// dual-stack.
		networks = append(networks, ice.NetworkTypeUDP6)
		fnet.relayNetwork = "udp"
		if !attr.v4 {
			fnet.relayNetwork = "udp6"
		}
	}
	tnet := newTrackingNet(fnet)
	defer tnet.closeAll()
	types := []ice.CandidateType{ice.CandidateTypeHost, ice.CandidateTypeServerReflexive, ice.CandidateTypeRelay}
	if g.cfg.Policy == PolicyRelay {
		types = []ice.CandidateType{ice.CandidateTypeRelay}
	}
	opts := []ice.AgentOption{
		ice.WithNet(tnet),
		ice.WithUrls(servers.ICEURLs()),
		ice.WithNetworkTypes(networks),
		ice.WithCandidateTypes(types),
		ice.WithSTUNGatherTimeout(g.cfg.Timeout),
		ice.WithMulticastDNSMode(ice.MulticastDNSModeDisabled),
		ice.WithLoggerFactory(g.pionLogs),
	}
	if g.cfg.IncludeLoopback {
		opts = append(opts, ice.WithIncludeLoopback())
	}
	if g.cfg.ICETCP {
		mux, err := g.tcpMux()
		if err != nil {
			out.Note = fmt.Sprintf("ICE-TCP: no TCP listener for passive candidates (%v); UDP only", err)
		} else {
			defer mux.Close()
			tcpNets := []ice.NetworkType{ice.NetworkTypeTCP4}
			if attr.v6 {
				tcpNets = append(tcpNets, ice.NetworkTypeTCP6)
			}
			opts = append(opts, ice.WithTCPMux(mux), ice.WithNetworkTypes(append(networks, tcpNets...)))
		}
	}
	agent, err := ice.NewAgentWithOptions(opts...)
	if err != nil {
		out.Note = fmt.Sprintf("%v: %v", ErrAgent, err)
		return out
	}
	var mu sync.Mutex
	var raw []ice.Candidate
	var at []time.Duration
	var seen []Candidate
	done := make(chan struct{})
	answered := make(chan time.Duration, 1)
	var once, answeredOnce sync.Once
	start := time.Now()
	if err := agent.OnCandidate(func(c ice.Candidate) {
		if c == nil {
			once.Do(func() { close(done) })
			return
		}
		mu.Lock()
		since := time.Since(start)
		raw = append(raw, c)
		at = append(at, since)
		seen = append(seen, convert(c, since, tnet, attr))
		met := want.met(seen)
		mu.Unlock()
		if met {
			answeredOnce.Do(func() { answered <- since })
		}
	}); err != nil {
		_ = agent.Close()
		out.Note = fmt.Sprintf("%v: %v", ErrAgent, err)
		return out
	}
	if err := agent.GatherCandidates(); err != nil {
		_ = agent.Close()
		out.Note = fmt.Sprintf("%v: %v", ErrAgent, err)
		return out
	}
	timer := time.NewTimer(g.cfg.Timeout + time.Second)
	defer timer.Stop()
	var settle <-chan time.Time
	var settleTimer *time.Timer
	defer func() {
		if settleTimer != nil {
			settleTimer.Stop()
		}
	}()
wait:
	for {
		select {
		case <-done:
			out.Complete = true
			break wait
		case t := <-answered:
			// Every server has answered: wait as long again (at least
			// minSettle) for stragglers, then stop.
			settleTimer = time.NewTimer(max(t, minSettle))
			settle = settleTimer.C
		case <-settle:
			out.Complete = true
			break wait
		case <-timer.C:
			out.Note = fmt.Sprintf("gathering did not complete within %s", g.cfg.Timeout)
			break wait
		case <-ctx.Done():
			out.Note = "interrupted"
			break wait
		}
	}
	out.Duration = time.Since(start)
	mu.Lock()
	cands, times := append([]ice.Candidate(nil), raw...), append([]time.Duration(nil), at...)
	mu.Unlock()
	for i, c := range cands {
		out.Candidates = append(out.Candidates, convert(c, times[i], tnet, attr))
		out.Count[out.Candidates[len(out.Candidates)-1].Type]++
	}
	// Closing the agent closes its candidates; closing the tracked sockets
	// after it makes pion's still pending STUN and TURN transactions fail
	// at once instead of running out their timers.
	_ = agent.GracefulClose()
	tnet.closeAll()
	sort.SliceStable(out.Candidates, func(i, j int) bool { return out.Candidates[i].At < out.Candidates[j].At })
	return out
}

// tcpMux serves passive ICE-TCP host candidates (RFC 6544) from one TCP
// listener on the gather's network, as a browser's does; pion's agent
// also gathers active ones.
func (g *gatherer) tcpMux() (*ice.TCPMuxDefault, error) {
	ln, err := g.cfg.Net.ListenTCP("tcp", &net.TCPAddr{})
	if err != nil {
		return nil, err
	}
	return ice.NewTCPMuxDefault(ice.TCPMuxParams{Listener: ln, Logger: g.pionLogs.NewLogger("ice-tcp"), ReadBufferSize: 8}), nil
}

func convert(c ice.Candidate, at time.Duration, tnet *trackingNet, attr *attribution) Candidate {
	out := Candidate{
		At:         at,
		Component:  c.Component(),
		Type:       c.Type().String(),
		Foundation: c.Foundation(),
		Protocol:   c.NetworkType().NetworkShort(),
		Address:    c.Address(),
		Port:       c.Port(),
		Priority:   c.Priority(),
		Family:     familyOf(c.Address()),
	}
	if c.NetworkType().IsTCP() {
		out.TCPType = c.TCPType().String()
	}
	if ra := c.RelatedAddress(); ra != nil {
		out.RelatedAddress = net.JoinHostPort(ra.Address, strconv.Itoa(ra.Port))
	}
	switch c.Type() {
	case ice.CandidateTypeServerReflexive:
		if ra := c.RelatedAddress(); ra != nil {
			out.ServerURL = strings.Join(attr.udp[tnet.destination("udp", ra.Port)], " ")
		}
	case ice.CandidateTypeRelay:
		if rc, ok := c.(*ice.CandidateRelay); ok {
			out.RelayProtocol = rc.RelayProtocol()
		}
		if ra := c.RelatedAddress(); ra != nil {
			proto := "udp"
			if out.RelayProtocol == "tcp" || out.RelayProtocol == "tls" {
				proto = "tcp"
			}
			dest := tnet.destination(proto, ra.Port)
			out.ServerURL = strings.Join(attr.relay[out.RelayProtocol+" "+dest], " ")
		}
	}
	return out
}
