package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/pion/transport/v3"
)

// SharedLAN is two hosts on one LAN segment, no NAT and no relay: what two
// users on the same Wi-Fi have. Its one link (a veth between the hosts'
// namespaces) carries multicast, so mDNS works between them as it does on
// a home LAN. The scenario topologies give each side a LAN of its own;
// this one is for same-LAN cases (mDNS host candidates).
type SharedLAN struct {
	prefix string
	state  string
	hosts  map[string]*Net
}

// Addresses of the shared LAN's hosts.
const (
	SharedLANCIDR = "10.77.0.0/24"
	sharedLANDev  = "lan0"
)

// SharedLANHostIP is side's address on the shared LAN.
func SharedLANHostIP(side string) net.IP {
	if side == SideB {
		return net.IPv4(10, 77, 0, 2)
	}
	return net.IPv4(10, 77, 0, 1)
}

// BuildSharedLAN builds the two hosts' namespaces under a run-unique
// prefix, with an owner file in stateDir ("" for DefaultStateDir) so that
// natkit lab clean removes what a killed run left. On error nothing stays.
func BuildSharedLAN(stateDir string) (s *SharedLAN, err error) {
	if err := Check(); err != nil {
		return nil, err
	}
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	prefix, err := newPrefix()
	if err != nil {
		return nil, &BuildError{Part: "names", Err: err}
	}
	s = &SharedLAN{prefix: prefix, hosts: map[string]*Net{}}
	if err := s.claim(stateDir); err != nil {
		if s.state != "" {
			_ = s.Close() // our own file, written in part
		}
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = s.Close()
			s = nil
		}
	}()
	for _, side := range []string{SideA, SideB} {
		if _, err := run(nil, "", "ip", "netns", "add", prefix+side); err != nil {
			return s, &BuildError{Part: "namespace " + side, Err: err}
		}
		n, err := OpenNet(prefix + side)
		if err != nil {
			return s, &BuildError{Part: "namespace " + side, Err: err}
		}
		s.hosts[side] = n
	}
	// Made inside a's namespace, its peer end straight in b's: nothing in
	// the root namespace.
	if _, err := run(s.hosts[SideA], "", "ip", "link", "add", sharedLANDev, "type", "veth", "peer", "name", sharedLANDev, "netns", prefix+SideB); err != nil {
		return s, &BuildError{Part: "link", Err: err}
	}
	for _, side := range []string{SideA, SideB} {
		n := s.hosts[side]
		if _, err := run(n, "", "ip", "addr", "add", SharedLANHostIP(side).String()+"/24", "dev", sharedLANDev); err != nil {
			return s, &BuildError{Part: "address " + side, Err: err}
		}
		if err := setLinksUp(n, []string{"lo", sharedLANDev}); err != nil {
			return s, &BuildError{Part: "link up " + side, Err: err}
		}
	}
	for _, side := range []string{SideA, SideB} {
		n := s.hosts[side]
		if err := waitRunning(n, []string{sharedLANDev}, 5*time.Second); err != nil {
			return s, &BuildError{Part: "link up " + side, Err: err}
		}
		// The LAN is the hosts' only network: multicast (224.0.0.251 for
		// mDNS) leaves through it, as on a home LAN's default route.
		if _, err := run(n, "", "ip", "route", "add", "default", "dev", sharedLANDev); err != nil {
			return s, &BuildError{Part: "route " + side, Err: err}
		}
	}
	return s, nil
}

// claim writes the owner file, exclusively.
func (s *SharedLAN) claim(stateDir string) error {
	st := State{Prefix: s.prefix, PID: os.Getpid(), ParentPID: os.Getppid(), Created: time.Now().UTC(),
		Namespaces: map[string]string{SideA: s.prefix + SideA, SideB: s.prefix + SideB}, Presets: map[string]string{SideA: "shared-lan", SideB: "shared-lan"}}
	path, err := claimOwnerFile(stateDir, st)
	s.state = path
	return err
}

// claimOwnerFile writes a run's owner file in stateDir, exclusively (O_EXCL):
// two runs cannot share a prefix. It returns the file's path.
func claimOwnerFile(stateDir string, st State) (string, error) {
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return "", &BuildError{Part: "state dir", Err: err}
	}
	path := filepath.Join(stateDir, st.Prefix+"state.json")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // the run's own state file, named by its prefix
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("%w: prefix %s is owned by another run (%s)", ErrNameTaken, st.Prefix, path)
		}
		return "", &BuildError{Part: "state file", Err: err}
	}
	err = json.NewEncoder(f).Encode(st)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return path, &BuildError{Part: "state file", Err: err}
	}
	return path, nil
}

// Net is side's namespace-aware transport.Net.
func (s *SharedLAN) Net(side string) (transport.Net, error) {
	n, ok := s.hosts[side]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownSide, side)
	}
	return n, nil
}

// Prefix is the run's name prefix.
func (s *SharedLAN) Prefix() string { return s.prefix }

// Close removes both namespaces (and the link with them) and the owner
// file. It is safe to call twice.
func (s *SharedLAN) Close() error {
	for side, n := range s.hosts {
		_ = n.Close()
		delete(s.hosts, side)
	}
	if err := removeNamespaces(namespacesWithPrefix(s.prefix)); err != nil {
		return err // the owner file stays: lab clean finds the run
	}
	if s.state != "" {
		if err := os.Remove(s.state); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		s.state = ""
	}
	return nil
}
