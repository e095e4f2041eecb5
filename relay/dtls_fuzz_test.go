package relay

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
)

// dtlsRecordConn returns one fuzz input as one DTLS record, then EOF.
type dtlsRecordConn struct {
	fakeConn
	rec  []byte
	done bool
}

func (c *dtlsRecordConn) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	c.done = true
	return copy(p, c.rec), nil
}

// FuzzDTLSRecord feeds one arbitrary DTLS record to the relay's DTLS
// framer. It must never panic, and a frame it passes on must be one pion
// cuts exactly: STUN of its own length, or ChannelData padded to 4 bytes.
func FuzzDTLSRecord(f *testing.F) {
	fuzzSeeds(f)
	f.Add([]byte{0x40, 0x00, 0x00, 0x03, 1, 2, 3})
	s := fuzzServer(f)
	l := newTCPListener(nil, s, NetworkDTLS)
	f.Fuzz(func(t *testing.T, b []byte) {
		fc := newFramedConn(&dtlsRecordConn{rec: b}, nil, l)
		frame, err := fc.readRecord()
		if err != nil {
			return
		}
		size := 20 + int(binary.BigEndian.Uint16(frame[2:4]))
		if frame[0]&0xC0 == 0x40 {
			size = 4 + (int(binary.BigEndian.Uint16(frame[2:4]))+3)&^3
		}
		if size != len(frame) {
			t.Fatalf("frame of %d bytes, header says %d", len(frame), size)
		}
	})
}

// FuzzParseListener: any --listen value parses or is refused with a
// message; what parses prints back to itself.
func FuzzParseListener(f *testing.F) {
	for _, s := range []string{"udp://127.0.0.1:3478", "dtls://[::1]:5349", "tls://0.0.0.0:443", "dtls://host:1", "sctp://1.2.3.4:5", "dtls://", "://", "dtls://1.2.3.4:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		l, err := ParseListener(in)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		again, err := ParseListener(l.String())
		if err != nil || again != l {
			t.Fatalf("%q parsed as %v, which parses as %v, %v", in, l, again, err)
		}
		if !strings.Contains("udp tcp tls dtls", l.Network) {
			t.Fatalf("network %q", l.Network)
		}
	})
}

var _ net.Conn = (*dtlsRecordConn)(nil)
