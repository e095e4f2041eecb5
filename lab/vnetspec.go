package lab

import (
	"github.com/natkit/natkit/vnet"
)

// FromVNetSpec turns a vnet topology spec (what a scenario describes) into
// a kernel Config, refusing what the kernel cannot honour: a custom
// mapping/filtering pair (the kernel has presets, each a real ruleset) and
// a mapping lifetime (conntrack's own timeouts apply). Seeds do not apply:
// netem draws its own loss.
func FromVNetSpec(s vnet.Spec) (Config, error) {
	c := Config{Realm: s.Realm, Users: s.Users}
	for _, sd := range []struct {
		name string
		in   vnet.Side
		out  *Side
	}{{SideA, s.A, &c.A}, {SideB, s.B, &c.B}} {
		field := func(f string) string { return "side " + sd.name + " " + f }
		if sd.in.Mapping != "" || sd.in.Filtering != "" {
			return Config{}, configErr(field("mapping/filtering"), sd.in.Mapping+"/"+sd.in.Filtering,
				"not available on the kernel backend: choose a kernel preset (natkit lab presets)")
		}
		if sd.in.MappingLifetime != 0 {
			return Config{}, configErr(field("mapping_lifetime"), sd.in.MappingLifetime.String(),
				"not available on the kernel backend: conntrack's own timeouts apply")
		}
		*sd.out = Side{Preset: sd.in.Preset, Latency: sd.in.Latency, Jitter: sd.in.Jitter,
			LossPercent: sd.in.LossPercent, BandwidthBPS: sd.in.BandwidthBPS}
	}
	return c, c.validate()
}

// BuildFromVNetSpec builds the kernel topology a vnet spec describes: the
// kernel backend of the scenario runner and the matrix.
func BuildFromVNetSpec(s vnet.Spec) (*Topology, error) {
	c, err := FromVNetSpec(s)
	if err != nil {
		return nil, err
	}
	return Build(c)
}
