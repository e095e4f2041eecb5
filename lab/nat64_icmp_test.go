package lab

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// icmpMsg is an ICMP error message: type, code, the second word, and the
// quoted packet.
func icmpMsg(typ, code byte, word uint32, quoted []byte) []byte {
	m := make([]byte, icmpHeaderLen+len(quoted))
	m[0], m[1] = typ, code
	binary.BigEndian.PutUint32(m[4:], word)
	copy(m[icmpHeaderLen:], quoted)
	return m
}

// error4 is an ICMPv4 error from src to the pool quoting quoted.
func error4(src netip.Addr, typ, code byte, word uint32, quoted []byte) []byte {
	return packet4(src, testPool, protoICMP, icmpMsg(typ, code, word, quoted), false)
}

// error6 is an ICMPv6 error from the host to dst (an IPv4 address,
// synthesized) quoting quoted.
func error6(dst netip.Addr, typ, code byte, word uint32, quoted []byte) []byte {
	return packet6(testHost, Synthesize(dst), protoICMP, icmpMsg(typ, code, word, quoted))
}

// checkError6 verifies a translated ICMPv6 error from src (IPv4) and
// returns its type, code, second word and quoted packet.
func checkError6(t *testing.T, p []byte, src netip.Addr) (byte, byte, uint32, []byte) {
	t.Helper()
	m := check6(t, p, src, testHost, protoICMPv6)
	require.LessOrEqual(t, len(p), icmpv6ErrorMax)
	return m[0], m[1], binary.BigEndian.Uint32(m[4:8]), m[icmpHeaderLen:]
}

// checkError4 verifies a translated ICMPv4 error from the pool to dst.
func checkError4(t *testing.T, p []byte, dst netip.Addr) (byte, byte, uint32, []byte) {
	t.Helper()
	check4(t, p, dst, protoICMP)
	require.LessOrEqual(t, len(p), icmpv4ErrorMax)
	m := p[ipv4HeaderLen:]
	return m[0], m[1], binary.BigEndian.Uint32(m[4:8]), m[icmpHeaderLen:]
}

// An ICMPv4 error about a translated packet reaches the host as ICMPv6,
// quoting the packet exactly as the host sent it: addresses, port and
// every checksum restored.
func TestNAT64ICMPv4ErrorsTranslated(t *testing.T) {
	router := netip.MustParseAddr("203.0.113.10")
	for _, tc := range []struct {
		name             string
		proto            uint8
		typ, code        byte
		word             uint32
		wantTyp, wantCod byte
		wantWord         uint32
	}{
		{"port unreachable", protoUDP, icmpv4DestUnreach, 3, 0, icmpv6DestUnreach, 4, 0},
		{"host unreachable", protoTCP, icmpv4DestUnreach, 1, 0, icmpv6DestUnreach, 0, 0},
		{"admin prohibited", protoUDP, icmpv4DestUnreach, 13, 0, icmpv6DestUnreach, 1, 0},
		{"protocol unreachable", protoUDP, icmpv4DestUnreach, 2, 0, icmpv6ParamProblem, 1, 6},
		{"fragmentation needed", protoUDP, icmpv4DestUnreach, icmpv4FragNeeded, 1300, icmpv6PacketTooBig, 0, 1320},
		{"time exceeded", protoUDP, icmpv4TimeExceeded, 0, 0, icmpv6TimeExceeded, 0, 0},
		{"echo time exceeded", protoICMP, icmpv4TimeExceeded, 0, 0, icmpv6TimeExceeded, 0, 0},
		{"parameter problem at TTL", protoTCP, icmpv4ParamProblem, 0, 8 << 24, icmpv6ParamProblem, 0, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newNAT64(testPool)
			var s []byte
			switch tc.proto {
			case protoICMP:
				s = seg(protoICMP, 7, 1, icmpv6EchoRequest, "ping")
			default:
				s = seg(tc.proto, 5000, 3478, tcpFlagSYN, "hello")
			}
			sent := packet6(testHost, Synthesize(testRelay), tc.proto, s)
			out, err := x.translate(sent)
			require.NoError(t, err)
			back, err := x.translate(error4(router, tc.typ, tc.code, tc.word, out))
			require.NoError(t, err)
			typ, code, word, quoted := checkError6(t, back, router)
			require.Equal(t, []any{tc.wantTyp, tc.wantCod, tc.wantWord}, []any{typ, code, word})
			require.Equal(t, sent, quoted, "the quoted packet is the host's own")
			st := x.stats()
			require.Equal(t, 1, st.To6)
		})
	}
}

// Quotes cut short (RFC 792 asks for the header and 8 bytes): the port
// is restored; a TCP quote has no checksum left to adjust, an echo's is
// adjusted incrementally.
func TestNAT64ICMPv4ErrorShortQuote(t *testing.T) {
	x := newNAT64(testPool)
	sent := packet6(testHost, Synthesize(testRelay), protoTCP, seg(protoTCP, 5000, 443, tcpFlagSYN, ""))
	out, err := x.translate(sent)
	require.NoError(t, err)
	back, err := x.translate(error4(testRelay, icmpv4DestUnreach, 1, 0, out[:ipv4HeaderLen+8]))
	require.NoError(t, err)
	_, _, _, quoted := checkError6(t, back, testRelay)
	require.Equal(t, sent[:ipv6HeaderLen+8], quoted)

	sent = packet6(testHost, Synthesize(testRelay), protoICMP, seg(protoICMP, 9, 1, icmpv6EchoRequest, "a longer ping payload"))
	out, err = x.translate(sent)
	require.NoError(t, err)
	back, err = x.translate(error4(testRelay, icmpv4TimeExceeded, 0, 0, out[:ipv4HeaderLen+8]))
	require.NoError(t, err)
	_, _, _, quoted = checkError6(t, back, testRelay)
	require.Equal(t, sent[:ipv6HeaderLen+8], quoted, "type, identifier and checksum as the host sent them")

	// A router that leaves the MTU 0 (pre-RFC 1191): the plateau below
	// the quoted packet's length, plus the 20 bytes IPv6 adds.
	sent = packet6(testHost, Synthesize(testRelay), protoUDP, seg(protoUDP, 5000, 3478, 0, string(make([]byte, 1400))))
	out, err = x.translate(sent)
	require.NoError(t, err)
	back, err = x.translate(error4(testRelay, icmpv4DestUnreach, icmpv4FragNeeded, 0, out[:ipv4HeaderLen+8]))
	require.NoError(t, err)
	typ, _, mtu, _ := checkError6(t, back, testRelay)
	require.Equal(t, byte(icmpv6PacketTooBig), typ)
	require.Equal(t, uint32(1006+20), mtu)
}

// A long quote is cut so the ICMPv6 error fits 1280 bytes.
func TestNAT64ICMPv4ErrorFitsMinimumMTU(t *testing.T) {
	x := newNAT64(testPool)
	sent := packet6(testHost, Synthesize(testRelay), protoUDP, seg(protoUDP, 5000, 3478, 0, string(make([]byte, 1400))))
	out, err := x.translate(sent)
	require.NoError(t, err)
	back, err := x.translate(error4(testRelay, icmpv4DestUnreach, icmpv4FragNeeded, 1300, out))
	require.NoError(t, err)
	require.Len(t, back, icmpv6ErrorMax)
	_, _, _, quoted := checkError6(t, back, testRelay)
	require.Equal(t, sent[:len(quoted)], quoted)
}

// An ICMPv6 error the host sends about a packet that came in through the
// NAT64 goes to the IPv4 endpoint as ICMPv4, quoting that endpoint's own
// packet.
func TestNAT64ICMPv6ErrorsTranslated(t *testing.T) {
	for _, tc := range []struct {
		name             string
		typ, code        byte
		word             uint32
		wantTyp, wantCod byte
		wantWord         uint32
	}{
		{"port unreachable", icmpv6DestUnreach, 4, 0, icmpv4DestUnreach, 3, 0},
		{"admin prohibited", icmpv6DestUnreach, 1, 0, icmpv4DestUnreach, 10, 0},
		{"packet too big", icmpv6PacketTooBig, 0, 1400, icmpv4DestUnreach, icmpv4FragNeeded, 1380},
		{"time exceeded", icmpv6TimeExceeded, 1, 0, icmpv4TimeExceeded, 1, 0},
		{"parameter problem at next header", icmpv6ParamProblem, 0, 6, icmpv4ParamProblem, 0, 9 << 24},
		{"unrecognized next header", icmpv6ParamProblem, 1, 6, icmpv4DestUnreach, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newNAT64(testPool)
			out, err := x.translate(packet6(testHost, Synthesize(testRelay), protoUDP, seg(protoUDP, 5000, 3478, 0, "x")))
			require.NoError(t, err)
			port := check4(t, out, testRelay, protoUDP)
			came := packet4(testRelay, testPool, protoUDP, seg(protoUDP, 3478, port, 0, "reply"), false)
			in, err := x.translate(came)
			require.NoError(t, err)
			back, err := x.translate(error6(testRelay, tc.typ, tc.code, tc.word, in))
			require.NoError(t, err)
			typ, code, word, quoted := checkError4(t, back, testRelay)
			require.Equal(t, []any{tc.wantTyp, tc.wantCod, tc.wantWord}, []any{typ, code, word})
			require.Equal(t, came, quoted, "the quoted packet is the IPv4 endpoint's own")
		})
	}
}

// Errors outside a session, of types RFC 7915 drops, or broken, are
// dropped and counted; no error keeps a session alive.
func TestNAT64ICMPErrorsRefused(t *testing.T) {
	x := newNAT64(testPool)
	out, err := x.translate(packet6(testHost, Synthesize(testRelay), protoUDP, seg(protoUDP, 5000, 3478, 0, "x")))
	require.NoError(t, err)
	other := append([]byte(nil), out...)
	copy(other[16:20], []byte{203, 0, 113, 99}) // a packet to an endpoint the host never sent to
	noBinding := append([]byte(nil), out...)
	binary.BigEndian.PutUint16(noBinding[20:], 999)
	badSum := error4(testRelay, icmpv4DestUnreach, 3, 0, out)
	badSum[len(badSum)-1] ^= 0xff
	in, err := x.translate(packet4(testRelay, testPool, protoUDP, seg(protoUDP, 3478, 5000, 0, "r"), false))
	require.NoError(t, err)
	for name, c := range map[string]struct {
		pkt  []byte
		want error
	}{
		"other endpoint":         {error4(testRelay, icmpv4DestUnreach, 3, 0, other), errNAT64Filtered},
		"no binding":             {error4(testRelay, icmpv4DestUnreach, 3, 0, noBinding), errNAT64NoBinding},
		"source quench":          {error4(testRelay, 4, 0, 0, out), errNAT64Protocol},
		"precedence violation":   {error4(testRelay, icmpv4DestUnreach, 14, 0, out), errNAT64ICMPType},
		"pointer IPv6 lacks":     {error4(testRelay, icmpv4ParamProblem, 0, 4<<24, out), errNAT64ICMPType},
		"bad ICMPv4 checksum":    {badSum, errNAT64Malformed},
		"quote too short":        {error4(testRelay, icmpv4DestUnreach, 3, 0, out[:24]), errNAT64Malformed},
		"IPv6 unknown code":      {error6(testRelay, icmpv6DestUnreach, 7, 0, in), errNAT64ICMPType},
		"IPv6 quote not ours":    {error6(testRelay, icmpv6DestUnreach, 4, 0, out), errNAT64Malformed},
		"IPv6 pointer IPv4 lack": {error6(testRelay, icmpv6ParamProblem, 0, 2, in), errNAT64ICMPType},
	} {
		_, err := x.translate(c.pkt)
		require.ErrorIs(t, err, c.want, name)
	}
}
