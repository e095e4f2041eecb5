package relay

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// fuzzServer is a real relay (loopback, free port) whose inspect entry
// point the fuzzers call directly, answering into the void.
func fuzzServer(f *testing.F) *Server {
	f.Helper()
	s, err := New(Config{
		Listen:      []Listener{{Network: NetworkUDP, Addr: "127.0.0.1:0"}},
		Users:       map[string]string{"u": "p"},
		Secrets:     []string{"s"},
		MaxLifetime: time.Minute,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	// A known nonce key and a stopped clock, so that the seeds' nonce is
	// valid and the fuzzer reaches the checks behind it.
	s.nonces.key, s.nonces.now = [32]byte{}, func() time.Time { return fuzzNow }
	return s
}

var fuzzNow = time.Unix(1_800_000_000, 0)

// fuzzNonce is a nonce fuzzServer accepts from the FuzzInspect client.
func fuzzNonce() string {
	b := &nonceBook{lifetime: time.Hour, now: func() time.Time { return fuzzNow }}
	return b.mint(nonceTuple(NetworkUDP, fuzzClient, fuzzLocal))
}

var (
	fuzzClient = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 5000}
	fuzzLocal  = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3478}
)

func fuzzSeeds(f *testing.F) {
	key := stun.NewLongTermIntegrity("u", DefaultRealm, "p")
	nonce := stun.NewNonce(fuzzNonce())
	add := func(setters ...stun.Setter) {
		m, err := stun.Build(setters...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m.Raw)
	}
	add(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	add(stun.TransactionID, stun.BindingRequest, rawAttr{Type: stun.AttrChangeRequest, Value: []byte{0, 0, 0, 6}})
	add(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		rawAttr{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}},
		stun.NewUsername("u"), stun.NewRealm(DefaultRealm), nonce, key, stun.Fingerprint)
	add(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		rawAttr{Type: stun.AttrLifetime, Value: []byte{0, 0, 0x0e, 0x10}},
		stun.NewUsername("u"), stun.NewRealm(DefaultRealm), nonce, key)
	// Dual allocation (RFC 8656), with and beside REQUESTED-ADDRESS-FAMILY.
	add(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		rawAttr{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}, rawAttr{Type: 0x8000, Value: []byte{2, 0, 0, 0}},
		rawAttr{Type: stun.AttrRequestedAddressFamily, Value: []byte{1, 0, 0, 0}},
		stun.NewUsername("u"), stun.NewRealm(DefaultRealm), nonce, key)
	add(stun.TransactionID, stun.NewType(stun.MethodCreatePermission, stun.ClassRequest),
		rawAttr{Type: stun.AttrXORPeerAddress, Value: []byte{0, 1, 0x21, 0x13, 0x5e, 0x12, 0xa4, 0x43}},
		stun.NewUsername("u"), stun.NewRealm(DefaultRealm), nonce, key)
	add(stun.TransactionID, stun.NewType(stun.MethodChannelBind, stun.ClassRequest),
		rawAttr{Type: stun.AttrChannelNumber, Value: []byte{0x40, 0, 0, 0}},
		rawAttr{Type: stun.AttrXORPeerAddress, Value: []byte{0, 2, 0x21, 0x13}},
		stun.NewUsername("1:x"), stun.NewRealm(DefaultRealm), nonce, key)
	add(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
		rawAttr{Type: stun.AttrData, Value: []byte("hello")})
	// A Send indication toward 127.0.0.1:3478 (the self check reads it).
	add(stun.NewTransactionIDSetter([stun.TransactionIDSize]byte{}), stun.NewType(stun.MethodSend, stun.ClassIndication),
		rawAttr{Type: stun.AttrXORPeerAddress, Value: []byte{0, 1, 0x2c, 0x84, 0x5e, 0x12, 0xa4, 0x43}},
		rawAttr{Type: stun.AttrData, Value: []byte("hello")})
	// A signed Allocate whose FINGERPRINT is wrong.
	bad, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		rawAttr{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}},
		stun.NewUsername("u"), stun.NewRealm(DefaultRealm), nonce, key, stun.Fingerprint)
	if err != nil {
		f.Fatal(err)
	}
	bad.Raw[len(bad.Raw)-1] ^= 1
	f.Add(bad.Raw)
	add(stun.TransactionID, stun.BindingRequest, rawAttr{Type: 0x7777, Value: []byte{1}})
	f.Add([]byte{0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4})
	f.Add([]byte{0x40, 0x00, 0xff, 0xff, 1})
	f.Add([]byte{0x80, 0x60, 0, 0})
	f.Add([]byte{})
}

// FuzzInspect feeds arbitrary datagrams to the relay's packet entry point.
// It must never panic, and whatever it passes on to pion must be a frame
// pion can parse: ChannelData with a consistent length, or STUN.
func FuzzInspect(f *testing.F) {
	fuzzSeeds(f)
	s := fuzzServer(f)
	o := &origin{
		transport: NetworkUDP, natIdx: -1, turn: true, local: fuzzLocal,
		write: func([]byte, net.Addr) error { return nil },
	}
	src := fuzzClient
	f.Fuzz(func(t *testing.T, b []byte) {
		out, pass := s.inspect(b, src, o)
		if !pass {
			return
		}
		frame := b
		if out != nil {
			frame = out
		}
		if len(frame) >= 4 && frame[0]&0xC0 == 0x40 {
			return
		}
		m := &stun.Message{Raw: append([]byte(nil), frame...)}
		if err := m.Decode(); err != nil {
			t.Fatalf("passed an undecodable frame to pion: %v", err)
		}
	})
}

// FuzzTCPStream feeds an arbitrary byte stream to the TCP/TLS framer.
func FuzzTCPStream(f *testing.F) {
	fuzzSeeds(f)
	s := fuzzServer(f)
	l := newTCPListener(nil, s, NetworkTCP)
	f.Fuzz(func(t *testing.T, b []byte) {
		conn := &fakeConn{}
		fc := newFramedConn(conn, bytes.NewReader(b), l)
		p := make([]byte, inboundMTU)
		for range 1000 {
			if _, err := fc.Read(p); err != nil {
				return
			}
		}
	})
}

type fakeConn struct{ net.Conn }

func (fakeConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3478} }
func (fakeConn) RemoteAddr() net.Addr        { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 5000} }
func (fakeConn) Write(b []byte) (int, error) { return len(b), nil }
func (fakeConn) Close() error                { return nil }
