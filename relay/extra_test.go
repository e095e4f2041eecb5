package relay_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v4"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

func TestTLSListenerWithPionClient(t *testing.T) {
	tlsCfg, fingerprint, err := relay.SelfSignedTLS([]string{"127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	require.Len(t, strings.Split(fingerprint, ":"), 32)
	srv := startLoopback(t, relay.Config{
		Listen:    []relay.Listener{{Network: "tls", Addr: "127.0.0.1:0"}},
		Users:     map[string]string{"a": "pa"},
		TLSConfig: tlsCfg,
	})
	addr := addrOf(t, srv, "tls")
	servers, err := srv.ICEServers("x", time.Hour)
	require.NoError(t, err)
	require.Equal(t, []string{"turns:" + addr + "?transport=tcp"}, servers.URLs())

	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // self-signed test certificate
	require.NoError(t, err)
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Username: "a", Password: "pa",
		Realm: relay.DefaultRealm, Conn: turn.NewSTUNConn(conn),
	})
	require.NoError(t, err)
	t.Cleanup(func() { client.Close(); conn.Close() })
	require.NoError(t, client.Listen())
	rc, err := client.Allocate()
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.EqualValues(t, 1, srv.Stats().Allocations[relay.OutcomeCreated])

	// Garbage inside TLS closes the connection and is counted.
	bad, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // self-signed test certificate
	require.NoError(t, err)
	defer bad.Close()
	_, err = bad.Write([]byte{0xC0, 0, 0, 0, 1, 2, 3, 4})
	require.NoError(t, err)
	require.NoError(t, bad.SetReadDeadline(time.Now().Add(3*time.Second)))
	_, err = bad.Read(make([]byte, 1))
	require.Error(t, err)
	require.EqualValues(t, 1, srv.Stats().BadPackets[relay.BadNotSTUN])
}

func TestBandwidthLimit(t *testing.T) {
	const limit = 2000 // bytes per second, both directions together
	srv := startLoopback(t, relay.Config{
		Listen:         []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}},
		Users:          map[string]string{"a": "pa"},
		PeerPolicy:     relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		BandwidthLimit: limit,
	})
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { peer.Close() })
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	addr := addrOf(t, srv, "udp")
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Username: "a", Password: "pa",
		Realm: relay.DefaultRealm, Conn: conn,
	})
	require.NoError(t, err)
	t.Cleanup(func() { client.Close(); conn.Close() })
	require.NoError(t, client.Listen())
	rc, err := client.Allocate()
	require.NoError(t, err)
	t.Cleanup(func() { rc.Close() })

	// 40 × 100 bytes at once: the one-second bucket holds 20 of them.
	payload := make([]byte, 100)
	for range 40 {
		_, err := rc.WriteTo(payload, peer.LocalAddr())
		require.NoError(t, err)
	}
	got := 0
	buf := make([]byte, 1500)
	for {
		require.NoError(t, peer.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
		if _, _, err := peer.ReadFrom(buf); err != nil {
			break
		}
		got++
	}
	st := srv.Stats()
	require.Positive(t, got)
	require.LessOrEqual(t, got, 25, "the bucket refills a little while sending")
	require.EqualValues(t, 40-got, st.BandwidthDrops)
	require.EqualValues(t, got, st.PacketsToPeer)
	require.Eventually(t, func() bool { return srv.Stats().ChannelBinds == 1 }, 5*time.Second, 10*time.Millisecond)
}

func TestHandlerHealthAndMetrics(t *testing.T) {
	srv := startLoopback(t, relay.Config{Users: map[string]string{"a": "pa"}})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	get := func(path string) (int, string) {
		resp, err := http.Get(hs.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := get("/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)
	c := newRawClient(t, addrOf(t, srv, "udp"), "a", "pa")
	require.Zero(t, errorCode(c.allocate()))
	code, body = get("/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "natkit_relay_allocations_active 1")
	require.Contains(t, body, `natkit_relay_allocations_total{outcome="created"} 1`)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_ = srv.Drain(ctx)
	code, body = get("/healthz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "draining\n", body)
}
