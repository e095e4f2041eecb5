package vnet

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/transport/v3"
	pvnet "github.com/pion/transport/v3/vnet"

	"github.com/natkit/natkit/internal/pionlog"
	"github.com/natkit/natkit/relay"
)

// Fixed addresses of every topology.
const (
	WANCIDR   = "203.0.113.0/24"
	RelayIP   = "203.0.113.1"
	RelayAlt  = "203.0.113.2"
	RelayPort = 3478
)

// defaultMappingLifetime is pion's NAT mapping lifetime when none is set.
const defaultMappingLifetime = 30 * time.Second

// Side names.
const (
	SideA = "a"
	SideB = "b"
)

var sideAddrs = map[string]struct{ public, lanCIDR, host string }{
	SideA: {"203.0.113.10", "10.1.0.0/24", "10.1.0.2"},
	SideB: {"203.0.113.20", "10.2.0.0/24", "10.2.0.2"},
}

// Spec describes a topology. The zero value is two open sides and a relay
// with the default user.
type Spec struct {
	// A and B are the two sides. Default: open (no NAT).
	A, B Side
	// Realm is the TURN realm. Default "natkit".
	Realm string
	// Users maps TURN usernames to passwords. Default {"natkit": "natkit"}.
	Users map[string]string
	// Seed seeds the loss and jitter generators, so that a run is
	// repeatable. Default 1.
	Seed int64
	// Logger receives pion's logs (routers, NATs, the relay's TURN server)
	// and the relay's own. Default: discard.
	Logger *slog.Logger
}

// Side is one side's NAT and link.
type Side struct {
	// Preset is a NAT preset name (see Presets). Default "open" unless
	// Mapping and Filtering are set.
	Preset string
	// Mapping and Filtering give a custom NAT ("EIM|ADM|APDM",
	// "EIF|ADF|APDF") instead of a preset. Default: unset.
	Mapping, Filtering string
	// MappingLifetime is how long an idle NAT mapping lives. Default 30s
	// (pion's default).
	MappingLifetime time.Duration
	// Latency is added to every packet arriving at the side's host.
	// Default 0.
	Latency time.Duration
	// Jitter adds a seeded uniform 0..Jitter to Latency, re-drawn every
	// 10 ms. Default 0.
	Jitter time.Duration
	// LossPercent drops that share of packets crossing the access link in
	// either direction, 0–100. Default 0.
	LossPercent float64
	// BandwidthBPS limits the downlink in bits per second; 0 is unlimited.
	// Default 0.
	BandwidthBPS int
}

func (s Side) validate(name string) error {
	field := func(f string) string { return "side " + name + " " + f }
	if s.Mapping != "" || s.Filtering != "" {
		if s.Preset != "" {
			return specErrorf(field("preset"), "set either a preset or mapping/filtering, not both")
		}
		if _, err := natType(s.Mapping, s.Filtering, 0); err != nil {
			var se *ConfigError
			if errors.As(err, &se) {
				return &ConfigError{Component: se.Component, Field: field(se.Field), Err: se.Err, Kind: se.Kind}
			}
			return err
		}
	} else if s.Preset != "" {
		if _, err := LookupPreset(s.Preset); err != nil {
			return &ConfigError{Component: "vnet", Field: field("preset"), Err: err, Kind: ErrConfig}
		}
	}
	switch {
	case s.MappingLifetime < 0:
		return specErrorf(field("mapping lifetime"), "must not be negative")
	case s.Latency < 0 || s.Jitter < 0:
		return specErrorf(field("latency/jitter"), "must not be negative")
	case s.LossPercent < 0 || s.LossPercent > 100:
		return specErrorf(field("loss"), "%g%%: want 0 to 100", s.LossPercent)
	case s.BandwidthBPS < 0:
		return specErrorf(field("bandwidth"), "must not be negative")
	}
	if s.Preset != "" && s.Preset == "open" && s.MappingLifetime > 0 {
		return specErrorf(field("mapping lifetime"), "an open side has no NAT mapping")
	}
	return nil
}

func (s Spec) validate() error {
	if err := s.A.validate(SideA); err != nil {
		return err
	}
	return s.B.validate(SideB)
}

func (s Spec) withDefaults() Spec {
	c := s
	if c.Realm == "" {
		c.Realm = "natkit"
	}
	if c.Users == nil {
		c.Users = map[string]string{"natkit": "natkit"}
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	for _, sd := range []*Side{&c.A, &c.B} {
		if sd.Preset == "" && sd.Mapping == "" {
			sd.Preset = "open"
		}
	}
	return c
}

// AuthFailure is one TURN request whose credentials the relay refused
// with 401 Unauthorized: an unknown user, a wrong password, expired REST
// credentials.
type AuthFailure struct {
	At       time.Time `json:"at"`
	Side     string    `json:"side,omitempty"` // "a", "b" or "" when the source is unknown
	Username string    `json:"username"`
	Source   string    `json:"source"`
	// Reason is the relay's: unknown_user, wrong_password, expired, ...
	Reason string `json:"reason"`
}

// Drops counts packets the topology dropped on purpose.
type Drops struct {
	Loss, Firewall, Cut int
	// Silence counts the host's packets dropped at its NAT by Silence or
	// Rebind.
	Silence int
}

// Topology is a running virtual network. Close it when done.
type Topology struct {
	spec  Spec
	pion  *pionlog.Factory
	wan   *pvnet.Router
	relay *relay.Server
	sides map[string]*side

	mu           sync.Mutex
	cut          bool
	authFailures []AuthFailure
	closed       bool
	stop         chan struct{}
	wg           sync.WaitGroup
}

type side struct {
	name     string
	preset   Preset // zero for custom NATs
	custom   bool
	public   net.IP
	host     net.IP
	net      *pvnet.Net
	router   *pvnet.Router
	delay    *pvnet.DelayFilter
	tbf      *pvnet.TokenBucketFilter
	rng      *rand.Rand
	loss     float64
	latency  time.Duration
	jitter   time.Duration
	firewall bool
	drops    Drops
	silent   bool
	lifetime time.Duration // the NAT's mapping lifetime; 0 without a NAT
	mappings *mappingLog   // nil without a NAT
}

// buildMu serializes Build: pion's vnet.NewNet and NewRouter assign MAC
// addresses from an unsynchronized package counter, a data race when
// topologies are built in parallel (the matrix does).
var buildMu sync.Mutex

// Build validates spec and starts its network and relay. It is safe to
// call from several goroutines.
func Build(spec Spec) (*Topology, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	s := spec.withDefaults()
	t := &Topology{spec: s, pion: pionlog.NewFactory(s.Logger), sides: map[string]*side{}, stop: make(chan struct{})}
	wan, err := pvnet.NewRouter(&pvnet.RouterConfig{Name: "wan", CIDR: WANCIDR, LoggerFactory: t.pion})
	if err != nil {
		return nil, &BuildError{Part: "wan router", Err: err}
	}
	t.wan = wan
	relayNet, err := pvnet.NewNet(&pvnet.NetConfig{StaticIPs: []string{RelayIP, RelayAlt}})
	if err != nil {
		return nil, &BuildError{Part: "relay host", Err: err}
	}
	if err := wan.AddNet(relayNet); err != nil {
		return nil, &BuildError{Part: "relay host", Err: err}
	}
	for i, name := range []string{SideA, SideB} {
		sp := s.A
		if name == SideB {
			sp = s.B
		}
		sd, err := t.addSide(name, sp, s.Seed+int64(i)*7919)
		if err != nil {
			t.closeFilters()
			return nil, err
		}
		t.sides[name] = sd
	}
	wan.AddChunkFilter(t.filter)
	if err := wan.Start(); err != nil {
		t.closeFilters()
		return nil, &BuildError{Part: "start", Err: err}
	}
	if err := t.startRelay(relayNet); err != nil {
		_ = wan.Stop()
		t.closeFilters()
		return nil, err
	}
	for _, sd := range t.sides {
		if sd.jitter > 0 && sd.delay != nil {
			t.wg.Add(1)
			go t.jitterLoop(sd)
		}
	}
	return t, nil
}

func (t *Topology) addSide(name string, sp Side, seed int64) (*side, error) {
	addr := sideAddrs[name]
	sd := &side{
		name: name, public: net.ParseIP(addr.public),
		rng:  rand.New(rand.NewSource(seed)), //nolint:gosec // repeatable loss, not security
		loss: sp.LossPercent, latency: sp.Latency, jitter: sp.Jitter,
	}
	var nt *pvnet.NATType
	if sp.Mapping != "" {
		sd.custom = true
		var err error
		if nt, err = natType(sp.Mapping, sp.Filtering, sp.MappingLifetime); err != nil {
			return nil, err
		}
	} else {
		p, err := LookupPreset(sp.Preset)
		if err != nil {
			return nil, &ConfigError{Component: "vnet", Field: "side " + name + " preset", Err: err, Kind: ErrConfig}
		}
		sd.preset = p
		if !p.NoNAT {
			nt, _ = natType(p.Mapping, p.Filtering, sp.MappingLifetime)
		}
	}
	hostIP := addr.public
	if nt != nil {
		hostIP = addr.host
	}
	sd.host = net.ParseIP(hostIP)
	vn, err := pvnet.NewNet(&pvnet.NetConfig{StaticIPs: []string{hostIP}})
	if err != nil {
		return nil, &BuildError{Part: "side " + name + " host", Err: err}
	}
	sd.net = vn
	var nic pvnet.NIC = vn
	if sp.Latency > 0 || sp.Jitter > 0 {
		if sd.delay, err = pvnet.NewDelayFilter(nic, sp.Latency); err != nil {
			return nil, &BuildError{Part: "side " + name + " delay", Err: err}
		}
		nic = sd.delay
	}
	if sp.BandwidthBPS > 0 {
		burst := max(sp.BandwidthBPS/10, 12*1500*8)
		if sd.tbf, err = pvnet.NewTokenBucketFilter(nic, pvnet.TBFRate(sp.BandwidthBPS), pvnet.TBFMaxBurst(burst)); err != nil {
			return nil, &BuildError{Part: "side " + name + " bandwidth", Err: err}
		}
		nic = sd.tbf
	}
	if nt == nil {
		if err := t.wan.AddNet(nic); err != nil {
			return nil, &BuildError{Part: "side " + name + " host", Err: err}
		}
		return sd, nil
	}
	r, err := pvnet.NewRouter(&pvnet.RouterConfig{
		Name: "nat-" + name, CIDR: addr.lanCIDR, StaticIPs: []string{addr.public},
		NATType: nt, LoggerFactory: t.pion,
	})
	if err != nil {
		return nil, &BuildError{Part: "side " + name + " nat", Err: err}
	}
	if err := r.AddNet(nic); err != nil {
		return nil, &BuildError{Part: "side " + name + " host", Err: err}
	}
	if err := t.wan.AddRouter(r); err != nil {
		return nil, &BuildError{Part: "side " + name + " nat", Err: err}
	}
	sd.router = r
	sd.lifetime = nt.MappingLifeTime
	if sd.lifetime == 0 {
		sd.lifetime = defaultMappingLifetime
	}
	sd.mappings = newMappingLog()
	r.AddChunkFilter(t.natFilter(sd))
	return sd, nil
}

func (t *Topology) startRelay(n *pvnet.Net) error {
	srv, err := relay.New(relay.Config{
		Net:    n,
		Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: net.JoinHostPort(RelayIP, fmt.Sprint(RelayPort))}},
		AltIP:  net.ParseIP(RelayAlt),
		Realm:  t.spec.Realm,
		Users:  t.spec.Users,
		// The WAN is the documentation range, which a real relay refuses
		// as reserved; here it is the Internet. Private addresses stay
		// refused, as on a real relay.
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix(WANCIDR)}},
		Logger:     t.spec.Logger,
		OnAuthFailure: func(f relay.AuthFailure) {
			t.recordAuthFailure(f.User, f.Client.String(), f.Reason)
		},
	})
	if err != nil {
		return &BuildError{Part: "relay", Err: err}
	}
	t.relay = srv
	return nil
}

func (t *Topology) recordAuthFailure(username, src, reason string) {
	f := AuthFailure{At: time.Now(), Username: username, Source: src, Reason: reason, Side: sideOf(t, src)}
	t.mu.Lock()
	t.authFailures = append(t.authFailures, f)
	t.mu.Unlock()
}

// filter runs on the WAN router for every packet crossing it.
func (t *Topology) filter(c pvnet.Chunk) bool {
	src, dst := chunkIP(c.SourceAddr()), chunkIP(c.DestinationAddr())
	t.mu.Lock()
	defer t.mu.Unlock()
	var from, to *side
	for _, sd := range t.sides {
		if src.Equal(sd.public) {
			from = sd
			t.noteExternal(sd, c)
		}
		if dst.Equal(sd.public) {
			to = sd
		}
	}
	if t.cut && from != nil && to != nil {
		from.drops.Cut++
		return false
	}
	toRelay := dst.Equal(net.ParseIP(RelayIP)) || dst.Equal(net.ParseIP(RelayAlt))
	fromRelay := src.Equal(net.ParseIP(RelayIP)) || src.Equal(net.ParseIP(RelayAlt))
	for _, sd := range []*side{from, to} {
		if sd == nil || !sd.firewall || c.Network() != "udp" {
			continue
		}
		if (sd == from && !toRelay) || (sd == to && !fromRelay) {
			sd.drops.Firewall++
			return false
		}
	}
	for _, sd := range []*side{from, to} {
		if sd != nil && sd.loss > 0 && sd.rng.Float64()*100 < sd.loss {
			sd.drops.Loss++
			return false
		}
	}
	return true
}

func chunkIP(a net.Addr) net.IP {
	switch v := a.(type) {
	case *net.UDPAddr:
		return v.IP
	case *net.TCPAddr:
		return v.IP
	}
	return nil
}

func (t *Topology) jitterLoop(sd *side) {
	defer t.wg.Done()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.mu.Lock()
			d := sd.latency
			if sd.jitter > 0 {
				d += time.Duration(sd.rng.Int63n(int64(sd.jitter)))
			}
			t.mu.Unlock()
			sd.delay.SetDelay(d)
		}
	}
}

func (t *Topology) side(name string) (*side, error) {
	sd, ok := t.sides[name]
	if !ok {
		return nil, fmt.Errorf("%w %q: want a or b", ErrUnknownSide, name)
	}
	return sd, nil
}

// Net returns the network of side's host, for a peer connection.
func (t *Topology) Net(sideName string) (transport.Net, error) {
	sd, err := t.side(sideName)
	if err != nil {
		return nil, err
	}
	return sd.net, nil
}

// HostIP returns the address of side's host (private behind a NAT).
func (t *Topology) HostIP(sideName string) net.IP {
	if sd, ok := t.sides[sideName]; ok {
		return sd.host
	}
	return nil
}

// PublicIP returns side's address on the WAN (its NAT's external address).
func (t *Topology) PublicIP(sideName string) net.IP {
	if sd, ok := t.sides[sideName]; ok {
		return sd.public
	}
	return nil
}

// Describe says what NAT side sits behind, e.g. "symmetric (APDM/APDF)".
func (t *Topology) Describe(sideName string) string {
	sd, ok := t.sides[sideName]
	if !ok {
		return ""
	}
	if sd.custom {
		sp := t.spec.A
		if sideName == SideB {
			sp = t.spec.B
		}
		return fmt.Sprintf("custom (%s/%s)", sp.Mapping, sp.Filtering)
	}
	return sd.preset.Describe()
}

// STUNURL is the relay's STUN URL.
func (t *Topology) STUNURL() string { return fmt.Sprintf("stun:%s:%d", RelayIP, RelayPort) }

// TURNURL is the relay's TURN URL (UDP).
func (t *Topology) TURNURL() string {
	return fmt.Sprintf("turn:%s:%d?transport=udp", RelayIP, RelayPort)
}

// SetFirewall switches side's rule "drop all UDP except to and from the
// relay".
func (t *Topology) SetFirewall(sideName string, on bool) error {
	sd, err := t.side(sideName)
	if err != nil {
		return err
	}
	t.mu.Lock()
	sd.firewall = on
	t.mu.Unlock()
	return nil
}

// CutDirect drops (on) or passes again (off) every packet between the two
// sides that does not go through the relay.
func (t *Topology) CutDirect(on bool) {
	t.mu.Lock()
	t.cut = on
	t.mu.Unlock()
}

// Impairment overrides a side's link for a while.
type Impairment struct {
	// LossPercent replaces the side's loss, 0–100. Default 0.
	LossPercent float64
	// Latency replaces the side's latency; it needs the side to have been
	// built with a latency or jitter, or it is ignored. Default 0.
	Latency time.Duration
}

// SetImpairment replaces side's loss and latency; Restore undoes it.
func (t *Topology) SetImpairment(sideName string, imp Impairment) error {
	sd, err := t.side(sideName)
	if err != nil {
		return err
	}
	if imp.LossPercent < 0 || imp.LossPercent > 100 {
		return specErrorf("impairment loss", "%g%%: want 0 to 100", imp.LossPercent)
	}
	t.mu.Lock()
	sd.loss = imp.LossPercent
	sd.latency = imp.Latency
	t.mu.Unlock()
	if sd.delay != nil {
		sd.delay.SetDelay(imp.Latency)
	}
	return nil
}

// Restore puts side's link back to its spec.
func (t *Topology) Restore(sideName string) error {
	sd, err := t.side(sideName)
	if err != nil {
		return err
	}
	sp := t.spec.A
	if sideName == SideB {
		sp = t.spec.B
	}
	return t.SetImpairment(sd.name, Impairment{LossPercent: sp.LossPercent, Latency: sp.Latency})
}

// Drops returns what the topology dropped on purpose for side.
func (t *Topology) Drops(sideName string) Drops {
	t.mu.Lock()
	defer t.mu.Unlock()
	if sd, ok := t.sides[sideName]; ok {
		return sd.drops
	}
	return Drops{}
}

// AuthFailures returns the TURN requests whose credentials the relay
// refused, oldest first.
func (t *Topology) AuthFailures() []AuthFailure {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]AuthFailure(nil), t.authFailures...)
}

// Close stops the relay and the network. It is safe to call twice.
func (t *Topology) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	close(t.stop)
	t.wg.Wait()
	var first error
	if t.relay != nil {
		if err := t.relay.Close(); err != nil {
			first = fmt.Errorf("close relay: %w", err)
		}
	}
	if err := t.wan.Stop(); err != nil && first == nil {
		first = fmt.Errorf("stop wan: %w", err)
	}
	t.closeFilters()
	return first
}

func (t *Topology) closeFilters() {
	for _, sd := range t.sides {
		if sd.tbf != nil {
			_ = sd.tbf.Close()
		}
		if sd.delay != nil {
			_ = sd.delay.Close()
		}
	}
}
