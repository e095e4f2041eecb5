package audit

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pion/stun/v3"

	"github.com/natkit/natkit/internal/turnconn"
	"github.com/natkit/natkit/probe/iceconfig"
)

// maxFrame bounds one frame read from a stream: a STUN header's length
// field cannot exceed it anyway.
const maxFrame = 20 + 0xFFFF

// wire is one 5-tuple to the server: a UDP socket, a TCP connection or a
// TLS connection. It carries whole STUN messages and ChannelData frames.
type wire interface {
	write(b []byte) error
	// read returns the next frame from the server, or an error once
	// deadline passes.
	read(deadline time.Time) ([]byte, error)
	datagram() bool
	localAddr() string
	Close() error
}

// dial opens a new 5-tuple to the server, as the server's URL says.
func (a *auditor) dial(ctx context.Context) (wire, error) {
	s := a.cfg.Server
	if s.Transport == iceconfig.TransportUDP && s.Scheme == iceconfig.SchemeTURN {
		raddr, err := a.cfg.Net.ResolveUDPAddr("udp", s.Address())
		if err != nil {
			return nil, fmt.Errorf("%w: resolve %s: %w", ErrUnreachable, s.Address(), err)
		}
		network, local := "udp4", "0.0.0.0:0"
		if raddr.IP.To4() == nil {
			network, local = "udp6", "[::]:0"
		}
		pc, err := a.cfg.Net.ListenPacket(network, local)
		if err != nil {
			return nil, fmt.Errorf("open udp socket: %w", err)
		}
		return &udpWire{pc: pc, server: raddr}, nil
	}
	c, err := a.dialConn(ctx, a.network())
	if err != nil {
		return nil, err
	}
	if c.Datagram() {
		return &dtlsWire{c: c}, nil
	}
	return &streamWire{c: c, r: bufio.NewReader(c)}, nil
}

// network is the turnconn network of the audited URL.
func (a *auditor) network() string { return turnconn.NetworkOf(a.cfg.Server) }

// verifyTLS trusts the server for the exchanges: the TLS check judges the
// certificate on its own, so a self-signed server can still be audited.
func (a *auditor) verifyTLS() *tls.Config {
	cfg := a.cfg.tlsConfig()
	cfg.InsecureSkipVerify = true //nolint:gosec // the TLS check verifies the chain separately
	return cfg
}

// dialConn connects over network (tcp, tls or dtls) within Timeout; a
// failed TLS or DTLS handshake names its problem.
func (a *auditor) dialConn(ctx context.Context, network string) (*turnconn.Conn, error) {
	return a.dialWith(ctx, network, a.verifyTLS())
}

func (a *auditor) dialWith(ctx context.Context, network string, tc *tls.Config) (*turnconn.Conn, error) {
	s := a.cfg.Server
	c, err := turnconn.Dial(ctx, turnconn.Config{Net: a.cfg.Net, Network: network, Addr: s.Address(), TLS: tc, Timeout: a.cfg.Timeout})
	if err == nil {
		return c, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var de *turnconn.DialError
	if errors.As(err, &de) && de.Handshake {
		proto := strings.ToUpper(network)
		return nil, fmt.Errorf("%w: %s handshake with %s: %s: %w", ErrUnreachable, network, s.Address(), turnconn.Describe(de.Err, proto, tc.ServerName), de.Err)
	}
	if errors.As(err, &de) && errors.Is(de.Err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("%w: %s connect to %s: no answer in %s", ErrUnreachable, network, s.Address(), a.cfg.Timeout)
	}
	return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
}

type udpWire struct {
	pc     net.PacketConn
	server *net.UDPAddr
}

func (w *udpWire) write(b []byte) error { _, err := w.pc.WriteTo(b, w.server); return err }
func (w *udpWire) datagram() bool       { return true }
func (w *udpWire) localAddr() string    { return w.pc.LocalAddr().String() }
func (w *udpWire) Close() error         { return w.pc.Close() }

func (w *udpWire) read(deadline time.Time) ([]byte, error) {
	buf := make([]byte, 1<<16)
	for {
		if err := w.pc.SetReadDeadline(deadline); err != nil {
			return nil, err
		}
		n, from, err := w.pc.ReadFrom(buf)
		if err != nil {
			return nil, err
		}
		// Only the server's answers count; anything else is ignored.
		if ua, ok := from.(*net.UDPAddr); ok && ua.Port == w.server.Port && ua.IP.Equal(w.server.IP) {
			return append([]byte(nil), buf[:n]...), nil
		}
	}
}

// dtlsWire is a DTLS association: one message per record, like UDP.
type dtlsWire struct{ c *turnconn.Conn }

func (w *dtlsWire) write(b []byte) error { _, err := w.c.Write(b); return err }
func (w *dtlsWire) datagram() bool       { return true }
func (w *dtlsWire) localAddr() string    { return w.c.LocalAddr().String() }
func (w *dtlsWire) Close() error         { return w.c.Close() }

func (w *dtlsWire) read(deadline time.Time) ([]byte, error) {
	if err := w.c.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	buf := make([]byte, 1<<16)
	n, err := w.c.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

type streamWire struct {
	c net.Conn
	r *bufio.Reader
}

func (w *streamWire) write(b []byte) error { _, err := w.c.Write(b); return err }
func (w *streamWire) datagram() bool       { return false }
func (w *streamWire) localAddr() string    { return w.c.LocalAddr().String() }
func (w *streamWire) Close() error         { return w.c.Close() }

func (w *streamWire) read(deadline time.Time) ([]byte, error) {
	if err := w.c.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	return readFrame(w.r)
}

// readFrame reads one STUN message or ChannelData frame from a stream
// (RFC 8656 §12: ChannelData over TCP is padded to 4 bytes).
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[2:4]))
	var total int
	switch hdr[0] >> 6 {
	case 0: // STUN
		total = 20 + n
	case 1: // ChannelData
		total = 4 + (n+3)&^3
	default:
		return nil, fmt.Errorf("%w: frame starts with 0x%02x, neither stun nor channeldata", ErrMalformed, hdr[0])
	}
	if total > maxFrame {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrMalformed, total)
	}
	buf := make([]byte, total)
	copy(buf, hdr[:])
	if _, err := io.ReadFull(r, buf[4:]); err != nil {
		return nil, err
	}
	return buf, nil
}

// answer is what the audit reads from one STUN message of the server.
type answer struct {
	Type           stun.MessageType
	TxID           [stun.TransactionIDSize]byte
	Code           int
	Reason         string
	Realm          string
	Nonce          string
	Software       string
	Relayed        netip.AddrPort
	Mapped         netip.AddrPort
	Peer           netip.AddrPort
	Data           []byte
	Lifetime       time.Duration
	HasLifetime    bool
	HasIntegrity   bool
	HasFingerprint bool
	Attrs          []string
	Size           int
}

func (an answer) success() bool { return an.Type.Class == stun.ClassSuccessResponse }

// String is the answer as evidence: the class or error, and the
// attributes that matter. The nonce is shortened: it is a server secret's
// output, not ours to print whole.
func (an answer) String() string {
	var b strings.Builder
	switch an.Type.Class {
	case stun.ClassErrorResponse:
		fmt.Fprintf(&b, "%s error %d %s", an.Type.Method, an.Code, an.Reason)
	case stun.ClassSuccessResponse:
		fmt.Fprintf(&b, "%s success", an.Type.Method)
	default:
		fmt.Fprintf(&b, "%s %s", an.Type.Method, an.Type.Class)
	}
	if an.Relayed.IsValid() {
		fmt.Fprintf(&b, ", XOR-RELAYED-ADDRESS %s", an.Relayed)
	}
	if an.Peer.IsValid() {
		fmt.Fprintf(&b, ", XOR-PEER-ADDRESS %s", an.Peer)
	}
	if an.HasLifetime {
		fmt.Fprintf(&b, ", LIFETIME %ds", int(an.Lifetime.Seconds()))
	}
	if an.Realm != "" {
		fmt.Fprintf(&b, ", REALM %q", an.Realm)
	}
	if an.Nonce != "" {
		fmt.Fprintf(&b, ", NONCE (%d bytes)", len(an.Nonce))
	}
	if an.Software != "" {
		fmt.Fprintf(&b, ", SOFTWARE %q", an.Software)
	}
	fmt.Fprintf(&b, " (%d bytes)", an.Size)
	return b.String()
}

// parseAnswer decodes one message from the server. It never panics on
// input (FuzzParseAnswer holds it to that).
func parseAnswer(raw []byte) (answer, error) {
	var an answer
	if !stun.IsMessage(raw) {
		return an, fmt.Errorf("%w: not a stun message (%d bytes)", ErrMalformed, len(raw))
	}
	m := &stun.Message{Raw: append([]byte(nil), raw...)}
	if err := m.Decode(); err != nil {
		return an, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	an.Type, an.TxID, an.Size = m.Type, m.TransactionID, len(raw)
	for _, at := range m.Attributes {
		an.Attrs = append(an.Attrs, at.Type.String())
	}
	if an.Type.Class == stun.ClassErrorResponse {
		var ec stun.ErrorCodeAttribute
		if err := ec.GetFrom(m); err != nil {
			return an, fmt.Errorf("%w: error response without a valid ERROR-CODE: %w", ErrMalformed, err)
		}
		an.Code, an.Reason = int(ec.Code), string(ec.Reason)
		if strings.TrimSpace(an.Reason) == "" {
			an.Reason = reasonOf[an.Code] // coturn 4.17 sends none
		}
		// RFC 8489 §14.8: the class is 3 to 6 and the number below 100.
		if an.Code < 300 || an.Code > 699 {
			return an, fmt.Errorf("%w: ERROR-CODE %d is outside 300–699", ErrMalformed, an.Code)
		}
	}
	if v, err := m.Get(stun.AttrRealm); err == nil {
		an.Realm = string(v)
	}
	if v, err := m.Get(stun.AttrNonce); err == nil {
		an.Nonce = string(v)
	}
	if v, err := m.Get(stun.AttrSoftware); err == nil {
		an.Software = string(v)
	}
	an.Relayed = xorAddrFrom(m, stun.AttrXORRelayedAddress)
	an.Mapped = xorAddrFrom(m, stun.AttrXORMappedAddress)
	an.Peer = xorAddrFrom(m, stun.AttrXORPeerAddress)
	if v, err := m.Get(stun.AttrData); err == nil {
		an.Data = v
	}
	if v, err := m.Get(stun.AttrLifetime); err == nil {
		if len(v) != 4 {
			return an, fmt.Errorf("%w: LIFETIME of %d bytes", ErrMalformed, len(v))
		}
		an.Lifetime, an.HasLifetime = time.Duration(binary.BigEndian.Uint32(v))*time.Second, true
	}
	an.HasIntegrity = m.Contains(stun.AttrMessageIntegrity)
	an.HasFingerprint = m.Contains(stun.AttrFingerprint)
	return an, nil
}

func xorAddrFrom(m *stun.Message, t stun.AttrType) netip.AddrPort {
	var x stun.XORMappedAddress
	if err := x.GetFromAs(m, t); err != nil {
		return netip.AddrPort{}
	}
	ip, ok := netip.AddrFromSlice(x.IP)
	if !ok {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ip, uint16(x.Port)) //nolint:gosec // a port read from 16 bits
}

// xorAddr is an XOR-PEER-ADDRESS written exactly as given: pion's
// XORMappedAddress turns ::ffff:a.b.c.d into family IPv4, which would
// hide the very encodings the peer-policy check sends.
type xorAddr struct {
	addr netip.AddrPort
	typ  stun.AttrType
}

func (x xorAddr) AddTo(m *stun.Message) error {
	ip := x.addr.Addr()
	var v []byte
	cookie := make([]byte, 16)
	binary.BigEndian.PutUint32(cookie, magicCookie)
	copy(cookie[4:], m.TransactionID[:])
	if ip.Is4() {
		a := ip.As4()
		v = make([]byte, 8)
		v[1] = 0x01
		for i := range 4 {
			v[4+i] = a[i] ^ cookie[i]
		}
	} else {
		a := ip.As16()
		v = make([]byte, 20)
		v[1] = 0x02
		for i := range 16 {
			v[4+i] = a[i] ^ cookie[i]
		}
	}
	binary.BigEndian.PutUint16(v[2:4], x.addr.Port()^uint16(magicCookie>>16))
	m.Add(x.typ, v)
	return nil
}

func peerAddr(a netip.AddrPort) xorAddr { return xorAddr{addr: a, typ: stun.AttrXORPeerAddress} }

func u32Attr(t stun.AttrType, v uint32) stun.RawAttribute {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	return stun.RawAttribute{Type: t, Value: b}
}

// requestedFamilyIPv6 is REQUESTED-ADDRESS-FAMILY: IPv6 (RFC 6156).
var requestedFamilyIPv6 = stun.RawAttribute{Type: stun.AttrRequestedAddressFamily, Value: []byte{0x02, 0, 0, 0}}

// requestedTransportUDP is REQUESTED-TRANSPORT: UDP (17).
var requestedTransportUDP = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}

func lifetimeAttr(d time.Duration) stun.RawAttribute {
	return u32Attr(stun.AttrLifetime, uint32(d/time.Second)) //nolint:gosec // bounded by the caller
}

func channelAttr(ch uint16) stun.RawAttribute {
	return u32Attr(stun.AttrChannelNumber, uint32(ch)<<16)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, ErrNoAnswer)
}

// magicCookie is RFC 8489's fixed header value, also the XOR key of
// addresses.
const magicCookie = 0x2112A442

// reasonOf names the codes the audit meets, for servers that send an
// empty reason phrase.
var reasonOf = map[int]string{
	400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 420: "Unknown Attribute",
	437: "Allocation Mismatch", 438: "Stale Nonce", 440: "Address Family not Supported",
	441: "Wrong Credentials", 442: "Unsupported Transport Protocol", 443: "Peer Address Family Mismatch",
	486: "Allocation Quota Reached", 500: "Server Error", 508: "Insufficient Capacity",
}
