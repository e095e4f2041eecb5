package lab_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/transport/v3"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/vnet"
)

// network is the method set the scenario runner needs of a backend (the
// scenarios package's Network): lab.Topology must keep providing it.
type network interface {
	Net(side string) (transport.Net, error)
	STUNURL() string
	TURNURL() string
	Describe(side string) string
	SetFirewall(side string, on bool) error
	CutDirect(on bool)
	SetImpairment(side string, imp vnet.Impairment) error
	Restore(side string) error
	Silence(side string, on bool) error
	Rebind(ctx context.Context, side string) (time.Duration, error)
	MappingLifetime(side string) time.Duration
	MappingChanges(side string) []vnet.MappingChange
	Drops(side string) vnet.Drops
	AuthFailures() []vnet.AuthFailure
	Close() error
}

var _ network = (*lab.Topology)(nil)

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
