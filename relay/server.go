package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/stdnet"
	"github.com/pion/turn/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natkit/natkit/internal/pionlog"
	"github.com/natkit/natkit/internal/sidehttp"
	"github.com/natkit/natkit/probe/iceconfig"
)

// Server is a running relay. Its methods are safe for concurrent use.
type Server struct {
	cfg  Config
	log  *slog.Logger
	turn *turn.Server
	auth *authenticator
	ctr  *counters
	reg  *prometheus.Registry
	fast *fastPath
	self *selfAddrs
	// nonces binds every NONCE to the client's 5-tuple (see nonceBook).
	nonces *nonceBook
	// fam hands REQUESTED-ADDRESS-FAMILY to the generator (family.go).
	fam familyGate
	// tcp serves RFC 6062 TCP allocations (tcpalloc.go).
	tcp *tcpRelay
	// dualV6 maps a dual allocation's advertised IPv4 relayed address to
	// its IPv6 one, from the generator to the answer and the
	// allocation's record (dual.go).
	dualMu sync.Mutex
	dualV6 map[string]net.Addr
	// loops serve non-blocking UDP sockets on the real network (Linux, IPv4);
	// nil elsewhere.
	loops *loops

	addrs    []Listener
	pprof    *sidehttp.Server // nil unless Config.PprofAddr
	metrics  *sidehttp.Server // nil unless Config.MetricsAddr
	nat      *natSockets
	extra    []*udpConn // the RFC 5780 sockets pion does not serve
	closers  []func() error
	wg       sync.WaitGroup
	draining atomic.Bool
	closed   atomic.Bool

	usersMu    sync.Mutex
	userCount  map[string]int
	lifetimeMu sync.Mutex
	lifetimes  map[string]time.Duration // five-tuple key → granted lifetime, for the log
}

// New starts a relay. It returns once every socket is listening.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Net == nil {
		n, err := stdnet.NewNet()
		if err != nil {
			return nil, fmt.Errorf("relay: real network: %w", err)
		}
		cfg.Net = n
	}
	if _, ok := cfg.Net.(*stdnet.Net); !ok {
		cfg.SocketsPerListener = 1
	}
	lf := pionlog.NewFactory(cfg.Logger)
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		ctr:       newCounters(),
		fast:      newFastPath(),
		self:      newSelfAddrs(),
		reg:       prometheus.NewRegistry(),
		userCount: map[string]int{},
		lifetimes: map[string]time.Duration{},
	}
	nb, err := newNonceBook(cfg.NonceLifetime)
	if err != nil {
		return nil, err
	}
	s.nonces = nb
	s.tcp = newTCPRelay(s)
	s.closers = append(s.closers, s.tcp.close)
	if _, ok := cfg.Net.(*stdnet.Net); ok {
		ls, err := newLoops(s)
		if err != nil {
			return nil, fmt.Errorf("relay: event loops: %w", err)
		}
		s.loops = ls
	}
	s.auth = newAuthenticator(cfg.Realm, cfg.Users, cfg.Secrets, cfg.MaxRESTTTL, lf.NewLogger("turn-auth"))

	bindAddr := cfg.RelayIP.String()
	if cfg.RelayIP.To4() == nil {
		bindAddr = "[" + bindAddr + "]" // pion joins host and port with %s:%d
	}
	gen := &relayGen{s: s, inner: &turn.RelayAddressGeneratorPortRange{
		RelayAddress: cfg.PublicIP,
		Address:      bindAddr,
		MinPort:      cfg.PortMin,
		MaxPort:      cfg.PortMax,
		Net:          cfg.Net,
	}}
	permit := func(_ net.Addr, peer net.IP) bool {
		ok, _ := s.cfg.PeerPolicy.Check(peer)
		return ok
	}

	sc := turn.ServerConfig{
		LoggerFactory: lf,
		Realm:         cfg.Realm,
		AuthHandler: func(username, realm string, _ net.Addr) ([]byte, bool) {
			return s.auth.pionHandler(username, realm, nil)
		},
		QuotaHandler: s.quota,
		EventHandler: turn.EventHandler{
			OnAllocationCreated: s.onAllocationCreated,
			OnAllocationDeleted: s.onAllocationDeleted,
			OnPermissionCreated: func(net.Addr, net.Addr, string, string, string, net.Addr, net.IP) {
				s.ctr.permissions.Add(1)
			},
			OnChannelCreated: func(src, dst net.Addr, _, _, _ string, relayAddr, peer net.Addr, ch uint16) {
				s.ctr.channels.Add(1)
				s.fast.channelCreated(src, dst, relayAddr, peer, ch)
			},
			OnChannelDeleted: func(src, dst net.Addr, _, _, _ string, relayAddr, peer net.Addr, ch uint16) {
				s.fast.channelDeleted(src, dst, relayAddr, peer, ch)
			},
		},
		InboundMTU: inboundMTU,
	}
	firstUDP := true
	for _, l := range cfg.Listen {
		switch l.Network {
		case NetworkUDP:
			conns, err := s.listenUDP(l, firstUDP && cfg.AltIP != nil)
			if err != nil {
				s.closeAll()
				return nil, err
			}
			for _, c := range conns {
				sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{
					PacketConn: c, RelayAddressGenerator: gen, PermissionHandler: permit,
				})
			}
			firstUDP = false
		case NetworkTCP, NetworkTLS:
			ln, err := s.listenTCP(l)
			if err != nil {
				s.closeAll()
				return nil, err
			}
			sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{
				Listener: ln, RelayAddressGenerator: gen, PermissionHandler: permit,
			})
		case NetworkDTLS:
			ln, err := s.listenDTLS(l)
			if err != nil {
				s.closeAll()
				return nil, err
			}
			sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{
				Listener: ln, RelayAddressGenerator: gen, PermissionHandler: permit,
			})
		}
	}
	for _, pc := range sc.PacketConnConfigs {
		s.self.addListener(pc.PacketConn.LocalAddr(), cfg.RelayIP, cfg.PublicIP)
	}
	for _, lc := range sc.ListenerConfigs {
		s.self.addListener(lc.Listener.Addr(), cfg.RelayIP, cfg.PublicIP)
	}
	for _, c := range s.extra {
		s.self.addListener(c.LocalAddr(), cfg.RelayIP, cfg.PublicIP)
	}
	ts, err := turn.NewServer(sc)
	if err != nil {
		s.closeAll()
		return nil, fmt.Errorf("relay: start turn server: %w", err)
	}
	s.turn = ts
	for _, c := range s.extra {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); c.serveSTUN() }()
	}
	if err := s.reg.Register(collector{s.ctr}); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("relay: register metrics: %w", err)
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(collector{s.ctr}); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("relay: register metrics: %w", err)
		}
	}
	if err := s.startPprof(); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.startMetrics(); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.log.Info("relay: listening", "addrs", fmt.Sprint(s.addrs), "realm", cfg.Realm,
		"users", len(cfg.Users), "secrets", len(cfg.Secrets), "rfc5780", s.nat != nil)
	return s, nil
}

// listenUDP opens the sockets of one UDP listener; with rfc5780 it also
// opens the three extra sockets (retrying when port 0 picked a port whose
// neighbours are taken).
func (s *Server) listenUDP(l Listener, rfc5780 bool) ([]*udpConn, error) {
	host, portStr, _ := net.SplitHostPort(l.Addr)
	port, _ := strconv.Atoi(portStr)
	attempts := 1
	if rfc5780 && port == 0 {
		attempts = 20
	}
	var lastErr error
	for range attempts {
		pcs, err := s.openUDP(host, port)
		if err != nil {
			return nil, &ListenError{Network: l.Network, Addr: l.Addr, Err: err}
		}
		if !rfc5780 {
			return s.wrapUDP(l, pcs, -1), nil
		}
		p := pcs[0].LocalAddr().(*net.UDPAddr).Port
		altPort := s.cfg.AltPort
		if altPort == 0 {
			altPort = p + 1
		}
		var extra []net.PacketConn
		for _, hp := range []struct {
			ip   string
			port int
		}{{host, altPort}, {s.cfg.AltIP.String(), p}, {s.cfg.AltIP.String(), altPort}} {
			pc, err := s.cfg.Net.ListenPacket("udp4", net.JoinHostPort(hp.ip, strconv.Itoa(hp.port)))
			if err != nil {
				lastErr = err
				break
			}
			extra = append(extra, pc)
		}
		if len(extra) < 3 {
			for _, pc := range append(pcs, extra...) {
				pc.Close()
			}
			continue
		}
		conns := s.wrapUDP(l, pcs, 0)
		s.nat = &natSockets{pcs[0], extra[0], extra[1], extra[2]}
		for i, pc := range extra {
			c := newUDPConn(s, pc, i+1, false)
			s.extra = append(s.extra, c)
			s.closers = append(s.closers, pc.Close)
		}
		return conns, nil
	}
	return nil, &ListenError{Network: l.Network, Addr: l.Addr, Err: fmt.Errorf("rfc 5780 sockets on %s and %s: %w", host, s.cfg.AltIP, lastErr)}
}

func (s *Server) wrapUDP(l Listener, pcs []net.PacketConn, natIdx int) []*udpConn {
	conns := make([]*udpConn, len(pcs))
	for i, pc := range pcs {
		setBuffers(pc, s.cfg.SocketBuffer)
		if i == 0 {
			s.fast.addListener(pc)
		}
		conns[i] = newUDPConn(s, pc, natIdx, true)
		s.closers = append(s.closers, pc.Close)
	}
	s.addrs = append(s.addrs, Listener{Network: l.Network, Addr: pcs[0].LocalAddr().String()})
	return conns
}

// openUDP opens SocketsPerListener sockets on one address (SO_REUSEPORT
// when more than one).
func (s *Server) openUDP(host string, port int) ([]net.PacketConn, error) {
	if s.loops.usable(net.ParseIP(host)) {
		return s.loops.listenUDP(host, port, s.cfg.SocketsPerListener)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if s.cfg.SocketsPerListener == 1 {
		pc, err := s.cfg.Net.ListenPacket("udp", addr)
		if err != nil {
			return nil, err
		}
		return []net.PacketConn{pc}, nil
	}
	var pcs []net.PacketConn
	for i := range s.cfg.SocketsPerListener {
		pc, err := listenReusePort(addr)
		if err != nil {
			for _, p := range pcs {
				p.Close()
			}
			return nil, err
		}
		pcs = append(pcs, pc)
		if i == 0 {
			addr = pc.LocalAddr().String()
		}
	}
	return pcs, nil
}

func (s *Server) listenTCP(l Listener) (net.Listener, error) {
	ta, err := net.ResolveTCPAddr("tcp", l.Addr)
	if err != nil {
		return nil, &ListenError{Network: l.Network, Addr: l.Addr, Err: err}
	}
	raw, err := s.cfg.Net.ListenTCP("tcp", ta)
	if err != nil {
		if errors.Is(err, transport.ErrNotSupported) {
			err = fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		return nil, &ListenError{Network: l.Network, Addr: l.Addr, Err: err}
	}
	var inner net.Listener = raw
	if l.Network == NetworkTLS {
		inner = tlsListener(raw, s.cfg.TLSConfig)
	}
	ln := newTCPListener(inner, s, l.Network)
	s.closers = append(s.closers, ln.Close)
	s.addrs = append(s.addrs, Listener{Network: l.Network, Addr: raw.Addr().String()})
	return ln, nil
}

func (s *Server) closeAll() {
	for _, c := range s.closers {
		_ = c()
	}
	s.loops.close()
}

func (s *Server) quota(username, _ string, src net.Addr) bool {
	if s.cfg.UserQuota <= 0 {
		return true
	}
	key := quotaKey(username)
	s.usersMu.Lock()
	n := s.userCount[key]
	s.usersMu.Unlock()
	if n >= s.cfg.UserQuota {
		s.ctr.allocations.inc(OutcomeQuota)
		s.log.Info("relay: allocation refused", "reason", "user quota", "user", username,
			"client", src.String(), "quota", s.cfg.UserQuota)
		return false
	}
	return true
}

func transportOf(a net.Addr) string {
	if _, ok := a.(*net.TCPAddr); ok {
		return NetworkTCP
	}
	return NetworkUDP
}

func (s *Server) onAllocationCreated(src, dst net.Addr, _, username, _ string, relayAddr net.Addr, _ int) {
	s.ctr.allocations.inc(OutcomeCreated)
	s.usersMu.Lock()
	s.userCount[quotaKey(username)]++
	s.usersMu.Unlock()
	lifetime := defaultLifetime
	key := fiveTupleKey(src, dst)
	s.lifetimeMu.Lock()
	if v, ok := s.lifetimes[key]; ok {
		lifetime = v
		delete(s.lifetimes, key)
	}
	s.lifetimeMu.Unlock()
	s.self.allocated(key, relayAddr, s.cfg.RelayIP)
	if second := s.dualSecond(relayAddr); second != nil {
		s.self.allocatedToo(key, second)
	}
	s.log.Debug("relay: allocation created", "user", username, "client", src.String(), "server", dst.String(),
		"transport", transportOf(src), "relay", relayAddr.String(), "lifetime", lifetime)
}

// maxNotedLifetimes bounds the lifetimes noted for Allocate requests that
// never became allocations (refused by quota, retransmitted, …).
const maxNotedLifetimes = 10000

func (s *Server) noteLifetime(key string, d time.Duration) {
	s.lifetimeMu.Lock()
	defer s.lifetimeMu.Unlock()
	if len(s.lifetimes) >= maxNotedLifetimes {
		clear(s.lifetimes)
	}
	s.lifetimes[key] = d
}

func (s *Server) onAllocationDeleted(src, dst net.Addr, _, username, _ string) {
	if first, ok := s.self.advertised(fiveTupleKey(src, dst)); ok {
		s.forgetDual(first)
	}
	s.self.deleted(fiveTupleKey(src, dst))
	key := quotaKey(username)
	s.usersMu.Lock()
	if s.userCount[key] <= 1 {
		delete(s.userCount, key)
	} else {
		s.userCount[key]--
	}
	s.usersMu.Unlock()
	s.log.Debug("relay: allocation deleted", "user", username, "client", src.String(), "server", dst.String(),
		"transport", transportOf(src))
}

// Addrs returns the listening addresses with their real ports, in Listen
// order.
func (s *Server) Addrs() []Listener { return append([]Listener(nil), s.addrs...) }

// OtherAddress returns the RFC 5780 alternate address (alt IP, alt port),
// or "" without AltIP.
func (s *Server) OtherAddress() string {
	if s.nat == nil {
		return ""
	}
	return s.nat[3].LocalAddr().String()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats { return s.ctr.stats() }

// Gatherer serves the relay's Prometheus metrics (for promhttp).
func (s *Server) Gatherer() prometheus.Gatherer { return s.reg }

// AllocationCount returns the number of live allocations.
func (s *Server) AllocationCount() int { return int(s.ctr.active.Load()) }

// Drain refuses new allocations (508) and waits until the existing ones
// end or ctx is done. Binding and existing allocations keep working.
func (s *Server) Drain(ctx context.Context) error {
	s.draining.Store(true)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for s.AllocationCount() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("relay drain with %d allocations left: %w", s.AllocationCount(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Close stops the relay: it closes every socket and connection and ends
// every allocation.
func (s *Server) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	var err error
	if s.pprof != nil {
		_ = s.pprof.Close()
	}
	if s.metrics != nil {
		_ = s.metrics.Close()
	}
	if s.turn != nil {
		err = s.turn.Close()
	}
	s.closeAll()
	s.wg.Wait()
	if s.cfg.Registerer != nil {
		s.cfg.Registerer.Unregister(collector{s.ctr})
	}
	// pion ends allocations from its read loops after the sockets close;
	// wait for that so callers (and leak checks) see a quiet relay.
	deadline := time.Now().Add(2 * time.Second)
	for s.turn != nil && s.turn.AllocationCount() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("relay close: %w", err)
	}
	return nil
}

// ICEServers returns ready-to-use ICE servers for this relay: a stun: URL
// per UDP listener and turn:/turns: URLs for every listener, with TURN REST
// credentials for user valid for ttl minted from the first secret, or else
// the alphabetically first static user. They are the servers natkit's
// probes take (gather.Config.Servers); their JSON is an RTCConfiguration's
// iceServers.
func (s *Server) ICEServers(user string, ttl time.Duration) (iceconfig.Servers, error) {
	var username, password string
	switch {
	case len(s.cfg.Secrets) > 0:
		var err error
		username, password, err = turn.GenerateLongTermTURNRESTCredentials(s.cfg.Secrets[0], user, ttl)
		if err != nil {
			return nil, fmt.Errorf("relay: mint rest credentials: %w", err)
		}
	case len(s.cfg.Users) > 0:
		names := make([]string, 0, len(s.cfg.Users))
		for n := range s.cfg.Users {
			names = append(names, n)
		}
		sort.Strings(names)
		username, password = names[0], s.cfg.Users[names[0]]
	default:
		return nil, ErrNoCredentials
	}
	expires, _ := iceconfig.RESTExpiry(username)
	var stunServers, turnServers iceconfig.Servers
	for _, a := range s.addrs {
		_, portText, _ := net.SplitHostPort(a.Addr)
		port, _ := strconv.Atoi(portText)
		host := s.advertisedHost(a)
		turnServer := iceconfig.Server{Scheme: iceconfig.SchemeTURN, Host: host, Port: port, Transport: iceconfig.TransportUDP, ExplicitTransport: true,
			Username: username, Credential: password, Source: "natkit relay", Expires: expires}
		switch a.Network {
		case NetworkUDP:
			stunServers = append(stunServers, iceconfig.Server{Scheme: iceconfig.SchemeSTUN, Host: host, Port: port, Transport: iceconfig.TransportUDP, Source: "natkit relay"})
		case NetworkTCP:
			turnServer.Transport = iceconfig.TransportTCP
		case NetworkTLS:
			turnServer.Scheme, turnServer.Transport = iceconfig.SchemeTURNS, iceconfig.TransportTCP
		case NetworkDTLS:
			turnServer.Scheme = iceconfig.SchemeTURNS
		}
		turnServers = append(turnServers, turnServer)
	}
	return append(stunServers, turnServers...), nil
}

// advertisedHost is the host clients should dial for a listener: PublicIP
// when the listener is on the relay IP or unspecified.
func (s *Server) advertisedHost(a Listener) string {
	host, _, _ := net.SplitHostPort(a.Addr)
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() || (ip.Equal(s.cfg.RelayIP) && !s.cfg.PublicIP.Equal(s.cfg.RelayIP)) {
		return s.cfg.PublicIP.String()
	}
	return host
}

// setBuffers sizes a UDP socket's kernel buffers, so that bursts wait in
// the kernel instead of being dropped while the reader is busy. Networks
// that have no such buffers (vnet) are left alone.
func setBuffers(pc net.PacketConn, size int) {
	type buffered interface {
		SetReadBuffer(int) error
		SetWriteBuffer(int) error
	}
	if b, ok := pc.(buffered); ok && size > 0 {
		_ = b.SetReadBuffer(size)
		_ = b.SetWriteBuffer(size)
	}
}
