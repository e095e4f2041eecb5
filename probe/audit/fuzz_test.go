package audit

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/pion/stun/v3"
)

func seedAnswers(f *testing.F) {
	f.Helper()
	add := func(setters ...stun.Setter) {
		m, err := stun.Build(setters...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m.Raw)
	}
	add(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse), stun.CodeUnauthorized,
		stun.NewRealm("natkit"), stun.NewNonce("abcdef"), stun.NewSoftware("Coturn-4.6.1 'Gorst'"), stun.Fingerprint)
	add(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse),
		xorAddr{addr: netip.MustParseAddrPort("127.0.0.1:50000"), typ: stun.AttrXORRelayedAddress},
		xorAddr{addr: netip.MustParseAddrPort("[::ffff:127.0.0.1]:9"), typ: stun.AttrXORMappedAddress},
		lifetimeAttr(3600), stun.Fingerprint)
	add(stun.TransactionID, stun.NewType(stun.MethodData, stun.ClassIndication),
		peerAddr(netip.MustParseAddrPort("[2001:db8::1]:9")), stun.RawAttribute{Type: stun.AttrData, Value: []byte("x")})
	f.Add([]byte{0x01, 0x13, 0x00, 0x04, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x00, 0x0d, 0x00, 0x02})
	f.Add([]byte{0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0})
	f.Add([]byte{})
}

// FuzzParseAnswer holds the parser of server answers to never panic, and
// to describe whatever it accepts.
func FuzzParseAnswer(f *testing.F) {
	seedAnswers(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		an, err := parseAnswer(raw)
		if err != nil {
			return
		}
		if an.Size != len(raw) {
			t.Fatalf("size %d for %d bytes", an.Size, len(raw))
		}
		if an.Type.Class == stun.ClassErrorResponse && (an.Code < 300 || an.Code > 699) {
			t.Fatalf("error response accepted with code %d", an.Code)
		}
		_ = an.String()
	})
}

// FuzzReadFrame holds the stream framing to never panic and never return
// more than one frame's bytes.
func FuzzReadFrame(f *testing.F) {
	seedAnswers(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		frame, err := readFrame(bytes.NewReader(raw))
		if err != nil {
			return
		}
		if len(frame) > len(raw) || len(frame) > maxFrame || len(frame) < 4 {
			t.Fatalf("frame of %d bytes from %d", len(frame), len(raw))
		}
	})
}
