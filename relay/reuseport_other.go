//go:build !linux

package relay

import (
	"fmt"
	"net"
)

func listenReusePort(string) (net.PacketConn, error) {
	return nil, fmt.Errorf("SocketsPerListener > 1: %w", ErrUnsupported)
}
