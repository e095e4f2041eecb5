package lab

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// NAT64: a stateful translator (RFC 6146) between an IPv6-only side and
// the IPv4 WAN, translating headers as RFC 7915 says, for UDP, TCP and
// ICMP echo. Linux has no NAT64, so the lab runs this one on a TUN device
// in the side's router: the kernel routes 64:ff9b::/96 and the pool
// address into the TUN, and the translated packets come back out of it.

// NAT64Prefix is the well-known prefix (RFC 6052 section 2.1): an IPv4
// address a.b.c.d is reached as 64:ff9b::a.b.c.d.
var NAT64Prefix = netip.MustParsePrefix("64:ff9b::/96")

// Synthesize returns the IPv6 address a DNS64 resolver gives an IPv6-only
// host for v4: the well-known prefix followed by the 32 bits of v4.
func Synthesize(v4 netip.Addr) netip.Addr {
	b := NAT64Prefix.Addr().As16()
	a4 := v4.Unmap().As4()
	copy(b[12:], a4[:])
	return netip.AddrFrom16(b)
}

// NAT64 session lifetimes (RFC 6146 section 4: UDP_DEFAULT, TCP_EST,
// TCP_TRANS, ICMP_DEFAULT).
const (
	nat64UDPTimeout      = 5 * time.Minute
	nat64TCPEstablished  = 2*time.Hour + 4*time.Minute
	nat64TCPTransitory   = 4 * time.Minute
	nat64ICMPTimeout     = 60 * time.Second
	nat64SweepInterval   = time.Second
	nat64MaxPacket       = 65535
	ipv6HeaderLen        = 40
	ipv4HeaderLen        = 20
	protoICMP            = 1
	protoTCP             = 6
	protoUDP             = 17
	protoICMPv6          = 58
	icmpv4EchoRequest    = 8
	icmpv4EchoReply      = 0
	icmpv6EchoRequest    = 128
	icmpv6EchoReply      = 129
	tcpFlagFIN           = 0x01
	tcpFlagSYN           = 0x02
	tcpFlagRST           = 0x04
	nat64DFThreshold     = 1260 // RFC 7915 5.1: larger packets get DF
	nat64FirstPort       = 1024
	nat64PortCount       = 65536 - nat64FirstPort
	nat64FirstICMPIdent  = 1
	nat64ICMPIdentsCount = 65535
)

// bindKey is an IPv6 host's transport address; proto is the IPv4
// protocol number (ICMP for echo, with the identifier as port).
type bindKey struct {
	proto uint8
	addr  netip.Addr
	port  uint16
}

type poolKey struct {
	proto uint8
	port  uint16
}

// binding is one endpoint-independent mapping (RFC 6146 BIB entry):
// every session of the host's port uses the same pool port.
type binding struct {
	key      bindKey
	poolPort uint16
	sessions map[netip.AddrPort]*nat64Session // by IPv4 remote endpoint
}

type nat64Session struct {
	expires time.Time
	// TCP: SYN seen from each side, FIN seen from each side, RST seen.
	syn6, syn4, fin6, fin4, rst bool
}

// NAT64Stats counts what the translator did.
type NAT64Stats struct {
	To4, To6 int            // packets translated each way
	Bindings int            // current bindings
	Dropped  map[string]int // by reason
}

// nat64 is the translation state: bindings from IPv6 transport addresses
// to ports of one IPv4 pool address, each with its sessions.
// Mapping is endpoint-independent (RFC 6146 requires it), filtering is
// address-and-port-dependent: an IPv4 packet comes in only from an
// endpoint the host has sent to, like the IPv6 firewall of the lab's
// other IPv6 sides.
type nat64 struct {
	pool netip.Addr
	now  func() time.Time

	mu        sync.Mutex
	bindings  map[bindKey]*binding
	byPool    map[poolKey]*binding
	ident     uint16
	lastSweep time.Time
	to4, to6  int
	dropped   map[string]int
}

func newNAT64(pool netip.Addr) *nat64 {
	return &nat64{pool: pool, now: time.Now, bindings: map[bindKey]*binding{}, byPool: map[poolKey]*binding{}, dropped: map[string]int{}}
}

// stats returns a copy of the counters.
func (x *nat64) stats() NAT64Stats {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := NAT64Stats{To4: x.to4, To6: x.to6, Bindings: len(x.bindings), Dropped: map[string]int{}}
	for k, v := range x.dropped {
		s.Dropped[k] = v
	}
	return s
}

func (x *nat64) drop(err error) error {
	x.dropped[err.Error()]++
	return err
}

// translate turns one packet read from the TUN into the packet to write
// back, by its IP version.
func (x *nat64) translate(pkt []byte) ([]byte, error) {
	if len(pkt) == 0 {
		return nil, errNAT64Malformed
	}
	switch pkt[0] >> 4 {
	case 6:
		return x.to4Packet(pkt)
	case 4:
		return x.to6Packet(pkt)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return nil, x.drop(errNAT64Malformed)
}

// to4Packet translates an IPv6 packet from the host side into IPv4.
func (x *nat64) to4Packet(pkt []byte) ([]byte, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(pkt) < ipv6HeaderLen {
		return nil, x.drop(errNAT64Malformed)
	}
	plen := int(binary.BigEndian.Uint16(pkt[4:6]))
	if len(pkt) < ipv6HeaderLen+plen {
		return nil, x.drop(errNAT64Malformed)
	}
	payload := pkt[ipv6HeaderLen : ipv6HeaderLen+plen]
	next, hop := pkt[6], pkt[7]
	src := netip.AddrFrom16([16]byte(pkt[8:24]))
	dst := netip.AddrFrom16([16]byte(pkt[24:40]))
	if !NAT64Prefix.Contains(dst) {
		return nil, x.drop(errNAT64NotOurs)
	}
	if hop == 0 {
		return nil, x.drop(errNAT64HopLimit)
	}
	dst4 := netip.AddrFrom4([4]byte(pkt[36:40]))
	now := x.now()
	x.sweepLocked(now)

	var proto uint8
	var sport, dport uint16
	switch next {
	case protoUDP:
		if len(payload) < 8 {
			return nil, x.drop(errNAT64Malformed)
		}
		proto, sport, dport = protoUDP, binary.BigEndian.Uint16(payload[0:2]), binary.BigEndian.Uint16(payload[2:4])
	case protoTCP:
		if len(payload) < 20 {
			return nil, x.drop(errNAT64Malformed)
		}
		proto, sport, dport = protoTCP, binary.BigEndian.Uint16(payload[0:2]), binary.BigEndian.Uint16(payload[2:4])
	case protoICMPv6:
		if len(payload) < 8 {
			return nil, x.drop(errNAT64Malformed)
		}
		if isICMPv6Error(payload[0]) {
			if l4Checksum6(pkt[8:24], pkt[24:40], protoICMPv6, payload) != 0 {
				return nil, x.drop(errNAT64Malformed)
			}
			return x.icmpErrorTo4Locked(payload, src, dst4, hop, byte(binary.BigEndian.Uint16(pkt[0:2])>>4)) //nolint:gosec // the traffic class
		}
		if payload[0] != icmpv6EchoRequest && payload[0] != icmpv6EchoReply {
			return nil, x.drop(errNAT64Protocol)
		}
		proto, sport = protoICMP, binary.BigEndian.Uint16(payload[4:6])
	case 44:
		return nil, x.drop(errNAT64Fragment)
	default:
		return nil, x.drop(errNAT64Protocol)
	}

	b, err := x.bindLocked(bindKey{proto: proto, addr: src, port: sport})
	if err != nil {
		return nil, x.drop(err)
	}
	remote := netip.AddrPortFrom(dst4, dport)
	s := b.sessions[remote]
	if s == nil {
		s = &nat64Session{}
		b.sessions[remote] = s
	}
	s.seen(proto, payload, true, now)

	out := make([]byte, ipv4HeaderLen+len(payload))
	h := out[:ipv4HeaderLen]
	h[0] = 0x45
	h[1] = byte(binary.BigEndian.Uint16(pkt[0:2]) >> 4)  //nolint:gosec // the traffic class: 8 bits of the version/class/flow word
	binary.BigEndian.PutUint16(h[2:4], uint16(len(out))) //nolint:gosec // a packet read from the TUN fits 16 bits (MTU)
	if len(out) > nat64DFThreshold {
		h[6] = 0x40 // DF, identification 0
	} else {
		x.ident++
		binary.BigEndian.PutUint16(h[4:6], x.ident)
	}
	h[8] = hop
	h[9] = proto
	pool4 := x.pool.As4()
	copy(h[12:16], pool4[:])
	copy(h[16:20], pkt[36:40])
	binary.BigEndian.PutUint16(h[10:12], checksum(h))
	l4 := out[ipv4HeaderLen:]
	copy(l4, payload)

	switch proto {
	case protoUDP, protoTCP:
		rewritePort(proto, l4, 0, b.poolPort, pkt[8:40], h[12:20])
	case protoICMP:
		// ICMPv4's checksum covers no pseudo-header: computed afresh.
		l4[0] = icmpv4EchoRequest
		if payload[0] == icmpv6EchoReply {
			l4[0] = icmpv4EchoReply
		}
		binary.BigEndian.PutUint16(l4[4:6], b.poolPort)
		binary.BigEndian.PutUint16(l4[2:4], 0)
		binary.BigEndian.PutUint16(l4[2:4], checksum(l4))
	}
	x.to4++
	return out, nil
}

// to6Packet translates an IPv4 packet to the pool address back into IPv6
// towards the host whose binding owns the destination port.
func (x *nat64) to6Packet(pkt []byte) ([]byte, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(pkt) < ipv4HeaderLen {
		return nil, x.drop(errNAT64Malformed)
	}
	ihl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:4]))
	if ihl < ipv4HeaderLen || total < ihl || len(pkt) < total || checksum(pkt[:ihl]) != 0 {
		return nil, x.drop(errNAT64Malformed)
	}
	if binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0 { // MF or an offset
		return nil, x.drop(errNAT64Fragment)
	}
	src4 := netip.AddrFrom4([4]byte(pkt[12:16]))
	if netip.AddrFrom4([4]byte(pkt[16:20])) != x.pool {
		return nil, x.drop(errNAT64NotOurs)
	}
	ttl, proto := pkt[8], pkt[9]
	if ttl == 0 {
		return nil, x.drop(errNAT64HopLimit)
	}
	payload := pkt[ihl:total]
	now := x.now()
	x.sweepLocked(now)

	var sport, dport uint16
	switch proto {
	case protoUDP:
		if len(payload) < 8 {
			return nil, x.drop(errNAT64Malformed)
		}
		sport, dport = binary.BigEndian.Uint16(payload[0:2]), binary.BigEndian.Uint16(payload[2:4])
	case protoTCP:
		if len(payload) < 20 {
			return nil, x.drop(errNAT64Malformed)
		}
		sport, dport = binary.BigEndian.Uint16(payload[0:2]), binary.BigEndian.Uint16(payload[2:4])
	case protoICMP:
		if len(payload) < 8 {
			return nil, x.drop(errNAT64Malformed)
		}
		if isICMPv4Error(payload[0]) {
			if checksum(payload) != 0 {
				return nil, x.drop(errNAT64Malformed)
			}
			return x.icmpErrorTo6Locked(payload, src4, ttl, pkt[1])
		}
		if payload[0] != icmpv4EchoReply && payload[0] != icmpv4EchoRequest {
			return nil, x.drop(errNAT64Protocol)
		}
		dport = binary.BigEndian.Uint16(payload[4:6])
	default:
		return nil, x.drop(errNAT64Protocol)
	}
	b := x.byPool[poolKey{proto: proto, port: dport}]
	if b == nil {
		return nil, x.drop(errNAT64NoBinding)
	}
	s := b.liveSession(netip.AddrPortFrom(src4, sport), now)
	if s == nil {
		return nil, x.drop(errNAT64Filtered)
	}
	s.seen(proto, payload, false, now)

	out := make([]byte, ipv6HeaderLen+len(payload))
	h := out[:ipv6HeaderLen]
	binary.BigEndian.PutUint32(h[0:4], 6<<28|uint32(pkt[1])<<20)
	binary.BigEndian.PutUint16(h[4:6], uint16(len(payload))) //nolint:gosec // a packet read from the TUN fits 16 bits (MTU)
	h[6] = proto
	if proto == protoICMP {
		h[6] = protoICMPv6
	}
	h[7] = ttl
	src6 := Synthesize(src4).As16()
	dst6 := b.key.addr.As16()
	copy(h[8:24], src6[:])
	copy(h[24:40], dst6[:])
	l4 := out[ipv6HeaderLen:]
	copy(l4, payload)

	switch proto {
	case protoUDP, protoTCP:
		if proto == protoUDP && binary.BigEndian.Uint16(l4[6:8]) == 0 {
			// IPv4 allows no UDP checksum, IPv6 does not (RFC 7915 4.5).
			binary.BigEndian.PutUint16(l4[2:4], b.key.port)
			c := l4Checksum6(h[8:24], h[24:40], protoUDP, l4)
			if c == 0 {
				c = 0xffff
			}
			binary.BigEndian.PutUint16(l4[6:8], c)
			break
		}
		rewritePort(proto, l4, 2, b.key.port, pkt[12:20], h[8:40])
	case protoICMP:
		l4[0] = icmpv6EchoReply
		if payload[0] == icmpv4EchoRequest {
			l4[0] = icmpv6EchoRequest
		}
		binary.BigEndian.PutUint16(l4[4:6], b.key.port)
		binary.BigEndian.PutUint16(l4[2:4], 0)
		binary.BigEndian.PutUint16(l4[2:4], l4Checksum6(h[8:24], h[24:40], protoICMPv6, l4))
	}
	x.to6++
	return out, nil
}

// seen records a packet of the session, from the IPv6 side (from6) or
// the IPv4 side: TCP flags move its state, and it lives on.
func (s *nat64Session) seen(proto uint8, l4 []byte, from6 bool, now time.Time) {
	if proto == protoTCP {
		f := l4[13]
		syn, fin := &s.syn4, &s.fin4
		if from6 {
			syn, fin = &s.syn6, &s.fin6
		}
		*syn = *syn || f&tcpFlagSYN != 0
		*fin = *fin || f&tcpFlagFIN != 0
		s.rst = s.rst || f&tcpFlagRST != 0
	}
	s.expires = now.Add(s.lifetime(proto))
}

// liveSession is b's session with remote; nil when there is none or it
// has expired (the sweep runs at most once a second).
func (b *binding) liveSession(remote netip.AddrPort, now time.Time) *nat64Session {
	s := b.sessions[remote]
	if s == nil || !now.Before(s.expires) {
		return nil
	}
	return s
}

// rewritePort sets the UDP or TCP port at portOff of l4 to port and
// adjusts the checksum (RFC 1624) for it and for the pseudo-header's
// addresses changing from oldAddrs to newAddrs.
func rewritePort(proto uint8, l4 []byte, portOff int, port uint16, oldAddrs, newAddrs []byte) {
	off := 6 // UDP checksum
	if proto == protoTCP {
		off = 16
	}
	old := binary.BigEndian.Uint16(l4[off : off+2])
	was := sum16(sum16(0, oldAddrs), l4[portOff:portOff+2])
	binary.BigEndian.PutUint16(l4[portOff:portOff+2], port)
	now := sum16(sum16(0, newAddrs), l4[portOff:portOff+2])
	c := adjust(old, was, now)
	if proto == protoUDP && c == 0 {
		c = 0xffff // 0 means "no checksum" for UDP
	}
	binary.BigEndian.PutUint16(l4[off:off+2], c)
}

// lifetime is how long the session lives after this packet.
func (s *nat64Session) lifetime(proto uint8) time.Duration {
	switch proto {
	case protoUDP:
		return nat64UDPTimeout
	case protoICMP:
		return nat64ICMPTimeout
	}
	if s.syn6 && s.syn4 && !s.rst && (!s.fin6 || !s.fin4) {
		return nat64TCPEstablished
	}
	return nat64TCPTransitory
}

// bindLocked returns the host address's binding, making one with a free
// pool port (the host's own port when it is free).
func (x *nat64) bindLocked(k bindKey) (*binding, error) {
	if b := x.bindings[k]; b != nil {
		return b, nil
	}
	first, count := uint32(nat64FirstPort), uint32(nat64PortCount)
	if k.proto == protoICMP {
		first, count = nat64FirstICMPIdent, nat64ICMPIdentsCount
	}
	try := func(p uint16) *binding {
		if uint32(p) < first || x.byPool[poolKey{k.proto, p}] != nil {
			return nil
		}
		b := &binding{key: k, poolPort: p, sessions: map[netip.AddrPort]*nat64Session{}}
		x.bindings[k] = b
		x.byPool[poolKey{k.proto, p}] = b
		return b
	}
	if b := try(k.port); b != nil {
		return b, nil
	}
	start := rand.Uint32N(count) //nolint:gosec // port choice, not a secret
	for i := range count {
		if b := try(uint16(first + (start+i)%count)); b != nil { //nolint:gosec // first+count-1 is a port, at most 65535
			return b, nil
		}
	}
	return nil, errNAT64PortsUsedUp
}

// sweepLocked removes expired sessions, and bindings left without any,
// at most once per nat64SweepInterval.
func (x *nat64) sweepLocked(now time.Time) {
	if now.Sub(x.lastSweep) < nat64SweepInterval {
		return
	}
	x.lastSweep = now
	for k, b := range x.bindings {
		for r, s := range b.sessions {
			if !now.Before(s.expires) {
				delete(b.sessions, r)
			}
		}
		if len(b.sessions) == 0 {
			delete(x.bindings, k)
			delete(x.byPool, poolKey{k.proto, b.poolPort})
		}
	}
}

// sum16 adds b to a ones' complement sum, as 16-bit big-endian words.
func sum16(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// checksum is the Internet checksum of b (RFC 1071).
func checksum(b []byte) uint16 { return ^fold(sum16(0, b)) }

// adjust updates checksum old for data whose words summing to was now sum
// to now (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
func adjust(old uint16, was, now uint32) uint16 {
	return ^fold(uint32(^old) + uint32(^fold(was)) + uint32(fold(now)))
}

// l4Checksum6 is the checksum of an upper-layer packet over IPv6's
// pseudo-header (RFC 8200 section 8.1); seg's checksum field must be 0.
func l4Checksum6(src, dst []byte, next uint8, seg []byte) uint16 {
	s := sum16(0, src)
	s = sum16(s, dst)
	s += uint32(len(seg)>>16) + uint32(len(seg)&0xffff) + uint32(next) //nolint:gosec // a segment is far below 4 GiB
	return ^fold(sum16(s, seg))
}
