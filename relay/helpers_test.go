package relay_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

// startLoopback starts a relay on 127.0.0.1 with free UDP and TCP ports.
func startLoopback(t *testing.T, cfg relay.Config) *relay.Server {
	t.Helper()
	if cfg.Listen == nil {
		cfg.Listen = []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}, {Network: "tcp", Addr: "127.0.0.1:0"}}
	}
	srv, err := relay.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	return srv
}

func addrOf(t *testing.T, srv *relay.Server, network string) string {
	t.Helper()
	for _, a := range srv.Addrs() {
		if a.Network == network {
			return a.Addr
		}
	}
	t.Fatalf("relay has no %s listener", network)
	return ""
}

// rawClient speaks STUN/TURN message by message, to see exact error codes.
type rawClient struct {
	t          *testing.T
	conn       net.PacketConn
	server     net.Addr
	user, pass string
	realm      string
	nonce      []byte
}

func newRawClient(t *testing.T, server, user, pass string) *rawClient {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	sa, err := net.ResolveUDPAddr("udp4", server)
	require.NoError(t, err)
	return &rawClient{t: t, conn: conn, server: sa, user: user, pass: pass}
}

// roundTrip sends raw bytes and waits for the response with tid.
func (c *rawClient) roundTrip(raw []byte, tid [stun.TransactionIDSize]byte) *stun.Message {
	c.t.Helper()
	_, err := c.conn.WriteTo(raw, c.server)
	require.NoError(c.t, err)
	buf := make([]byte, 2048)
	for {
		require.NoError(c.t, c.conn.SetReadDeadline(time.Now().Add(3*time.Second)))
		n, _, err := c.conn.ReadFrom(buf)
		require.NoError(c.t, err, "no response from relay")
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() == nil && m.TransactionID == tid {
			return m
		}
	}
}

// expectSilence checks that nothing comes back for a short while.
func (c *rawClient) expectSilence() {
	c.t.Helper()
	buf := make([]byte, 2048)
	require.NoError(c.t, c.conn.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	_, _, err := c.conn.ReadFrom(buf)
	require.Error(c.t, err)
}

func (c *rawClient) request(setters ...stun.Setter) *stun.Message {
	c.t.Helper()
	m, err := stun.Build(append([]stun.Setter{stun.TransactionID}, setters...)...)
	require.NoError(c.t, err)
	return c.roundTrip(m.Raw, m.TransactionID)
}

// authed sends an authenticated request, fetching a nonce first.
func (c *rawClient) authed(method stun.Method, attrs ...stun.Setter) *stun.Message {
	c.t.Helper()
	if c.nonce == nil {
		resp := c.request(stun.NewType(method, stun.ClassRequest), requestedTransportUDP{})
		require.Equal(c.t, stun.CodeUnauthorized, errorCode(resp), "first request without credentials")
		var nonce stun.Nonce
		var realm stun.Realm
		require.NoError(c.t, nonce.GetFrom(resp))
		require.NoError(c.t, realm.GetFrom(resp))
		c.nonce, c.realm = nonce, realm.String()
	}
	setters := []stun.Setter{stun.NewType(method, stun.ClassRequest)}
	setters = append(setters, attrs...)
	setters = append(setters, stun.NewUsername(c.user), stun.NewRealm(c.realm), stun.NewNonce(string(c.nonce)),
		stun.NewLongTermIntegrity(c.user, c.realm, c.pass), stun.Fingerprint)
	return c.request(setters...)
}

func (c *rawClient) allocate(attrs ...stun.Setter) *stun.Message {
	c.t.Helper()
	return c.authed(stun.MethodAllocate, append([]stun.Setter{requestedTransportUDP{}}, attrs...)...)
}

func errorCode(m *stun.Message) stun.ErrorCode {
	if m.Type.Class != stun.ClassErrorResponse {
		return 0
	}
	var ec stun.ErrorCodeAttribute
	if ec.GetFrom(m) != nil {
		return 0
	}
	return ec.Code
}

type requestedTransportUDP struct{}

func (requestedTransportUDP) AddTo(m *stun.Message) error {
	m.Add(stun.AttrRequestedTransport, []byte{17, 0, 0, 0})
	return nil
}

type peerAddr struct {
	ip   string
	port int
}

func (p peerAddr) AddTo(m *stun.Message) error {
	return (&stun.XORMappedAddress{IP: net.ParseIP(p.ip), Port: p.port}).AddToAs(m, stun.AttrXORPeerAddress)
}

type channelNumber uint16

func (c channelNumber) AddTo(m *stun.Message) error {
	m.Add(stun.AttrChannelNumber, []byte{byte(c >> 8), byte(c), 0, 0})
	return nil
}

type lifetime time.Duration

func (l lifetime) AddTo(m *stun.Message) error {
	s := uint32(time.Duration(l) / time.Second)
	m.Add(stun.AttrLifetime, []byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)})
	return nil
}

func lifetimeOf(t *testing.T, m *stun.Message) time.Duration {
	t.Helper()
	v, err := m.Get(stun.AttrLifetime)
	require.NoError(t, err)
	require.Len(t, v, 4)
	return time.Duration(uint32(v[0])<<24|uint32(v[1])<<16|uint32(v[2])<<8|uint32(v[3])) * time.Second
}

type rawAttr struct {
	typ stun.AttrType
	val []byte
}

func (r rawAttr) AddTo(m *stun.Message) error {
	m.Add(r.typ, bytes.Clone(r.val))
	return nil
}
