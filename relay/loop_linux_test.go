package relay

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/pion/turn/v4"
	"github.com/stretchr/testify/require"
)

// TestEventLoops relays through the event loops with pion's client: the
// first datagrams go as Send and Data indications (queued to pion), the
// rest as ChannelData relayed by the loops, in both directions, with one
// or several loops and SO_REUSEPORT sockets.
func TestEventLoops(t *testing.T) {
	tests := []struct {
		loops, sockets, clients int
	}{
		{1, 1, 1},
		{2, 1, 3},
		{2, 2, 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d loops %d sockets", tt.loops, tt.sockets), func(t *testing.T) {
			srv, err := New(Config{
				Listen:             []Listener{{Network: NetworkUDP, Addr: "127.0.0.1:0"}},
				Users:              map[string]string{"a": "pa"},
				PeerPolicy:         PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
				Loops:              tt.loops,
				SocketsPerListener: tt.sockets,
			})
			require.NoError(t, err)
			defer func() { require.NoError(t, srv.Close()) }()
			require.NotNil(t, srv.loops)
			require.Len(t, srv.loops.all, tt.loops)

			peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
			require.NoError(t, err)
			defer peer.Close()
			go func() { // echo
				buf := make([]byte, 1500)
				for {
					n, from, err := peer.ReadFrom(buf)
					if err != nil {
						return
					}
					_, _ = peer.WriteTo(buf[:n], from)
				}
			}()

			const packets = 200
			for c := range tt.clients {
				conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
				require.NoError(t, err)
				client, err := turn.NewClient(&turn.ClientConfig{
					STUNServerAddr: srv.Addrs()[0].Addr, TURNServerAddr: srv.Addrs()[0].Addr,
					Username: "a", Password: "pa", Realm: DefaultRealm, Conn: conn,
				})
				require.NoError(t, err)
				require.NoError(t, client.Listen())
				rc, err := client.Allocate()
				require.NoError(t, err)
				srv.fast.mu.RLock()
				_, onLoop := srv.fast.relays[mustAddrPort(t, rc.LocalAddr())].PacketConn.(*loopConn)
				srv.fast.mu.RUnlock()
				require.True(t, onLoop, "the relayed socket is served by a loop")
				buf := make([]byte, 1500)
				for i := range packets {
					msg := fmt.Sprintf("client %d packet %d", c, i)
					_, err := rc.WriteTo([]byte(msg), peer.LocalAddr())
					require.NoError(t, err)
					require.NoError(t, rc.SetReadDeadline(time.Now().Add(3*time.Second)))
					n, from, err := rc.ReadFrom(buf)
					require.NoError(t, err, msg)
					require.Equal(t, msg, string(buf[:n]))
					require.Equal(t, peer.LocalAddr().String(), from.String())
				}
				require.NoError(t, rc.Close())
				client.Close()
				conn.Close()
			}
			st := srv.Stats()
			require.EqualValues(t, tt.clients*packets, st.PacketsToPeer)
			require.EqualValues(t, tt.clients*packets, st.PacketsToClient)
			require.EqualValues(t, tt.clients, st.ChannelBinds)
			require.Eventually(t, func() bool { return srv.AllocationCount() == 0 }, 5*time.Second, 10*time.Millisecond)
		})
	}
}

func mustAddrPort(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, ok := addrPort(a)
	require.True(t, ok)
	return ap
}

// TestLoopConn: the loop-served UDP socket behaves as a net.PacketConn for pion —
// deadlines, Close unblocking ReadFrom, errors naming the socket, and
// datagrams the loop does not relay arriving through ReadFrom.
func TestLoopConn(t *testing.T) {
	srv, err := New(Config{Listen: []Listener{{Network: NetworkUDP, Addr: "127.0.0.1:0"}}, Users: map[string]string{"a": "b"}, Loops: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, srv.Close()) }()
	c, err := srv.loops.allocateRelay(net.ParseIP("127.0.0.1"), 0, 40000, 40100)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", c.LocalAddr().(*net.UDPAddr).IP.String())
	require.GreaterOrEqual(t, c.LocalAddr().(*net.UDPAddr).Port, 40000)
	require.NoError(t, c.SetReadBuffer(1<<16))
	require.NoError(t, c.SetWriteBuffer(1<<16))

	// Deadline.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, _, err = c.ReadFrom(make([]byte, 10))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, c.SetDeadline(time.Time{}))

	// Both ways with a plain socket; no channel, so the loop queues.
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer peer.Close()
	_, err = c.WriteTo([]byte("to peer"), peer.LocalAddr())
	require.NoError(t, err)
	buf := make([]byte, 100)
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(3*time.Second)))
	n, from, err := peer.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, "to peer", string(buf[:n]))
	require.Equal(t, c.LocalAddr().String(), from.String())
	_, err = peer.WriteTo([]byte("a longer answer"), from)
	require.NoError(t, err)
	n, from, err = c.ReadFrom(buf[:8])
	require.NoError(t, err)
	require.Equal(t, "a longer", string(buf[:n]), "cut to the buffer, as a UDP read")
	require.Equal(t, peer.LocalAddr().String(), from.String())

	// Bad destinations name the socket.
	_, err = c.WriteTo([]byte("x"), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1})
	require.ErrorIs(t, err, ErrUnsupported)
	require.ErrorContains(t, err, c.LocalAddr().String())
	_, err = c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.ParseIP("::1"), Port: 1})
	require.ErrorIs(t, err, ErrUnsupported)

	// Close unblocks a reader; then everything fails with net.ErrClosed.
	done := make(chan error, 1)
	go func() { _, _, err := c.ReadFrom(buf); done <- err }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, c.Close())
	require.ErrorIs(t, <-done, net.ErrClosed)
	require.NoError(t, c.Close(), "second Close")
	_, err = c.WriteTo([]byte("x"), peer.LocalAddr())
	require.ErrorIs(t, err, net.ErrClosed)
	require.Error(t, c.SetReadBuffer(1))

	// A port outside what is free: the requested port is taken.
	_, err = srv.loops.allocateRelay(net.ParseIP("127.0.0.1"), int(mustAddrPort(t, peer.LocalAddr()).Port()), 1, 1)
	require.Error(t, err)
}

// TestEventLoopBandwidthLimit: the limit applies to peer→client
// ChannelData relayed by the loop too.
func TestEventLoopBandwidthLimit(t *testing.T) {
	const limit = 2000
	srv, err := New(Config{
		Listen:         []Listener{{Network: NetworkUDP, Addr: "127.0.0.1:0"}},
		Users:          map[string]string{"a": "pa"},
		PeerPolicy:     PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		BandwidthLimit: limit,
		Loops:          1,
	})
	require.NoError(t, err)
	defer func() { require.NoError(t, srv.Close()) }()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer peer.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer conn.Close()
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: srv.Addrs()[0].Addr, TURNServerAddr: srv.Addrs()[0].Addr,
		Username: "a", Password: "pa", Realm: DefaultRealm, Conn: conn,
	})
	require.NoError(t, err)
	defer client.Close()
	require.NoError(t, client.Listen())
	rc, err := client.Allocate()
	require.NoError(t, err)
	defer rc.Close()
	_, err = rc.WriteTo([]byte("hi"), peer.LocalAddr())
	require.NoError(t, err)
	buf := make([]byte, 1500)
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(3*time.Second)))
	_, relayed, err := peer.ReadFrom(buf)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return srv.Stats().ChannelBinds == 1 }, 5*time.Second, 10*time.Millisecond)

	payload := make([]byte, 100)
	for range 40 {
		_, err := peer.WriteTo(payload, relayed)
		require.NoError(t, err)
	}
	got := 0
	for {
		require.NoError(t, rc.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
		if _, _, err := rc.ReadFrom(buf); err != nil {
			break
		}
		got++
	}
	st := srv.Stats()
	require.Positive(t, got)
	require.LessOrEqual(t, got, 25)
	require.EqualValues(t, 40-got, st.BandwidthDrops)
	require.EqualValues(t, got, st.PacketsToClient)
}
