package call

import (
	"testing"
)

// The engine reads bytes a TURN server sends: DTLS records (alerts, the
// Certificate message) and TURN-over-TCP framing. None may panic or grow
// without bound.
func FuzzWireReaders(f *testing.F) {
	f.Add([]byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 11, 0, 0, 8, 0, 1, 0, 0, 0, 0, 0, 4, 0, 0, 1, 0})
	f.Add([]byte{21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 2, 42})
	f.Add([]byte{0x40, 0, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0})
	f.Add([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = fatalAlert(b)
		var m certificateMessage
		m.collect(b)
		m.collect(b)
		_ = m.verify("relay.example")
		s := streamReader{message: func([]byte) {}}
		s.feed(b)
		s.feed(b)
		if len(s.buf) > maxStreamBuffer {
			t.Fatalf("stream buffer %d bytes", len(s.buf))
		}
	})
}
