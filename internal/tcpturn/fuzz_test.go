package tcpturn

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/pion/stun/v3"
)

// FuzzReadFrame feeds arbitrary streams to the client's frame reader and
// its ConnectionAttempt parser: no panic, and a frame never reads past its
// own length (a data connection's payload follows the ConnectionBind
// response).
func FuzzReadFrame(f *testing.F) {
	ind, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodConnectionAttempt, stun.ClassIndication),
		PeerAddress(netip.MustParseAddrPort("192.0.2.1:443")), connIDAttr(7), stun.Fingerprint)
	if err != nil {
		f.Fatal(err)
	}
	resp, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodConnect, stun.ClassSuccessResponse), connIDAttr(9))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ind.Raw)
	f.Add(append(append([]byte(nil), resp.Raw...), "payload"...))
	f.Add([]byte{0x01, 0x01, 0x00, 0x04, 0x21, 0x12, 0xa4, 0x42})
	f.Add(ind.Raw[:len(ind.Raw)-3])
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		m, err := readFrame(r)
		if err != nil {
			return
		}
		if consumed := len(b) - r.Len(); consumed != len(m.Raw) {
			t.Fatalf("read %d bytes for a %d-byte frame", consumed, len(m.Raw))
		}
		if a, ok := parseAttempt(m); ok && !a.Peer.IsValid() {
			t.Fatalf("attempt with an invalid peer: %+v", a)
		}
		_, _ = ConnectionID(m)
	})
}
