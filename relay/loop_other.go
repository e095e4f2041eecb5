//go:build !linux

package relay

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// loops are Linux-only; elsewhere every socket comes from Config.Net.
type loops struct{}

func newLoops(*Server) (*loops, error) { return nil, nil }

func (*loops) usable(net.IP) bool { return false }

func (*loops) close() {}

func (*loops) listenUDP(string, int, int) ([]net.PacketConn, error) { return nil, ErrUnsupported }

func (*loops) allocateRelay(net.IP, int, uint16, uint16) (*loopConn, error) {
	return nil, ErrUnsupported
}

// loopConn stands in for the Linux loop-served UDP socket; it is never made.
type loopConn struct {
	net.PacketConn
	local netip.AddrPort
	relay atomic.Pointer[relayConn]
}
