package relay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

func TestAuthentication(t *testing.T) {
	const secret, rotated = "current-secret", "previous-secret"
	failures := make(chan relay.AuthFailure, 16)
	srv := startLoopback(t, relay.Config{
		Users:         map[string]string{"alice": "wonderland"},
		Secrets:       []string{secret, rotated},
		OnAuthFailure: func(f relay.AuthFailure) { failures <- f },
	})
	udp := addrOf(t, srv, "udp")
	rest := func(s, user string, ttl time.Duration) (string, string) {
		u, p, err := turn.GenerateLongTermTURNRESTCredentials(s, user, ttl)
		require.NoError(t, err)
		return u, p
	}
	restUser, restPass := rest(secret, "bob", time.Hour)
	rotUser, rotPass := rest(rotated, "carol", time.Hour)
	expUser, expPass := rest(secret, "dave", -time.Minute)
	tests := []struct {
		name, user, pass string
		wantCode         stun.ErrorCode // 0: success
		wantReason       string
	}{
		{"static user", "alice", "wonderland", 0, ""},
		{"static wrong password", "alice", "nope", stun.CodeUnauthorized, relay.ReasonWrongPassword},
		{"unknown user", "mallory", "x", stun.CodeUnauthorized, relay.ReasonUnknownUser},
		{"rest current secret", restUser, restPass, 0, ""},
		{"rest previous secret", rotUser, rotPass, 0, ""},
		{"rest wrong password", restUser, "AAAA", stun.CodeUnauthorized, relay.ReasonWrongPassword},
		{"rest expired", expUser, expPass, stun.CodeUnauthorized, relay.ReasonExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Stats().AuthFailures[tc.wantReason]
			c := newRawClient(t, udp, tc.user, tc.pass)
			resp := c.allocate()
			require.Equal(t, tc.wantCode, errorCode(resp), "response %s", resp)
			if tc.wantCode == 0 {
				require.Equal(t, stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse), resp.Type)
				require.NoError(t, stun.NewLongTermIntegrity(tc.user, relay.DefaultRealm, tc.pass).Check(resp))
				return
			}
			require.Equal(t, before+1, srv.Stats().AuthFailures[tc.wantReason])
			select {
			case f := <-failures:
				require.Equal(t, tc.wantReason, f.Reason)
				require.Equal(t, tc.user, f.User)
				require.Equal(t, "Allocate", f.Method)
				require.Equal(t, "udp", f.Transport)
				require.NotNil(t, f.Client)
			default:
				t.Fatal("OnAuthFailure was not called")
			}
			var realm stun.Realm
			require.NoError(t, realm.GetFrom(resp))
			require.Equal(t, relay.DefaultRealm, realm.String())
		})
	}
	require.EqualValues(t, 3, srv.Stats().Allocations[relay.OutcomeCreated])
	require.EqualValues(t, 4, srv.Stats().Allocations[relay.OutcomeUnauthorized])
}

func TestPeerPolicyOnTheWire(t *testing.T) {
	srv := startLoopback(t, relay.Config{
		Users: map[string]string{"u": "p"},
		PeerPolicy: relay.PeerPolicy{
			Allow: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")},
			Deny:  []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
		},
	})
	udp := addrOf(t, srv, "udp")
	tests := []struct {
		name   string
		method stun.Method
		peer   string
		want   stun.ErrorCode
		rule   string
	}{
		{"public permission", stun.MethodCreatePermission, "203.0.113.7", 0, ""},
		{"public channel", stun.MethodChannelBind, "203.0.113.8", 0, ""},
		{"loopback permission", stun.MethodCreatePermission, "127.0.0.1", stun.CodeForbidden, relay.RuleLoopback},
		{"loopback channel", stun.MethodChannelBind, "127.0.0.1", stun.CodeForbidden, relay.RuleLoopback},
		{"mapped loopback", stun.MethodCreatePermission, "::ffff:127.0.0.1", stun.CodeForbidden, relay.RuleLoopback},
		// IPv6 peers on this IPv4 allocation are 443 before any policy
		// (TestIPv6PeersThroughPolicy checks the IPv6 policy).
		{"ipv6 loopback", stun.MethodCreatePermission, "::1", stun.CodePeerAddrFamilyMismatch, relay.RuleFamily},
		{"private", stun.MethodCreatePermission, "192.168.1.1", stun.CodeForbidden, relay.RulePrivate},
		{"6to4 private", stun.MethodCreatePermission, "2002:c0a8:0101::1", stun.CodePeerAddrFamilyMismatch, relay.RuleFamily},
		{"nat64 metadata", stun.MethodCreatePermission, "64:ff9b::a9fe:a9fe", stun.CodePeerAddrFamilyMismatch, relay.RuleFamily},
		{"allowed private", stun.MethodCreatePermission, "10.9.1.2", 0, ""},
		{"deny-peer", stun.MethodCreatePermission, "198.51.100.1", stun.CodeForbidden, relay.RuleDenyPeer},
	}
	c := newRawClient(t, udp, "u", "p")
	require.Zero(t, errorCode(c.allocate()))
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Stats().PermissionsDenied[tc.rule]
			attrs := []stun.Setter{peerAddr{tc.peer, 5000}}
			if tc.method == stun.MethodChannelBind {
				attrs = append(attrs, channelNumber(0x4000+i))
			}
			resp := c.authed(tc.method, attrs...)
			require.Equal(t, tc.want, errorCode(resp), "response %s", resp)
			if tc.want != 0 {
				require.Equal(t, before+1, srv.Stats().PermissionsDenied[tc.rule])
				// A refusal to an authenticated request is signed.
				require.NoError(t, stun.NewLongTermIntegrity("u", relay.DefaultRealm, "p").Check(resp))
			}
		})
	}
}

func TestQuotas(t *testing.T) {
	tests := []struct {
		name     string
		cfg      relay.Config
		users    []string // one allocation attempt each, in order
		wantCode []stun.ErrorCode
		outcome  string
	}{
		{"user quota", relay.Config{UserQuota: 1}, []string{"a", "a", "b"},
			[]stun.ErrorCode{0, stun.CodeAllocQuotaReached, 0}, relay.OutcomeQuota},
		{"max allocations", relay.Config{MaxAllocations: 2}, []string{"a", "b", "a"},
			[]stun.ErrorCode{0, 0, stun.CodeInsufficientCapacity}, relay.OutcomeCapacity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Users = map[string]string{"a": "pa", "b": "pb"}
			srv := startLoopback(t, cfg)
			for i, u := range tc.users {
				c := newRawClient(t, addrOf(t, srv, "udp"), u, "p"+u)
				require.Equal(t, tc.wantCode[i], errorCode(c.allocate()), "allocation %d by %s", i, u)
			}
			require.EqualValues(t, 1, srv.Stats().Allocations[tc.outcome])
			require.EqualValues(t, 2, srv.Stats().ActiveAllocations)
		})
	}
}

func TestQuotaFreedOnRefreshZero(t *testing.T) {
	srv := startLoopback(t, relay.Config{Users: map[string]string{"a": "pa"}, UserQuota: 1})
	c := newRawClient(t, addrOf(t, srv, "udp"), "a", "pa")
	require.Zero(t, errorCode(c.allocate()))
	require.Zero(t, errorCode(c.authed(stun.MethodRefresh, lifetime(0))))
	require.Eventually(t, func() bool { return srv.AllocationCount() == 0 }, 2*time.Second, 10*time.Millisecond)
	c2 := newRawClient(t, addrOf(t, srv, "udp"), "a", "pa")
	require.Zero(t, errorCode(c2.allocate()))
}

func TestMaxLifetime(t *testing.T) {
	tests := []struct {
		name      string
		max       time.Duration
		requested time.Duration // 0: no LIFETIME attribute
		want      time.Duration
	}{
		{"default request under default max", 0, 0, 10 * time.Minute},
		{"short request kept", 0, 5 * time.Minute, 5 * time.Minute},
		{"request above max clamped", 2 * time.Minute, 5 * time.Minute, 2 * time.Minute},
		{"default request clamped", 2 * time.Minute, 0, 2 * time.Minute},
		{"hour request honoured below pion's cut-off", 0, 2 * time.Hour, time.Hour - time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startLoopback(t, relay.Config{Users: map[string]string{"a": "pa"}, MaxLifetime: tc.max})
			c := newRawClient(t, addrOf(t, srv, "udp"), "a", "pa")
			var attrs []stun.Setter
			if tc.requested > 0 {
				attrs = append(attrs, lifetime(tc.requested))
			}
			resp := c.allocate(attrs...)
			require.Zero(t, errorCode(resp), "response %s", resp)
			require.Equal(t, tc.want, lifetimeOf(t, resp))
		})
	}
}

func TestBindingWithoutAlternateAddress(t *testing.T) {
	srv := startLoopback(t, relay.Config{})
	c := newRawClient(t, addrOf(t, srv, "udp"), "", "")
	resp := c.request(stun.BindingRequest)
	require.Equal(t, stun.BindingSuccess, resp.Type)
	var xor stun.XORMappedAddress
	require.NoError(t, xor.GetFrom(resp))
	require.Equal(t, c.conn.LocalAddr().String(), (&net.UDPAddr{IP: xor.IP, Port: xor.Port}).String())
	require.False(t, resp.Contains(stun.AttrOtherAddress))

	for _, flags := range []byte{0x02, 0x04, 0x06} {
		resp = c.request(stun.BindingRequest, rawAttr{stun.AttrChangeRequest, []byte{0, 0, 0, flags}})
		require.Equal(t, stun.CodeUnknownAttribute, errorCode(resp))
		var ua stun.UnknownAttributes
		require.NoError(t, ua.GetFrom(resp))
		require.Equal(t, stun.UnknownAttributes{stun.AttrChangeRequest}, ua)
	}
	// A CHANGE-REQUEST that asks for no change is plain Binding.
	resp = c.request(stun.BindingRequest, rawAttr{stun.AttrChangeRequest, []byte{0, 0, 0, 0}})
	require.Equal(t, stun.BindingSuccess, resp.Type)
}

func TestRFC5780OnLoopback(t *testing.T) {
	srv := startLoopback(t, relay.Config{
		Listen: []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}},
		AltIP:  net.ParseIP("127.0.0.2"),
	})
	udp := addrOf(t, srv, "udp")
	host, port, _ := net.SplitHostPort(udp)
	p, _ := strconv.Atoi(port)
	require.Equal(t, net.JoinHostPort("127.0.0.2", strconv.Itoa(p+1)), srv.OtherAddress())
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	server, _ := net.ResolveUDPAddr("udp4", udp)
	for _, tc := range []struct {
		flags uint32
		from  string
	}{
		{0, udp},
		{0x02, net.JoinHostPort(host, strconv.Itoa(p+1))},
		{0x04, net.JoinHostPort("127.0.0.2", port)},
		{0x06, srv.OtherAddress()},
	} {
		_, from := bindingExchange(t, conn, server, tc.flags)
		require.Equal(t, tc.from, from.String(), "flags %#x", tc.flags)
	}
}

func TestBadInputIsCountedAndSurvived(t *testing.T) {
	srv := startLoopback(t, relay.Config{Users: map[string]string{"a": "pa"}})
	udp := addrOf(t, srv, "udp")
	c := newRawClient(t, udp, "a", "pa")
	header := func(typ uint16, length uint16) []byte {
		m := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
		b := append([]byte(nil), m.Raw[:20]...)
		b[0], b[1] = byte(typ>>8), byte(typ)
		b[2], b[3] = byte(length>>8), byte(length)
		return b
	}
	tests := []struct {
		name   string
		packet []byte
		reason string
	}{
		{"rtp, not stun", []byte{0x80, 0x60, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}, relay.BadNotSTUN},
		{"stun header with a wrong cookie", append([]byte{0, 1, 0, 0, 1, 2, 3, 4}, make([]byte, 12)...), relay.BadNotSTUN},
		{"stun length past the end", header(0x0001, 40), relay.BadMalformedSTUN},
		{"truncated channel data", []byte{0x40, 0x00, 0x00, 0x40, 1, 2}, relay.BadTruncatedChannel},
		{"response class", header(0x0101, 0), relay.BadUnexpectedClass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Stats().BadPackets[tc.reason]
			_, err := c.conn.WriteTo(tc.packet, c.server)
			require.NoError(t, err)
			c.expectSilence()
			require.Equal(t, before+1, srv.Stats().BadPackets[tc.reason])
		})
	}
	t.Run("unknown comprehension-required attribute", func(t *testing.T) {
		resp := c.request(stun.BindingRequest, rawAttr{0x7F01, []byte{1, 2, 3, 4}})
		require.Equal(t, stun.CodeUnknownAttribute, errorCode(resp))
		var ua stun.UnknownAttributes
		require.NoError(t, ua.GetFrom(resp))
		require.Equal(t, stun.UnknownAttributes{0x7F01}, ua)
		// comprehension-optional ones are ignored
		resp = c.request(stun.BindingRequest, rawAttr{0xC001, []byte{1, 2, 3, 4}})
		require.Equal(t, stun.BindingSuccess, resp.Type)
	})
	// Still serving.
	require.Zero(t, errorCode(c.allocate()))
}

func TestTCPFraming(t *testing.T) {
	srv := startLoopback(t, relay.Config{Users: map[string]string{"a": "pa"}})
	tcp := addrOf(t, srv, "tcp")
	tests := []struct {
		name   string
		frame  []byte
		reason string
	}{
		{"oversized stun", []byte{0x00, 0x01, 0xFF, 0xF0, 0x21, 0x12, 0xA4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, relay.BadOversized},
		{"oversized channel data", []byte{0x40, 0x00, 0xFF, 0xFF, 1, 2, 3, 4}, relay.BadOversized},
		{"not stun", []byte("\x16\x03\x01 hello, this is not TURN"), relay.BadNotSTUN},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Stats().BadPackets[tc.reason]
			conn, err := net.Dial("tcp", tcp)
			require.NoError(t, err)
			defer conn.Close()
			_, err = conn.Write(tc.frame)
			require.NoError(t, err)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(3*time.Second)))
			_, err = conn.Read(make([]byte, 10))
			require.ErrorIs(t, err, io.EOF, "the relay closes the connection")
			require.Equal(t, before+1, srv.Stats().BadPackets[tc.reason])
		})
	}
}

func TestTCPAllocationWithPionClient(t *testing.T) {
	srv := startLoopback(t, relay.Config{Users: map[string]string{"a": "pa"}})
	tcp := addrOf(t, srv, "tcp")
	conn, err := net.Dial("tcp", tcp)
	require.NoError(t, err)
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: tcp, TURNServerAddr: tcp, Username: "a", Password: "pa",
		Realm: relay.DefaultRealm, Conn: turn.NewSTUNConn(conn),
	})
	require.NoError(t, err)
	t.Cleanup(func() { client.Close(); conn.Close() })
	require.NoError(t, client.Listen())
	mapped, err := client.SendBindingRequest()
	require.NoError(t, err)
	require.Equal(t, conn.LocalAddr().String(), mapped.String())
	rc, err := client.Allocate()
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.EqualValues(t, 1, srv.Stats().Allocations[relay.OutcomeCreated])
}

func TestDrainRefusesNewAllocations(t *testing.T) {
	srv := startLoopback(t, relay.Config{Users: map[string]string{"a": "pa"}})
	c := newRawClient(t, addrOf(t, srv, "udp"), "a", "pa")
	require.Zero(t, errorCode(c.allocate()))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, srv.Drain(ctx), context.DeadlineExceeded)
	c2 := newRawClient(t, addrOf(t, srv, "udp"), "a", "pa")
	require.Equal(t, stun.CodeInsufficientCapacity, errorCode(c2.allocate()))
	require.Zero(t, errorCode(c.authed(stun.MethodRefresh, lifetime(0))))
	require.NoError(t, srv.Drain(context.Background()))
}

func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := startLoopback(t, relay.Config{Users: map[string]string{"a": "pa"}, Registerer: reg})
	c := newRawClient(t, addrOf(t, srv, "udp"), "a", "bad")
	require.Equal(t, stun.CodeUnauthorized, errorCode(c.allocate()))
	n, err := testutil.GatherAndCount(reg, "natkit_relay_auth_failures_total", "natkit_relay_allocations_active")
	require.NoError(t, err)
	require.Equal(t, 7, n) // six reasons and the gauge
	mfs, err := srv.Gatherer().Gather()
	require.NoError(t, err)
	var found bool
	for _, mf := range mfs {
		if mf.GetName() != "natkit_relay_auth_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == relay.ReasonWrongPassword {
				require.EqualValues(t, 1, m.GetCounter().GetValue())
				found = true
			}
		}
	}
	require.True(t, found)
}

func TestICEServers(t *testing.T) {
	srv := startLoopback(t, relay.Config{Secrets: []string{"s"}})
	servers, err := srv.ICEServers("gather", time.Hour)
	require.NoError(t, err)
	require.Len(t, servers, 3)
	udp, tcp := addrOf(t, srv, "udp"), addrOf(t, srv, "tcp")
	require.Equal(t, []string{"stun:" + udp}, servers.STUN().URLs())
	require.Equal(t, []string{"turn:" + udp + "?transport=udp", "turn:" + tcp + "?transport=tcp"}, servers.TURN().URLs())
	// The minted credentials authenticate.
	c := newRawClient(t, udp, servers.TURN()[0].Username, servers.TURN()[0].Credential)
	require.Zero(t, errorCode(c.allocate()))

	bare := startLoopback(t, relay.Config{})
	_, err = bare.ICEServers("x", time.Hour)
	require.ErrorIs(t, err, relay.ErrNoCredentials)
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		cfg   relay.Config
		field string
	}{
		{"bad network", relay.Config{Listen: []relay.Listener{{Network: "sctp", Addr: "127.0.0.1:1"}}}, "Listen[0]"},
		{"bad addr", relay.Config{Listen: []relay.Listener{{Network: "udp", Addr: "localhost"}}}, "Listen[0]"},
		{"tls without config", relay.Config{Listen: []relay.Listener{{Network: "tls", Addr: "127.0.0.1:0"}}}, "Listen[0]"},
		{"unspecified relay ip", relay.Config{Listen: []relay.Listener{{Network: "udp", Addr: "0.0.0.0:0"}}}, "RelayIP"},
		{"alt ip equal", relay.Config{Listen: []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}}, AltIP: net.ParseIP("127.0.0.1")}, "AltIP"},
		{"port range", relay.Config{PortMin: 5000, PortMax: 4000}, "PortMin/PortMax"},
		{"negative quota", relay.Config{UserQuota: -1}, "UserQuota"},
		{"empty secret", relay.Config{Secrets: []string{""}}, "Secrets[0]"},
		{"short rest ttl", relay.Config{MaxRESTTTL: time.Second}, "MaxRESTTTL"},
		{"short nonce lifetime", relay.Config{NonceLifetime: time.Millisecond}, "NonceLifetime"},
		{"short auth timeout", relay.Config{AuthTimeout: time.Microsecond}, "AuthTimeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := relay.New(tc.cfg)
			require.ErrorIs(t, err, relay.ErrConfig)
			var ce *relay.ConfigError
			require.True(t, errors.As(err, &ce))
			require.Equal(t, tc.field, ce.Field)
			require.Equal(t, "relay", ce.Component)
		})
	}
}

func TestListenErrorNamesTheAddress(t *testing.T) {
	busy, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	_, err = relay.New(relay.Config{Listen: []relay.Listener{{Network: "udp", Addr: busy.LocalAddr().String()}}})
	require.ErrorIs(t, err, relay.ErrListen)
	require.Contains(t, err.Error(), fmt.Sprintf("udp://%s", busy.LocalAddr()))
}

func TestReusePortSockets(t *testing.T) {
	srv := startLoopback(t, relay.Config{
		Listen:             []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}},
		Users:              map[string]string{"a": "pa"},
		SocketsPerListener: 3,
	})
	require.Len(t, srv.Addrs(), 1)
	udp := addrOf(t, srv, "udp")
	for i := range 12 {
		c := newRawClient(t, udp, "a", "pa")
		resp := c.allocate()
		require.Zero(t, errorCode(resp), "client %d: %s", i, resp)
		// Every request of a client lands on the same socket, so its
		// allocation is found again.
		require.Zero(t, errorCode(c.authed(stun.MethodRefresh, lifetime(time.Minute))), "client %d refresh", i)
	}
	require.EqualValues(t, 12, srv.Stats().ActiveAllocations)
}

func TestIPv6Loopback(t *testing.T) {
	probe, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	probe.Close()
	srv := startLoopback(t, relay.Config{
		Listen: []relay.Listener{{Network: "udp", Addr: "[::1]:0"}},
		Users:  map[string]string{"a": "pa"},
	})
	conn, err := net.ListenPacket("udp6", "[::1]:0")
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	server, err := net.ResolveUDPAddr("udp6", addrOf(t, srv, "udp"))
	require.NoError(t, err)
	// pion's client resolves servers as udp4 only, so speak raw STUN.
	c := &rawClient{t: t, conn: conn, server: server, user: "a", pass: "pa"}
	resp := c.request(stun.BindingRequest)
	var xor stun.XORMappedAddress
	require.NoError(t, xor.GetFrom(resp))
	require.Equal(t, conn.LocalAddr().String(), (&net.UDPAddr{IP: xor.IP, Port: xor.Port}).String())
	resp = c.allocate()
	require.Zero(t, errorCode(resp), "response %s", resp)
	var relayed stun.XORMappedAddress
	require.NoError(t, relayed.GetFromAs(resp, stun.AttrXORRelayedAddress))
	require.Equal(t, "::1", relayed.IP.String())
}
