package gather

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// connectedPacketConn adapts a connected UDP socket to net.PacketConn, so
// that an ICMP port unreachable (ECONNREFUSED on a connected socket) is
// seen: reads swallow it, remember it and signal Refused.
type connectedPacketConn struct {
	net.Conn
	refused  atomic.Bool
	once     sync.Once
	refusedC chan struct{}
}

func newConnectedPacketConn(c net.Conn) *connectedPacketConn {
	return &connectedPacketConn{Conn: c, refusedC: make(chan struct{})}
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func (c *connectedPacketConn) markRefused() {
	c.refused.Store(true)
	c.once.Do(func() { close(c.refusedC) })
}

// Refused is closed when the peer answered ICMP port unreachable.
func (c *connectedPacketConn) Refused() <-chan struct{} { return c.refusedC }

func (c *connectedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, err := c.Read(b)
		if err != nil && isRefused(err) {
			c.markRefused()
			continue
		}
		return n, c.RemoteAddr(), err
	}
}

func (c *connectedPacketConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	n, err := c.Write(b)
	if err != nil && isRefused(err) {
		c.markRefused()
		return len(b), nil
	}
	return n, err
}
