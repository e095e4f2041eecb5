package lab

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pion/transport/v3"

	"github.com/natkit/natkit/relay"
	"github.com/natkit/natkit/vnet"
)

// sidePlan is a side's addresses: the same public addresses as vnet.
// An IPv6 side's LAN is a global /64 (lan6), its router's WAN port wan6;
// a NAT64 side's IPv4 pool address is pool64.
var sidePlan = map[string]struct {
	public, lan, carrier string // carrier: the /24 between home router and carrier NAT
	lan6, wan6, pool64   string
}{
	SideA: {"203.0.113.10", "10.1.0", "100.64.1", "2001:db8:a::", "2001:db8::10", "203.0.113.11"},
	SideB: {"203.0.113.20", "10.2.0", "100.64.2", "2001:db8:b::", "2001:db8::20", "203.0.113.21"},
}

// Topology is a running kernel lab: a WAN namespace with a bridge holding
// the relay's two addresses, and per side a host namespace behind zero,
// one or two router namespaces. Close removes all of it.
type Topology struct {
	cfg     Config
	prefix  string
	wan     *Net
	relay   *relay.Server
	coturn  *coturn        // Config.Relay coturn
	roots   *x509.CertPool // Config.RelayTLS/RelayDTLS: trusts the relay's certificate
	certPEM []byte         // that certificate, PEM
	sides   map[string]*side
	state   string   // owner file
	spaces  []string // namespaces created, in order

	mu           sync.Mutex
	firewall     map[string]bool
	cut          bool
	silence      map[string]int // silence drops counted before the last switch-off
	authFailures []vnet.AuthFailure
	closed       bool
}

type side struct {
	name     string
	spec     Side
	preset   Preset
	host     *Net
	routers  []*Net // from the host outwards
	rulesets []string
	hostIP   net.IP // IPv4, nil on an IPv6-only side
	publicIP net.IP // IPv4 on the WAN: a NAT64 side's pool address
	hostIP6  net.IP // global IPv6, nil on an IPv4 side
	nat64    *nat64Device
	// The access link: upDev in the host, downDev in downNet (the first
	// router, or the WAN for an open side).
	upDev, downDev string
	downNet        *Net
}

// link is one veth pair: up end in namespace upNS, down end in downNS.
type link struct {
	upNS, downNS, upDev, downDev string
}

// newPrefix returns an unused random run prefix.
func newPrefix() (string, error) {
	for range 16 {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		p := "nk" + hex.EncodeToString(b[:]) + "-"
		if len(namespacesWithPrefix(p)) == 0 {
			return p, nil
		}
	}
	return "", ErrNameTaken
}

// Build checks the machine, then builds cfg's topology and starts the relay
// in the WAN namespace. On any error everything built so far is removed.
// It is safe to call from several goroutines.
func Build(cfg Config) (t *Topology, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := checkAll(cfg); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t = &Topology{cfg: cfg, sides: map[string]*side{}, firewall: map[string]bool{}, silence: map[string]int{}}
	if t.prefix = cfg.Prefix; t.prefix == "" {
		if t.prefix, err = newPrefix(); err != nil {
			return nil, &BuildError{Part: "names", Err: err}
		}
	}
	if err := t.claim(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = t.destroy()
			t = nil
		}
	}()
	if err := t.build(); err != nil {
		return t, err
	}
	return t, nil
}

// claim writes the owner file, exclusively: two runs cannot share a prefix.
func (t *Topology) claim() error {
	if ns := namespacesWithPrefix(t.prefix); len(ns) > 0 {
		return fmt.Errorf("%w: prefix %s: namespaces %s exist", ErrNameTaken, t.prefix, strings.Join(ns, ", "))
	}
	// A path comes back even when writing failed: destroy removes it.
	path, err := claimOwnerFile(t.cfg.StateDir, t.State())
	t.state = path
	return err
}

func (t *Topology) ns(role string) string { return t.prefix + role }

func (t *Topology) build() error {
	var links []link
	spaces := []string{t.ns("wan")}
	for _, name := range []string{SideA, SideB} {
		sp := t.cfg.A
		if name == SideB {
			sp = t.cfg.B
		}
		p, _ := LookupPreset(sp.Preset)
		sd := &side{name: name, spec: sp, preset: p}
		t.sides[name] = sd
		chain := []string{t.ns(name)}
		for i := range p.Routers {
			chain = append(chain, t.ns(fmt.Sprintf("%sr%d", name, i)))
		}
		spaces = append(spaces, chain...)
		chain = append(chain, t.ns("wan"))
		for k := 0; k+1 < len(chain); k++ {
			links = append(links, link{upNS: chain[k], downNS: chain[k+1],
				upDev: fmt.Sprintf("%s%s%du", t.prefix, name, k), downDev: fmt.Sprintf("%s%s%dd", t.prefix, name, k)})
		}
	}
	// One ip process creates every namespace and veth pair.
	var b strings.Builder
	for _, s := range spaces {
		fmt.Fprintf(&b, "netns add %s\n", s)
	}
	t.spaces = spaces
	// Distinct interface indexes for the two ends: the kernel treats a
	// veth whose index equals its peer's (likely, as each namespace counts
	// from 1) as not urgent and activates it up to a second later.
	for i, l := range links {
		fmt.Fprintf(&b, "link add name %s index %d netns %s type veth peer name %s index %d netns %s\n",
			l.upDev, 10+2*i, l.upNS, l.downDev, 11+2*i, l.downNS)
	}
	if _, err := run(nil, b.String(), "ip", "-batch", "-"); err != nil {
		return &BuildError{Part: "namespaces and links", Err: err}
	}
	nets := map[string]*Net{}
	for _, s := range spaces {
		n, err := OpenNet(s)
		if err != nil {
			return &BuildError{Part: "namespace " + s, Err: err}
		}
		nets[s] = n
	}
	t.wan = nets[t.ns("wan")]
	for _, sd := range t.sides {
		sd.host = nets[t.ns(sd.name)]
		sd.host.hosts = map[string][]netip.Addr{RelayName: t.relayAddrs(sd.preset)}
		for i := range sd.preset.Routers {
			sd.routers = append(sd.routers, nets[t.ns(fmt.Sprintf("%sr%d", sd.name, i))])
		}
	}
	if err := t.startNAT64s(); err != nil {
		return &BuildError{Part: "nat64", Err: err}
	}
	cfgs := t.plan(links, nets)
	// Every namespace at once (an ip and an nft process each), then the
	// links up, in-process and one namespace after the other.
	errs := make([]error, len(spaces))
	var wg sync.WaitGroup
	for i, s := range spaces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cfgs[s].apply(nets[s]); err != nil {
				errs[i] = fmt.Errorf("configure %s: %w", s, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return &BuildError{Part: "configure", Err: err}
	}
	for _, s := range spaces {
		if err := setLinksUp(nets[s], cfgs[s].up); err != nil {
			return &BuildError{Part: "links", Err: err}
		}
	}
	for _, s := range spaces {
		if err := waitRunning(nets[s], cfgs[s].up, 3*time.Second); err != nil {
			return &BuildError{Part: "links", Err: err}
		}
	}
	for i, s := range spaces {
		if len(cfgs[s].route) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := run(nets[s], strings.Join(cfgs[s].route, "\n")+"\n", "ip", "-batch", "-"); err != nil {
				errs[i] = fmt.Errorf("routes of %s: %w", s, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return &BuildError{Part: "routes", Err: err}
	}
	switch {
	case t.cfg.NoRelay:
		return nil
	case t.cfg.Relay == RelayCoturn:
		return t.startCoturn()
	}
	return t.startRelay()
}

// nsConfig is what one namespace gets: sysctls, ip commands and an nft
// ruleset.
type nsConfig struct {
	forward bool
	ipv6    bool        // IPv6 on (off everywhere else, like vnet)
	sysctls [][2]string // more, e.g. a device's proxy_delay
	ip      []string
	nft     string
	tc      [][]string
	up      []string // devices to set up once every namespace is configured
	route   []string // ip commands once the links are up
}

func (c *nsConfig) apply(n *Net) error {
	off := "1"
	if c.ipv6 {
		off = "0"
	}
	sysctls := [][2]string{{"net.ipv6.conf.all.disable_ipv6", off}, {"net.ipv6.conf.default.disable_ipv6", off}}
	if c.forward {
		sysctls = append(sysctls, [2]string{"net.ipv4.ip_forward", "1"})
		if c.ipv6 {
			sysctls = append(sysctls, [2]string{"net.ipv6.conf.all.forwarding", "1"})
		}
	}
	sysctls = append(sysctls, c.sysctls...)
	for _, s := range sysctls {
		if err := writeSysctl(n, s[0], s[1]); err != nil {
			return err
		}
	}
	if len(c.ip) > 0 {
		if _, err := run(n, strings.Join(c.ip, "\n")+"\n", "ip", "-batch", "-"); err != nil {
			return err
		}
	}
	if c.ipv6 {
		// No duplicate address detection (the devices exist now, the
		// bridge too): until it ends, a second or more after a link goes
		// up, a link-local address is tentative, and a router forwarding
		// a packet has no source for its neighbour solicitation, so the
		// first packets would wait a second or two for a retransmission.
		for _, dev := range c.up {
			if dev == "lo" {
				continue
			}
			if err := writeSysctl(n, "net.ipv6.conf."+dev+".accept_dad", "0"); err != nil {
				return err
			}
		}
	}
	if c.nft != "" {
		if _, err := run(n, c.nft, "nft", "-f", "-"); err != nil {
			return err
		}
	}
	for _, args := range c.tc {
		if _, err := run(n, "", append([]string{"tc"}, args...)...); err != nil {
			return qdiscError(err)
		}
	}
	return nil
}

// plan turns the links into each namespace's addresses, routes and rules.
func (t *Topology) plan(links []link, nets map[string]*Net) map[string]*nsConfig {
	cfgs := map[string]*nsConfig{}
	for _, s := range t.spaces {
		cfgs[s] = &nsConfig{up: []string{"lo"}}
	}
	wan := cfgs[t.ns("wan")]
	br := t.prefix + "br"
	wan.ip = append(wan.ip, "link add name "+br+" type bridge", "addr add "+RelayIP+"/24 dev "+br,
		"addr add "+RelayAlt+"/24 dev "+br)
	wan.up = append(wan.up, br)
	wan.nft = t.controlTable()
	if t.hasIPv6() {
		// Without a multicast querier, MLD snooping could stop the
		// bridge forwarding neighbour solicitations.
		wan.ipv6 = true
		wan.ip = append(wan.ip, "link set "+br+" type bridge mcast_snooping 0",
			"addr add "+RelayIP6+"/64 dev "+br+" nodad", "addr add "+RelayAlt6+"/64 dev "+br+" nodad")
	}
	for _, name := range []string{SideA, SideB} {
		sd := t.sides[name]
		plan := sidePlan[name]
		var sideLinks []link
		for _, l := range links {
			if strings.HasPrefix(l.upDev, t.prefix+name) {
				sideLinks = append(sideLinks, l)
			}
		}
		sd.upDev, sd.downDev = sideLinks[0].upDev, sideLinks[0].downDev
		sd.downNet = nets[sideLinks[0].downNS]
		sd.publicIP = net.ParseIP(plan.public)
		if sd.preset.NAT64 {
			sd.publicIP = net.ParseIP(plan.pool64)
		}
		v4, v6 := sd.preset.HasIPv4(), sd.preset.HasIPv6()
		// Addresses of each link's two ends ("" for a bridge port).
		for k, l := range sideLinks {
			var upAddr, downAddr string
			switch {
			case l.downNS == t.ns("wan"):
				upAddr = plan.public
			case k == 0:
				upAddr, downAddr = plan.lan+".2", plan.lan+".1"
			default:
				upAddr, downAddr = plan.carrier+".2", plan.carrier+".1"
			}
			up, down := cfgs[l.upNS], cfgs[l.downNS]
			if v4 || downAddr == "" {
				up.ip = append(up.ip, "addr add "+upAddr+"/24 dev "+l.upDev)
			}
			up.up = append(up.up, l.upDev)
			if downAddr != "" {
				if v4 {
					up.route = append(up.route, "route add default via "+downAddr)
					down.ip = append(down.ip, "addr add "+downAddr+"/24 dev "+l.downDev)
				}
			} else {
				down.ip = append(down.ip, "link set "+l.downDev+" master "+br)
			}
			down.up = append(down.up, l.downDev)
			if v6 {
				t.plan6(sd, k, l, up, down, wan)
			}
			if k == 0 && v4 {
				sd.hostIP = net.ParseIP(upAddr)
			}
			if k > 0 {
				// The router at the up end of link k: its LAN is link
				// k-1's down end, its inside neighbour link k-1's up end.
				prev := sideLinks[k-1]
				r := cfgs[l.upNS]
				r.forward = true
				inside := plan.lan + ".2"
				if k > 1 {
					inside = plan.carrier + ".2"
				}
				rs := render(sd.preset.Routers[k-1], routerAddrs{
					table: strings.TrimSuffix(t.prefix, "-"), lan: prev.downDev, wan: l.upDev, public: upAddr, inside: inside})
				r.nft = rs
				sd.rulesets = append(sd.rulesets, rs)
			}
		}
		t.impairmentCmds(sd, cfgs[sideLinks[0].upNS], cfgs[sideLinks[0].downNS])
	}
	return cfgs
}

// plan6 gives an IPv6 side's link k its IPv6 addresses and routes: the
// host's LAN is the side's global /64, the router's WAN port is on the
// WAN's /64 with routes to the other side's /64 (over the bridge, like
// IPv4), and the WAN routes the side's /64 to the router. A NAT64 router
// routes the prefix and its pool address into its TUN device and answers
// ARP for the pool address on the WAN.
func (t *Topology) plan6(sd *side, k int, l link, up, down, wan *nsConfig) {
	plan := sidePlan[sd.name]
	up.ipv6, down.ipv6 = true, true
	if k == 0 {
		up.ip = append(up.ip, "addr add "+plan.lan6+"2/64 dev "+l.upDev+" nodad")
		up.route = append(up.route, "route add ::/0 via "+plan.lan6+"1")
		down.ip = append(down.ip, "addr add "+plan.lan6+"1/64 dev "+l.downDev+" nodad")
		sd.hostIP6 = net.ParseIP(plan.lan6 + "2")
	}
	if l.downNS != t.ns("wan") {
		return
	}
	up.ip = append(up.ip, "addr add "+plan.wan6+"/64 dev "+l.upDev+" nodad")
	wan.route = append(wan.route, "route add "+plan.lan6+"/64 via "+plan.wan6)
	for _, other := range []string{SideA, SideB} {
		if o := t.sides[other]; other != sd.name && o.preset.HasIPv6() {
			up.route = append(up.route, "route add "+sidePlan[other].lan6+"/64 via "+sidePlan[other].wan6)
		}
	}
	if sd.nat64 != nil {
		up.up = append(up.up, sd.nat64.name)
		up.sysctls = append(up.sysctls, [2]string{"net.ipv4.neigh." + l.upDev + ".proxy_delay", "0"})
		up.route = append(up.route, "route add "+NAT64Prefix.String()+" dev "+sd.nat64.name,
			"route add "+plan.pool64+"/32 dev "+sd.nat64.name, "neigh add proxy "+plan.pool64+" dev "+l.upDev)
	}
}

// hasIPv6 reports whether either side has IPv6, so the WAN needs it.
func (t *Topology) hasIPv6() bool {
	for _, sd := range t.sides {
		if sd.preset.HasIPv6() {
			return true
		}
	}
	return false
}

// startNAT64s starts the translator of each NAT64 side in its router.
func (t *Topology) startNAT64s() error {
	for _, name := range []string{SideA, SideB} {
		sd := t.sides[name]
		if !sd.preset.NAT64 {
			continue
		}
		d, err := startNAT64(sd.routers[len(sd.routers)-1], t.prefix+name+"64", netip.MustParseAddr(sidePlan[name].pool64))
		if err != nil {
			return err
		}
		sd.nat64 = d
	}
	return nil
}

// controlTable is the WAN's bridge filter: firewall relay-only and cut
// direct, switched by rewriting its forward chain. Traffic to the relay is
// the bridge's own input, so only side-to-side packets are forwarded.
func (t *Topology) controlTable() string {
	return fmt.Sprintf(`table bridge %s {
	counter fw_a { }
	counter fw_b { }
	counter cut_a { }
	counter cut_b { }
	chain forward {
		type filter hook forward priority filter; policy accept;
	}
}
`, t.table())
}

func (t *Topology) table() string { return strings.TrimSuffix(t.prefix, "-") }

func (t *Topology) startRelay() error {
	addr := net.JoinHostPort(RelayIP, fmt.Sprint(RelayPort))
	listen := []relay.Listener{{Network: relay.NetworkUDP, Addr: addr}, {Network: relay.NetworkTCP, Addr: addr}}
	// The WAN is the documentation range, which a real relay refuses as
	// reserved; here it is the Internet (and 2001:db8::/32 its IPv6).
	allow := []netip.Prefix{netip.MustParsePrefix(WANCIDR)}
	if t.hasIPv6() {
		addr6 := net.JoinHostPort(RelayIP6, fmt.Sprint(RelayPort))
		listen = append(listen, relay.Listener{Network: relay.NetworkUDP, Addr: addr6}, relay.Listener{Network: relay.NetworkTCP, Addr: addr6})
		allow = append(allow, netip.MustParsePrefix("2001:db8::/32"))
	}
	tlsConf, err := t.relayTLS()
	if err != nil {
		return &BuildError{Part: "relay", Err: err}
	}
	if t.cfg.RelayTLS {
		listen = append(listen, relay.Listener{Network: relay.NetworkTLS, Addr: net.JoinHostPort(RelayIP, fmt.Sprint(RelayTLSPort))})
	}
	if t.cfg.RelayDTLS {
		listen = append(listen, relay.Listener{Network: relay.NetworkDTLS, Addr: net.JoinHostPort(RelayIP, fmt.Sprint(RelayDTLSPort))})
	}
	srv, err := relay.New(relay.Config{
		TLSConfig:  tlsConf,
		Net:        t.wan,
		Listen:     listen,
		AltIP:      net.ParseIP(RelayAlt),
		Realm:      t.cfg.Realm,
		Users:      t.cfg.Users,
		PeerPolicy: relay.PeerPolicy{Allow: allow},
		Logger:     t.cfg.Logger,
		OnAuthFailure: func(f relay.AuthFailure) {
			src := f.Client.String()
			a := vnet.AuthFailure{At: time.Now(), Username: f.User, Source: src, Reason: f.Reason, Side: t.sideOf(src)}
			t.mu.Lock()
			t.authFailures = append(t.authFailures, a)
			t.mu.Unlock()
		},
	})
	if err != nil {
		return &BuildError{Part: "relay", Err: err}
	}
	t.relay = srv
	return nil
}

func (t *Topology) sideOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	for name, sd := range t.sides {
		if sd.publicIP.Equal(ip) || (sd.hostIP6 != nil && sd.hostIP6.Equal(ip)) {
			return name
		}
	}
	return ""
}

func (t *Topology) side(name string) (*side, error) {
	sd, ok := t.sides[name]
	if !ok {
		return nil, fmt.Errorf("%w %q: want a or b", ErrUnknownSide, name)
	}
	return sd, nil
}

// Prefix is the run's name prefix.
func (t *Topology) Prefix() string { return t.prefix }

// Net returns the network of side's host, for a peer or a probe.
func (t *Topology) Net(sideName string) (transport.Net, error) {
	sd, err := t.side(sideName)
	if err != nil {
		return nil, err
	}
	return sd.host, nil
}

// WANNet is the WAN namespace's network, where the relay runs.
func (t *Topology) WANNet() *Net { return t.wan }

// HostIP returns the address of side's host (private behind a NAT).
func (t *Topology) HostIP(sideName string) net.IP {
	if sd, ok := t.sides[sideName]; ok {
		return sd.hostIP
	}
	return nil
}

// PublicIP returns side's address on the WAN.
func (t *Topology) PublicIP(sideName string) net.IP {
	if sd, ok := t.sides[sideName]; ok {
		return sd.publicIP
	}
	return nil
}

// Describe says what NAT side sits behind, e.g. "linux-masquerade
// (EIM/APDF, clash)".
func (t *Topology) Describe(sideName string) string {
	if sd, ok := t.sides[sideName]; ok {
		return sd.preset.Describe()
	}
	return ""
}

// Rulesets returns the nftables rulesets of side's routers, from the host
// outwards, as loaded: what a user types on a real router.
func (t *Topology) Rulesets(sideName string) []string {
	if sd, ok := t.sides[sideName]; ok {
		return append([]string(nil), sd.rulesets...)
	}
	return nil
}

// HostIPv6 returns the global IPv6 address of side's host, nil on an IPv4
// side.
func (t *Topology) HostIPv6(sideName string) net.IP {
	if sd, ok := t.sides[sideName]; ok {
		return sd.hostIP6
	}
	return nil
}

// NAT64Stats returns what side's NAT64 translated and dropped; false
// when the side has no NAT64.
func (t *Topology) NAT64Stats(sideName string) (NAT64Stats, bool) {
	sd, ok := t.sides[sideName]
	if !ok || sd.nat64 == nil {
		return NAT64Stats{}, false
	}
	return sd.nat64.x.stats(), true
}

// relayAddrs is what the lab's resolver answers for RelayName on a side
// behind p: the relay's A record, and on a NAT64 side the AAAA record a
// DNS64 resolver synthesizes from it.
func (t *Topology) relayAddrs(p Preset) []netip.Addr {
	a := netip.MustParseAddr(RelayIP)
	if p.NAT64 {
		return []netip.Addr{Synthesize(a), a}
	}
	return []netip.Addr{a}
}

// relayHost is how side reaches the relay: its address, or on an IPv6-only
// side the relay's name, which the side's DNS64 resolves to the
// synthesized address (an IPv6 literal would do for the kernel, but pion's
// gathering formats host:port without brackets).
func (t *Topology) relayHost(sideName string) string {
	if sd, ok := t.sides[sideName]; ok && !sd.preset.HasIPv4() {
		return RelayName
	}
	return RelayIP
}

// STUNURLFor is the relay's STUN URL as side reaches it (see relayHost).
func (t *Topology) STUNURLFor(sideName string) string {
	return fmt.Sprintf("stun:%s:%d", t.relayHost(sideName), RelayPort)
}

// TURNURLFor is the relay's TURN URLs as side reaches them: over UDP, and
// also over TCP on an IPv6-only side.
func (t *Topology) TURNURLFor(sideName string) []string {
	h := t.relayHost(sideName)
	urls := []string{fmt.Sprintf("turn:%s:%d?transport=udp", h, RelayPort)}
	if h == RelayName {
		urls = append(urls, fmt.Sprintf("turn:%s:%d?transport=tcp", h, RelayPort))
	}
	return urls
}

// STUNURL is the relay's STUN URL.
func (t *Topology) STUNURL() string { return fmt.Sprintf("stun:%s:%d", RelayIP, RelayPort) }

// TURNURL is the relay's TURN URL over UDP.
func (t *Topology) TURNURL() string {
	return fmt.Sprintf("turn:%s:%d?transport=udp", RelayIP, RelayPort)
}

// TURNTCPURL is the relay's TURN URL over TCP.
func (t *Topology) TURNTCPURL() string {
	return fmt.Sprintf("turn:%s:%d?transport=tcp", RelayIP, RelayPort)
}

// Namespaces maps roles ("wan", "a", "b", "ar0", ...) to namespace names.
func (t *Topology) Namespaces() map[string]string {
	m := map[string]string{}
	for _, s := range t.spaces {
		m[strings.TrimPrefix(s, t.prefix)] = s
	}
	return m
}

// State is what the owner file records about a run.
type State struct {
	Prefix     string            `json:"prefix"`
	PID        int               `json:"pid"`
	ParentPID  int               `json:"parent_pid"`
	Created    time.Time         `json:"created"`
	Namespaces map[string]string `json:"namespaces"`
	Presets    map[string]string `json:"presets"`
}

// State describes the run.
func (t *Topology) State() State {
	st := State{Prefix: t.prefix, PID: os.Getpid(), ParentPID: os.Getppid(), Created: time.Now().UTC(), Namespaces: map[string]string{},
		Presets: map[string]string{SideA: t.cfg.A.Preset, SideB: t.cfg.B.Preset}}
	for _, name := range []string{"wan", SideA, SideB} {
		st.Namespaces[name] = t.ns(name)
	}
	return st
}

// SetFirewall switches side's rule "drop all UDP except to and from the
// relay".
func (t *Topology) SetFirewall(sideName string, on bool) error {
	if _, err := t.side(sideName); err != nil {
		return err
	}
	t.mu.Lock()
	t.firewall[sideName] = on
	t.mu.Unlock()
	return t.applyControl()
}

// CutDirect drops (on) or passes again (off) every packet between the two
// sides that does not go through the relay. A failure to load the rule is
// logged (the scenarios' network interface has no error here); SetCut
// returns it.
func (t *Topology) CutDirect(on bool) {
	if err := t.SetCut(on); err != nil {
		t.cfg.Logger.Error("lab: cut direct", "on", on, "err", err)
	}
}

// SetCut is CutDirect with its error.
func (t *Topology) SetCut(on bool) error {
	t.mu.Lock()
	t.cut = on
	t.mu.Unlock()
	return t.applyControl()
}

// MappingChanges is nil on the kernel: the kernel keeps no log of remapped
// ports. Conntrack shows the current mappings.
func (t *Topology) MappingChanges(string) []vnet.MappingChange { return nil }

func (t *Topology) applyControl() error {
	t.mu.Lock()
	tbl := t.table()
	rules := []string{"flush chain bridge " + tbl + " forward"}
	a, b := t.sides[SideA].publicIP, t.sides[SideB].publicIP
	a6, b6 := t.sides[SideA].preset.HasIPv6(), t.sides[SideB].preset.HasIPv6()
	if t.cut {
		rules = append(rules,
			fmt.Sprintf("add rule bridge %s forward ip saddr %s ip daddr %s counter name cut_a drop", tbl, a, b),
			fmt.Sprintf("add rule bridge %s forward ip saddr %s ip daddr %s counter name cut_b drop", tbl, b, a))
		if a6 && b6 {
			pa, pb := sidePlan[SideA].lan6+"/64", sidePlan[SideB].lan6+"/64"
			rules = append(rules,
				fmt.Sprintf("add rule bridge %s forward ip6 saddr %s ip6 daddr %s counter name cut_a drop", tbl, pa, pb),
				fmt.Sprintf("add rule bridge %s forward ip6 saddr %s ip6 daddr %s counter name cut_b drop", tbl, pb, pa))
		}
	}
	for _, name := range []string{SideA, SideB} {
		if t.firewall[name] {
			pub := t.sides[name].publicIP
			rules = append(rules,
				fmt.Sprintf("add rule bridge %s forward meta l4proto udp ip saddr %s counter name fw_%s drop", tbl, pub, name),
				fmt.Sprintf("add rule bridge %s forward meta l4proto udp ip daddr %s counter name fw_%s drop", tbl, pub, name))
			if t.sides[name].preset.HasIPv6() {
				p6 := sidePlan[name].lan6 + "/64"
				rules = append(rules,
					fmt.Sprintf("add rule bridge %s forward meta l4proto udp ip6 saddr %s counter name fw_%s drop", tbl, p6, name),
					fmt.Sprintf("add rule bridge %s forward meta l4proto udp ip6 daddr %s counter name fw_%s drop", tbl, p6, name))
			}
		}
	}
	t.mu.Unlock()
	_, err := run(t.wan, strings.Join(rules, "\n")+"\n", "nft", "-f", "-")
	return err
}

// Silence drops (on) or passes again (off) every packet side's host sends,
// at its router's inside port: the NAT sees no outbound traffic.
func (t *Topology) Silence(sideName string, on bool) error {
	sd, err := t.side(sideName)
	if err != nil {
		return err
	}
	if len(sd.routers) == 0 {
		return fmt.Errorf("silence side %s: %w", sideName, ErrNoNAT)
	}
	tbl := t.table() + "_silence"
	if on {
		rs := fmt.Sprintf(`table netdev %s {
	counter dropped { }
	chain ingress {
		type filter hook ingress device "%s" priority 0; policy accept;
		counter name dropped drop
	}
}
`, tbl, sd.downDev)
		_, err := run(sd.downNet, rs, "nft", "-f", "-")
		return err
	}
	n, _ := readCounter(sd.downNet, "netdev", tbl, "dropped")
	if _, err := run(sd.downNet, "", "nft", "delete", "table", "netdev", tbl); err != nil {
		if strings.Contains(err.Error(), "No such file") {
			return nil
		}
		return err
	}
	t.mu.Lock()
	t.silence[sideName] += n
	t.mu.Unlock()
	return nil
}

// MappingLifetime is 0: the kernel's conntrack timeouts (30s unreplied,
// 120s assured for UDP) are not shortened, and Rebind does not wait for
// them.
func (t *Topology) MappingLifetime(string) time.Duration { return 0 }

// Rebind makes side's NATs forget their mappings at once: conntrack -F in
// each of its routers. The next packet from each socket is translated
// afresh (to the same port when the NAT preserves ports and the port is
// free: that is what a real kernel does).
func (t *Topology) Rebind(ctx context.Context, sideName string) (time.Duration, error) {
	sd, err := t.side(sideName)
	if err != nil {
		return 0, err
	}
	if len(sd.routers) == 0 {
		return 0, fmt.Errorf("rebind side %s: %w", sideName, ErrNoNAT)
	}
	if err := needConntrack(); err != nil {
		return 0, err
	}
	for _, r := range sd.routers {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if _, err := run(r, "", "conntrack", "-F"); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

func needConntrack() error {
	if _, err := execLookPath("conntrack"); err != nil {
		return &MissingError{Missing: []Missing{{What: "program conntrack", Package: "conntrack"}}}
	}
	return nil
}

// Conntrack returns the conntrack table of side's router nearest the host
// (conntrack -L), e.g. to show [UNREPLIED] entries.
func (t *Topology) Conntrack(sideName string) (string, error) {
	sd, err := t.side(sideName)
	if err != nil {
		return "", err
	}
	if len(sd.routers) == 0 {
		return "", fmt.Errorf("conntrack side %s: %w", sideName, ErrNoNAT)
	}
	if err := needConntrack(); err != nil {
		return "", err
	}
	return run(sd.routers[len(sd.routers)-1], "", "conntrack", "-L")
}

// AuthFailures returns the TURN requests whose credentials the relay
// refused, oldest first.
func (t *Topology) AuthFailures() []vnet.AuthFailure {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]vnet.AuthFailure(nil), t.authFailures...)
}

// Drops returns what the topology dropped on purpose for side, read from
// the nft counters and the netem qdiscs.
func (t *Topology) Drops(sideName string) vnet.Drops {
	sd, ok := t.sides[sideName]
	if !ok {
		return vnet.Drops{}
	}
	var d vnet.Drops
	d.Firewall, _ = readCounter(t.wan, "bridge", t.table(), "fw_"+sideName)
	d.Cut, _ = readCounter(t.wan, "bridge", t.table(), "cut_"+sideName)
	if len(sd.routers) > 0 {
		d.Silence, _ = readCounter(sd.downNet, "netdev", t.table()+"_silence", "dropped")
	}
	d.Loss = t.lossDrops(sd) + qdiscDrops(sd.downNet, sd.downDev)
	t.mu.Lock()
	d.Silence += t.silence[sideName]
	t.mu.Unlock()
	return d
}

// readCounter returns a named nft counter's packets.
func readCounter(n *Net, family, table, name string) (int, error) {
	out, err := run(n, "", "nft", "-j", "list", "counter", family, table, name)
	if err != nil {
		return 0, err
	}
	var v struct {
		Nftables []struct {
			Counter *struct {
				Packets int `json:"packets"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return 0, err
	}
	for _, o := range v.Nftables {
		if o.Counter != nil {
			return o.Counter.Packets, nil
		}
	}
	return 0, nil
}

// Close stops the relay and removes every namespace (and with them their
// links, rules and qdiscs). It is safe to call twice.
func (t *Topology) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	return t.destroy()
}

func (t *Topology) destroy() error {
	var errs []error
	if t.relay != nil {
		if err := t.relay.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close relay: %w", err))
		}
	}
	if t.coturn != nil {
		if err := t.coturn.stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop turnserver: %w", err))
		}
	}
	if t.wan != nil {
		_ = t.wan.Close()
	}
	for _, sd := range t.sides {
		if sd.nat64 != nil {
			if err := sd.nat64.Close(); err != nil {
				errs = append(errs, fmt.Errorf("stop nat64 of side %s: %w", sd.name, err))
			}
		}
		if sd.host != nil {
			_ = sd.host.Close()
		}
		for _, r := range sd.routers {
			_ = r.Close()
		}
	}
	if err := removeNamespaces(namespacesWithPrefix(t.prefix)); err != nil {
		// Keep the owner file: lab clean finds the run once we are gone.
		return errors.Join(append(errs, err)...)
	}
	if t.state != "" {
		if err := os.Remove(t.state); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
