package call

import (
	"encoding/binary"
	"net"
	"sync"

	"github.com/pion/transport/v3"
)

// maxStreamBuffer bounds what one direction of a watched TURN stream holds
// while a message is incomplete: a STUN message or ChannelData frame is
// at most 4+65535 bytes.
const maxStreamBuffer = 4 + 65535 + 3

// The STUN header (RFC 5389 §6): its size and the magic cookie that tells
// a STUN message from other bytes.
const (
	stunHeaderSize  = 20
	stunMagicCookie = 0x2112A442
)

// streamReader reassembles the framing of TURN over TCP or TLS (RFC 8656
// §12.5): STUN messages, and ChannelData frames padded to four bytes,
// back to back. A stream that breaks the framing (pion's own TLS seen as
// ciphertext, say) is no longer read.
type streamReader struct {
	mu   sync.Mutex
	buf  []byte
	dead bool
	// message receives each whole STUN message.
	message func([]byte)
}

func (s *streamReader) feed(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead || len(b) == 0 {
		return
	}
	s.buf = append(s.buf, b...)
	off := 0
frames:
	for len(s.buf)-off >= 4 {
		head := s.buf[off:]
		var size int
		switch head[0] >> 6 {
		case 0: // STUN
			if len(head) < stunHeaderSize {
				break frames
			}
			if binary.BigEndian.Uint32(head[4:8]) != stunMagicCookie {
				s.stop()
				return
			}
			size = stunHeaderSize + int(binary.BigEndian.Uint16(head[2:4]))
		case 1: // ChannelData: 0x4000-0x7FFF
			size = (4 + int(binary.BigEndian.Uint16(head[2:4])) + 3) &^ 3
		default:
			s.stop()
			return
		}
		if len(head) < size {
			break
		}
		if head[0]>>6 == 0 {
			s.message(head[:size])
		}
		off += size
	}
	s.buf = append(s.buf[:0], s.buf[off:]...)
	if len(s.buf) > maxStreamBuffer {
		s.stop()
	}
}

func (s *streamReader) stop() { s.dead, s.buf = true, nil }

// watchedStream is a TURN-over-TCP or TLS connection whose STUN traffic
// goes to a turnWatch, as watchedConn does for UDP. Each direction has its
// own reader (pion's TURN client may write from several goroutines).
type watchedStream struct {
	net.Conn
	in, out streamReader
}

func newWatchedStream(c net.Conn, w *turnWatch) *watchedStream {
	s := &watchedStream{Conn: c}
	from := c.RemoteAddr()
	s.in.message = func(m []byte) { w.received(m, from) }
	s.out.message = w.sent
	return s
}

func (s *watchedStream) Read(b []byte) (int, error) {
	n, err := s.Conn.Read(b)
	s.in.feed(b[:n])
	return n, err
}

func (s *watchedStream) Write(b []byte) (int, error) {
	s.out.feed(b)
	return s.Conn.Write(b)
}

// watchedTCP keeps the TCPConn interface pion's ICE agent asserts on what
// DialTCP returns (it reads LocalAddr as a *net.TCPAddr).
type watchedTCP struct {
	transport.TCPConn
	s *watchedStream
}

func (c *watchedTCP) Read(b []byte) (int, error)  { return c.s.Read(b) }
func (c *watchedTCP) Write(b []byte) (int, error) { return c.s.Write(b) }

// DialTCP is how pion's ICE agent opens TURN over TCP when no proxy
// dialer does: the stream is watched. Over pion's own TLS the watch sees
// ciphertext and stops at once.
func (n *watchedNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	c, err := n.Net.DialTCP(network, laddr, raddr)
	if err != nil {
		return nil, err
	}
	return &watchedTCP{TCPConn: c, s: newWatchedStream(c, n.w)}, nil
}
