package relay_test

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // TURN REST passwords are HMAC-SHA1 by definition
	"encoding/base64"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

// The holes natkit audit found in the relay (issue 12), one test each.

func TestFingerprintMismatchDiscarded(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			srv := startLoopback(t, relay.Config{Users: map[string]string{"u": "p"}})
			cl := rawClientFor(network)(t, addrOf(t, srv, network), "u", "p")
			m := cl.signed(stun.MethodAllocate, requestedTransportUDP{})
			bad := append([]byte(nil), m.Raw...)
			bad[len(bad)-1] ^= 0x01 // FINGERPRINT is the last attribute
			cl.send(bad)
			cl.expectSilence()
			require.EqualValues(t, 1, srv.Stats().BadPackets[relay.BadFingerprint])
			require.Zero(t, srv.AllocationCount())
			// The same request with its FINGERPRINT intact succeeds.
			resp := cl.roundTrip(m.Raw, m.TransactionID)
			require.Zero(t, errorCode(resp), "response %s", resp)
			// A Binding request with a wrong FINGERPRINT is dropped too.
			b, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
			require.NoError(t, err)
			b.Raw[len(b.Raw)-1] ^= 0x01
			cl.send(b.Raw)
			cl.expectSilence()
			require.EqualValues(t, 2, srv.Stats().BadPackets[relay.BadFingerprint])
		})
	}
}

// sendIndication sends data to peer through a Send indication.
func (c *rawClient) sendIndication(peer peerAddr, data []byte) {
	c.t.Helper()
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication), peer,
		rawAttr{stun.AttrData, data}, stun.Fingerprint)
	require.NoError(c.t, err)
	c.send(m.Raw)
}

func relayedAddr(t *testing.T, resp *stun.Message) (string, int) {
	t.Helper()
	var ra stun.XORMappedAddress
	require.NoError(t, ra.GetFromAs(resp, stun.AttrXORRelayedAddress))
	return ra.IP.String(), ra.Port
}

func TestSelfPeersRefused(t *testing.T) {
	// Loopback is allowed, so that only the self rule can refuse.
	srv := startLoopback(t, relay.Config{
		Users:      map[string]string{"u": "p"},
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	udpHost, udpPort := splitHostPort(t, addrOf(t, srv, "udp"))
	_, tcpPort := splitHostPort(t, addrOf(t, srv, "tcp"))
	c := newRawClient(t, addrOf(t, srv, "udp"), "u", "p")
	resp := c.allocate()
	require.Zero(t, errorCode(resp), "response %s", resp)
	relayHost, relayPort := relayedAddr(t, resp)

	tests := []struct {
		name   string
		method stun.Method
		peer   peerAddr
	}{
		{"permission to udp listener", stun.MethodCreatePermission, peerAddr{udpHost, udpPort}},
		{"permission to tcp listener", stun.MethodCreatePermission, peerAddr{udpHost, tcpPort}},
		{"channel to udp listener", stun.MethodChannelBind, peerAddr{udpHost, udpPort}},
		{"permission to own relayed address", stun.MethodCreatePermission, peerAddr{relayHost, relayPort}},
		{"channel to own relayed address", stun.MethodChannelBind, peerAddr{relayHost, relayPort}},
		{"v4-mapped listener", stun.MethodCreatePermission, peerAddr{"::ffff:" + udpHost, udpPort}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Stats().PermissionsDenied[relay.RuleSelf]
			attrs := []stun.Setter{tc.peer}
			if tc.method == stun.MethodChannelBind {
				attrs = append(attrs, channelNumber(0x4000+i))
			}
			resp := c.authed(tc.method, attrs...)
			require.Equal(t, stun.CodeForbidden, errorCode(resp), "response %s", resp)
			require.Equal(t, before+1, srv.Stats().PermissionsDenied[relay.RuleSelf])
		})
	}

	// A permission to the relay's IP on another port is fine (another
	// allocation on the same relay is a legitimate peer), but Send
	// indications toward the listener or the own relayed address are
	// dropped: no Binding response, no echo.
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer peer.Close()
	_, peerPort := splitHostPort(t, peer.LocalAddr().String())
	require.Zero(t, errorCode(c.authed(stun.MethodCreatePermission, peerAddr{"127.0.0.1", peerPort})))
	binding, err := stun.Build(stun.TransactionID, stun.BindingRequest)
	require.NoError(t, err)
	before := srv.Stats().PermissionsDenied[relay.RuleSelf]
	c.sendIndication(peerAddr{udpHost, udpPort}, binding.Raw)
	c.expectSilence()
	c.sendIndication(peerAddr{relayHost, relayPort}, []byte("echo?"))
	c.expectSilence()
	require.Equal(t, before+2, srv.Stats().PermissionsDenied[relay.RuleSelf])
	require.Zero(t, srv.Stats().BindingRequests, "the relay answered a Binding request from itself")

	// The same Send path reaches a real peer.
	c.sendIndication(peerAddr{"127.0.0.1", peerPort}, []byte("hello"))
	buf := make([]byte, 64)
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(3*time.Second)))
	n, _, err := peer.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, "hello", string(buf[:n]))
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	return host, p
}

// restCredential mints a TURN REST username expiring at exp, and its
// password, as coturn's use-auth-secret expects.
func restCredential(secret string, exp int64, user string) (string, string) {
	name := strconv.FormatInt(exp, 10) + ":" + user
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(name))
	return name, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestRESTExpiryBound(t *testing.T) {
	const secret = "s3cret"
	now := time.Now().Unix()
	tests := []struct {
		name    string
		maxTTL  time.Duration // 0: the default
		expiry  int64
		refused bool
	}{
		{"absurd expiry", 0, 99999999999, true},
		{"default bound allows 24h", 0, now + 24*3600, false},
		{"just beyond the default bound", 0, now + int64(relay.DefaultMaxRESTTTL/time.Second) + 60, true},
		{"one hour bound refuses two hours", time.Hour, now + 2*3600, true},
		{"one hour bound allows 50 minutes", time.Hour, now + 50*60, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			failures := make(chan relay.AuthFailure, 4)
			srv := startLoopback(t, relay.Config{Secrets: []string{secret}, MaxRESTTTL: tc.maxTTL,
				OnAuthFailure: func(f relay.AuthFailure) { failures <- f }})
			user, pass := restCredential(secret, tc.expiry, "bob")
			resp := newRawClient(t, addrOf(t, srv, "udp"), user, pass).allocate()
			if !tc.refused {
				require.Zero(t, errorCode(resp), "response %s", resp)
				return
			}
			require.Equal(t, stun.CodeUnauthorized, errorCode(resp), "response %s", resp)
			require.EqualValues(t, 1, srv.Stats().AuthFailures[relay.ReasonExpiryTooFar])
			select {
			case f := <-failures:
				require.Equal(t, relay.ReasonExpiryTooFar, f.Reason)
				require.Equal(t, user, f.User)
			default:
				t.Fatal("OnAuthFailure was not called")
			}
		})
	}
}

// occupyRange finds n consecutive free UDP ports on ip below the kernel's
// ephemeral range and binds all of them; it returns the first port and the
// sockets, so a test can free the ones it wants.
func occupyRange(t *testing.T, network, ip string, n int) (int, []net.PacketConn) {
	t.Helper()
	for try := range 50 {
		base := 20000 + (try*997+os.Getpid()*31)%10000
		var pcs []net.PacketConn
		for p := base; p < base+n; p++ {
			pc, err := net.ListenPacket(network, net.JoinHostPort(ip, strconv.Itoa(p)))
			if err != nil {
				break
			}
			pcs = append(pcs, pc)
		}
		if len(pcs) == n {
			t.Cleanup(func() {
				for _, pc := range pcs {
					pc.Close()
				}
			})
			return base, pcs
		}
		for _, pc := range pcs {
			pc.Close()
		}
	}
	t.Fatalf("no %d consecutive free ports on %s", n, ip)
	return 0, nil
}

// Issue 13 #21: allocation fails only when the relayed port range is
// really full, however few ports are left in it.
func TestRelayPortRangeFullOnlyWhenFull(t *testing.T) {
	for _, tc := range []struct{ name, network, ip string }{
		{"ipv4 event loops", "udp4", "127.0.0.1"},
		{"ipv6 go sockets", "udp6", "::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.network == "udp6" {
				probe, err := net.ListenPacket("udp6", "[::1]:0")
				if err != nil {
					t.Skipf("no IPv6 loopback here: %v", err)
				}
				probe.Close()
			}
			const size = 64
			base, pcs := occupyRange(t, tc.network, tc.ip, size)
			srv := startLoopback(t, relay.Config{
				Listen:  []relay.Listener{{Network: "udp", Addr: net.JoinHostPort(tc.ip, "0")}},
				Users:   map[string]string{"u": "p"},
				PortMin: uint16(base), PortMax: uint16(base + size - 1),
			})
			// Free two ports of 64: ten random tries would miss both most
			// of the time.
			free := []int{base + 17, base + 50}
			for _, p := range free {
				require.NoError(t, pcs[p-base].Close())
			}
			var got []int
			for i := range 2 {
				resp := newRawClient(t, addrOf(t, srv, "udp"), "u", "p").allocate()
				require.Zero(t, errorCode(resp), "allocation %d: %s", i, resp)
				_, port := relayedAddr(t, resp)
				got = append(got, port)
			}
			require.ElementsMatch(t, free, got)
			c := newRawClient(t, addrOf(t, srv, "udp"), "u", "p")
			require.Equal(t, stun.CodeInsufficientCapacity, errorCode(c.allocate()), "the range is full now")
		})
	}
}

// Issue 12: TCP/TLS connections that never authenticate are closed after
// AuthTimeout; authenticated ones stay.
func TestUnauthenticatedConnectionsClosed(t *testing.T) {
	tlsCfg, _, err := relay.SelfSignedTLS([]string{"127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	const timeout = 300 * time.Millisecond
	srv := startLoopback(t, relay.Config{
		Listen: []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}, {Network: "tcp", Addr: "127.0.0.1:0"},
			{Network: "tls", Addr: "127.0.0.1:0"}},
		Users:       map[string]string{"u": "p"},
		TLSConfig:   tlsCfg,
		AuthTimeout: timeout,
	})
	// An authenticated connection, opened first.
	authed := newTCPRawClient(t, addrOf(t, srv, "tcp"), "u", "p")
	require.Zero(t, errorCode(authed.allocate()))

	// Half a frame on TCP, nothing at all on TLS (no handshake), and an
	// unauthenticated Allocate that got its 401.
	half, err := net.Dial("tcp4", addrOf(t, srv, "tcp"))
	require.NoError(t, err)
	defer half.Close()
	_, err = half.Write([]byte{0x00, 0x03, 0x00, 0x08, 0x21, 0x12})
	require.NoError(t, err)
	silent, err := net.Dial("tcp4", addrOf(t, srv, "tls"))
	require.NoError(t, err)
	defer silent.Close()
	asked := newTCPRawClient(t, addrOf(t, srv, "tcp"), "u", "p")
	require.Equal(t, stun.CodeUnauthorized, errorCode(asked.request(stun.NewType(stun.MethodAllocate, stun.ClassRequest), requestedTransportUDP{})))

	start := time.Now()
	for _, c := range []net.Conn{half, silent, asked.tcp} {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, err := io.ReadAll(c)
		require.NoError(t, err, "the relay did not close an unauthenticated connection")
	}
	require.Less(t, time.Since(start), 3*time.Second)
	require.EqualValues(t, 3, srv.Stats().AuthTimeouts)

	// The authenticated connection outlived every timer and still works.
	require.Zero(t, errorCode(authed.authed(stun.MethodRefresh, lifetime(time.Minute))))
}

// Issue 12: an Allocate replayed byte for byte from another 5-tuple must
// not get an allocation: nonces are bound to the client's 5-tuple.
func TestNonceBoundToFiveTuple(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			srv := startLoopback(t, relay.Config{Users: map[string]string{"u": "p"}})
			client := rawClientFor(network)
			a := client(t, addrOf(t, srv, network), "u", "p")
			req := a.signed(stun.MethodAllocate, requestedTransportUDP{})
			require.Zero(t, errorCode(a.roundTrip(req.Raw, req.TransactionID)))
			require.Equal(t, 1, srv.AllocationCount())

			// The same bytes from a new 5-tuple: 438 with a fresh nonce.
			b := client(t, addrOf(t, srv, network), "u", "p")
			resp := b.roundTrip(req.Raw, req.TransactionID)
			require.Equal(t, stun.CodeStaleNonce, errorCode(resp), "replayed Allocate: %s", resp)
			var fresh stun.Nonce
			require.NoError(t, fresh.GetFrom(resp))
			require.NotEqual(t, string(a.nonce), string(fresh))
			var realm stun.Realm
			require.NoError(t, realm.GetFrom(resp))
			require.Equal(t, 1, srv.AllocationCount())
			require.EqualValues(t, 1, srv.Stats().StaleNonces)

			// A's nonce used by B for a request of its own is stale too;
			// the fresh one works.
			b.nonce, b.realm = a.nonce, a.realm
			require.Equal(t, stun.CodeStaleNonce, errorCode(b.allocate()))
			b.nonce = fresh
			require.Zero(t, errorCode(b.allocate()))
			require.Equal(t, 2, srv.AllocationCount())

			// A keeps working on its own 5-tuple.
			require.Zero(t, errorCode(a.authed(stun.MethodRefresh, lifetime(time.Minute))))
		})
	}
}
