package relay_test

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/tcpturn"
	"github.com/natkit/natkit/relay"
)

// openFamilyClient is openTCPClient asking for relayed addresses of one
// family (REQUESTED-ADDRESS-FAMILY).
func openFamilyClient(t *testing.T, addr string, family byte) *tcpturn.Client {
	t.Helper()
	c, err := tcpturn.Open(context.Background(), tcpturn.Config{
		Dial: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		Username: "alice", Password: "secret", Family: family,
	})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// connectThrough Connects c's allocation to the peer listening on ln,
// binds the data connection and sends msg through it; it returns the
// peer's and the client's ends, closed when the test ends.
func connectThrough(t *testing.T, ctx context.Context, c *tcpturn.Client, ln net.Listener, msg string) (peer, data net.Conn) {
	t.Helper()
	id, err := c.Connect(ctx, netip.MustParseAddrPort(ln.Addr().String()))
	require.NoError(t, err)
	peer, err = ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { peer.Close() })
	data, err = c.Bind(ctx, id)
	require.NoError(t, err)
	t.Cleanup(func() { data.Close() })
	_, err = data.Write([]byte(msg))
	require.NoError(t, err)
	recvExactly(t, peer, msg)
	return peer, data
}

// acceptThrough permits peerIP on c's allocation, connects to relayed from
// it, binds the connection the ConnectionAttempt names and sends msg from
// the peer through it; it returns the peer's connection and the attempt.
func acceptThrough(t *testing.T, ctx context.Context, c *tcpturn.Client, peerIP netip.Addr, relayed netip.AddrPort, msg string) (net.Conn, tcpturn.Attempt) {
	t.Helper()
	require.NoError(t, c.CreatePermission(ctx, peerIP))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: peerIP.AsSlice()}}
	in, err := d.DialContext(ctx, "tcp", relayed.String())
	require.NoError(t, err)
	t.Cleanup(func() { in.Close() })
	var at tcpturn.Attempt
	select {
	case at = <-c.Attempts():
	case <-ctx.Done():
		t.Fatal("no ConnectionAttempt")
	}
	data, err := c.Bind(ctx, at.ID)
	require.NoError(t, err)
	t.Cleanup(func() { data.Close() })
	_, err = in.Write([]byte(msg))
	require.NoError(t, err)
	recvExactly(t, data, msg)
	return in, at
}

// TestTCPAllocationRelayIPv6 runs RFC 6062 with IPv6 relayed addresses on
// a dual-stack relay (RelayIP 127.0.0.1, RelayIPv6 ::1): an Allocate with
// REQUESTED-ADDRESS-FAMILY IPv6 gets [::1], Connects to an IPv6 peer and
// takes a ConnectionAttempt from one; a Connect or CreatePermission
// toward the other family gets 443, and a one-family relay answers 440.
func TestTCPAllocationRelayIPv6(t *testing.T) {
	skipWithoutIPv6(t)
	srv := startLoopback(t, relay.Config{
		Listen: []relay.Listener{{Network: "tcp", Addr: "127.0.0.1:0"}, {Network: "tcp", Addr: "[::1]:0"}},
		Users:  map[string]string{"alice": "secret"}, TCPRelay: true,
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
	})
	var tcp4, tcp6 string
	for _, a := range srv.Addrs() {
		if netip.MustParseAddrPort(a.Addr).Addr().Is4() {
			tcp4 = a.Addr
		} else {
			tcp6 = a.Addr
		}
	}
	ln6, err := net.Listen("tcp6", "[::1]:0")
	require.NoError(t, err)
	defer ln6.Close()
	ln4, conns4 := peerListener(t)

	// Over IPv4 or IPv6 to the relay: the relayed family is the one asked for.
	for _, server := range []string{tcp6, tcp4} {
		t.Run("connect to an IPv6 peer via "+server, func(t *testing.T) {
			ctx := ctx5s(t)
			c := openFamilyClient(t, server, tcpturn.FamilyIPv6)
			alloc, err := c.Allocate(ctx)
			require.NoError(t, err)
			require.Equal(t, "::1", alloc.Relayed.Addr().String())
			pc, data := connectThrough(t, ctx, c, ln6, "to v6")
			require.Equal(t, alloc.Relayed.String(), pc.RemoteAddr().String(), "dialed from the relayed address")
			_, err = pc.Write([]byte("from v6"))
			require.NoError(t, err)
			recvExactly(t, data, "from v6")
		})
	}

	t.Run("connection attempt from an IPv6 peer", func(t *testing.T) {
		ctx := ctx5s(t)
		c := openFamilyClient(t, tcp4, tcpturn.FamilyIPv6)
		alloc, err := c.Allocate(ctx)
		require.NoError(t, err)
		in, at := acceptThrough(t, ctx, c, netip.MustParseAddr("::1"), alloc.Relayed, "incoming v6")
		require.Equal(t, in.LocalAddr().String(), at.Peer.String())
	})

	t.Run("the other family is 443", func(t *testing.T) {
		ctx := ctx5s(t)
		c6 := openFamilyClient(t, tcp6, tcpturn.FamilyIPv6)
		_, err := c6.Allocate(ctx)
		require.NoError(t, err)
		_, err = c6.Connect(ctx, netip.MustParseAddrPort(ln4.Addr().String()))
		code, reason := stunCode(t, err)
		require.Equal(t, 443, code)
		require.Contains(t, reason, "not IPv6")
		code, _ = stunCode(t, c6.CreatePermission(ctx, netip.MustParseAddr("127.0.0.1")))
		require.Equal(t, 443, code)
		select {
		case c := <-conns4:
			t.Fatalf("the relay connected to the IPv4 peer from %s", c.RemoteAddr())
		default:
		}

		// Without REQUESTED-ADDRESS-FAMILY: IPv4 (RFC 6156), whatever the
		// client reached the relay over; an IPv6 peer is then 443.
		c4 := openFamilyClient(t, tcp6, 0)
		alloc, err := c4.Allocate(ctx)
		require.NoError(t, err)
		require.Equal(t, "127.0.0.1", alloc.Relayed.Addr().String())
		_, err = c4.Connect(ctx, netip.MustParseAddrPort(ln6.Addr().String()))
		code, _ = stunCode(t, err)
		require.Equal(t, 443, code)
		require.Positive(t, srv.Stats().PermissionsDenied[relay.RuleFamily])
	})

	t.Run("a relay without IPv6 is 440", func(t *testing.T) {
		v4 := startLoopback(t, relay.Config{Listen: []relay.Listener{{Network: "tcp", Addr: "127.0.0.1:0"}},
			Users: map[string]string{"alice": "secret"}, TCPRelay: true, PeerPolicy: loopbackPeers})
		_, err := openFamilyClient(t, addrOf(t, v4, "tcp"), tcpturn.FamilyIPv6).Allocate(ctx5s(t))
		code, reason := stunCode(t, err)
		require.Equal(t, 440, code)
		require.Contains(t, reason, "--relay-ipv6")
	})
}
