package scenarios

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pion/transport/v3"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/vnet"
)

// Network is what the runner needs of a scenario's network: each side's
// transport.Net, the relay's URLs, and the disruptions the steps apply.
// vnet.Topology implements it; a kernel-namespace backend with the same
// method set can plug in through Options.Backend.
type Network interface {
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

var _ Network = (*vnet.Topology)(nil)

// Backend builds a scenario's network from its topology.
type Backend func(vnet.Spec) (Network, error)

// Network backend names of Options.Net.
const (
	// NetVNet is pion's virtual network, in process (the default).
	NetVNet = "vnet"
	// NetKernel is Linux network namespaces with a kernel NAT. This build
	// has no kernel backend; pass one as Options.Backend.
	NetKernel = "kernel"
)

// selectBackend returns b, or the backend called name.
func selectBackend(name string, b Backend) (Backend, error) {
	if b != nil {
		return b, nil
	}
	switch name {
	case "", NetVNet:
		return func(s vnet.Spec) (Network, error) { return vnet.Build(s) }, nil
	case NetKernel:
		return func(s vnet.Spec) (Network, error) {
			t, err := lab.BuildFromVNetSpec(s)
			if err != nil {
				return nil, err
			}
			return t, nil
		}, nil
	}
	return nil, &BackendError{Name: name, Err: ErrUnknownBackend}
}

func (o Options) backend() (Backend, error) { return selectBackend(o.Net, o.Backend) }

// BackendError says why the network backend Options named cannot be used.
type BackendError struct {
	Name string
	Err  error // ErrUnknownBackend or ErrBackendUnavailable
}

func (e *BackendError) Error() string {
	if errors.Is(e.Err, ErrBackendUnavailable) {
		return fmt.Sprintf("network backend %q: %v in this build (pass Options.Backend)", e.Name, e.Err)
	}
	return fmt.Sprintf("network backend %q: %v: want %s or %s", e.Name, e.Err, NetVNet, NetKernel)
}

// Unwrap returns ErrUnknownBackend or ErrBackendUnavailable.
func (e *BackendError) Unwrap() error { return e.Err }
