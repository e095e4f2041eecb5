package relay

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"syscall"
)

// errPortRangeFull means every relayed port was tried (pion answers 508).
var errPortRangeFull = errors.New("relayed port range full")

// walkPorts calls open for the ports of [lo, hi] in turn, from a random
// start and wrapping around, until one succeeds: an allocation fails only
// when the range is really full, however much of it the kernel's ephemeral
// ports or other allocations hold. Running out of descriptors or memory
// stops the walk at once, since every other port would fail the same way.
func walkPorts(lo, hi uint16, open func(port int) error) error {
	n := int(hi) - int(lo) + 1
	start := rand.IntN(n) //nolint:gosec // port choice, not a secret
	var err error
	for i := range n {
		port := int(lo) + (start+i)%n
		if err = open(port); err == nil {
			return nil
		}
		if exhausted(err) {
			return fmt.Errorf("relayed port %d: %w", port, err)
		}
	}
	return fmt.Errorf("%w: all %d ports of %d-%d in use (last: %w)", errPortRangeFull, n, lo, hi, err)
}

// exhausted reports errors that no other port would avoid.
func exhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// listenRelayed opens a relayed socket through Config.Net (vnet, IPv6, non
// Linux systems) on the requested port, or on a free one of the range.
func (s *Server) listenRelayed(network, bindHost string, requestedPort int) (net.PacketConn, net.Addr, error) {
	listen := func(port int) (net.PacketConn, error) {
		return s.cfg.Net.ListenPacket(network, net.JoinHostPort(bindHost, strconv.Itoa(port)))
	}
	var pc net.PacketConn
	var err error
	if requestedPort != 0 {
		pc, err = listen(requestedPort)
	} else {
		err = walkPorts(s.cfg.PortMin, s.cfg.PortMax, func(port int) (err error) {
			pc, err = listen(port)
			return err
		})
	}
	if err != nil {
		return nil, nil, err
	}
	la, ok := pc.LocalAddr().(*net.UDPAddr)
	if !ok {
		pc.Close()
		return nil, nil, fmt.Errorf("%w: relayed socket has no UDP address", ErrUnsupported)
	}
	return pc, &net.UDPAddr{IP: s.cfg.PublicIP, Port: la.Port}, nil
}
