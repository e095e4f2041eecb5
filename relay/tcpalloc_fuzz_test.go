package relay

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// FuzzTCPAlloc feeds arbitrary byte streams to a control connection of a
// relay with TCP relaying on: Allocate (REQUESTED-TRANSPORT=TCP),
// Connect, ConnectionBind (CONNECTION-ID), CreatePermission and Refresh
// reach tcpalloc.go's parsers past the credential checks. Every peer is
// denied, so no Connect ever leaves the machine.
func FuzzTCPAlloc(f *testing.F) {
	s, err := New(Config{
		Listen:     []Listener{{Network: NetworkTCP, Addr: "127.0.0.1:0"}},
		Users:      map[string]string{"u": "p"},
		TCPRelay:   true,
		PeerPolicy: PeerPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	s.nonces.key, s.nonces.now = [32]byte{}, func() time.Time { return fuzzNow }
	conn := &fakeConn{}
	tuple := fiveTupleKey(conn.RemoteAddr(), conn.LocalAddr())
	b := &nonceBook{lifetime: time.Hour, now: func() time.Time { return fuzzNow }}
	nonce := stun.NewNonce(b.mint(nonceTuple(NetworkTCP, conn.RemoteAddr(), conn.LocalAddr())))
	key := stun.NewLongTermIntegrity("u", DefaultRealm, "p")
	msg := func(method stun.Method, attrs ...stun.Setter) []byte {
		setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
		setters = append(setters, stun.NewUsername("u"), stun.NewRealm(DefaultRealm), nonce, key, stun.Fingerprint)
		m, err := stun.Build(setters...)
		if err != nil {
			f.Fatal(err)
		}
		return m.Raw
	}
	tcp := rawAttr{Type: stun.AttrRequestedTransport, Value: []byte{protoTCP, 0, 0, 0}}
	peer := xorAddr{stun.AttrXORPeerAddress, net.IPv4(203, 0, 113, 9), 443}
	alloc := msg(stun.MethodAllocate, tcp)
	connect := msg(stun.MethodConnect, peer)
	bind := msg(stun.MethodConnectionBind, connectionID(0x01020304))
	perm := msg(stun.MethodCreatePermission, peer)
	refresh := msg(stun.MethodRefresh, lifetimeAttr(0))
	for _, seed := range [][]byte{
		alloc, connect, bind,
		bytes.Join([][]byte{alloc, connect, perm, bind, refresh}, nil),
		bytes.Join([][]byte{alloc, alloc, bind}, nil),
		msg(stun.MethodAllocate, tcp, rawAttr{Type: stun.AttrEvenPort, Value: []byte{0x80}}),
		msg(stun.MethodConnectionBind, rawAttr{Type: stun.AttrConnectionID, Value: []byte{1, 2}}),
		msg(stun.MethodConnect, rawAttr{Type: stun.AttrXORPeerAddress, Value: []byte{0, 1, 0x21}}),
		bytes.Join([][]byte{alloc, msg(stun.MethodChannelBind, peer, rawAttr{Type: stun.AttrChannelNumber, Value: []byte{0x40, 0, 0, 0}})}, nil),
	} {
		f.Add(seed)
	}
	l := newTCPListener(nil, s, NetworkTCP)
	// The seeds get past the credentials: the Allocate is granted.
	fc := newFramedConn(conn, bytes.NewReader(alloc), l)
	_, _ = fc.Read(make([]byte, inboundMTU))
	if n := s.AllocationCount(); n != 1 {
		f.Fatalf("the seed Allocate made %d allocations, want 1", n)
	}
	s.tcp.controlClosed(tuple)
	f.Fuzz(func(t *testing.T, in []byte) {
		fc := newFramedConn(conn, bytes.NewReader(in), l)
		p := make([]byte, inboundMTU)
		for range 100 {
			if _, err := fc.Read(p); err != nil {
				break
			}
		}
		s.tcp.controlClosed(tuple)
		if n := s.AllocationCount(); n != 0 {
			t.Fatalf("%d allocations left after the control connection closed", n)
		}
	})
}
