package relay_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
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
// It talks UDP, or TCP when made by newTCPRawClient.
type rawClient struct {
	t          *testing.T
	conn       net.PacketConn
	tcp        net.Conn
	server     net.Addr
	user, pass string
	realm      string
	nonce      []byte
}

// newRawClient is a rawClient over UDP, from ::1 when server is IPv6.
func newRawClient(t *testing.T, server, user, pass string) *rawClient {
	t.Helper()
	network, local := "udp4", "127.0.0.1:0"
	if ap, err := netip.ParseAddrPort(server); err == nil && ap.Addr().Is6() {
		network, local = "udp6", "[::1]:0"
	}
	conn, err := net.ListenPacket(network, local)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	sa, err := net.ResolveUDPAddr(network, server)
	require.NoError(t, err)
	return &rawClient{t: t, conn: conn, server: sa, user: user, pass: pass}
}

// rawClientFor returns the rawClient constructor for a listener network.
func rawClientFor(network string) func(t *testing.T, server, user, pass string) *rawClient {
	if network == "tcp" {
		return newTCPRawClient
	}
	return newRawClient
}

// newTCPRawClient is a rawClient over one TCP connection.
func newTCPRawClient(t *testing.T, server, user, pass string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp4", server, 3*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, tcp: conn, server: conn.RemoteAddr(), user: user, pass: pass}
}

// send writes one message.
func (c *rawClient) send(raw []byte) {
	c.t.Helper()
	var err error
	if c.tcp != nil {
		_, err = c.tcp.Write(raw)
	} else {
		_, err = c.conn.WriteTo(raw, c.server)
	}
	require.NoError(c.t, err)
}

// read reads one datagram, or one STUN message from the TCP stream.
func (c *rawClient) read(buf []byte, timeout time.Duration) (int, error) {
	if c.tcp == nil {
		_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
		n, _, err := c.conn.ReadFrom(buf)
		return n, err
	}
	_ = c.tcp.SetReadDeadline(time.Now().Add(timeout))
	if _, err := io.ReadFull(c.tcp, buf[:20]); err != nil {
		return 0, err
	}
	n := 20 + int(binary.BigEndian.Uint16(buf[2:4]))
	if n > len(buf) {
		return 0, io.ErrShortBuffer
	}
	_, err := io.ReadFull(c.tcp, buf[20:n])
	return n, err
}

// roundTrip sends raw bytes and waits for the response with tid.
func (c *rawClient) roundTrip(raw []byte, tid [stun.TransactionIDSize]byte) *stun.Message {
	c.t.Helper()
	c.send(raw)
	buf := make([]byte, 2048)
	for {
		n, err := c.read(buf, 3*time.Second)
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
	_, err := c.read(buf, 200*time.Millisecond)
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
	m := c.signed(method, attrs...)
	return c.roundTrip(m.Raw, m.TransactionID)
}

// signed builds an authenticated request (with FINGERPRINT), fetching a
// nonce first if the client has none.
func (c *rawClient) signed(method stun.Method, attrs ...stun.Setter) *stun.Message {
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
	setters := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
	setters = append(setters, attrs...)
	setters = append(setters, stun.NewUsername(c.user), stun.NewRealm(c.realm), stun.NewNonce(string(c.nonce)),
		stun.NewLongTermIntegrity(c.user, c.realm, c.pass), stun.Fingerprint)
	m, err := stun.Build(setters...)
	require.NoError(c.t, err)
	return m
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
