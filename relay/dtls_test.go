package relay_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/transport/v3/stdnet"
	"github.com/pion/turn/v4"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/turnconn"
	"github.com/natkit/natkit/relay"
)

// startDTLS starts a relay with udp and dtls listeners on loopback and
// returns it with a client TLS config that trusts its certificate.
func startDTLS(t *testing.T) (*relay.Server, *tls.Config) {
	t.Helper()
	tc, _, err := relay.SelfSignedTLS([]string{"127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	srv := startLoopback(t, relay.Config{
		Listen:     []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}, {Network: "dtls", Addr: "127.0.0.1:0"}},
		TLSConfig:  tc,
		Users:      map[string]string{"a": "pa"},
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return srv, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}

func dialDTLS(t *testing.T, addr string, tc *tls.Config) *turnconn.Conn {
	t.Helper()
	n, err := stdnet.NewNet()
	require.NoError(t, err)
	c, err := turnconn.Dial(context.Background(), turnconn.Config{Net: n, Network: turnconn.DTLS, Addr: addr, TLS: tc, Timeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// A pion client allocates over DTLS and relays data both ways through a
// channel to a UDP peer: the whole RFC 7350 path.
func TestDTLSAllocateAndRelay(t *testing.T) {
	srv, tc := startDTLS(t)
	addr := addrOf(t, srv, "dtls")
	conn := dialDTLS(t, addr, tc)
	require.Positive(t, conn.Connect)
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Username: "a", Password: "pa",
		Realm: relay.DefaultRealm, Conn: conn.PacketConn(),
	})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	require.NoError(t, client.Listen())
	mapped, err := client.SendBindingRequest()
	require.NoError(t, err)
	require.Equal(t, conn.LocalAddr().String(), mapped.String())
	rc, err := client.Allocate()
	require.NoError(t, err)
	defer rc.Close()

	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer peer.Close()
	buf := make([]byte, 1500)
	// Two sends: the first goes as a Send indication while pion binds a
	// channel, later ones as (unpadded) ChannelData.
	for i, msg := range []string{"hello", "odd-length payload"} {
		_, err = rc.WriteTo([]byte(msg), peer.LocalAddr())
		require.NoError(t, err)
		_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, from, err := peer.ReadFrom(buf)
		require.NoError(t, err, "send %d", i)
		require.Equal(t, msg, string(buf[:n]))
		require.Equal(t, rc.LocalAddr().String(), from.String())
		_, err = peer.WriteTo([]byte("echo "+msg), from)
		require.NoError(t, err)
		_ = rc.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _, err = rc.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, "echo "+msg, string(buf[:n]))
		time.Sleep(100 * time.Millisecond) // let pion's channel bind land
	}
	require.EqualValues(t, 1, srv.Stats().Allocations[relay.OutcomeCreated])
}

// The ICE servers of a relay with a dtls listener name it in RFC 7065's
// form: turns: with transport=udp.
func TestDTLSInICEServers(t *testing.T) {
	srv, _ := startDTLS(t)
	servers, err := srv.ICEServers("u", time.Hour)
	require.NoError(t, err)
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.URL())
	}
	require.Contains(t, urls, "turns:"+addrOf(t, srv, "dtls")+"?transport=udp")
}

// Datagrams that are not DTLS never open a connection, and the listener
// keeps serving.
func TestDTLSIgnoresPlainDatagrams(t *testing.T) {
	srv, tc := startDTLS(t)
	addr := addrOf(t, srv, "dtls")
	junk, err := net.Dial("udp4", addr)
	require.NoError(t, err)
	defer junk.Close()
	c := newRawClient(t, addr, "a", "pa")
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	require.NoError(t, err)
	c.send(m.Raw)
	c.expectSilence()
	_, err = junk.Write([]byte{22, 0xfe, 0xfd, 0, 0}) // a truncated handshake record
	require.NoError(t, err)
	dialDTLS(t, addr, tc)
}

func TestDTLSWithoutCertificateIsAConfigError(t *testing.T) {
	for _, tc := range []*tls.Config{nil, {}} {
		_, err := relay.New(relay.Config{Listen: []relay.Listener{{Network: "dtls", Addr: "127.0.0.1:0"}}, TLSConfig: tc})
		require.ErrorIs(t, err, relay.ErrConfig)
		var ce *relay.ConfigError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "Listen[0]", ce.Field)
		require.Contains(t, err.Error(), "dtls listener needs TLSConfig")
	}
}
