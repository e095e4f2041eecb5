package relay_test

import (
	"net"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v3"
	"github.com/pion/transport/v3/vnet"
	"github.com/pion/turn/v4"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

// vnetTopology is one WAN with a relay host on two IPs, a client and a
// peer.
type vnetTopology struct {
	wan                 *vnet.Router
	relayNet, clientNet *vnet.Net
	peerNet             *vnet.Net
}

func newVnetTopology(t *testing.T) *vnetTopology {
	t.Helper()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: lf})
	require.NoError(t, err)
	mk := func(ips ...string) *vnet.Net {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: ips})
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(n))
		return n
	}
	top := &vnetTopology{wan: wan, relayNet: mk("1.2.3.4", "1.2.3.5"), clientNet: mk("1.2.3.10"), peerNet: mk("1.2.3.20")}
	require.NoError(t, wan.Start())
	t.Cleanup(func() { _ = wan.Stop() })
	return top
}

func TestVnetPionClientAllocatesAndRelays(t *testing.T) {
	secret := "vnet-secret"
	tests := []struct {
		name     string
		cfg      relay.Config
		username func() (string, string)
	}{
		{"static user", relay.Config{Users: map[string]string{"alice": "wonderland"}},
			func() (string, string) { return "alice", "wonderland" }},
		{"rest secret", relay.Config{Secrets: []string{"old", secret}},
			func() (string, string) {
				u, p, err := turn.GenerateLongTermTURNRESTCredentials(secret, "bob", time.Hour)
				require.NoError(t, err)
				return u, p
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			top := newVnetTopology(t)
			cfg := tc.cfg
			cfg.Net = top.relayNet
			cfg.Listen = []relay.Listener{{Network: "udp", Addr: "1.2.3.4:3478"}}
			cfg.AltIP = net.ParseIP("1.2.3.5")
			srv, err := relay.New(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, srv.Close()) })
			require.Equal(t, "1.2.3.5:3479", srv.OtherAddress())

			user, pass := tc.username()
			conn, err := top.clientNet.ListenPacket("udp4", "0.0.0.0:0")
			require.NoError(t, err)
			client, err := turn.NewClient(&turn.ClientConfig{
				STUNServerAddr: "1.2.3.4:3478", TURNServerAddr: "1.2.3.4:3478",
				Username: user, Password: pass, Realm: relay.DefaultRealm,
				Conn: conn, Net: top.clientNet,
			})
			require.NoError(t, err)
			t.Cleanup(func() { client.Close(); conn.Close() })
			require.NoError(t, client.Listen())

			mapped, err := client.SendBindingRequest()
			require.NoError(t, err)
			require.Equal(t, "1.2.3.10", mapped.(*net.UDPAddr).IP.String())

			relayConn, err := client.Allocate()
			require.NoError(t, err)
			t.Cleanup(func() { relayConn.Close() })
			require.Equal(t, "1.2.3.4", relayConn.LocalAddr().(*net.UDPAddr).IP.String())

			peer, err := top.peerNet.ListenPacket("udp4", "1.2.3.20:5000")
			require.NoError(t, err)
			t.Cleanup(func() { peer.Close() })

			// client → relay → peer, then peer → relay → client.
			_, err = relayConn.WriteTo([]byte("ping"), peer.LocalAddr())
			require.NoError(t, err)
			buf := make([]byte, 1500)
			require.NoError(t, peer.SetReadDeadline(time.Now().Add(5*time.Second)))
			n, from, err := peer.ReadFrom(buf)
			require.NoError(t, err)
			require.Equal(t, "ping", string(buf[:n]))
			require.Equal(t, relayConn.LocalAddr().String(), from.String())

			_, err = peer.WriteTo([]byte("pong"), from)
			require.NoError(t, err)
			require.NoError(t, relayConn.SetReadDeadline(time.Now().Add(5*time.Second)))
			n, from, err = relayConn.ReadFrom(buf)
			require.NoError(t, err)
			require.Equal(t, "pong", string(buf[:n]))
			require.Equal(t, peer.LocalAddr().String(), from.String())

			// The client binds a channel in the background; let it finish
			// so that closing the client leaves no transaction behind.
			require.Eventually(t, func() bool { return srv.Stats().ChannelBinds == 1 }, 5*time.Second, 10*time.Millisecond)
			st := srv.Stats()
			require.EqualValues(t, 1, st.ActiveAllocations)
			require.EqualValues(t, 1, st.Allocations[relay.OutcomeCreated])
			require.GreaterOrEqual(t, st.PacketsToPeer, uint64(1))
			require.GreaterOrEqual(t, st.PacketsToClient, uint64(1))
		})
	}
}

// TestVnetRFC5780 sends Binding requests with CHANGE-REQUEST inside vnet
// and checks which of the four sockets answers.
func TestVnetRFC5780(t *testing.T) {
	top := newVnetTopology(t)
	srv, err := relay.New(relay.Config{
		Net:    top.relayNet,
		Listen: []relay.Listener{{Network: "udp", Addr: "1.2.3.4:3478"}},
		AltIP:  net.ParseIP("1.2.3.5"),
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })

	conn, err := top.clientNet.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	server := &net.UDPAddr{IP: net.ParseIP("1.2.3.4"), Port: 3478}

	tests := []struct {
		name  string
		flags uint32
		from  string
	}{
		{"no change", 0, "1.2.3.4:3478"},
		{"change port", 0x02, "1.2.3.4:3479"},
		{"change ip", 0x04, "1.2.3.5:3478"},
		{"change both", 0x06, "1.2.3.5:3479"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, from := bindingExchange(t, conn, server, tc.flags)
			require.Equal(t, tc.from, from.String())
			require.Equal(t, stun.BindingSuccess, resp.Type)
			var xor stun.XORMappedAddress
			require.NoError(t, xor.GetFrom(resp))
			require.Equal(t, "1.2.3.10", xor.IP.String())
			var origin stun.ResponseOrigin
			require.NoError(t, origin.GetFrom(resp))
			require.Equal(t, tc.from, (&net.UDPAddr{IP: origin.IP, Port: origin.Port}).String())
			var other stun.OtherAddress
			require.NoError(t, other.GetFrom(resp))
			require.Equal(t, "1.2.3.5:3479", (&net.UDPAddr{IP: other.IP, Port: other.Port}).String())
		})
	}
}

// bindingExchange sends one Binding request, with CHANGE-REQUEST when
// flags is not zero, and returns the response and where it came from.
func bindingExchange(t *testing.T, conn net.PacketConn, server net.Addr, flags uint32) (*stun.Message, net.Addr) {
	t.Helper()
	setters := []stun.Setter{stun.TransactionID, stun.BindingRequest}
	if flags != 0 {
		setters = append(setters, changeRequest(flags))
	}
	setters = append(setters, stun.Fingerprint)
	req := stun.MustBuild(setters...)
	_, err := conn.WriteTo(req.Raw, server)
	require.NoError(t, err)
	buf := make([]byte, 1500)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, from, err := conn.ReadFrom(buf)
	require.NoError(t, err)
	resp := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
	require.NoError(t, resp.Decode())
	require.Equal(t, req.TransactionID, resp.TransactionID)
	return resp, from
}

type changeRequest uint32

func (c changeRequest) AddTo(m *stun.Message) error {
	m.Add(stun.AttrChangeRequest, []byte{0, 0, 0, byte(c)})
	return nil
}
