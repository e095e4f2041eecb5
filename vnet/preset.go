package vnet

import (
	"fmt"
	"strings"
	"time"

	pvnet "github.com/pion/transport/v3/vnet"
)

// Behavior is an RFC 4787 mapping or filtering behaviour.
type Behavior string

// Behaviours. None means "no NAT" (the side sits on the WAN).
const (
	EndpointIndependent  Behavior = "EIM/EIF"
	AddressDependent     Behavior = "ADM/ADF"
	AddressPortDependent Behavior = "APDM/APDF"
)

// Preset is a named NAT type from DESIGN.md's vocabulary.
type Preset struct {
	// Name is the preset's name, e.g. "port-restricted-cone".
	Name string
	// NoNAT is true for "open": the host sits on the WAN.
	NoNAT bool
	// Mapping is the RFC 4787 mapping behaviour: "EIM", "ADM" or "APDM".
	Mapping string
	// Filtering is the RFC 4787 filtering behaviour: "EIF", "ADF" or "APDF".
	Filtering string
	// Classic is the RFC 3489 name.
	Classic string
}

// Presets lists the presets in DESIGN.md's order.
var presets = []Preset{
	{Name: "open", NoNAT: true, Classic: "open internet"},
	{Name: "full-cone", Mapping: "EIM", Filtering: "EIF", Classic: "full cone"},
	{Name: "restricted-cone", Mapping: "EIM", Filtering: "ADF", Classic: "(address) restricted cone"},
	{Name: "port-restricted-cone", Mapping: "EIM", Filtering: "APDF", Classic: "port restricted cone"},
	{Name: "symmetric", Mapping: "APDM", Filtering: "APDF", Classic: "symmetric"},
}

// Presets returns the NAT presets in DESIGN.md's order.
func Presets() []Preset { return append([]Preset(nil), presets...) }

// PresetNames returns the preset names in DESIGN.md's order.
func PresetNames() []string {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.Name
	}
	return names
}

// LookupPreset returns the preset called name.
func LookupPreset(name string) (Preset, error) {
	for _, p := range presets {
		if p.Name == name {
			return p, nil
		}
	}
	return Preset{}, fmt.Errorf("%w %q: want one of %s", ErrUnknownPreset, name, strings.Join(PresetNames(), ", "))
}

// Describe returns e.g. "symmetric (APDM/APDF)".
func (p Preset) Describe() string {
	if p.NoNAT {
		return p.Name + " (no NAT)"
	}
	return fmt.Sprintf("%s (%s/%s)", p.Name, p.Mapping, p.Filtering)
}

// FiltersByPort reports whether the NAT drops packets from a known address
// on a port it never sent to (APDF).
func (p Preset) FiltersByPort() bool { return !p.NoNAT && p.Filtering == "APDF" }

// Symmetric reports whether the NAT maps per destination address and port.
func (p Preset) Symmetric() bool { return !p.NoNAT && p.Mapping == "APDM" }

// ExpectDirect is DESIGN.md's theory for a STUN-only call between a and b:
// direct unless one side is symmetric and the other filters by port.
func ExpectDirect(a, b Preset) bool {
	symA := a.Symmetric() && b.FiltersByPort()
	symB := b.Symmetric() && a.FiltersByPort()
	return !symA && !symB
}

var behaviorNames = map[string]pvnet.EndpointDependencyType{
	"EIM": pvnet.EndpointIndependent, "EIF": pvnet.EndpointIndependent,
	"ADM": pvnet.EndpointAddrDependent, "ADF": pvnet.EndpointAddrDependent,
	"APDM": pvnet.EndpointAddrPortDependent, "APDF": pvnet.EndpointAddrPortDependent,
}

// MappingNames and FilteringNames are the accepted custom behaviours.
var (
	MappingNames   = []string{"EIM", "ADM", "APDM"}
	FilteringNames = []string{"EIF", "ADF", "APDF"}
)

func natType(mapping, filtering string, lifetime time.Duration) (*pvnet.NATType, error) {
	m, ok := behaviorNames[mapping]
	if !ok || !strings.HasSuffix(mapping, "M") {
		return nil, specErrorf("mapping", "%q: want one of %s", mapping, strings.Join(MappingNames, ", "))
	}
	f, ok := behaviorNames[filtering]
	if !ok || !strings.HasSuffix(filtering, "F") {
		return nil, specErrorf("filtering", "%q: want one of %s", filtering, strings.Join(FilteringNames, ", "))
	}
	return &pvnet.NATType{Mode: pvnet.NATModeNormal, MappingBehavior: m, FilteringBehavior: f, MappingLifeTime: lifetime}, nil
}

// Behavior returns the side's NAT behaviour: its preset, or a custom one
// for mapping/filtering, or "open" when neither is set.
func (s Side) Behavior() Preset {
	if s.Mapping != "" || s.Filtering != "" {
		return Preset{Name: "custom", Mapping: s.Mapping, Filtering: s.Filtering}
	}
	name := s.Preset
	if name == "" {
		name = "open"
	}
	p, err := LookupPreset(name)
	if err != nil {
		return Preset{Name: name}
	}
	return p
}

// WhyNoDirectPath explains, in DESIGN.md's theory, why a and b cannot
// reach each other with STUN alone; it returns "" when they can.
func WhyNoDirectPath(a, b Preset) string {
	for _, pair := range [][2]struct {
		side string
		p    Preset
	}{{{"a", a}, {"b", b}}, {{"b", b}, {"a", a}}} {
		sym, filt := pair[0], pair[1]
		if sym.p.Symmetric() && filt.p.FiltersByPort() {
			return fmt.Sprintf("side %s's NAT (%s) gives every destination a new external port, and side %s's NAT (%s) drops packets from ports it has not sent to, so no direct path exists",
				sym.side, sym.p.Describe(), filt.side, filt.p.Describe())
		}
	}
	return ""
}
