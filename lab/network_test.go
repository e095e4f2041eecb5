package lab_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/scenarios"
	"github.com/natkit/natkit/vnet"
)

// lab.Topology is the scenarios' kernel backend.
var _ scenarios.Network = (*lab.Topology)(nil)

func TestFromVNetSpecRefusesWhatTheKernelCannotHonour(t *testing.T) {
	for _, tc := range []struct {
		side vnet.Side
		key  string
	}{
		{vnet.Side{Mapping: "EIM", Filtering: "APDF"}, "mapping/filtering"},
		{vnet.Side{Preset: "port-restricted-cone", MappingLifetime: time.Second}, "mapping_lifetime"},
		{vnet.Side{Preset: "no-such-nat"}, "preset"},
	} {
		_, err := lab.FromVNetSpec(vnet.Spec{B: tc.side})
		if !errors.Is(err, lab.ErrConfig) {
			t.Errorf("%+v: want a lab config error, got %v", tc.side, err)
			continue
		}
		if want := "side b " + tc.key; !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %q does not name %q", tc.side, err, want)
		}
	}
	c, err := lab.FromVNetSpec(vnet.Spec{A: vnet.Side{Preset: "linux-masquerade", LossPercent: 5}})
	if err != nil || c.A.Preset != "linux-masquerade" || c.A.LossPercent != 5 {
		t.Errorf("got %+v, %v", c, err)
	}
}
