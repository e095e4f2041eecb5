package lab

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The tests build packets with their own checksum code (a plain 64-bit
// sum, not the translator's) and check every translated checksum by
// recomputing it from scratch.

var (
	testHost  = netip.MustParseAddr("2001:db8:a::2")
	testHost2 = netip.MustParseAddr("2001:db8:a::3")
	testPool  = netip.MustParseAddr("203.0.113.11")
	testRelay = netip.MustParseAddr("203.0.113.1")
)

func refSum(parts ...[]byte) uint16 {
	var s uint64
	for _, b := range parts {
		for i := 0; i < len(b); i += 2 {
			w := uint64(b[i]) << 8
			if i+1 < len(b) {
				w |= uint64(b[i+1])
			}
			s += w
		}
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func pseudo6(src, dst netip.Addr, proto uint8, n int) []byte {
	p := make([]byte, 40)
	s, d := src.As16(), dst.As16()
	copy(p, s[:])
	copy(p[16:], d[:])
	binary.BigEndian.PutUint32(p[32:], uint32(n))
	p[39] = proto
	return p
}

func pseudo4(src, dst netip.Addr, proto uint8, n int) []byte {
	p := make([]byte, 12)
	s, d := src.As4(), dst.As4()
	copy(p, s[:])
	copy(p[4:], d[:])
	p[9] = proto
	binary.BigEndian.PutUint16(p[10:], uint16(n))
	return p
}

// seg returns a UDP (8-byte header), TCP (20) or ICMP echo (8) segment.
func seg(proto uint8, sport, dport uint16, flags byte, payload string) []byte {
	hl := 8
	if proto == protoTCP {
		hl = 20
	}
	b := make([]byte, hl+len(payload))
	copy(b[hl:], payload)
	switch proto {
	case protoUDP:
		binary.BigEndian.PutUint16(b[0:], sport)
		binary.BigEndian.PutUint16(b[2:], dport)
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	case protoTCP:
		binary.BigEndian.PutUint16(b[0:], sport)
		binary.BigEndian.PutUint16(b[2:], dport)
		binary.BigEndian.PutUint32(b[4:], 1000)
		b[12] = 5 << 4
		b[13] = flags
		binary.BigEndian.PutUint16(b[14:], 65535)
	default: // ICMP echo: type in flags, identifier sport, sequence dport
		b[0] = flags
		binary.BigEndian.PutUint16(b[4:], sport)
		binary.BigEndian.PutUint16(b[6:], dport)
	}
	return b
}

func csumOffset(proto uint8) int {
	switch proto {
	case protoTCP:
		return 16
	case protoUDP:
		return 6
	}
	return 2
}

func packet6(src, dst netip.Addr, proto uint8, s []byte) []byte {
	next := proto
	if proto == protoICMP {
		next = protoICMPv6
	}
	off := csumOffset(proto)
	binary.BigEndian.PutUint16(s[off:], 0)
	binary.BigEndian.PutUint16(s[off:], refSum(pseudo6(src, dst, next, len(s)), s))
	p := make([]byte, 40+len(s))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(len(s)))
	p[6], p[7] = next, 64
	a, b := src.As16(), dst.As16()
	copy(p[8:], a[:])
	copy(p[24:], b[:])
	copy(p[40:], s)
	return p
}

func packet4(src, dst netip.Addr, proto uint8, s []byte, zeroUDPSum bool) []byte {
	off := csumOffset(proto)
	binary.BigEndian.PutUint16(s[off:], 0)
	switch {
	case proto == protoICMP:
		binary.BigEndian.PutUint16(s[off:], refSum(s))
	case !zeroUDPSum:
		binary.BigEndian.PutUint16(s[off:], refSum(pseudo4(src, dst, proto, len(s)), s))
	}
	p := make([]byte, 20+len(s))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8], p[9] = 60, proto
	a, b := src.As4(), dst.As4()
	copy(p[12:], a[:])
	copy(p[16:], b[:])
	binary.BigEndian.PutUint16(p[10:], refSum(p[:20]))
	copy(p[20:], s)
	return p
}

// check4 verifies a translated IPv4 packet's header and checksums and
// returns its source port (or ICMP identifier).
func check4(t *testing.T, p []byte, dst netip.Addr, proto uint8) uint16 {
	t.Helper()
	require.Equal(t, byte(0x45), p[0])
	require.Equal(t, len(p), int(binary.BigEndian.Uint16(p[2:])))
	require.Zero(t, refSum(p[:20]), "IPv4 header checksum")
	require.Equal(t, proto, p[9])
	require.Equal(t, testPool, netip.AddrFrom4([4]byte(p[12:16])))
	require.Equal(t, dst, netip.AddrFrom4([4]byte(p[16:20])))
	s := p[20:]
	if proto == protoICMP {
		require.Zero(t, refSum(s), "ICMPv4 checksum")
		return binary.BigEndian.Uint16(s[4:])
	}
	require.Zero(t, refSum(pseudo4(testPool, dst, proto, len(s)), s), "checksum over the IPv4 pseudo-header")
	return binary.BigEndian.Uint16(s[0:])
}

// check6 verifies a translated IPv6 packet and returns its segment.
func check6(t *testing.T, p []byte, src, dst netip.Addr, next uint8) []byte {
	t.Helper()
	require.Equal(t, byte(6), p[0]>>4)
	require.Equal(t, len(p)-40, int(binary.BigEndian.Uint16(p[4:])))
	require.Equal(t, next, p[6])
	require.Equal(t, Synthesize(src), netip.AddrFrom16([16]byte(p[8:24])))
	require.Equal(t, dst, netip.AddrFrom16([16]byte(p[24:40])))
	s := p[40:]
	require.Zero(t, refSum(pseudo6(Synthesize(src), dst, next, len(s)), s), "checksum over the IPv6 pseudo-header")
	return s
}

func TestSynthesize(t *testing.T) {
	require.Equal(t, "64:ff9b::cb00:7101", Synthesize(testRelay).String())
	require.Equal(t, "64:ff9b::c000:221", Synthesize(netip.MustParseAddr("192.0.2.33")).String()) // RFC 6052 2.4's example
}

func TestNAT64UDPBothWays(t *testing.T) {
	x := newNAT64(testPool)
	out, err := x.translate(packet6(testHost, Synthesize(testRelay), protoUDP, seg(protoUDP, 5000, 3478, 0, "hello")))
	require.NoError(t, err)
	require.Equal(t, uint16(5000), check4(t, out, testRelay, protoUDP), "the host's port is preserved when free")
	require.Equal(t, "hello", string(out[28:]))

	back, err := x.translate(packet4(testRelay, testPool, protoUDP, seg(protoUDP, 3478, 5000, 0, "world"), false))
	require.NoError(t, err)
	s := check6(t, back, testRelay, testHost, protoUDP)
	require.Equal(t, uint16(3478), binary.BigEndian.Uint16(s[0:]))
	require.Equal(t, uint16(5000), binary.BigEndian.Uint16(s[2:]))
	require.Equal(t, "world", string(s[8:]))

	// IPv4 may omit the UDP checksum; IPv6 may not: it is computed.
	back, err = x.translate(packet4(testRelay, testPool, protoUDP, seg(protoUDP, 3478, 5000, 0, "no sum"), true))
	require.NoError(t, err)
	s = check6(t, back, testRelay, testHost, protoUDP)
	require.NotZero(t, binary.BigEndian.Uint16(s[6:]))
	st := x.stats()
	require.Equal(t, 1, st.To4)
	require.Equal(t, 2, st.To6)
}

func TestNAT64MappingAndFiltering(t *testing.T) {
	x := newNAT64(testPool)
	alt := netip.MustParseAddr("203.0.113.2")
	send := func(host netip.Addr, sport uint16, dst netip.Addr, dport uint16) uint16 {
		out, err := x.translate(packet6(host, Synthesize(dst), protoUDP, seg(protoUDP, sport, dport, 0, "x")))
		require.NoError(t, err)
		return check4(t, out, dst, protoUDP)
	}
	p1 := send(testHost, 40000, testRelay, 3478)
	require.Equal(t, p1, send(testHost, 40000, alt, 3479), "endpoint-independent mapping")
	p2 := send(testHost2, 40000, testRelay, 3478)
	require.NotEqual(t, p1, p2, "a second host with the same port gets another pool port")
	require.GreaterOrEqual(t, p2, uint16(nat64FirstPort))

	in := func(src netip.Addr, sport, dport uint16) error {
		_, err := x.translate(packet4(src, testPool, protoUDP, seg(protoUDP, sport, dport, 0, "x"), false))
		return err
	}
	require.NoError(t, in(alt, 3479, p1))
	require.ErrorIs(t, in(alt, 3478, p1), errNAT64Filtered, "address-and-port-dependent filtering")
	require.ErrorIs(t, in(netip.MustParseAddr("203.0.113.20"), 3478, p1), errNAT64Filtered)
	require.ErrorIs(t, in(testRelay, 3478, 999), errNAT64NoBinding)
	require.Equal(t, 2, x.stats().Dropped[errNAT64Filtered.Error()])
}

func TestNAT64TCPStates(t *testing.T) {
	x := newNAT64(testPool)
	now := time.Unix(1000, 0)
	x.now = func() time.Time { return now }
	out, err := x.translate(packet6(testHost, Synthesize(testRelay), protoTCP, seg(protoTCP, 41000, 443, tcpFlagSYN, "")))
	require.NoError(t, err)
	port := check4(t, out, testRelay, protoTCP)
	sess := func() *nat64Session {
		return x.bindings[bindKey{protoTCP, testHost, 41000}].sessions[netip.AddrPortFrom(testRelay, 443)]
	}
	require.Equal(t, now.Add(nat64TCPTransitory), sess().expires, "a half-open connection is transitory")

	back, err := x.translate(packet4(testRelay, testPool, protoTCP, seg(protoTCP, 443, port, tcpFlagSYN|0x10, ""), false))
	require.NoError(t, err)
	s := check6(t, back, testRelay, testHost, protoTCP)
	require.Equal(t, uint16(41000), binary.BigEndian.Uint16(s[2:]))
	require.Equal(t, now.Add(nat64TCPEstablished), sess().expires)

	data, err := x.translate(packet6(testHost, Synthesize(testRelay), protoTCP, seg(protoTCP, 41000, 443, 0x18, "GET / HTTP/1.1\r\n")))
	require.NoError(t, err)
	check4(t, data, testRelay, protoTCP)

	_, err = x.translate(packet6(testHost, Synthesize(testRelay), protoTCP, seg(protoTCP, 41000, 443, tcpFlagFIN|0x10, "")))
	require.NoError(t, err)
	_, err = x.translate(packet4(testRelay, testPool, protoTCP, seg(protoTCP, 443, port, tcpFlagFIN|0x10, ""), false))
	require.NoError(t, err)
	require.Equal(t, now.Add(nat64TCPTransitory), sess().expires, "closed both ways: transitory again")

	// The state expires: the binding goes and the port is unknown.
	now = now.Add(nat64TCPTransitory + time.Second)
	_, err = x.translate(packet4(testRelay, testPool, protoTCP, seg(protoTCP, 443, port, 0x10, ""), false))
	require.ErrorIs(t, err, errNAT64NoBinding)
	require.Zero(t, x.stats().Bindings)
}

func TestNAT64ICMPEcho(t *testing.T) {
	x := newNAT64(testPool)
	out, err := x.translate(packet6(testHost, Synthesize(testRelay), protoICMP, seg(protoICMP, 7, 1, icmpv6EchoRequest, "ping")))
	require.NoError(t, err)
	id := check4(t, out, testRelay, protoICMP)
	require.Equal(t, byte(icmpv4EchoRequest), out[20])
	require.Equal(t, uint16(7), id)

	back, err := x.translate(packet4(testRelay, testPool, protoICMP, seg(protoICMP, id, 1, icmpv4EchoReply, "ping"), false))
	require.NoError(t, err)
	s := check6(t, back, testRelay, testHost, protoICMPv6)
	require.Equal(t, byte(icmpv6EchoReply), s[0])
	require.Equal(t, uint16(7), binary.BigEndian.Uint16(s[4:]))
	require.Equal(t, "ping", string(s[8:]))

	// Other ICMPv6 (e.g. neighbour solicitation) is not translated.
	_, err = x.translate(packet6(testHost, Synthesize(testRelay), protoICMP, seg(protoICMP, 0, 0, 135, "")))
	require.ErrorIs(t, err, errNAT64Protocol)
}

func TestNAT64UDPExpires(t *testing.T) {
	x := newNAT64(testPool)
	now := time.Unix(1000, 0)
	x.now = func() time.Time { return now }
	out, err := x.translate(packet6(testHost, Synthesize(testRelay), protoUDP, seg(protoUDP, 5000, 3478, 0, "x")))
	require.NoError(t, err)
	port := check4(t, out, testRelay, protoUDP)
	now = now.Add(nat64UDPTimeout - time.Second)
	_, err = x.translate(packet4(testRelay, testPool, protoUDP, seg(protoUDP, 3478, port, 0, "x"), false))
	require.NoError(t, err, "an inbound packet refreshes the session")
	now = now.Add(nat64UDPTimeout - time.Second)
	_, err = x.translate(packet4(testRelay, testPool, protoUDP, seg(protoUDP, 3478, port, 0, "x"), false))
	require.NoError(t, err)
	now = now.Add(nat64UDPTimeout)
	_, err = x.translate(packet4(testRelay, testPool, protoUDP, seg(protoUDP, 3478, port, 0, "x"), false))
	require.ErrorIs(t, err, errNAT64NoBinding)
}

func TestNAT64Refuses(t *testing.T) {
	x := newNAT64(testPool)
	good6 := packet6(testHost, Synthesize(testRelay), protoUDP, seg(protoUDP, 5000, 3478, 0, "x"))
	notPrefix := packet6(testHost, netip.MustParseAddr("2001:db8:b::2"), protoUDP, seg(protoUDP, 5000, 3478, 0, "x"))
	frag6 := append([]byte(nil), good6...)
	frag6[6] = 44
	good4 := packet4(testRelay, testPool, protoUDP, seg(protoUDP, 3478, 5000, 0, "x"), false)
	badSum := append([]byte(nil), good4...)
	badSum[10] ^= 0xff
	frag4 := packet4(testRelay, testPool, protoUDP, seg(protoUDP, 3478, 5000, 0, "x"), false)
	frag4[6] = 0x20 // MF
	binary.BigEndian.PutUint16(frag4[10:], 0)
	binary.BigEndian.PutUint16(frag4[10:], refSum(frag4[:20]))
	otherDst := packet4(testRelay, netip.MustParseAddr("203.0.113.12"), protoUDP, seg(protoUDP, 3478, 5000, 0, "x"), false)
	for name, c := range map[string]struct {
		pkt  []byte
		want error
	}{
		"empty":             {nil, errNAT64Malformed},
		"short IPv6":        {good6[:30], errNAT64Malformed},
		"truncated payload": {good6[:45], errNAT64Malformed},
		"outside prefix":    {notPrefix, errNAT64NotOurs},
		"IPv6 fragment":     {frag6, errNAT64Fragment},
		"IPv4 bad checksum": {badSum, errNAT64Malformed},
		"IPv4 fragment":     {frag4, errNAT64Fragment},
		"not the pool":      {otherDst, errNAT64NotOurs},
		"version 5":         {[]byte{0x50, 0, 0, 0}, errNAT64Malformed},
	} {
		_, err := x.translate(c.pkt)
		require.ErrorIs(t, err, c.want, name)
	}
}

// The translator never panics, whatever it reads from the TUN.
func FuzzNAT64Translate(f *testing.F) {
	f.Add(packet6(testHost, Synthesize(testRelay), protoUDP, seg(protoUDP, 5000, 3478, 0, "x")))
	f.Add(packet6(testHost, Synthesize(testRelay), protoTCP, seg(protoTCP, 5000, 443, tcpFlagSYN, "")))
	f.Add(packet4(testRelay, testPool, protoUDP, seg(protoUDP, 3478, 5000, 0, "x"), false))
	f.Add(packet4(testRelay, testPool, protoICMP, seg(protoICMP, 1, 1, icmpv4EchoReply, ""), false))
	out := packet6(testHost, Synthesize(testRelay), protoUDP, seg(protoUDP, 5000, 3478, 0, "x"))
	x := newNAT64(testPool)
	sent, _ := x.translate(out)
	in, _ := x.translate(packet4(testRelay, testPool, protoUDP, seg(protoUDP, 3478, 5000, 0, "r"), false))
	f.Add(packet4(testRelay, testPool, protoICMP, icmpMsg(icmpv4DestUnreach, icmpv4FragNeeded, 1300, sent), false))
	f.Add(packet4(testRelay, testPool, protoICMP, icmpMsg(icmpv4TimeExceeded, 0, 0, sent[:28]), false))
	f.Add(packet6(testHost, Synthesize(testRelay), protoICMP, icmpMsg(icmpv6DestUnreach, 4, 0, in)))
	f.Add(packet6(testHost, Synthesize(testRelay), protoICMP, icmpMsg(icmpv6PacketTooBig, 0, 1400, in)))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		x := newNAT64(testPool)
		_, _ = x.translate(out)
		_, _ = x.translate(packet4(testRelay, testPool, protoUDP, seg(protoUDP, 3478, 5000, 0, "r"), false))
		got, err := x.translate(pkt)
		if err != nil {
			return
		}
		// What the translator computes afresh is always right: the IPv4
		// header's checksum, and every ICMP message's (echo or error).
		switch got[0] >> 4 {
		case 4:
			if refSum(got[:20]) != 0 || (got[9] == protoICMP && refSum(got[20:]) != 0) {
				t.Fatalf("bad checksum in %x", got)
			}
		case 6:
			if got[6] == protoICMPv6 && refSum(got[8:40], []byte{0, 0, byte((len(got) - 40) >> 8), byte(len(got) - 40), 0, 0, 0, protoICMPv6}, got[40:]) != 0 {
				t.Fatalf("bad ICMPv6 checksum in %x", got)
			}
		}
	})
}

// BenchmarkNAT64Translate: one UDP datagram out (IPv6 → IPv4) and its
// answer back, on an existing binding.
func BenchmarkNAT64Translate(b *testing.B) {
	x := newNAT64(testPool)
	out6 := packet6(testHost, Synthesize(testRelay), protoUDP, seg(protoUDP, 5000, 3478, 0, string(make([]byte, 160))))
	in4 := packet4(testRelay, testPool, protoUDP, seg(protoUDP, 3478, 5000, 0, string(make([]byte, 160))), false)
	if _, err := x.translate(out6); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out6) + len(in4)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.translate(out6); err != nil {
			b.Fatal(err)
		}
		if _, err := x.translate(in4); err != nil {
			b.Fatal(err)
		}
	}
}
