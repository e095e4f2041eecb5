package relay

import (
	"fmt"
	"net"
	"net/netip"
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
				_, isRaw := srv.fast.relays[mustAddrPort(t, rc.LocalAddr())].PacketConn.(*rawConn)
				srv.fast.mu.RUnlock()
				require.True(t, isRaw, "the relayed socket is served by a loop")
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
