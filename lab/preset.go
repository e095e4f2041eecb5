package lab

import (
	"fmt"
	"sort"
	"strings"
)

// Preset is a kernel NAT: the nftables ruleset of each router between a
// side's host and the WAN, and the behaviour natbehavior must find through
// it (checked by a test per preset).
type Preset struct {
	// Name, e.g. "port-restricted-cone".
	Name string
	// NoNAT: the host sits on the WAN ("open").
	NoNAT bool
	// Mapping and Filtering are the RFC 4787 behaviours natkit nat finds
	// ("EIM", "APDF", ...); empty for open and udp-blocked.
	Mapping, Filtering string
	// Classic is the RFC 3489 name.
	Classic string
	// Clash: a packet from an unknown peer that reaches the NAT first is
	// committed by conntrack, and our own later packet to that peer is
	// remapped to a new port; towards that peer the NAT is symmetric.
	Clash bool
	// Hairpin: a packet to the side's own public address comes back in.
	Hairpin bool
	// PortPreserving: the public port equals the host's port.
	PortPreserving bool
	// UDPBlocked: only TCP to ports 443 and 3478 (UDPBlockedTCPPorts)
	// leaves the side.
	UDPBlocked bool
	// Family is the side's address families: FamilyIPv4 (the default
	// when empty), FamilyDual or FamilyIPv6. An IPv6 side's addresses are
	// globally routed (2001:db8:X::/64, no translation) behind the router's
	// stateful firewall; Mapping and Filtering describe its IPv4 path.
	Family string
	// NAT64: the router translates 64:ff9b::/96 to IPv4 (a TUN device
	// running natkit's translator), and the lab's resolver synthesizes
	// AAAA records from A records for the side (DNS64).
	NAT64 bool
	// Routers are the rulesets from the host outwards; cgnat has two.
	// $TABLE, $LAN, $WAN, $PUBLIC and $INSIDE are replaced when built.
	Routers []string
	// VNet is the vnet preset with the same behaviour, "" when vnet cannot
	// model it.
	VNet string
	// Why explains the ruleset in one sentence.
	Why string
}

// Rulesets' building blocks.
const (
	natMasquerade = `table ip $TABLE {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "$WAN" masquerade%s
	}%s
}
`
	// statefulDrop is a home router's firewall: only replies come in.
	statefulDrop = `
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "$LAN" accept
	}`
	// oneToOne maps the public address to the inside host both ways.
	oneToOne = `table ip $TABLE {%s
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		%s dnat to $INSIDE
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "$WAN" snat to $PUBLIC%s
	}%s
}
`
	addressFilter = `
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "$LAN" meta l4proto { tcp, udp } update @contacted { ip daddr . ip saddr . th sport } accept
		iifname "$LAN" accept
		iifname "$WAN" meta l4proto { tcp, udp } ip saddr . ip daddr . th dport @contacted accept
	}`
	contactedSet = `
	set contacted {
		type ipv4_addr . ipv4_addr . inet_service
		flags dynamic,timeout
		timeout 5m
	}`
	// firewall6 is an IPv6 home router's stateful firewall (RFC 6092):
	// no translation, replies and the router's neighbour discovery come
	// in, nothing unsolicited is forwarded: port-restricted-like
	// filtering on the host's own address.
	firewall6 = `table ip6 $TABLE {
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "$LAN" accept
	}
}
`
	udpBlockedForward = `
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "$LAN" tcp dport { 443, 3478 } accept
	}`
)

var presets = []Preset{
	{Name: "open", NoNAT: true, Classic: "open internet", VNet: "open",
		Why: "no router: the host sits on the WAN with a public address"},
	{Name: "full-cone", Mapping: "EIM", Filtering: "EIF", Classic: "full cone", PortPreserving: true, VNet: "full-cone",
		Routers: []string{fmt.Sprintf(oneToOne, "", `iifname "$WAN"`, "", "")},
		Why:     "1:1 NAT: the public address is the host's, so every packet to it is forwarded in"},
	{Name: "restricted-cone", Mapping: "EIM", Filtering: "ADF", Classic: "restricted cone", PortPreserving: true, VNet: "restricted-cone",
		Routers: []string{fmt.Sprintf(oneToOne, contactedSet, `iifname "$WAN"`, "", addressFilter)},
		Why:     "1:1 NAT plus a forward filter that lets in only addresses the host's port has sent to (any of their ports)"},
	{Name: "port-restricted-cone", Mapping: "EIM", Filtering: "APDF", Classic: "port restricted cone", PortPreserving: true, VNet: "port-restricted-cone",
		Routers: []string{fmt.Sprintf(natMasquerade, "", statefulDrop)},
		Why:     "masquerade plus a home router's stateful firewall: only conntrack replies come in, everything else to the router is dropped before conntrack commits it"},
	{Name: "symmetric", Mapping: "APDM", Filtering: "APDF", Classic: "symmetric", VNet: "symmetric",
		Routers: []string{fmt.Sprintf(natMasquerade, " random,fully-random", statefulDrop)},
		Why:     "masquerade with a fresh random port per connection, plus the stateful firewall"},
	{Name: "linux-masquerade", Mapping: "EIM", Filtering: "APDF", Classic: "port restricted cone", Clash: true, PortPreserving: true,
		Routers: []string{fmt.Sprintf(natMasquerade, "", "")},
		Why:     "plain masquerade, no input firewall: an unknown peer's packet is accepted by the router itself and committed as an [UNREPLIED] conntrack entry, so our own later packet to that peer clashes with it and gets a new port"},
	{Name: "full-cone-hairpin", Mapping: "EIM", Filtering: "EIF", Classic: "full cone", Hairpin: true, PortPreserving: true, VNet: "full-cone",
		Routers: []string{fmt.Sprintf(oneToOne, "", `ip daddr $PUBLIC`, "\n\t\tiifname \"$LAN\" oifname \"$LAN\" snat to $PUBLIC", "")},
		Why:     "full-cone with hairpinning: the public address is translated for packets from inside too, and those are sent back in from the public address"},
	{Name: "random-port", Mapping: "APDM", Filtering: "APDF", Classic: "symmetric", VNet: "symmetric",
		Routers: []string{fmt.Sprintf(natMasquerade, " random", statefulDrop)},
		Why:     "masquerade random: the port is a keyed hash of the destination instead of the host's port, so it differs per destination; plus the stateful firewall"},
	{Name: "cgnat", Mapping: "EIM", Filtering: "APDF", Classic: "port restricted cone", PortPreserving: true, VNet: "port-restricted-cone",
		Routers: []string{fmt.Sprintf(natMasquerade, "", statefulDrop), fmt.Sprintf(natMasquerade, "", statefulDrop)},
		Why:     "a home router (masquerade plus firewall) on 100.64.0.0/10 behind a carrier NAT doing the same: two translations, each endpoint-independent and port-preserving"},
	{Name: "udp-blocked", UDPBlocked: true, Classic: "UDP blocked",
		Routers: []string{fmt.Sprintf(natMasquerade, "", udpBlockedForwardInput)},
		Why:     "masquerade plus a firewall that lets out only TCP to ports 443 and 3478: only TURN over TCP or TLS gets through"},
	{Name: "dual-stack", Mapping: "EIM", Filtering: "APDF", Classic: "port restricted cone", PortPreserving: true, Family: FamilyDual,
		Routers: []string{fmt.Sprintf(natMasquerade, "", statefulDrop) + firewall6},
		Why:     "a dual-stack home router: IPv4 as port-restricted-cone (masquerade plus the stateful firewall), IPv6 routed to the host's global address with no translation behind the same kind of stateful firewall"},
	{Name: "ipv6-only-nat64", Mapping: "EIM", Filtering: "APDF", Classic: "port restricted cone", PortPreserving: true, Family: FamilyIPv6, NAT64: true,
		Routers: []string{firewall6},
		Why:     "an IPv6-only mobile network: the host has only a global IPv6 address behind a stateful firewall, and reaches IPv4 through the router's NAT64 (64:ff9b::/96, endpoint-independent mapping, address-and-port-dependent filtering) with DNS64 names"},
}

// Address families of Preset.Family.
const (
	FamilyIPv4 = "ipv4"
	FamilyDual = "dual"
	FamilyIPv6 = "ipv6"
)

// HasIPv4 reports whether the side's host has an IPv4 address.
func (p Preset) HasIPv4() bool { return p.Family != FamilyIPv6 }

// HasIPv6 reports whether the side's host has an IPv6 address.
func (p Preset) HasIPv6() bool { return p.Family == FamilyDual || p.Family == FamilyIPv6 }

// Families describes the side's families, e.g. "IPv6 only, NAT64".
func (p Preset) Families() string {
	switch {
	case p.NAT64:
		return "IPv6 only, NAT64"
	case p.Family == FamilyIPv6:
		return "IPv6 only"
	case p.Family == FamilyDual:
		return "dual stack"
	}
	return "IPv4"
}

// UDPBlockedTCPPorts are the only TCP destination ports the udp-blocked
// firewall lets out (udpBlockedForward's rule).
var UDPBlockedTCPPorts = []int{443, 3478}

// udpBlockedForwardInput is the udp-blocked firewall: the router's own
// input is closed too.
var udpBlockedForwardInput = `
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
	}` + udpBlockedForward

// Presets returns the kernel NAT presets: the five classic ones first.
func Presets() []Preset { return append([]Preset(nil), presets...) }

// PresetNames returns the preset names in Presets' order.
func PresetNames() []string {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.Name
	}
	return names
}

// ClassicPresetNames are the presets both backends model.
func ClassicPresetNames() []string {
	return []string{"open", "full-cone", "restricted-cone", "port-restricted-cone", "symmetric"}
}

// LookupPreset returns the preset called name.
func LookupPreset(name string) (Preset, error) {
	for _, p := range presets {
		if p.Name == name {
			return p, nil
		}
	}
	names := PresetNames()
	sort.Strings(names)
	return Preset{}, fmt.Errorf("%w %q: want one of %s", ErrUnknownPreset, name, strings.Join(names, ", "))
}

// Describe returns e.g. "linux-masquerade (EIM/APDF, clash)".
func (p Preset) Describe() string {
	switch {
	case p.NoNAT:
		return p.Name + " (no NAT)"
	case p.UDPBlocked:
		return p.Name + " (UDP blocked)"
	}
	s := fmt.Sprintf("%s (%s/%s", p.Name, p.Mapping, p.Filtering)
	if p.Clash {
		s += ", clash"
	}
	if p.HasIPv6() {
		s += ", " + p.Families()
	}
	return s + ")"
}

// routerAddrs are what a router's ruleset refers to.
type routerAddrs struct {
	table, lan, wan, public, inside string
}

// render fills a ruleset template.
func render(tmpl string, a routerAddrs) string {
	return strings.NewReplacer("$TABLE", a.table, "$LAN", a.lan, "$WAN", a.wan, "$PUBLIC", a.public, "$INSIDE", a.inside).Replace(tmpl)
}
