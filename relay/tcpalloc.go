package relay

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/transport/v3/stdnet"
)

// RFC 6062 TCP allocations are served here, beside pion: pion's server has
// no Connect, ConnectionBind or ConnectionAttempt, and answers an Allocate
// asking for TCP with a UDP relayed address. inspect hands every
// authenticated request on a control connection with a TCP allocation
// (and every TCP Allocate, Connect and ConnectionBind) to tcpRelay.handle;
// pion never sees them.

// protoTCP is REQUESTED-TRANSPORT's value for TCP (RFC 6062 section 6.1).
const protoTCP = 6

// permissionLifetime is RFC 8656's fixed permission lifetime.
const permissionLifetime = 5 * time.Minute

// maxPeerConns caps one TCP allocation's peer connections (pending and
// bound): each holds two descriptors on the relay.
const maxPeerConns = 256

// tcpRelay holds every TCP allocation of a Server.
type tcpRelay struct {
	s *Server

	mu     sync.Mutex
	allocs map[string]*tcpAlloc // control 5-tuple → allocation
	ports  map[int]struct{}     // relayed ports in use (SO_REUSEPORT would share them)
	conns  map[uint32]*peerConn // CONNECTION-ID → peer connection
	closed bool
	wg     sync.WaitGroup
	// ctx ends Connect's dials when the relay closes.
	ctx    context.Context
	cancel context.CancelFunc
}

// tcpAlloc is one TCP allocation: a listening socket on the relayed
// address, and its peer connections.
type tcpAlloc struct {
	t          *tcpRelay
	tuple      string // control 5-tuple (fiveTupleKey)
	nonceTuple string // the control connection's nonce binding
	user       string
	key        []byte
	txid       [stun.TransactionIDSize]byte // the Allocate's, for retransmits
	resp       []byte                       // the Allocate's success response
	client     net.Addr
	local      net.Addr
	write      func([]byte) error // to the control connection
	ln         net.Listener
	relayed    *net.TCPAddr // advertised (PublicIP, or RelayIPv6)
	bound      *net.TCPAddr // the listener's (RelayIP, or RelayIPv6)
	family     byte         // the relayed address's: familyIPv4 or familyIPv6

	mu     sync.Mutex
	perms  map[netip.Addr]time.Time
	peers  map[netip.AddrPort]*peerConn // connecting, pending or bound
	timer  *time.Timer                  // lifetime
	closed bool
}

// peerConn is one TCP connection between the relayed address and a peer.
type peerConn struct {
	a     *tcpAlloc
	id    uint32
	peer  netip.AddrPort
	conn  net.Conn    // nil while Connect dials
	timer *time.Timer // the ConnectionBind window
	data  io.Closer   // the client's data connection, once bound
	bound bool
}

func newTCPRelay(s *Server) *tcpRelay {
	ctx, cancel := context.WithCancel(context.Background())
	return &tcpRelay{s: s, allocs: map[string]*tcpAlloc{}, ports: map[int]struct{}{}, conns: map[uint32]*peerConn{},
		ctx: ctx, cancel: cancel}
}

// requestsTCP reports an Allocate asking for a TCP relayed address.
func requestsTCP(m *stun.Message) bool {
	v, err := m.Get(stun.AttrRequestedTransport)
	return err == nil && len(v) == 4 && v[0] == protoTCP
}

// takesTCP reports the requests tcpRelay may answer (before credentials
// are checked, so inspect knows to authenticate them).
func takesTCP(m stun.Method) bool {
	return m == stun.MethodConnect || m == stun.MethodConnectionBind
}

// handle answers an authenticated request that belongs to RFC 6062, and
// reports whether it did; false leaves the request to pion.
func (t *tcpRelay) handle(m *stun.Message, src net.Addr, o *origin, key []byte, user string) bool {
	tuple := fiveTupleKey(src, o.local)
	switch m.Type.Method {
	case stun.MethodAllocate:
		if !requestsTCP(m) {
			if a := t.get(tuple); a != nil {
				t.fail(m, src, o, stun.CodeAllocMismatch, "this connection already has a TCP allocation", key)
				return true
			}
			return false
		}
		t.allocate(m, src, o, key, user, tuple)
	case stun.MethodConnect:
		t.connect(m, src, o, key, tuple)
	case stun.MethodConnectionBind:
		t.bind(m, src, o, key, user, tuple)
	case stun.MethodRefresh, stun.MethodCreatePermission, stun.MethodChannelBind:
		a := t.get(tuple)
		if a == nil {
			return false
		}
		switch m.Type.Method {
		case stun.MethodRefresh:
			t.refresh(a, m, src, o, key)
		case stun.MethodCreatePermission:
			t.permit(a, m, src, o, key)
		default:
			t.fail(m, src, o, stun.CodeBadRequest, "ChannelBind does not apply to a TCP allocation (RFC 6062)", key)
		}
	default:
		return false
	}
	return true
}

func (t *tcpRelay) get(tuple string) *tcpAlloc {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.allocs[tuple]
}

// fail answers m with an error code and an explanatory reason phrase.
func (t *tcpRelay) fail(m *stun.Message, src net.Addr, o *origin, code stun.ErrorCode, why string, key []byte) {
	reason := stun.ErrorCodeAttribute{Code: code, Reason: []byte(reasonPhrase(code, why))}
	resp, err := signAndBuild([]stun.Setter{
		stun.NewTransactionIDSetter(m.TransactionID),
		stun.NewType(m.Type.Method, stun.ClassErrorResponse), reason,
	}, key, m.Contains(stun.AttrFingerprint))
	if err == nil {
		_ = o.write(resp, src)
	}
	t.s.log.Debug("relay: tcp allocation request refused", "method", m.Type.Method.String(), "code", int(code),
		"why", why, "client", src.String())
}

// reasonPhrase is pion's standard phrase for code, then why.
func reasonPhrase(code stun.ErrorCode, why string) string {
	var m stun.Message
	var std stun.ErrorCodeAttribute
	if code.AddTo(&m) == nil {
		_ = std.GetFrom(&m)
	}
	if why == "" {
		return string(std.Reason)
	}
	return string(std.Reason) + ": " + why
}

// succeed answers m with a signed success response.
func (t *tcpRelay) succeed(m *stun.Message, src net.Addr, o *origin, key []byte, attrs ...stun.Setter) []byte {
	setters := append([]stun.Setter{
		stun.NewTransactionIDSetter(m.TransactionID),
		stun.NewType(m.Type.Method, stun.ClassSuccessResponse),
	}, attrs...)
	resp, err := signAndBuild(setters, key, m.Contains(stun.AttrFingerprint))
	if err != nil {
		return nil
	}
	_ = o.write(resp, src)
	return resp
}

// allocate serves an Allocate with REQUESTED-TRANSPORT=TCP (RFC 6062
// section 5.1).
func (t *tcpRelay) allocate(m *stun.Message, src net.Addr, o *origin, key []byte, user, tuple string) {
	s := t.s
	if o.hijack == nil {
		t.fail(m, src, o, stun.CodeBadRequest, "a TCP allocation needs a TCP or TLS connection to the relay (RFC 6062 section 5.1)", key)
		return
	}
	if !s.cfg.TCPRelay {
		s.ctr.allocations.inc(OutcomeTransport)
		t.fail(m, src, o, stun.CodeUnsupportedTransProto, "TCP relaying (RFC 6062) is off on this relay; natkit relay turns it on with --tcp-relay", key)
		return
	}
	if a := t.get(tuple); a != nil {
		if a.txid == m.TransactionID {
			_ = o.write(a.resp, src) // a retransmit
			return
		}
		t.fail(m, src, o, stun.CodeAllocMismatch, "this connection already has a TCP allocation", key)
		return
	}
	if s.self.hasTuple(tuple) {
		t.fail(m, src, o, stun.CodeAllocMismatch, "this connection already has a UDP allocation", key)
		return
	}
	for _, a := range []stun.AttrType{stun.AttrDontFragment, stun.AttrEvenPort, stun.AttrReservationToken} {
		if m.Contains(a) {
			t.fail(m, src, o, stun.CodeBadRequest, a.String()+" does not apply to a TCP allocation (RFC 6062 section 5.1)", key)
			return
		}
	}
	family := s.defaultFamily()
	if v, err := m.Get(stun.AttrRequestedAddressFamily); err == nil {
		family = 0
		if len(v) == 4 {
			family = v[0]
		}
	}
	if (family != familyIPv4 && family != familyIPv6) || !s.hasFamily(family) {
		s.ctr.allocations.inc(OutcomeFamily)
		why := "this relay has no " + familyName(family) + " relayed address"
		if family == familyIPv6 {
			why += "; natkit relay: --relay-ipv6 or an IPv6 --listen"
		}
		t.fail(m, src, o, stun.CodeAddrFamilyNotSupported, why, key)
		return
	}
	if code, why := t.admit(user, src); code != 0 {
		t.fail(m, src, o, code, why, key)
		return
	}
	a, err := t.open(tuple, src, o, key, user, family)
	if err != nil {
		s.ctr.active.Add(-1)
		s.ctr.allocations.inc(OutcomeCapacity)
		s.log.Info("relay: tcp allocation failed", "client", src.String(), "err", err)
		t.fail(m, src, o, stun.CodeInsufficientCapacity, "no relayed TCP port free", key)
		return
	}
	_, lifetime := s.clampLifetime(m)
	if lifetime == 0 {
		lifetime = defaultLifetime
	}
	a.txid = m.TransactionID
	s.noteLifetime(tuple, lifetime)
	s.onAllocationCreated(src, o.local, "", user, "", a.relayed, 0)
	a.mu.Lock()
	a.timer = time.AfterFunc(lifetime, a.expire)
	a.mu.Unlock()
	a.resp = t.succeed(m, src, o, key,
		xorAddr{stun.AttrXORRelayedAddress, a.relayed.IP, a.relayed.Port},
		lifetimeAttr(lifetime), xorAddr{stun.AttrXORMappedAddress, addrIP(src), portOf(src)})
	if !t.spawn(a.acceptLoop) {
		a.close()
	}
}

func addrIP(a net.Addr) net.IP {
	switch v := a.(type) {
	case *net.TCPAddr:
		return v.IP
	case *net.UDPAddr:
		return v.IP
	}
	return nil
}

func portOf(a net.Addr) int {
	switch v := a.(type) {
	case *net.TCPAddr:
		return v.Port
	case *net.UDPAddr:
		return v.Port
	}
	return 0
}

// xorAddr is an XOR-…-ADDRESS attribute of any type.
type xorAddr struct {
	typ  stun.AttrType
	ip   net.IP
	port int
}

func (x xorAddr) AddTo(m *stun.Message) error {
	return (&stun.XORMappedAddress{IP: x.ip, Port: x.port}).AddToAs(m, x.typ)
}

type lifetimeAttr time.Duration

func (l lifetimeAttr) AddTo(m *stun.Message) error {
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], uint32(time.Duration(l)/time.Second))
	m.Add(stun.AttrLifetime, v[:])
	return nil
}

// admit applies draining, MaxAllocations and UserQuota, as for UDP
// allocations, and takes a slot in the active count.
func (t *tcpRelay) admit(user string, src net.Addr) (stun.ErrorCode, string) {
	s := t.s
	if s.draining.Load() {
		s.ctr.allocations.inc(OutcomeCapacity)
		return stun.CodeInsufficientCapacity, "the relay is draining"
	}
	if !s.quota(user, "", src) {
		return stun.CodeAllocQuotaReached, ""
	}
	for {
		n := s.ctr.active.Load()
		if s.cfg.MaxAllocations > 0 && n >= int64(s.cfg.MaxAllocations) {
			s.ctr.allocations.inc(OutcomeCapacity)
			return stun.CodeInsufficientCapacity, "the relay's allocation limit is reached"
		}
		if s.ctr.active.CompareAndSwap(n, n+1) {
			return 0, ""
		}
	}
}

// open listens on a free relayed TCP port of the family (RelayIP's, or
// RelayIPv6) and records the allocation.
func (t *tcpRelay) open(tuple string, src net.Addr, o *origin, key []byte, user string, family byte) (*tcpAlloc, error) {
	s := t.s
	bindIP, public := s.cfg.RelayIP, s.cfg.PublicIP
	if family != s.defaultFamily() {
		bindIP, public = s.cfg.RelayIPv6, s.cfg.RelayIPv6 // as UDP (allocateIPv6)
	}
	var ln net.Listener
	err := walkPorts(s.cfg.PortMin, s.cfg.PortMax, func(port int) error {
		t.mu.Lock()
		_, taken := t.ports[port]
		t.mu.Unlock()
		if taken {
			return errPortTaken
		}
		var err error
		ln, err = t.listen(net.JoinHostPort(bindIP.String(), strconv.Itoa(port)))
		return err
	})
	if err != nil {
		return nil, err
	}
	bound, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		ln.Close()
		return nil, ErrUnsupported
	}
	write := o.write
	a := &tcpAlloc{
		t: t, tuple: tuple, nonceTuple: nonceTuple(o.transport, src, o.local), user: user, key: key,
		client: src, local: o.local, write: func(b []byte) error { return write(b, src) },
		ln: ln, bound: bound, relayed: &net.TCPAddr{IP: public, Port: bound.Port}, family: family,
		perms: map[netip.Addr]time.Time{}, peers: map[netip.AddrPort]*peerConn{},
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		ln.Close()
		return nil, ErrClosed
	}
	t.allocs[tuple] = a
	t.ports[bound.Port] = struct{}{}
	return a, nil
}

var errPortTaken = errors.New("relayed port held by another TCP allocation")

// listen opens a relayed listening socket. On the real network it has
// SO_REUSEPORT, so that Connect can dial from the relayed address as RFC
// 6062 section 5.2 asks; the port is first bound without it, so that a
// port another process holds is never shared.
func (t *tcpRelay) listen(addr string) (net.Listener, error) {
	if _, real := t.s.cfg.Net.(*stdnet.Net); !real || reusePortControl == nil {
		ta, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			return nil, err
		}
		return t.s.cfg.Net.ListenTCP("tcp", ta)
	}
	probe, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	probe.Close()
	lc := net.ListenConfig{Control: reusePortControl}
	return lc.Listen(context.Background(), "tcp", addr)
}

// dial connects to a peer from the relayed address (real network), or
// from any port (other networks).
func (a *tcpAlloc) dial(ctx context.Context, peer netip.AddrPort) (net.Conn, error) {
	d := &net.Dialer{Timeout: a.t.s.cfg.TCPConnectTimeout}
	if _, real := a.t.s.cfg.Net.(*stdnet.Net); real {
		if reusePortControl != nil {
			d.LocalAddr = a.bound
			d.Control = reusePortControl
		}
		return d.DialContext(ctx, "tcp", peer.String())
	}
	return a.t.s.cfg.Net.CreateDialer(d).Dial("tcp", peer.String())
}

// refresh serves Refresh on a TCP allocation; LIFETIME 0 deletes it.
func (t *tcpRelay) refresh(a *tcpAlloc, m *stun.Message, src net.Addr, o *origin, key []byte) {
	_, lifetime := t.s.clampLifetime(m)
	if lifetime == 0 {
		a.close()
		t.succeed(m, src, o, key, lifetimeAttr(0))
		return
	}
	a.mu.Lock()
	if a.timer != nil {
		a.timer.Reset(lifetime)
	}
	a.mu.Unlock()
	t.succeed(m, src, o, key, lifetimeAttr(lifetime))
}

// permit serves CreatePermission on a TCP allocation: permissions let
// peers connect to the relayed address (RFC 6062 section 5.3).
func (t *tcpRelay) permit(a *tcpAlloc, m *stun.Message, src net.Addr, o *origin, key []byte) {
	if t.otherFamily(a, m, src, o, key) || t.refused(m, src, o, key) {
		return
	}
	var ips []netip.Addr
	for _, attr := range m.Attributes {
		if attr.Type != stun.AttrXORPeerAddress {
			continue
		}
		ip, _, ok := decodeXORAddr(attr.Value, m.TransactionID)
		if !ok {
			t.fail(m, src, o, stun.CodeBadRequest, "malformed XOR-PEER-ADDRESS", key)
			return
		}
		ips = append(ips, ip.Unmap())
	}
	if len(ips) == 0 {
		t.fail(m, src, o, stun.CodeBadRequest, "no XOR-PEER-ADDRESS", key)
		return
	}
	a.mu.Lock()
	for _, ip := range ips {
		a.perms[ip] = time.Now().Add(permissionLifetime)
	}
	a.mu.Unlock()
	t.s.ctr.permissions.Add(uint64(len(ips)))
	t.succeed(m, src, o, key)
}

// refused applies the peer policy and rule self to m's peers; a refused
// request is answered 403.
func (t *tcpRelay) refused(m *stun.Message, src net.Addr, o *origin, key []byte) bool {
	rule, peer, denied := t.s.checkPeers(m, src, o)
	if !denied {
		return false
	}
	t.s.ctr.denied.inc(rule)
	t.s.log.Info("relay: peer refused", "rule", rule, "peer", peer, "client", src.String(),
		"method", m.Type.Method.String())
	t.fail(m, src, o, stun.CodeForbidden, "peer "+peer+" refused by the relay's peer policy (rule "+rule+")", key)
	return true
}

// otherFamily answers 443 (RFC 6156 section 6.2) to a Connect or
// CreatePermission whose XOR-PEER-ADDRESS is of the other family than the
// allocation's relayed address (by the attribute's family field, as for
// UDP allocations): a relayed IPv4 socket cannot reach an IPv6 peer.
func (t *tcpRelay) otherFamily(a *tcpAlloc, m *stun.Message, src net.Addr, o *origin, key []byte) bool {
	for _, attr := range m.Attributes {
		if attr.Type != stun.AttrXORPeerAddress || len(attr.Value) < 2 || attr.Value[1] == a.family {
			continue
		}
		ip, port, _ := decodeXORAddr(attr.Value, m.TransactionID)
		peer := netip.AddrPortFrom(ip, port).String()
		t.s.ctr.denied.inc(RuleFamily)
		t.s.log.Info("relay: peer refused", "rule", RuleFamily, "peer", peer, "client", src.String(),
			"method", m.Type.Method.String())
		t.fail(m, src, o, stun.CodePeerAddrFamilyMismatch, "peer "+peer+" is not "+familyName(a.family)+
			" like the TCP allocation's relayed address "+a.relayed.String(), key)
		return true
	}
	return false
}

// connect serves Connect (RFC 6062 section 5.2): the relay dials the peer
// from the relayed address and answers with a CONNECTION-ID, or 447.
func (t *tcpRelay) connect(m *stun.Message, src net.Addr, o *origin, key []byte, tuple string) {
	if o.hijack == nil {
		t.fail(m, src, o, stun.CodeBadRequest, "Connect needs a TCP or TLS control connection (RFC 6062)", key)
		return
	}
	a := t.get(tuple)
	if a == nil {
		t.fail(m, src, o, stun.CodeAllocMismatch, "no TCP allocation on this connection", key)
		return
	}
	v, err := m.Get(stun.AttrXORPeerAddress)
	if err != nil {
		t.fail(m, src, o, stun.CodeBadRequest, "Connect without XOR-PEER-ADDRESS", key)
		return
	}
	ip, port, ok := decodeXORAddr(v, m.TransactionID)
	if !ok {
		t.fail(m, src, o, stun.CodeBadRequest, "malformed XOR-PEER-ADDRESS", key)
		return
	}
	if t.otherFamily(a, m, src, o, key) || t.refused(m, src, o, key) {
		return
	}
	peer := netip.AddrPortFrom(ip.Unmap(), port)
	pc, code, why := a.reserve(peer)
	if code != 0 {
		t.fail(m, src, o, code, why, key)
		return
	}
	started := t.spawn(func() {
		ctx, cancel := context.WithTimeout(t.ctx, t.s.cfg.TCPConnectTimeout)
		defer cancel()
		conn, err := a.dial(ctx, peer)
		if err != nil {
			a.drop(pc)
			t.fail(m, src, o, stun.CodeConnTimeoutOrFailure, "the relay could not connect to "+peer.String(), key)
			return
		}
		if !t.pending(pc, conn) {
			conn.Close()
			return
		}
		t.succeed(m, src, o, key, connectionID(pc.id))
	})
	if !started {
		a.drop(pc)
	}
}

// reserve claims peer for a new connection: one per peer (446).
func (a *tcpAlloc) reserve(peer netip.AddrPort) (*peerConn, stun.ErrorCode, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, stun.CodeAllocMismatch, "the TCP allocation has ended"
	}
	if _, ok := a.peers[peer]; ok {
		return nil, stun.CodeConnAlreadyExists, "the allocation already has a connection to " + peer.String()
	}
	if len(a.peers) >= maxPeerConns {
		return nil, stun.CodeForbidden, "too many connections on this allocation"
	}
	pc := &peerConn{a: a, peer: peer}
	a.peers[peer] = pc
	return pc, 0, ""
}

// drop forgets a peer connection and closes what it holds.
func (a *tcpAlloc) drop(pc *peerConn) {
	a.mu.Lock()
	if a.peers[pc.peer] == pc {
		delete(a.peers, pc.peer)
	}
	a.mu.Unlock()
	t := a.t
	t.mu.Lock()
	if t.conns[pc.id] == pc {
		delete(t.conns, pc.id)
	}
	conn, data, timer := pc.conn, pc.data, pc.timer
	t.mu.Unlock()
	if timer != nil {
		timer.Stop()
	}
	if conn != nil {
		conn.Close()
	}
	if data != nil {
		data.Close()
	}
}

// pending gives a connected peer connection its CONNECTION-ID and starts
// the ConnectionBind window; false if the allocation ended meanwhile.
func (t *tcpRelay) pending(pc *peerConn, conn net.Conn) bool {
	a := pc.a
	a.mu.Lock()
	alive := !a.closed && a.peers[pc.peer] == pc
	a.mu.Unlock()
	if !alive {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		id := binary.BigEndian.Uint32(b[:])
		if _, used := t.conns[id]; !used && id != 0 {
			pc.id = id
			break
		}
	}
	pc.conn = conn
	t.conns[pc.id] = pc
	pc.timer = time.AfterFunc(t.s.cfg.TCPBindTimeout, func() { t.bindExpired(pc) })
	return true
}

func (t *tcpRelay) bindExpired(pc *peerConn) {
	t.mu.Lock()
	bound := pc.bound
	t.mu.Unlock()
	if bound {
		return
	}
	t.s.log.Debug("relay: peer connection closed, no ConnectionBind in time", "peer", pc.peer.String(),
		"client", pc.a.client.String(), "timeout", t.s.cfg.TCPBindTimeout)
	pc.a.drop(pc)
}

type connectionID uint32

func (c connectionID) AddTo(m *stun.Message) error {
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], uint32(c))
	m.Add(stun.AttrConnectionID, v[:])
	return nil
}

// readConnectionID reads CONNECTION-ID; ok is false when it is missing or
// not 4 bytes long.
func readConnectionID(m *stun.Message) (uint32, bool) {
	v, err := m.Get(stun.AttrConnectionID)
	if err != nil || len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v), true
}

// bindNonce accepts, for a ConnectionBind, the nonce of the control
// connection whose allocation owns the CONNECTION-ID: clients sign a new
// data connection's first request with what they already hold.
func (t *tcpRelay) bindNonce(m *stun.Message, nonce string) bool {
	if m.Type.Method != stun.MethodConnectionBind {
		return false
	}
	id, ok := readConnectionID(m)
	if !ok {
		return false
	}
	t.mu.Lock()
	pc := t.conns[id]
	t.mu.Unlock()
	return pc != nil && t.s.nonces.valid(nonce, pc.a.nonceTuple)
}

// bind serves ConnectionBind (RFC 6062 section 5.4): the connection it
// arrives on becomes the data connection of the peer connection named by
// CONNECTION-ID, and carries raw bytes from then on.
func (t *tcpRelay) bind(m *stun.Message, src net.Addr, o *origin, key []byte, user, tuple string) {
	if o.hijack == nil {
		t.fail(m, src, o, stun.CodeBadRequest, "ConnectionBind needs a new TCP or TLS connection (RFC 6062 section 4.3)", key)
		return
	}
	if t.get(tuple) != nil {
		t.fail(m, src, o, stun.CodeBadRequest, "ConnectionBind on a control connection; open a new connection for data", key)
		return
	}
	id, ok := readConnectionID(m)
	if !ok {
		t.fail(m, src, o, stun.CodeBadRequest, "ConnectionBind without a 4-byte CONNECTION-ID", key)
		return
	}
	t.mu.Lock()
	pc := t.conns[id]
	if pc == nil || pc.bound || pc.a.user != user {
		t.mu.Unlock()
		t.fail(m, src, o, stun.CodeBadRequest, "unknown or already bound CONNECTION-ID", key)
		return
	}
	pc.bound = true
	timer := pc.timer
	t.mu.Unlock()
	timer.Stop()
	t.succeed(m, src, o, key)
	o.hijack(func(conn net.Conn, r io.Reader) {
		if !t.spawn(func() { t.pipe(pc, conn, r) }) {
			conn.Close()
			pc.a.drop(pc)
		}
	})
}

// pipe relays between a bound data connection and its peer until either
// side ends, then closes both.
func (t *tcpRelay) pipe(pc *peerConn, data net.Conn, r io.Reader) {
	t.mu.Lock()
	pc.data = data
	t.mu.Unlock()
	if !t.spawn(func() {
		n, _ := io.Copy(pc.conn, r)
		t.s.ctr.bytesToPeer.Add(uint64(n))
		halfClose(pc.conn)
	}) {
		pc.a.drop(pc)
		return
	}
	n, _ := io.Copy(data, pc.conn)
	t.s.ctr.bytesToClient.Add(uint64(n))
	pc.a.drop(pc)
}

// spawn runs f on a goroutine that close waits for; false, and f never
// runs, once the relay is closing.
func (t *tcpRelay) spawn(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
	return true
}

// halfClose passes the client's end of stream on to the peer.
func halfClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	c.Close()
}

// acceptLoop takes peers' connections to the relayed address: a peer with
// a permission, allowed by the peer policy, is announced to the client
// with ConnectionAttempt (RFC 6062 section 5.3); others are closed.
func (a *tcpAlloc) acceptLoop() {
	t := a.t
	for {
		conn, err := a.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || a.isClosed() {
				return
			}
			time.Sleep(acceptBackoffMin)
			continue
		}
		peer, ok := anyAddrPort(conn.RemoteAddr())
		if !ok {
			conn.Close()
			continue
		}
		peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
		if allowed, rule := t.s.cfg.PeerPolicy.Check(peer.Addr().AsSlice()); !allowed {
			t.s.ctr.denied.inc(rule)
			conn.Close()
			continue
		}
		if !a.permitted(peer.Addr()) {
			t.s.log.Debug("relay: peer connection without permission closed", "peer", peer.String(), "client", a.client.String())
			conn.Close()
			continue
		}
		pc, code, _ := a.reserve(peer)
		if code != 0 || !t.pending(pc, conn) {
			if pc != nil {
				a.drop(pc)
			}
			conn.Close()
			continue
		}
		ind, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodConnectionAttempt, stun.ClassIndication),
			xorAddr{stun.AttrXORPeerAddress, peer.Addr().AsSlice(), int(peer.Port())},
			connectionID(pc.id), stun.Fingerprint)
		if err != nil || a.write(ind.Raw) != nil {
			a.drop(pc)
		}
	}
}

func (a *tcpAlloc) permitted(ip netip.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.perms[ip]
	return ok && time.Now().Before(exp)
}

func (a *tcpAlloc) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

func (a *tcpAlloc) expire() {
	a.t.s.log.Debug("relay: tcp allocation expired", "client", a.client.String())
	a.close()
}

// close ends the allocation: its listener, and every peer and data
// connection.
func (a *tcpAlloc) close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	if a.timer != nil {
		a.timer.Stop()
	}
	peers := make([]*peerConn, 0, len(a.peers))
	for _, pc := range a.peers {
		peers = append(peers, pc)
	}
	a.mu.Unlock()
	a.ln.Close()
	for _, pc := range peers {
		a.drop(pc)
	}
	t := a.t
	t.mu.Lock()
	if t.allocs[a.tuple] == a {
		delete(t.allocs, a.tuple)
	}
	delete(t.ports, a.bound.Port)
	t.mu.Unlock()
	t.s.ctr.active.Add(-1)
	t.s.onAllocationDeleted(a.client, a.local, "", a.user, "")
}

// controlClosed ends the allocation of a control connection that closed
// (RFC 6062 section 5.1: the allocation lives as long as it).
func (t *tcpRelay) controlClosed(tuple string) {
	if a := t.get(tuple); a != nil {
		a.close()
	}
}

// close ends every TCP allocation (Server.Close).
func (t *tcpRelay) close() error {
	t.mu.Lock()
	t.closed = true
	allocs := make([]*tcpAlloc, 0, len(t.allocs))
	for _, a := range t.allocs {
		allocs = append(allocs, a)
	}
	t.mu.Unlock()
	t.cancel()
	for _, a := range allocs {
		a.close()
	}
	t.wg.Wait()
	return nil
}
