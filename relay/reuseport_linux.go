package relay

import (
	"context"
	"net"
)

// listenReusePort opens a UDP socket with SO_REUSEPORT, so that several
// sockets share one address and the kernel spreads clients over them.
func listenReusePort(addr string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: reusePortControl}
	return lc.ListenPacket(context.Background(), "udp", addr)
}
