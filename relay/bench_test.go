package relay_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/turn/v4"

	"github.com/natkit/natkit/relay"
)

// BenchmarkChannelDataEcho relays b.N packets client → relay → echo peer →
// relay → client through one allocation with a bound channel, on loopback.
// It measures the relay's per-packet cost together with pion's client.
func BenchmarkChannelDataEcho(b *testing.B) {
	srv, err := relay.New(relay.Config{
		Listen:     []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}},
		Users:      map[string]string{"u": "p"},
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer peer.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := peer.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = peer.WriteTo(buf[:n], from)
		}
	}()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	addr := srv.Addrs()[0].Addr
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Username: "u", Password: "p",
		Realm: relay.DefaultRealm, Conn: conn,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		b.Fatal(err)
	}
	rc, err := client.Allocate()
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	payload := make([]byte, 100)
	buf := make([]byte, 1500)
	// Warm up until the channel is bound, so that the loop measures
	// ChannelData.
	for srv.Stats().ChannelBinds == 0 {
		_, _ = rc.WriteTo(payload, peer.LocalAddr())
		_ = rc.SetReadDeadline(time.Now().Add(time.Second))
		_, _, _ = rc.ReadFrom(buf)
	}
	b.ResetTimer()
	lost := 0
	for range b.N {
		if _, err := rc.WriteTo(payload, peer.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		_ = rc.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := rc.ReadFrom(buf); err != nil {
			lost++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(lost), "lost")
}
