package natbehavior

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Run classifies the NAT between cfg.Local and cfg.Server. It returns an
// error only when the probe cannot run at all: bad config, an unresolvable
// server, or a server that never answers the first Binding request.
// Anything learnt before the context is cancelled is returned with the
// context's error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	p := &prober{cfg: cfg, res: &Result{Server: cfg.Server, AltServer: cfg.AltServer, Mapping: MappingUnknown, Filtering: FilteringUnknown}}
	defer func() { p.res.Duration = time.Since(start) }()

	runCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	err := p.run(runCtx)
	if err == nil && cfg.Lifetime {
		lctx, lcancel := context.WithTimeout(ctx, cfg.LifetimeMax+cfg.Retransmit.Budget+time.Second)
		p.lifetime(lctx)
		lcancel()
	}
	r := p.res
	r.Classic = Classic(r.NAT, r.Mapping, r.Filtering)
	r.Implications = append(Implications(r.NAT, r.Mapping, r.Filtering), clashImplications(r.Clash)...)
	if ctx.Err() != nil {
		// Cancelled or out of time from outside: that, not the symptom
		// it caused (no answer), is the error.
		err = ctx.Err()
	}
	r.Cause = causeOf(err)
	if err != nil {
		r.Error = err.Error()
	}
	return r, err
}

type prober struct {
	cfg    Config
	res    *Result
	mu     sync.Mutex
	server *net.UDPAddr
	// nat64 is the NAT64 prefix the server's address is in, when the
	// server's answer shows one (see nat64.go).
	nat64 netip.Prefix
}

func (p *prober) note(format string, args ...any) {
	p.mu.Lock()
	p.res.Notes = append(p.res.Notes, fmt.Sprintf(format, args...))
	p.mu.Unlock()
}

func (p *prober) resolve(hostport string) (*net.UDPAddr, error) {
	hp, err := withPort(hostport)
	if err != nil {
		return nil, err
	}
	// "udp" resolves an IPv6 literal to IPv6 and a name to its IPv4
	// address when it has one, else its IPv6 address.
	a, err := p.cfg.Net.ResolveUDPAddr("udp", hp)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrResolve, hostport, err)
	}
	return a, nil
}

// open returns a client on a fresh socket; port 0 asks for an ephemeral
// port on the configured local IP.
func (p *prober) open(port string) (*Client, error) {
	host, lport, _ := net.SplitHostPort(p.cfg.Local)
	network := "udp4"
	if p.server != nil && p.server.IP.To4() == nil {
		network = "udp6"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "0.0.0.0" // the wildcard in the server's family
		if network == "udp6" {
			host = "::"
		}
	}
	if port == "" {
		port = lport
	}
	addr := net.JoinHostPort(host, port)
	conn, err := p.cfg.Net.ListenPacket(network, addr)
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", addr, err)
	}
	return NewClient(conn, p.cfg.Retransmit), nil
}

// binding runs one Binding test and records it.
func (p *prober) binding(ctx context.Context, c *Client, name string, to *net.UDPAddr, change byte) (*Response, error) {
	req, err := BindingRequest(change, 0)
	if err != nil {
		return nil, err
	}
	t := Test{Name: name, To: to.String(), Local: localString(c), Change: changeName(change)}
	r, err := c.Do(ctx, to, req)
	if r != nil {
		t.RTT, t.Requests = r.RTT, r.Requests
		if r.From != nil {
			t.From = r.From.String()
		}
	}
	if err == nil {
		t.Answered = true
		if r.Mapped == nil {
			err = fmt.Errorf("%w: %s answered without XOR-MAPPED-ADDRESS", ErrBadResponse, to)
		} else {
			t.Mapped = r.Mapped.String()
		}
	}
	var na *NoAnswerError
	if errors.As(err, &na) {
		t.Requests = na.Requests
	}
	if err != nil {
		t.Error = err.Error()
	}
	p.mu.Lock()
	p.res.Tests = append(p.res.Tests, t)
	p.mu.Unlock()
	return r, err
}

func localString(c *Client) string {
	if a := c.LocalAddr(); a != nil {
		return a.String()
	}
	return ""
}

func changeName(change byte) string {
	switch change {
	case ChangeIP | ChangePort:
		return "ip+port"
	case ChangePort:
		return "port"
	case ChangeIP:
		return "ip"
	}
	return ""
}

func (p *prober) run(ctx context.Context) error {
	server, err := p.resolve(p.cfg.Server)
	if err != nil {
		return err
	}
	p.server = server
	if host, _, _ := net.SplitHostPort(p.cfg.Local); !sameFamily(net.ParseIP(host), server.IP) {
		return configErr("local", p.cfg.Local, "the server %s is %s: use a local address of that family, e.g. %s", server, familyName(server.IP), map[bool]string{true: "0.0.0.0:0", false: "[::]:0"}[server.IP.To4() != nil])
	}
	c, err := p.open("")
	if err != nil {
		return err
	}
	defer c.Close()
	p.res.Local = localString(c)

	// Mapping test I.
	r1, err := p.binding(ctx, c, "mapping I", server, 0)
	if err != nil {
		return err
	}
	x1 := r1.Mapped
	p.res.Public = x1.String()
	p.res.NAT = !p.isLocal(x1, c.LocalAddr())
	p.res.PortPreserved = x1.Port == c.LocalAddr().Port
	other := p.checkOther(r1)
	reach := p.reachOther(other, r1)

	switch {
	case !p.res.NAT:
		p.res.Mapping = MappingNoNAT
	case reach != nil:
		p.mappingRFC5780(ctx, c, x1, reach)
	case other != nil:
		p.note("mapping not determined: OTHER-ADDRESS %s is %s, the server was reached over %s, and its answer shows no NAT64 prefix to reach it through (RESPONSE-ORIGIN embedded in the server's address, RFC 6052)", other, familyName(other.IP), familyName(p.server.IP))
	case p.cfg.AltServer != "":
		p.mappingTwoServers(ctx, c, x1)
	default:
		p.note("mapping not determined: %s gave no OTHER-ADDRESS and no --alt-server was given", p.cfg.Server)
	}

	if other != nil {
		if err := p.filtering(ctx); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
	} else {
		p.note("filtering not determined: %s does not support RFC 5780 (no OTHER-ADDRESS in its Binding response), so it cannot answer from another address", p.cfg.Server)
	}

	if reach != nil && p.res.Mapping == MappingEIM {
		p.clash(ctx, reach)
	}

	if p.cfg.Hairpin {
		p.hairpin(ctx, c, x1)
	}
	return ctx.Err()
}

// checkOther validates OTHER-ADDRESS: it must differ from the server's
// address in both IP and port (RFC 5780 §4.1).
func (p *prober) checkOther(r *Response) *net.UDPAddr {
	o := r.Other
	if o == nil {
		return nil
	}
	if o.IP.Equal(p.server.IP) || o.Port == p.server.Port {
		p.note("%s gave OTHER-ADDRESS %s, which does not differ from %s in both IP and port; treating the server as not RFC 5780 capable", p.cfg.Server, o, p.server)
		return nil
	}
	p.res.OtherAddress = o.String()
	p.res.RFC5780 = true
	return o
}

// reachOther is OTHER-ADDRESS in the family of the server's address: as
// it is, or, when an IPv6 server's answer shows a NAT64 prefix (nat64.go),
// synthesized in it; nil when the host cannot reach it.
func (p *prober) reachOther(other *net.UDPAddr, r *Response) *net.UDPAddr {
	if other == nil || (other.IP.To4() == nil) == (p.server.IP.To4() == nil) {
		return other
	}
	if r.Origin == nil {
		return nil
	}
	server, _ := netip.AddrFromSlice(p.server.IP)
	origin, _ := netip.AddrFromSlice(r.Origin.IP)
	prefix, ok := nat64Prefix(server, origin.Unmap())
	if !ok {
		return nil
	}
	p.nat64 = prefix
	p.res.NAT64Prefix = prefix.String()
	reach := p.inServerFamily(other)
	p.note("through NAT64: %s embeds the server's RESPONSE-ORIGIN %s under %s, so OTHER-ADDRESS %s is reached as %s", p.server.IP, r.Origin.IP, prefix, other, reach)
	return reach
}

// isLocal tells whether a mapped address is the socket's own address: on a
// specific local IP, that IP and port; on 0.0.0.0, any interface address
// with the socket's port.
func (p *prober) isLocal(mapped, local *net.UDPAddr) bool {
	if local == nil || mapped.Port != local.Port {
		return false
	}
	if !local.IP.IsUnspecified() {
		return mapped.IP.Equal(local.IP)
	}
	ifaces, err := p.cfg.Net.Interfaces()
	if err != nil {
		return false
	}
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			var ip net.IP
			switch v := a.(type) {
			case *net.IPNet:
				ip = v.IP
			case *net.IPAddr:
				ip = v.IP
			}
			if ip != nil && ip.Equal(mapped.IP) {
				return true
			}
		}
	}
	return false
}

func (p *prober) mappingRFC5780(ctx context.Context, c *Client, x1, other *net.UDPAddr) {
	// Test II: alternate IP, primary port.
	r2, err := p.binding(ctx, c, "mapping II", &net.UDPAddr{IP: other.IP, Port: p.server.Port}, 0)
	if err != nil {
		p.note("mapping not determined: the alternate address %s did not answer: %v", &net.UDPAddr{IP: other.IP, Port: p.server.Port}, err)
		return
	}
	if sameAddr(r2.Mapped, x1) {
		p.res.Mapping = MappingEIM
		return
	}
	// Test III: alternate IP and port.
	r3, err := p.binding(ctx, c, "mapping III", other, 0)
	if err != nil {
		p.note("mapping not determined: the alternate address %s did not answer: %v", other, err)
		return
	}
	if sameAddr(r3.Mapped, r2.Mapped) {
		p.res.Mapping = MappingADM
	} else {
		p.res.Mapping = MappingAPDM
	}
}

func (p *prober) mappingTwoServers(ctx context.Context, c *Client, x1 *net.UDPAddr) {
	alt, err := p.resolve(p.cfg.AltServer)
	if err != nil {
		p.note("mapping not determined: %v", err)
		return
	}
	if alt.IP.Equal(p.server.IP) {
		p.note("mapping not determined: --alt-server %s has the same IP as --server; it must be an independent server", p.cfg.AltServer)
		return
	}
	r, err := p.binding(ctx, c, "mapping (alt server)", alt, 0)
	if err != nil {
		p.note("mapping not determined: --alt-server %s did not answer: %v", p.cfg.AltServer, err)
		return
	}
	if sameAddr(r.Mapped, x1) {
		p.res.Mapping = MappingEIM
		p.note("mapping compared across two independent servers (%s, %s): both saw %s", p.cfg.Server, p.cfg.AltServer, x1)
	} else {
		p.res.Mapping = MappingDependent
		p.note("mapping compared across two independent servers: %s saw %s, %s saw %s; without OTHER-ADDRESS ADM and APDM cannot be told apart", p.cfg.Server, x1, p.cfg.AltServer, r.Mapped)
	}
}

func (p *prober) filtering(ctx context.Context) error {
	c, err := p.open("0")
	if err != nil {
		p.note("filtering not determined: %v", err)
		return err
	}
	defer c.Close()
	if _, err := p.binding(ctx, c, "filtering I", p.server, 0); err != nil {
		p.note("filtering not determined: the fresh socket got no answer from %s: %v", p.server, err)
		return err
	}
	r2, err := p.binding(ctx, c, "filtering II", p.server, ChangeIP|ChangePort)
	switch {
	case err == nil:
		if !p.changedFrom(r2, true, true) {
			return nil
		}
		p.res.Filtering = FilteringEIF
		return nil
	case errors.Is(err, ErrErrorResponse):
		p.note("filtering not determined: %s refused CHANGE-REQUEST: %v", p.server, err)
		return nil
	case !errors.Is(err, ErrNoAnswer):
		p.note("filtering not determined: %v", err)
		return err
	}
	r3, err := p.binding(ctx, c, "filtering III", p.server, ChangePort)
	switch {
	case err == nil:
		if !p.changedFrom(r3, false, true) {
			return nil
		}
		p.res.Filtering = FilteringADF
	case errors.Is(err, ErrNoAnswer):
		p.res.Filtering = FilteringAPDF
	default:
		p.note("filtering not determined: %v", err)
		return err
	}
	return nil
}

// changedFrom checks that a CHANGE-REQUEST answer really came from the
// changed address; a server that ignores CHANGE-REQUEST would otherwise
// make every NAT look endpoint-independent.
func (p *prober) changedFrom(r *Response, ip, port bool) bool {
	src := r.From
	if r.Origin != nil && !r.Origin.IP.IsUnspecified() {
		src = p.inServerFamily(r.Origin)
	}
	if src == nil {
		return true
	}
	okIP := src.IP.Equal(p.server.IP) != ip
	okPort := (src.Port == p.server.Port) != port
	if okIP && okPort {
		return true
	}
	p.note("filtering not determined: %s answered a CHANGE-REQUEST from %s, not from the changed address; the server ignores CHANGE-REQUEST", p.server, src)
	return false
}

func sameAddr(a, b *net.UDPAddr) bool {
	return a != nil && b != nil && a.IP.Equal(b.IP) && a.Port == b.Port
}

// hairpin sends a Binding request from a fresh socket to the public address
// of the mapping socket and watches whether the mapping socket receives it
// (RFC 5780 §4.5).
func (p *prober) hairpin(ctx context.Context, mapped *Client, x1 *net.UDPAddr) {
	h := &Hairpin{}
	p.res.Hairpin = h
	c, err := p.open("0")
	if err != nil {
		h.Note = err.Error()
		return
	}
	defer c.Close()
	req, err := BindingRequest(0, 0)
	if err != nil {
		h.Note = err.Error()
		return
	}
	seen, stop := mapped.Watch(req.TransactionID)
	defer stop()
	to := p.inServerFamily(x1)
	t := Test{Name: "hairpin", To: to.String(), Local: localString(c)}
	r, err := c.DoElsewhere(ctx, to, req, seen)
	var na *NoAnswerError
	switch {
	case err == nil:
		t.Requests = r.Requests
		// The request itself reached the mapping socket (or was answered).
		h.Supported = true
		t.Answered = true
	case errors.As(err, &na):
		t.Requests = na.Requests
		h.Note = fmt.Sprintf("a packet sent to the public address %s from behind the NAT did not come back within %s", x1, na.Waited.Round(time.Millisecond))
	default:
		t.Error = err.Error()
		h.Note = err.Error()
	}
	if !p.res.NAT && h.Supported {
		h.Note = "no NAT: the public address is local, so packets reach it directly"
	}
	p.mu.Lock()
	p.res.Tests = append(p.res.Tests, t)
	p.mu.Unlock()
}

// LifetimeSchedule returns the probe times used for a bound max: eight
// points from max/60 to max.
func LifetimeSchedule(maxLife time.Duration) []time.Duration {
	fr := []float64{1.0 / 60, 1.0 / 30, 1.0 / 12, 1.0 / 6, 1.0 / 4, 1.0 / 2, 3.0 / 4, 1}
	out := make([]time.Duration, 0, len(fr))
	for _, f := range fr {
		d := time.Duration(float64(maxLife) * f).Round(time.Millisecond)
		if len(out) == 0 || d > out[len(out)-1] {
			out = append(out, d)
		}
	}
	return out
}

// lifetime runs binding-lifetime discovery (RFC 5780 §4.6) with one socket
// per probe time, all in parallel, so it ends after LifetimeMax: socket X
// creates a mapping; after T, a fresh socket Y asks the server to answer to
// X's public port (RESPONSE-PORT). If X receives it, the mapping outlived
// T.
func (p *prober) lifetime(ctx context.Context) {
	l := &Lifetime{}
	p.res.Lifetime = l
	sched := LifetimeSchedule(p.cfg.LifetimeMax)
	probes := make([]LifetimeProbe, len(sched))
	var wg sync.WaitGroup
	var unsupported error
	var umu sync.Mutex
	start := time.Now()
	for i, after := range sched {
		wg.Add(1)
		go func() {
			defer wg.Done()
			probes[i] = LifetimeProbe{After: after}
			alive, err := p.lifetimeProbe(ctx, start, after)
			probes[i].Alive = alive
			if err != nil {
				probes[i].Error = err.Error()
				if errors.Is(err, ErrErrorResponse) {
					umu.Lock()
					unsupported = err
					umu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if unsupported != nil {
		l.Note = fmt.Sprintf("the server does not support RESPONSE-PORT: %v", unsupported)
		return
	}
	l.Probes = probes
	// The lifetime lies between the longest wait the mapping survived and
	// the shortest wait it did not. Probes that failed for another reason
	// (e.g. interrupted) say nothing.
	for _, pr := range probes {
		if pr.Error != "" {
			continue
		}
		if pr.Alive && pr.After > l.Alive {
			l.Alive = pr.After
		}
		if !pr.Alive && (l.Expired == 0 || pr.After < l.Expired) {
			l.Expired = pr.After
		}
	}
	if l.Expired != 0 && l.Alive > l.Expired {
		l.Note = fmt.Sprintf("inconsistent probes (alive after %s, gone after %s): the NAT may refresh mappings on inbound traffic or the path loses packets", l.Alive, l.Expired)
	}
}

func (p *prober) lifetimeProbe(ctx context.Context, start time.Time, after time.Duration) (bool, error) {
	x, err := p.open("0")
	if err != nil {
		return false, err
	}
	defer x.Close()
	req, err := BindingRequest(0, 0)
	if err != nil {
		return false, err
	}
	r, err := x.Do(ctx, p.server, req)
	if err != nil {
		return false, err
	}
	if r.Mapped == nil {
		return false, ErrBadResponse
	}
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-time.After(time.Until(start.Add(after))):
	}
	y, err := p.open("0")
	if err != nil {
		return false, err
	}
	defer y.Close()
	probe, err := BindingRequest(0, r.Mapped.Port)
	if err != nil {
		return false, err
	}
	seen, stop := x.Watch(probe.TransactionID)
	defer stop()
	_, err = y.DoElsewhere(ctx, p.server, probe, seen)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNoAnswer):
		return false, nil
	}
	return false, err
}

// sameFamily reports whether a local IP can reach the server: same family,
// or a wildcard, which open turns into the server's family.
func sameFamily(local, server net.IP) bool {
	return local == nil || local.IsUnspecified() || (local.To4() == nil) == (server.To4() == nil)
}

func familyName(ip net.IP) string {
	if ip.To4() != nil {
		return "IPv4"
	}
	return "IPv6"
}
