package relay_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/tcpturn"
	"github.com/natkit/natkit/relay"
)

var loopbackPeers = relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// tcpClient opens an RFC 6062 control connection to addr as alice.
func tcpClient(t *testing.T, addr string) *tcpturn.Client {
	return openTCPClient(t, "tcp4", addr, "alice", "secret")
}

func openTCPClient(t *testing.T, network, addr, user, pass string) *tcpturn.Client {
	t.Helper()
	c, err := tcpturn.Open(context.Background(), tcpturn.Config{
		Dial: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		Username: user, Password: pass,
	})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx5s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// peerListener is a TCP peer on 127.0.0.1 that hands over its accepted
// connections.
func peerListener(t *testing.T) (net.Listener, chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	conns := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			conns <- c
		}
	}()
	return ln, conns
}

func recvExactly(t *testing.T, c net.Conn, want string) {
	t.Helper()
	buf := make([]byte, len(want))
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, want, string(buf))
}

func stunCode(t *testing.T, err error) (int, string) {
	t.Helper()
	var se *tcpturn.Error
	require.ErrorAs(t, err, &se)
	return se.Code, se.Reason
}

// Connect: the relay dials the peer from the relayed address, the client
// binds a data connection, bytes flow both ways, and closing the control
// connection ends everything.
func TestTCPAllocationConnect(t *testing.T) {
	srv := startLoopback(t, relay.Config{Users: map[string]string{"alice": "secret"}, TCPRelay: true, PeerPolicy: loopbackPeers})
	ctx := ctx5s(t)
	c := tcpClient(t, addrOf(t, srv, "tcp"))
	alloc, err := c.Allocate(ctx)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", alloc.Relayed.Addr().String())
	require.Equal(t, c.LocalAddr().String(), alloc.Mapped.String())
	require.Equal(t, 1, srv.AllocationCount())

	ln, conns := peerListener(t)
	peer := netip.MustParseAddrPort(ln.Addr().String())
	id, err := c.Connect(ctx, peer)
	require.NoError(t, err)
	pc := <-conns
	require.Equal(t, alloc.Relayed.String(), pc.RemoteAddr().String(), "the peer sees the relayed address")

	// One connection per peer.
	_, err = c.Connect(ctx, peer)
	code, _ := stunCode(t, err)
	require.Equal(t, 446, code)

	data, err := c.Bind(ctx, id)
	require.NoError(t, err)
	defer data.Close()
	_, err = data.Write([]byte("hello peer"))
	require.NoError(t, err)
	recvExactly(t, pc, "hello peer")
	_, err = pc.Write([]byte("hello client"))
	require.NoError(t, err)
	recvExactly(t, data, "hello client")

	// A CONNECTION-ID binds once.
	_, err = c.Bind(ctx, id)
	code, _ = stunCode(t, err)
	require.Equal(t, 400, code)

	require.NoError(t, c.Close())
	require.Eventually(t, func() bool { return srv.AllocationCount() == 0 }, 3*time.Second, 10*time.Millisecond)
	_ = pc.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = pc.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the peer connection ends with the allocation")
	st := srv.Stats()
	require.EqualValues(t, len("hello peer"), st.BytesToPeer)
	require.EqualValues(t, len("hello client"), st.BytesToClient)
}

// A peer connecting to the relayed address with a permission is announced
// with ConnectionAttempt; one without is refused.
func TestTCPAllocationIncoming(t *testing.T) {
	srv := startLoopback(t, relay.Config{Users: map[string]string{"alice": "secret"}, TCPRelay: true, PeerPolicy: loopbackPeers})
	ctx := ctx5s(t)
	c := tcpClient(t, addrOf(t, srv, "tcp"))
	alloc, err := c.Allocate(ctx)
	require.NoError(t, err)

	// No permission yet: the relay closes the connection.
	early, err := net.Dial("tcp4", alloc.Relayed.String())
	require.NoError(t, err)
	defer early.Close()
	_ = early.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = early.Read(make([]byte, 1))
	require.Error(t, err)

	require.NoError(t, c.CreatePermission(ctx, netip.MustParseAddr("127.0.0.1")))
	pc, err := net.Dial("tcp4", alloc.Relayed.String())
	require.NoError(t, err)
	defer pc.Close()
	var at tcpturn.Attempt
	select {
	case at = <-c.Attempts():
	case <-ctx.Done():
		t.Fatal("no ConnectionAttempt")
	}
	require.Equal(t, pc.LocalAddr().String(), at.Peer.String())
	// The peer may send before the bind: the bytes wait.
	_, err = pc.Write([]byte("early bytes"))
	require.NoError(t, err)
	data, err := c.Bind(ctx, at.ID)
	require.NoError(t, err)
	defer data.Close()
	recvExactly(t, data, "early bytes")
	_, err = data.Write([]byte("reply"))
	require.NoError(t, err)
	recvExactly(t, pc, "reply")
}

// Every refusal carries its RFC code, and the 442 says how to turn TCP
// relaying on.
func TestTCPAllocationRefusals(t *testing.T) {
	users := map[string]string{"alice": "secret"}
	t.Run("off", func(t *testing.T) {
		srv := startLoopback(t, relay.Config{Users: users})
		_, err := tcpClient(t, addrOf(t, srv, "tcp")).Allocate(ctx5s(t))
		code, reason := stunCode(t, err)
		require.Equal(t, 442, code)
		require.True(t, strings.HasPrefix(reason, "Unsupported Transport Protocol: "), reason)
		require.Contains(t, reason, "--tcp-relay")
		require.EqualValues(t, 1, srv.Stats().Allocations[relay.OutcomeTransport])
		require.Equal(t, 0, srv.AllocationCount())
	})
	t.Run("udp control connection", func(t *testing.T) {
		srv := startLoopback(t, relay.Config{Users: users, TCPRelay: true})
		c := newRawClient(t, addrOf(t, srv, "udp"), "alice", "secret")
		resp := c.authed(stun.MethodAllocate, rawAttr{typ: stun.AttrRequestedTransport, val: []byte{6, 0, 0, 0}})
		require.Equal(t, stun.CodeBadRequest, errorCode(resp))
		require.Equal(t, 0, srv.AllocationCount())
	})
	t.Run("peer policy", func(t *testing.T) {
		srv := startLoopback(t, relay.Config{Users: users, TCPRelay: true})
		ctx := ctx5s(t)
		c := tcpClient(t, addrOf(t, srv, "tcp"))
		_, err := c.Allocate(ctx)
		require.NoError(t, err)
		for _, peer := range []string{"127.0.0.1:80", "10.1.2.3:22", "169.254.169.254:80"} {
			_, err = c.Connect(ctx, netip.MustParseAddrPort(peer))
			code, reason := stunCode(t, err)
			require.Equal(t, 403, code, peer)
			require.Contains(t, reason, "peer policy", peer)
		}
		// The relay's own listener is refused even when loopback is allowed.
	})
	t.Run("self", func(t *testing.T) {
		srv := startLoopback(t, relay.Config{Users: users, TCPRelay: true, PeerPolicy: loopbackPeers})
		ctx := ctx5s(t)
		c := tcpClient(t, addrOf(t, srv, "tcp"))
		_, err := c.Allocate(ctx)
		require.NoError(t, err)
		_, err = c.Connect(ctx, netip.MustParseAddrPort(addrOf(t, srv, "tcp")))
		code, _ := stunCode(t, err)
		require.Equal(t, 403, code)
	})
	t.Run("connect failure", func(t *testing.T) {
		srv := startLoopback(t, relay.Config{Users: users, TCPRelay: true, PeerPolicy: loopbackPeers})
		ctx := ctx5s(t)
		c := tcpClient(t, addrOf(t, srv, "tcp"))
		_, err := c.Allocate(ctx)
		require.NoError(t, err)
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		closed := ln.Addr().String()
		ln.Close()
		_, err = c.Connect(ctx, netip.MustParseAddrPort(closed))
		code, _ := stunCode(t, err)
		require.Equal(t, 447, code)
	})
	t.Run("connect without allocation", func(t *testing.T) {
		srv := startLoopback(t, relay.Config{Users: users, TCPRelay: true, PeerPolicy: loopbackPeers})
		_, err := tcpClient(t, addrOf(t, srv, "tcp")).Connect(ctx5s(t), netip.MustParseAddrPort("127.0.0.1:9"))
		code, _ := stunCode(t, err)
		require.Equal(t, 437, code)
	})
	t.Run("second allocation", func(t *testing.T) {
		srv := startLoopback(t, relay.Config{Users: users, TCPRelay: true})
		ctx := ctx5s(t)
		c := tcpClient(t, addrOf(t, srv, "tcp"))
		_, err := c.Allocate(ctx)
		require.NoError(t, err)
		_, err = c.Allocate(ctx)
		code, _ := stunCode(t, err)
		require.Equal(t, 437, code)
	})
	t.Run("quota", func(t *testing.T) {
		srv := startLoopback(t, relay.Config{Users: users, TCPRelay: true, UserQuota: 1})
		ctx := ctx5s(t)
		_, err := tcpClient(t, addrOf(t, srv, "tcp")).Allocate(ctx)
		require.NoError(t, err)
		_, err = tcpClient(t, addrOf(t, srv, "tcp")).Allocate(ctx)
		code, _ := stunCode(t, err)
		require.Equal(t, 486, code)
	})
	t.Run("bind window", func(t *testing.T) {
		srv := startLoopback(t, relay.Config{Users: users, TCPRelay: true, PeerPolicy: loopbackPeers,
			TCPBindTimeout: 100 * time.Millisecond})
		ctx := ctx5s(t)
		c := tcpClient(t, addrOf(t, srv, "tcp"))
		_, err := c.Allocate(ctx)
		require.NoError(t, err)
		ln, conns := peerListener(t)
		id, err := c.Connect(ctx, netip.MustParseAddrPort(ln.Addr().String()))
		require.NoError(t, err)
		pc := <-conns
		_ = pc.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = pc.Read(make([]byte, 1))
		require.ErrorIs(t, err, io.EOF, "no ConnectionBind: the relay closes the peer connection")
		_, err = c.Bind(ctx, id)
		code, _ := stunCode(t, err)
		require.Equal(t, 400, code)
	})
	t.Run("refresh zero", func(t *testing.T) {
		srv := startLoopback(t, relay.Config{Users: users, TCPRelay: true})
		ctx := ctx5s(t)
		c := tcpClient(t, addrOf(t, srv, "tcp"))
		_, err := c.Allocate(ctx)
		require.NoError(t, err)
		require.NoError(t, c.Refresh(ctx, time.Minute))
		require.NoError(t, c.Refresh(ctx, 0))
		require.Equal(t, 0, srv.AllocationCount())
		_, err = c.Connect(ctx, netip.MustParseAddrPort("127.0.0.1:9"))
		var se *tcpturn.Error
		require.True(t, errors.As(err, &se))
	})
}

// An IPv6 relay relays TCP over IPv6: Connect from [::1] to a peer on
// [::1], bytes both ways.
func TestTCPAllocationIPv6(t *testing.T) {
	srv := startLoopback(t, relay.Config{Listen: []relay.Listener{{Network: "tcp", Addr: "[::1]:0"}},
		Users: map[string]string{"alice": "secret"}, TCPRelay: true,
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("::1/128")}}})
	ctx := ctx5s(t)
	c := openTCPClient(t, "tcp6", addrOf(t, srv, "tcp"), "alice", "secret")
	alloc, err := c.Allocate(ctx)
	require.NoError(t, err)
	require.Equal(t, "::1", alloc.Relayed.Addr().String())
	ln, err := net.Listen("tcp6", "[::1]:0")
	require.NoError(t, err)
	defer ln.Close()
	pc, _ := connectThrough(t, ctx, c, ln, "v6")
	require.Equal(t, alloc.Relayed.String(), pc.RemoteAddr().String())
}
