package relay

import (
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// recordConn is a PacketConn that records what is written to it.
type recordConn struct {
	net.PacketConn
	local net.Addr
	mu    sync.Mutex
	sent  [][]byte
	to    []string
}

func (c *recordConn) LocalAddr() net.Addr { return c.local }
func (c *recordConn) WriteTo(b []byte, a net.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, append([]byte(nil), b...))
	c.to = append(c.to, a.String())
	return len(b), nil
}
func (c *recordConn) Close() error { return nil }

func udp(s string) *net.UDPAddr { a, _ := net.ResolveUDPAddr("udp", s); return a }

func TestFastPathLifecycle(t *testing.T) {
	f := newFastPath()
	ctr := newCounters()
	listener := &recordConn{local: udp("127.0.0.1:3478")}
	f.addListener(listener)
	relaySock := &recordConn{local: udp("127.0.0.1:50000")}
	rc := &relayConn{PacketConn: relaySock, ctr: ctr, fast: f}
	f.addRelay(udp("203.0.113.1:50000"), rc) // advertised (public) address
	client, peer := udp("127.0.0.9:4000"), udp("198.51.100.7:6000")
	local := udp("127.0.0.1:3478")
	frame := []byte{0x40, 0x01, 0x00, 0x03, 'a', 'b', 'c', 0}

	// Unknown channel: pion's job.
	require.False(t, f.toPeer(frame, mustAP(client), mustAP(local)))
	f.channelCreated(client, local, udp("203.0.113.1:50000"), peer, 0x4001)
	require.True(t, f.toPeer(frame, mustAP(client), mustAP(local)))
	require.Equal(t, [][]byte{[]byte("abc")}, relaySock.sent)
	require.Equal(t, []string{peer.String()}, relaySock.to)
	require.EqualValues(t, 1, ctr.pktsToPeer.Load())
	// Another channel number or client is not ours.
	require.False(t, f.toPeer([]byte{0x40, 0x02, 0x00, 0x01, 'x'}, mustAP(client), mustAP(local)))
	require.False(t, f.toPeer(frame, mustAP(udp("127.0.0.9:4001")), mustAP(local)))
	// Truncated frames go to pion, which counts them.
	require.False(t, f.toPeer(frame[:5], mustAP(client), mustAP(local)))

	require.True(t, f.toClient(rc, []byte("pong"), mustAP(peer)))
	require.Equal(t, [][]byte{{0x40, 0x01, 0x00, 0x04, 'p', 'o', 'n', 'g'}}, listener.sent)
	require.Equal(t, []string{client.String()}, listener.to)
	require.False(t, f.toClient(rc, []byte("x"), mustAP(udp("198.51.100.7:6001"))))

	f.channelDeleted(client, local, udp("203.0.113.1:50000"), peer, 0x4001)
	require.False(t, f.toPeer(frame, mustAP(client), mustAP(local)))
	require.False(t, f.toClient(rc, []byte("pong"), mustAP(peer)))

	f.channelCreated(client, local, udp("203.0.113.1:50000"), peer, 0x4001)
	require.NoError(t, rc.Close())
	require.False(t, f.toPeer(frame, mustAP(client), mustAP(local)))
	require.Empty(t, f.out)
	require.Empty(t, f.relays)
	// A channel event for a closed socket is ignored.
	f.channelCreated(client, local, udp("203.0.113.1:50000"), peer, 0x4001)
	require.Empty(t, f.out)
}

func mustAP(a net.Addr) (ap netip.AddrPort) { ap, _ = addrPort(a); return ap }
