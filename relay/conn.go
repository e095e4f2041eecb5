package relay

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// udpConn is a listening UDP socket as pion sees it: every datagram goes
// through Server.inspect first.
type udpConn struct {
	net.PacketConn
	s      *Server
	o      origin
	reader *adaptiveReader
	local  netip.AddrPort // for the ChannelData fast path
}

func newUDPConn(s *Server, pc net.PacketConn, natIdx int, turnToo bool) *udpConn {
	c := &udpConn{PacketConn: pc, s: s, reader: newAdaptiveReader(pc, batchSize)}
	c.local, _ = addrPort(pc.LocalAddr())
	c.o = origin{
		transport: NetworkUDP, natIdx: natIdx, turn: turnToo, local: pc.LocalAddr(),
		write: func(b []byte, dst net.Addr) error { _, err := pc.WriteTo(b, dst); return err },
	}
	return c
}

// ReadFrom returns the next datagram pion should handle.
func (c *udpConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.s.releaseFamily(&c.o) // pion has handled the previous datagram
	for {
		n, ap, addr, err := c.reader.read(p)
		if err != nil {
			return n, addr, err
		}
		if n >= len(p) {
			c.s.ctr.bad.inc(BadOversized)
			c.s.logBad(BadOversized, netAddr(ap, addr), &c.o)
			continue
		}
		if c.o.turn && n >= 4 && p[0]&0xC0 == 0x40 && c.s.fast.toPeer(p[:n], ap, c.local) {
			continue
		}
		addr = netAddr(ap, addr)
		out, pass := c.s.inspect(p[:n], addr, &c.o)
		if !pass {
			continue
		}
		if out != nil {
			if len(out) >= len(p) {
				continue
			}
			n = copy(p, out)
		}
		return n, addr, nil
	}
}

// WriteTo sends what pion answers; a NONCE in it becomes the relay's,
// bound to the client's 5-tuple.
func (c *udpConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	n := len(b)
	c.s.noteReservation(&c.o, b)
	b = c.s.completeAllocate(&c.o, b)
	if isNonceChallenge(b) {
		b = c.s.nonces.rebind(b, nonceTuple(NetworkUDP, addr, c.o.local))
	}
	if _, err := c.PacketConn.WriteTo(b, addr); err != nil {
		return 0, err
	}
	return n, nil
}

// serveSTUN runs the read loop of an extra RFC 5780 socket, which answers
// Binding requests only.
func (c *udpConn) serveSTUN() {
	buf := make([]byte, inboundMTU)
	for {
		if _, _, err := c.ReadFrom(buf); err != nil {
			return
		}
	}
}

// tcpListener hands pion connections whose byte stream is cut into STUN
// and ChannelData frames, inspected one by one.
type tcpListener struct {
	net.Listener
	s         *Server
	transport string
	done      chan struct{} // closed by Close, ends a back-off

	mu     sync.Mutex
	conns  map[*framedConn]struct{}
	closed bool
}

func newTCPListener(inner net.Listener, s *Server, transport string) *tcpListener {
	return &tcpListener{Listener: inner, s: s, transport: transport, done: make(chan struct{}),
		conns: map[*framedConn]struct{}{}}
}

// Accept back-off bounds: the first retry comes soon, a lasting shortage
// costs one failed accept a second.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// Accept returns the next connection. pion's accept loop ends on any
// error, so errors other than a closed listener (EMFILE, ENFILE, ENOBUFS,
// ECONNABORTED: the machine's state, not the listener's) are retried
// after a growing back-off instead of being returned.
func (l *tcpListener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return l.track(c)
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
		l.s.ctr.acceptErrors.Add(1)
		l.s.log.Warn("relay: accept failed, retrying", "transport", l.transport, "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-l.done:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

func (l *tcpListener) track(c net.Conn) (net.Conn, error) {
	fc := newFramedConn(c, c, l)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		c.Close()
		return nil, net.ErrClosed
	}
	l.conns[fc] = struct{}{}
	l.mu.Unlock()
	// Until it authenticates, a connection lives AuthTimeout at most
	// (the TLS handshake included: it happens on the first Read).
	fc.timer = time.AfterFunc(l.s.cfg.AuthTimeout, fc.authExpired)
	return fc, nil
}

// Close stops accepting and closes every accepted connection (pion leaves
// them open).
func (l *tcpListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	if !l.closed {
		close(l.done)
	}
	l.closed = true
	conns := l.conns
	l.conns = map[*framedConn]struct{}{}
	l.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
	return err
}

// framedConn reads whole frames from a TCP or TLS stream. A frame larger
// than the relay accepts, or bytes that are neither STUN nor ChannelData,
// close the connection: the stream cannot be resynchronised.
type framedConn struct {
	net.Conn
	s       *Server
	l       *tcpListener
	r       *bufio.Reader // frames are cut in its buffer, no copy
	o       origin
	pending []byte

	authed atomic.Bool
	timer  *time.Timer // closes the connection at AuthTimeout; nil in fuzzing
	// takeover, set by a ConnectionBind, starts the relay's pipe before
	// Read hands pion its last error; hijacked then keeps Close from
	// closing the socket.
	takeover func()
	hijacked atomic.Bool

	// dgram is set for DTLS: each Read of the connection is one record
	// holding one whole message, read into buf.
	dgram bool
	buf   []byte
}

// frameBuffer is a connection's whole read buffer: one largest frame.
const frameBuffer = 4096

func newFramedConn(c net.Conn, r io.Reader, l *tcpListener) *framedConn {
	fc := &framedConn{Conn: c, s: l.s, l: l}
	transport := NetworkTCP // tls is tcp to the nonce binding and the logs
	if l.transport == NetworkDTLS {
		transport, fc.dgram, fc.buf = NetworkDTLS, true, make([]byte, frameBuffer)
	} else {
		fc.r = bufio.NewReaderSize(r, frameBuffer)
	}
	fc.o = origin{
		transport: transport, natIdx: -1, turn: true, local: c.LocalAddr(),
		write:         func(b []byte, _ net.Addr) error { _, err := c.Write(b); return err },
		authenticated: fc.authenticated,
	}
	if !fc.dgram { // RFC 6062 control and data connections are TCP or TLS only
		fc.o.hijack = func(run func(net.Conn, io.Reader)) { fc.takeover = func() { run(c, fc.r) } }
	}
	return fc
}

// authenticated is called for every request whose credentials verified.
func (c *framedConn) authenticated() {
	if c.authed.CompareAndSwap(false, true) && c.timer != nil {
		c.timer.Stop()
	}
}

func (c *framedConn) authExpired() {
	if c.authed.Load() {
		return
	}
	c.s.ctr.authTimeouts.Add(1)
	c.s.log.Debug("relay: closing connection that did not authenticate in time", "client", c.RemoteAddr().String(),
		"transport", c.l.transport, "timeout", c.s.cfg.AuthTimeout)
	c.Conn.Close() // pion's reader sees the error and cleans up
}

var (
	errBadFrame = errors.New("bad frame")
	errHijacked = errors.New("connection bound to a TCP relayed connection")
)

func (c *framedConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		c.s.releaseFamily(&c.o) // pion has handled the previous frame
	}
	for len(c.pending) == 0 {
		frame, err := c.readFrame()
		if err != nil {
			return 0, err
		}
		out, pass := c.s.inspect(frame, c.RemoteAddr(), &c.o)
		if c.takeover != nil {
			// An RFC 6062 data connection from now on: pion's reader
			// ends here, the relay's pipe (its own goroutine) takes the
			// bytes.
			run := c.takeover
			c.takeover = nil
			c.hijacked.Store(true)
			run()
			return 0, errHijacked
		}
		if !pass {
			continue
		}
		if out != nil {
			frame = out
		}
		c.pending = frame
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *framedConn) readFrame() ([]byte, error) {
	if c.dgram {
		return c.readRecord()
	}
	hdr, err := c.r.Peek(4)
	if err != nil {
		return nil, err
	}
	var size int
	switch hdr[0] & 0xC0 {
	case 0x40: // ChannelData, padded to 4 bytes on streams
		size = 4 + (int(binary.BigEndian.Uint16(hdr[2:4]))+3)&^3
	case 0:
		size = 20 + int(binary.BigEndian.Uint16(hdr[2:4]))
		h, err := c.r.Peek(8)
		if err != nil {
			return nil, err
		}
		if binary.BigEndian.Uint32(h[4:8]) != magicCookie {
			return nil, c.fail(BadNotSTUN)
		}
	default:
		return nil, c.fail(BadNotSTUN)
	}
	if size >= inboundMTU {
		return nil, c.fail(BadOversized)
	}
	// The frame stays valid in the reader's buffer until the next Peek,
	// which comes only once pending is consumed.
	frame, err := c.r.Peek(size)
	if err != nil {
		return nil, err
	}
	_, _ = c.r.Discard(size)
	// Capacity capped: pion's MessageIntegrity.Check appends its HMAC
	// after the message, which would overwrite the next frame.
	return frame[:size:size], nil
}

// readRecord reads one DTLS record's message; a record that is neither
// STUN nor ChannelData is dropped, as on UDP (datagrams need no
// resynchronising). ChannelData need not be padded over DTLS (RFC 8656
// §12.5), but pion's server cuts frames as on a stream, so the padding is
// added here.
func (c *framedConn) readRecord() ([]byte, error) {
	for {
		n, err := c.Conn.Read(c.buf[:inboundMTU])
		if err != nil {
			return nil, err
		}
		if size, ok := recordFrameSize(c.buf[:n]); ok {
			if size > n { // ChannelData sent without its padding
				clear(c.buf[n:size])
			}
			return c.buf[:size:size], nil
		}
		c.s.ctr.bad.inc(BadNotSTUN)
		c.s.logBad(BadNotSTUN, c.RemoteAddr(), &c.o)
	}
}

// recordFrameSize is the frame size of one datagram's message, ChannelData
// padded to 4 bytes.
func recordFrameSize(b []byte) (int, bool) {
	if len(b) < 4 {
		return 0, false
	}
	size := int(binary.BigEndian.Uint16(b[2:4]))
	switch b[0] & 0xC0 {
	case 0x40:
		return 4 + (size+3)&^3, 4+size <= len(b)
	case 0:
		return 20 + size, len(b) >= 20 && 20+size == len(b) && binary.BigEndian.Uint32(b[4:8]) == magicCookie
	}
	return 0, false
}

func (c *framedConn) fail(reason string) error {
	c.s.ctr.bad.inc(reason)
	c.s.log.Info("relay: closing connection on bad frame", "reason", reason,
		"client", c.RemoteAddr().String(), "transport", c.l.transport)
	return fmt.Errorf("%w from %s: %s", errBadFrame, c.RemoteAddr(), reason)
}

// Write sends what pion answers, one whole frame per call; a NONCE in it
// becomes the relay's, bound to this connection.
func (c *framedConn) Write(b []byte) (int, error) {
	n := len(b)
	c.s.noteReservation(&c.o, b)
	b = c.s.completeAllocate(&c.o, b)
	if isNonceChallenge(b) {
		b = c.s.nonces.rebind(b, nonceTuple(c.o.transport, c.RemoteAddr(), c.o.local))
	}
	if _, err := c.Conn.Write(b); err != nil {
		return 0, err
	}
	return n, nil
}

func (c *framedConn) Close() error {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	if c.hijacked.Load() {
		return nil // the TCP relay owns the socket now
	}
	c.s.tcp.controlClosed(fiveTupleKey(c.RemoteAddr(), c.o.local))
	return c.Conn.Close()
}
