package relay_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

// requestedFamily is REQUESTED-ADDRESS-FAMILY (RFC 6156): 1 IPv4, 2 IPv6.
type requestedFamily byte

func (f requestedFamily) AddTo(m *stun.Message) error {
	m.Add(stun.AttrRequestedAddressFamily, []byte{byte(f), 0, 0, 0})
	return nil
}

func skipWithoutIPv6(t *testing.T) {
	t.Helper()
	pc, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	pc.Close()
}

// dualStack starts a relay listening on 127.0.0.1 and [::1] (UDP and
// TCP): RelayIP is 127.0.0.1, RelayIPv6 defaults to ::1.
func dualStack(t *testing.T, policy relay.PeerPolicy) (udp4, udp6, tcp6 string) {
	t.Helper()
	skipWithoutIPv6(t)
	srv := startLoopback(t, relay.Config{
		Listen: []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}, {Network: "udp", Addr: "[::1]:0"}, {Network: "tcp", Addr: "[::1]:0"}},
		Users:  map[string]string{"a": "pa"}, PeerPolicy: policy,
	})
	for _, a := range srv.Addrs() {
		ap := netip.MustParseAddrPort(a.Addr)
		switch {
		case a.Network == "udp" && ap.Addr().Is4():
			udp4 = a.Addr
		case a.Network == "udp":
			udp6 = a.Addr
		default:
			tcp6 = a.Addr
		}
	}
	return udp4, udp6, tcp6
}

func tcp6Client(t *testing.T, server string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp6", server, 3*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, tcp: conn, server: conn.RemoteAddr(), user: "a", pass: "pa"}
}

func TestRequestedAddressFamily(t *testing.T) {
	udp4, udp6, tcp6 := dualStack(t, relay.PeerPolicy{})
	tests := []struct {
		name   string
		client func(t *testing.T) *rawClient
		attrs  []stun.Setter
		want   string
	}{
		{"ipv4 client, default", func(t *testing.T) *rawClient { return newRawClient(t, udp4, "a", "pa") }, nil, "127.0.0.1"},
		{"ipv4 client asks ipv4", func(t *testing.T) *rawClient { return newRawClient(t, udp4, "a", "pa") }, []stun.Setter{requestedFamily(1)}, "127.0.0.1"},
		{"ipv4 client asks ipv6", func(t *testing.T) *rawClient { return newRawClient(t, udp4, "a", "pa") }, []stun.Setter{requestedFamily(2)}, "::1"},
		{"ipv6 client, default is ipv4 (RFC 6156)", func(t *testing.T) *rawClient { return newRawClient(t, udp6, "a", "pa") }, nil, "127.0.0.1"},
		{"ipv6 client asks ipv6", func(t *testing.T) *rawClient { return newRawClient(t, udp6, "a", "pa") }, []stun.Setter{requestedFamily(2)}, "::1"},
		{"ipv6 tcp client asks ipv6", func(t *testing.T) *rawClient { return tcp6Client(t, tcp6) }, []stun.Setter{requestedFamily(2)}, "::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.client(t).allocate(tt.attrs...)
			require.Zero(t, errorCode(resp), "response %s", resp)
			ip, port := relayedAddr(t, resp)
			assert.Equal(t, tt.want, ip)
			assert.NotZero(t, port)
		})
	}
	// Concurrent Allocates of both families from many clients each get
	// their own family: the hand-off to the generator does not leak.
	done := make(chan error, 20)
	for i := range 20 {
		go func() {
			server, fam, want := udp4, requestedFamily(1), "127.0.0.1"
			if i%2 == 1 {
				server, fam, want = udp6, requestedFamily(2), "::1"
			}
			resp := newRawClient(t, server, "a", "pa").allocate(fam)
			var ra stun.XORMappedAddress
			if err := ra.GetFromAs(resp, stun.AttrXORRelayedAddress); err != nil {
				done <- err
				return
			}
			if ra.IP.String() != want {
				done <- assert.AnError
				return
			}
			done <- nil
		}()
	}
	for range 20 {
		require.NoError(t, <-done)
	}
}

func TestAddressFamilyNotSupported(t *testing.T) {
	skipWithoutIPv6(t)
	v4only := startLoopback(t, relay.Config{Users: map[string]string{"a": "pa"}})
	resp := newRawClient(t, addrOf(t, v4only, "udp"), "a", "pa").allocate(requestedFamily(2))
	assert.Equal(t, stun.CodeAddrFamilyNotSupported, errorCode(resp), "response %s", resp)

	v6only := startLoopback(t, relay.Config{Listen: []relay.Listener{{Network: "udp", Addr: "[::1]:0"}}, Users: map[string]string{"a": "pa"}})
	resp = newRawClient(t, addrOf(t, v6only, "udp"), "a", "pa").allocate(requestedFamily(1))
	assert.Equal(t, stun.CodeAddrFamilyNotSupported, errorCode(resp), "response %s", resp)
	// Without the attribute an IPv6-only relay allocates IPv6 (see
	// family.go: pion's clients never send it).
	resp = newRawClient(t, addrOf(t, v6only, "udp"), "a", "pa").allocate()
	require.Zero(t, errorCode(resp), "response %s", resp)
	ip, _ := relayedAddr(t, resp)
	assert.Equal(t, "::1", ip)

	resp = newRawClient(t, addrOf(t, v4only, "udp"), "a", "pa").allocate(requestedFamily(7))
	assert.Equal(t, stun.CodeAddrFamilyNotSupported, errorCode(resp), "response %s", resp)
}

// TestIPv6PeersThroughPolicy relays data to an IPv6 peer on ::1 when the
// policy allows it, and refuses IPv6 peers the default policy forbids.
func TestIPv6PeersThroughPolicy(t *testing.T) {
	_, udp6, _ := dualStack(t, relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("::1/128")}})
	c := newRawClient(t, udp6, "a", "pa")
	resp := c.allocate(requestedFamily(2))
	require.Zero(t, errorCode(resp), "response %s", resp)
	ip, _ := relayedAddr(t, resp)
	assert.Equal(t, "::1", ip)

	peer, err := net.ListenPacket("udp6", "[::1]:0")
	require.NoError(t, err)
	t.Cleanup(func() { peer.Close() })
	pa := peer.LocalAddr().(*net.UDPAddr)
	resp = c.authed(stun.MethodCreatePermission, peerAddr{"::1", pa.Port})
	require.Zero(t, errorCode(resp), "response %s", resp)
	c.sendIndication(peerAddr{"::1", pa.Port}, []byte("over ipv6"))
	buf := make([]byte, 1500)
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(3*time.Second)))
	n, from, err := peer.ReadFrom(buf)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(buf[:n], []byte("over ipv6")))
	assert.Equal(t, "::1", from.(*net.UDPAddr).IP.String())

	// (pion's encoder writes ::ffff:10.0.0.1 as family IPv4: on this IPv6
	// allocation that is a 443, see TestPeerAddressFamilyMismatch.)
	for _, p := range []string{"fe80::1", "fc00::5", "64:ff9b::a00:1", "2002:a00:1::1"} {
		resp = c.authed(stun.MethodCreatePermission, peerAddr{p, 9})
		assert.Equal(t, stun.CodeForbidden, errorCode(resp), "peer %s: %s", p, resp)
	}
}

// TestPeerAddressFamilyMismatch: a CreatePermission or ChannelBind toward
// a peer of the family the allocation has no relayed address of gets 443
// (RFC 6156 section 6.1, RFC 8656 section 7.3), before the peer policy;
// a Send indication there is dropped. The family is the attribute's: an
// IPv4-mapped IPv6 address is an IPv6 peer.
func TestPeerAddressFamilyMismatch(t *testing.T) {
	udp4, _, _ := dualStack(t, relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	v4 := newRawClient(t, udp4, "a", "pa")
	require.Zero(t, errorCode(v4.allocate()))
	v6 := newRawClient(t, udp4, "a", "pa")
	require.Zero(t, errorCode(v6.allocate(requestedFamily(2))))
	for _, tc := range []struct {
		c    *rawClient
		peer stun.Setter
		want stun.ErrorCode
	}{
		{v4, peerAddr{"::1", 9}, stun.CodePeerAddrFamilyMismatch},
		{v4, mappedPeer(netip.MustParseAddr("::ffff:127.0.0.1")), stun.CodePeerAddrFamilyMismatch},
		{v4, peerAddr{"127.0.0.1", 9}, 0},
		{v6, peerAddr{"127.0.0.1", 9}, stun.CodePeerAddrFamilyMismatch},
		{v6, peerAddr{"::1", 9}, 0},
		{v6, peerAddr{"fe80::1", 9}, stun.CodeForbidden},
	} {
		resp := tc.c.authed(stun.MethodCreatePermission, tc.peer)
		assert.Equal(t, tc.want, errorCode(resp), "CreatePermission %v: %s", tc.peer, resp)
		resp = tc.c.authed(stun.MethodChannelBind, channelNumber(0x4001), tc.peer)
		assert.Equal(t, tc.want, errorCode(resp), "ChannelBind %v: %s", tc.peer, resp)
	}
	// A Send indication to an IPv6 peer from the IPv4 allocation never
	// leaves the relay, even with a permission for ::1 on another one.
	peer, err := net.ListenPacket("udp6", "[::1]:0")
	require.NoError(t, err)
	t.Cleanup(func() { peer.Close() })
	v4.sendIndication(peerAddr{"::1", peer.LocalAddr().(*net.UDPAddr).Port}, []byte("wrong family"))
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
	_, _, err = peer.ReadFrom(make([]byte, 64))
	require.Error(t, err)
}

// mappedPeer is an XOR-PEER-ADDRESS of family IPv6 even for an
// IPv4-mapped address (pion's encoder would write family IPv4).
type mappedPeer netip.Addr

func (p mappedPeer) AddTo(m *stun.Message) error {
	a := netip.Addr(p).As16()
	var key [16]byte // the magic cookie, then the transaction id
	binary.BigEndian.PutUint32(key[:4], 0x2112A442)
	copy(key[4:], m.TransactionID[:])
	v := make([]byte, 20)
	v[1] = 0x02
	binary.BigEndian.PutUint16(v[2:4], 9^0x2112) // port 9 XOR the cookie's top half
	for i := range a {
		v[4+i] = a[i] ^ key[i]
	}
	m.Add(stun.AttrXORPeerAddress, v)
	return nil
}

// additionalFamily is RFC 8656's ADDITIONAL-ADDRESS-FAMILY.
type additionalFamily byte

func (f additionalFamily) AddTo(m *stun.Message) error {
	m.Add(0x8000, []byte{byte(f), 0, 0, 0})
	return nil
}

// relayedAddrs lists every XOR-RELAYED-ADDRESS of an answer.
func relayedAddrs(t *testing.T, resp *stun.Message) []string {
	t.Helper()
	var out []string
	for _, a := range resp.Attributes {
		if a.Type != stun.AttrXORRelayedAddress {
			continue
		}
		one := &stun.Message{TransactionID: resp.TransactionID}
		one.Add(a.Type, a.Value)
		var x stun.XORMappedAddress
		require.NoError(t, x.GetFromAs(one, stun.AttrXORRelayedAddress))
		out = append(out, x.IP.String())
	}
	return out
}

// TestDualAllocation: ADDITIONAL-ADDRESS-FAMILY IPv6 on a dual-stack relay
// gets an IPv4 and an IPv6 relayed address in one allocation (RFC 8656
// section 7.2), the answer still signed; permissions of both families are
// granted and data flows to peers of both through the one allocation.
func TestDualAllocation(t *testing.T) {
	udp4, _, _ := dualStack(t, relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	c := newRawClient(t, udp4, "a", "pa")
	resp := c.allocate(additionalFamily(2))
	require.Zero(t, errorCode(resp), "response %s", resp)
	require.Equal(t, []string{"127.0.0.1", "::1"}, relayedAddrs(t, resp))
	require.NoError(t, stun.NewLongTermIntegrity("a", relay.DefaultRealm, "pa").Check(resp), "the completed answer is signed")

	for _, network := range []string{"udp4", "udp6"} {
		local := map[string]string{"udp4": "127.0.0.1:0", "udp6": "[::1]:0"}[network]
		peer, err := net.ListenPacket(network, local)
		require.NoError(t, err)
		t.Cleanup(func() { peer.Close() })
		pa := peer.LocalAddr().(*net.UDPAddr)
		p := peerAddr{pa.IP.String(), pa.Port}
		require.Zero(t, errorCode(c.authed(stun.MethodCreatePermission, p)), network)
		c.sendIndication(p, []byte("to "+network))
		buf := make([]byte, 1500)
		require.NoError(t, peer.SetReadDeadline(time.Now().Add(3*time.Second)))
		n, from, err := peer.ReadFrom(buf)
		require.NoError(t, err, network)
		assert.Equal(t, "to "+network, string(buf[:n]))
		// The answer comes back as a Data indication from the peer.
		_, err = peer.WriteTo([]byte("back over "+network), from)
		require.NoError(t, err)
		m := c.readIndication(3 * time.Second)
		data, err := m.Get(stun.AttrData)
		require.NoError(t, err)
		assert.Equal(t, "back over "+network, string(data))
	}
}

// TestDualAllocationRules: RFC 8656 section 7.2's refusals, and a relay
// without IPv6 that allocates IPv4 only and says why in
// ADDRESS-ERROR-CODE.
func TestDualAllocationRules(t *testing.T) {
	udp4, _, _ := dualStack(t, relay.PeerPolicy{})
	for _, tc := range []struct {
		name  string
		attrs []stun.Setter
		want  stun.ErrorCode
	}{
		{"additional ipv4", []stun.Setter{additionalFamily(1)}, stun.CodeBadRequest},
		{"both attributes", []stun.Setter{additionalFamily(2), requestedFamily(1)}, stun.CodeBadRequest},
		{"with even-port", []stun.Setter{additionalFamily(2), rawAttr{stun.AttrEvenPort, []byte{0x80}}}, stun.CodeAddrFamilyNotSupported},
	} {
		resp := newRawClient(t, udp4, "a", "pa").allocate(tc.attrs...)
		assert.Equal(t, tc.want, errorCode(resp), "%s: %s", tc.name, resp)
	}

	v4only := startLoopback(t, relay.Config{Users: map[string]string{"a": "pa"}})
	resp := newRawClient(t, addrOf(t, v4only, "udp"), "a", "pa").allocate(additionalFamily(2))
	require.Zero(t, errorCode(resp), "response %s", resp)
	require.Equal(t, []string{"127.0.0.1"}, relayedAddrs(t, resp))
	v, err := resp.Get(0x8001)
	require.NoError(t, err, "ADDRESS-ERROR-CODE")
	require.GreaterOrEqual(t, len(v), 4)
	assert.Equal(t, []byte{2, 0, 4, 40}, v[:4], "IPv6: 440")
	require.NoError(t, stun.NewLongTermIntegrity("a", relay.DefaultRealm, "pa").Check(resp))
}

// readIndication waits for the next Data indication.
func (c *rawClient) readIndication(timeout time.Duration) *stun.Message {
	c.t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		n, err := c.read(buf, time.Until(deadline))
		require.NoError(c.t, err, "no Data indication")
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() == nil && m.Type == stun.NewType(stun.MethodData, stun.ClassIndication) {
			return m
		}
	}
	c.t.Fatal("no Data indication")
	return nil
}
