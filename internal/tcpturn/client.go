// Package tcpturn is natkit's client for RFC 6062 TCP allocations: a
// control connection that allocates a relayed TCP address, Connect and
// ConnectionAttempt on it, and ConnectionBind on new data connections.
// gather, bench and audit share it, and the relay's tests drive natkit
// relay and coturn with it. pion/turn's client has TCP allocations too, but
// hides the server's error codes, which are the diagnosis here.
//
// The caller owns the dialing (TCP or TLS, any transport.Net): Config.Dial
// opens every connection to the server.
package tcpturn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v3"
)

// ProtoTCP is REQUESTED-TRANSPORT's value for TCP (RFC 6062 section 6.1).
const ProtoTCP = 6

// magicCookie is STUN's fixed header value (RFC 8489 section 5).
const magicCookie = 0x2112A442

// Config says how to reach the server and who we are.
type Config struct {
	// Dial opens a new connection to the server (TCP or TLS): the control
	// connection, and one per ConnectionBind. Required.
	Dial func(ctx context.Context) (net.Conn, error)
	// Username and Password are the long-term credentials. Required.
	Username, Password string
	// Lifetime is the LIFETIME asked for in Allocate. Default: none (the
	// server's default).
	Lifetime time.Duration
	// Family is REQUESTED-ADDRESS-FAMILY in Allocate (RFC 6156):
	// FamilyIPv4 or FamilyIPv6. Default 0: none (the server's default,
	// IPv4).
	Family byte
}

// REQUESTED-ADDRESS-FAMILY values (RFC 6156 section 4.1.1).
const (
	FamilyIPv4 byte = 0x01
	FamilyIPv6 byte = 0x02
)

// Errors. An error response from the server is a *Error.
var (
	// ErrClosed: the control connection is closed.
	ErrClosed = errors.New("tcp allocation: control connection closed")
	// ErrProtocol: the server answered something a TURN server would not.
	ErrProtocol = errors.New("tcp allocation: unexpected answer")
)

// Error is an error response from the server.
type Error struct {
	Method stun.Method
	Code   int
	// Reason is the server's reason phrase, e.g. "Unsupported Transport
	// Protocol: TCP relaying is off on this relay".
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %d %s", e.Method, e.Code, e.Reason)
}

// Attempt is a ConnectionAttempt indication: a peer connected to the
// relayed address.
type Attempt struct {
	Peer netip.AddrPort
	ID   uint32
}

// Client is one control connection. Its methods are safe for concurrent
// use.
type Client struct {
	cfg  Config
	conn net.Conn

	auth *auth // the control connection's realm and nonce

	mu      sync.Mutex
	waiting map[[stun.TransactionIDSize]byte]chan *stun.Message
	err     error

	attempts chan Attempt
	done     chan struct{}
}

// Open dials the control connection.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Dial == nil {
		return nil, errors.New("tcpturn: Config.Dial is required")
	}
	conn, err := cfg.Dial(ctx)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, conn: conn, auth: &auth{}, waiting: map[[stun.TransactionIDSize]byte]chan *stun.Message{},
		attempts: make(chan Attempt, 64), done: make(chan struct{})}
	go c.readLoop()
	return c, nil
}

// LocalAddr is the control connection's local address.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// Attempts delivers ConnectionAttempt indications (64 are kept; more are
// dropped until read).
func (c *Client) Attempts() <-chan Attempt { return c.attempts }

// Close closes the control connection, which ends the allocation.
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}

// readFrame reads one STUN message from a stream, exactly: no byte after
// it is consumed (a data connection's payload follows its ConnectionBind
// response).
func readFrame(r io.Reader) (*stun.Message, error) {
	var hdr [20]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[0]&0xC0 != 0 || binary.BigEndian.Uint32(hdr[4:8]) != magicCookie {
		return nil, fmt.Errorf("%w: not a STUN message (first bytes % x)", ErrProtocol, hdr[:4])
	}
	n := int(binary.BigEndian.Uint16(hdr[2:4]))
	buf := make([]byte, 20+n)
	copy(buf, hdr[:])
	if _, err := io.ReadFull(r, buf[20:]); err != nil {
		return nil, err
	}
	m := &stun.Message{Raw: buf}
	if err := m.Decode(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return m, nil
}

func (c *Client) readLoop() {
	defer close(c.done)
	for {
		m, err := readFrame(c.conn)
		if err != nil {
			c.mu.Lock()
			c.err = err
			for id, ch := range c.waiting {
				close(ch)
				delete(c.waiting, id)
			}
			c.mu.Unlock()
			return
		}
		if m.Type.Class == stun.ClassIndication {
			if m.Type.Method == stun.MethodConnectionAttempt {
				if a, ok := parseAttempt(m); ok {
					select {
					case c.attempts <- a:
					default:
					}
				}
			}
			continue
		}
		c.mu.Lock()
		ch := c.waiting[m.TransactionID]
		delete(c.waiting, m.TransactionID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

func parseAttempt(m *stun.Message) (Attempt, bool) {
	var peer stun.XORMappedAddress
	if err := peer.GetFromAs(m, stun.AttrXORPeerAddress); err != nil {
		return Attempt{}, false
	}
	id, ok := ConnectionID(m)
	ip, ok2 := netip.AddrFromSlice(peer.IP)
	if !ok || !ok2 {
		return Attempt{}, false
	}
	return Attempt{Peer: netip.AddrPortFrom(ip.Unmap(), uint16(peer.Port)), ID: id}, true //nolint:gosec // decoded from 16 bits
}

// ConnectionID reads CONNECTION-ID: false when missing or not 4 bytes.
func ConnectionID(m *stun.Message) (uint32, bool) {
	v, err := m.Get(stun.AttrConnectionID)
	if err != nil || len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v), true
}

// roundTrip sends one request on the control connection and waits for its
// answer until ctx ends (a stream is reliable: no retransmits).
func (c *Client) roundTrip(ctx context.Context, m *stun.Message) (*stun.Message, error) {
	ch := make(chan *stun.Message, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrClosed, c.err)
	}
	c.waiting[m.TransactionID] = ch
	c.mu.Unlock()
	if _, err := c.conn.Write(m.Raw); err != nil {
		c.mu.Lock()
		delete(c.waiting, m.TransactionID)
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrClosed, err)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return resp, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.waiting, m.TransactionID)
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}

// request sends an authenticated request on the control connection.
func (c *Client) request(ctx context.Context, method stun.Method, attrs ...stun.Setter) (*stun.Message, error) {
	return c.authenticate(ctx, c.auth, method, c.roundTrip, attrs...)
}

// auth is one connection's long-term credential state: servers may bind
// nonces to the connection (natkit relay does), so each has its own.
type auth struct {
	mu    sync.Mutex
	realm string
	nonce string
	key   []byte
}

func (a *auth) get() (key []byte, realm, nonce string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.key, a.realm, a.nonce
}

func (a *auth) copy() *auth {
	key, realm, nonce := a.get()
	return &auth{key: key, realm: realm, nonce: nonce}
}

// authenticate runs one request through the long-term credential
// challenges (401, then 438 for a stale nonce; at most three tries) and
// returns the success response or an *Error.
func (c *Client) authenticate(ctx context.Context, st *auth, method stun.Method,
	rt func(context.Context, *stun.Message) (*stun.Message, error), attrs ...stun.Setter,
) (*stun.Message, error) {
	for try := 0; ; try++ {
		setters := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
		setters = append(setters, attrs...)
		key, realm, nonce := st.get()
		if key != nil {
			setters = append(setters, stun.NewUsername(c.cfg.Username), stun.NewRealm(realm), stun.NewNonce(nonce),
				stun.MessageIntegrity(key))
		}
		setters = append(setters, stun.Fingerprint)
		m, err := stun.Build(setters...)
		if err != nil {
			return nil, err
		}
		resp, err := rt(ctx, m)
		if err != nil {
			return nil, err
		}
		switch resp.Type.Class {
		case stun.ClassSuccessResponse:
			return resp, nil
		case stun.ClassErrorResponse:
		default:
			return nil, fmt.Errorf("%w: %s to %s", ErrProtocol, resp.Type, method)
		}
		var code stun.ErrorCodeAttribute
		if err := code.GetFrom(resp); err != nil {
			return nil, fmt.Errorf("%w: error response to %s without ERROR-CODE", ErrProtocol, method)
		}
		var n stun.Nonce
		if (code.Code == stun.CodeUnauthorized || code.Code == stun.CodeStaleNonce) && try < 2 && n.GetFrom(resp) == nil {
			var r stun.Realm
			st.mu.Lock()
			if r.GetFrom(resp) == nil {
				st.realm = r.String()
			}
			st.nonce = n.String()
			st.key = stun.NewLongTermIntegrity(c.cfg.Username, st.realm, c.cfg.Password)
			st.mu.Unlock()
			continue
		}
		return nil, &Error{Method: method, Code: int(code.Code), Reason: string(code.Reason)}
	}
}

// Allocation is what a successful TCP Allocate returned.
type Allocation struct {
	Relayed  netip.AddrPort // XOR-RELAYED-ADDRESS
	Mapped   netip.AddrPort // XOR-MAPPED-ADDRESS; zero when absent
	Lifetime time.Duration
}

// Allocate asks for a TCP relayed address.
func (c *Client) Allocate(ctx context.Context) (Allocation, error) {
	attrs := []stun.Setter{rawAttr{stun.AttrRequestedTransport, []byte{ProtoTCP, 0, 0, 0}}}
	if c.cfg.Lifetime > 0 {
		attrs = append(attrs, stun.Setter(lifetime(c.cfg.Lifetime)))
	}
	if c.cfg.Family != 0 {
		attrs = append(attrs, rawAttr{stun.AttrRequestedAddressFamily, []byte{c.cfg.Family, 0, 0, 0}})
	}
	resp, err := c.request(ctx, stun.MethodAllocate, attrs...)
	if err != nil {
		return Allocation{}, err
	}
	var out Allocation
	var relayed, mapped stun.XORMappedAddress
	if err := relayed.GetFromAs(resp, stun.AttrXORRelayedAddress); err != nil {
		return Allocation{}, fmt.Errorf("%w: Allocate success without XOR-RELAYED-ADDRESS", ErrProtocol)
	}
	out.Relayed = addrPort(relayed)
	if mapped.GetFromAs(resp, stun.AttrXORMappedAddress) == nil {
		out.Mapped = addrPort(mapped)
	}
	if v, err := resp.Get(stun.AttrLifetime); err == nil && len(v) == 4 {
		out.Lifetime = time.Duration(binary.BigEndian.Uint32(v)) * time.Second
	}
	return out, nil
}

func addrPort(a stun.XORMappedAddress) netip.AddrPort {
	ip, _ := netip.AddrFromSlice(a.IP)
	return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port)) //nolint:gosec // decoded from 16 bits
}

// Refresh refreshes the allocation; 0 deletes it.
func (c *Client) Refresh(ctx context.Context, d time.Duration) error {
	_, err := c.request(ctx, stun.MethodRefresh, lifetime(d))
	return err
}

// CreatePermission lets peers at these IPs connect to the relayed address.
func (c *Client) CreatePermission(ctx context.Context, peers ...netip.Addr) error {
	attrs := make([]stun.Setter, 0, len(peers))
	for _, p := range peers {
		attrs = append(attrs, PeerAddress(netip.AddrPortFrom(p, 0)))
	}
	_, err := c.request(ctx, stun.MethodCreatePermission, attrs...)
	return err
}

// Connect asks the server to connect to peer from the relayed address, and
// returns the CONNECTION-ID to bind.
func (c *Client) Connect(ctx context.Context, peer netip.AddrPort) (uint32, error) {
	resp, err := c.request(ctx, stun.MethodConnect, PeerAddress(peer))
	if err != nil {
		return 0, err
	}
	id, ok := ConnectionID(resp)
	if !ok {
		return 0, fmt.Errorf("%w: Connect success without CONNECTION-ID", ErrProtocol)
	}
	return id, nil
}

// Bind opens a data connection and binds it to the connection id; the
// returned connection carries the peer's bytes.
func (c *Client) Bind(ctx context.Context, id uint32) (net.Conn, error) {
	conn, err := c.cfg.Dial(ctx)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	_, err = c.authenticate(ctx, c.auth.copy(), stun.MethodConnectionBind, func(_ context.Context, m *stun.Message) (*stun.Message, error) {
		if _, err := conn.Write(m.Raw); err != nil {
			return nil, err
		}
		for {
			resp, err := readFrame(conn)
			if err != nil {
				return nil, err
			}
			if resp.TransactionID == m.TransactionID {
				return resp, nil
			}
		}
	}, connIDAttr(id))
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

type rawAttr struct {
	t stun.AttrType
	v []byte
}

func (r rawAttr) AddTo(m *stun.Message) error { m.Add(r.t, r.v); return nil }

func lifetime(d time.Duration) rawAttr {
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], uint32(min(d/time.Second, math.MaxUint32))) //nolint:gosec // clamped to 32 bits
	return rawAttr{stun.AttrLifetime, v[:]}
}

func connIDAttr(id uint32) rawAttr {
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], id)
	return rawAttr{stun.AttrConnectionID, v[:]}
}

// PeerAddress is an XOR-PEER-ADDRESS setter.
func PeerAddress(p netip.AddrPort) stun.Setter {
	return xorPeer(p)
}

type xorPeer netip.AddrPort

func (x xorPeer) AddTo(m *stun.Message) error {
	p := netip.AddrPort(x)
	return (&stun.XORMappedAddress{IP: p.Addr().AsSlice(), Port: int(p.Port())}).AddToAs(m, stun.AttrXORPeerAddress)
}
