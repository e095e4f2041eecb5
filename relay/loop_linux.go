package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/natkit/natkit/internal/epollwake"
	"github.com/natkit/natkit/internal/udpbatch"
)

// The event loops: on the real network (Linux, IPv4) the listening UDP
// sockets and the relayed sockets are non-blocking UDP sockets that Go's
// network poller never sees. A few loops, each on its own OS thread, wait
// in epoll_wait, read every ready socket with recvmmsg (internal/udpbatch) and relay
// ChannelData of known channels in place, in both directions — coturn's
// model of one event loop per core, instead of one goroutine woken per
// packet. Everything else (STUN, Send/Data indications, ChannelData of
// unknown channels) is queued to the socket's ReadFrom, so pion handles it
// exactly as on any other net.PacketConn.

// yieldEvery is how often a loop yields to the scheduler (see run).
const yieldEvery = 2 * time.Millisecond

// loopBatch is how many datagrams one recvmmsg (or sendmmsg) handles.
const loopBatch = 32

// Slot sizes: one byte more than the relay accepts, to see oversized
// datagrams; a ChannelData frame adds its 4-byte header.
const (
	recvSlot = inboundMTU + 1
	sendSlot = 4 + inboundMTU + 1
)

// loops is the set of event loops of one Server; nil when the relay runs
// on another network (vnet) and sockets come from Config.Net.
type loops struct {
	s    *Server
	all  []*loop
	next atomic.Uint32
}

func newLoops(s *Server) (*loops, error) {
	ls := &loops{s: s}
	for range s.cfg.Loops {
		l, err := newLoop(s)
		if err != nil {
			ls.close()
			return nil, err
		}
		ls.all = append(ls.all, l)
	}
	for _, l := range ls.all {
		go l.run()
	}
	return ls, nil
}

// pick returns the next loop, round robin.
func (ls *loops) pick() *loop {
	return ls.all[int(ls.next.Add(1)-1)%len(ls.all)]
}

func (ls *loops) close() {
	if ls == nil {
		return
	}
	for _, l := range ls.all {
		l.stop()
	}
}

// usable reports whether the loops can serve a socket on ip.
func (ls *loops) usable(ip net.IP) bool {
	return ls != nil && ip.To4() != nil
}

// listenUDP opens n listening sockets on host:port (SO_REUSEPORT when
// n > 1), each served by a loop.
func (ls *loops) listenUDP(host string, port, n int) ([]net.PacketConn, error) {
	ip := net.ParseIP(host).To4()
	var pcs []net.PacketConn
	for range n {
		fd, err := udpSocket(ip, port, n > 1)
		if err != nil {
			for _, pc := range pcs {
				pc.Close()
			}
			return nil, err
		}
		c, err := ls.pick().add(fd, true)
		if err != nil {
			return nil, err
		}
		port = int(c.local.Port())
		pcs = append(pcs, c)
	}
	return pcs, nil
}

// allocateRelay opens a relayed socket on ip with a random port in
// [lo, hi] (or the requested port), as pion's port-range generator does.
func (ls *loops) allocateRelay(ip net.IP, requested int, lo, hi uint16) (*loopConn, error) {
	ip4 := ip.To4()
	try := func(port int) (*loopConn, error) {
		fd, err := udpSocket(ip4, port, false)
		if err != nil {
			return nil, err
		}
		return ls.pick().add(fd, false)
	}
	if requested != 0 {
		return try(requested)
	}
	var c *loopConn
	err := walkPorts(lo, hi, func(port int) (err error) { c, err = try(port); return err })
	return c, err
}

// udpSocket opens a non-blocking IPv4 UDP socket bound to ip:port, for a
// loop's epoll set (never Go's poller).
func udpSocket(ip net.IP, port int, reuse bool) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if reuse {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("setsockopt", err)
		}
	}
	sa := &unix.SockaddrInet4{Port: port}
	copy(sa.Addr[:], ip)
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, &net.OpError{Op: "listen", Net: "udp", Addr: &net.UDPAddr{IP: ip, Port: port}, Err: os.NewSyscallError("bind", err)}
	}
	return fd, nil
}

// loop is one event loop: an epoll instance, the sockets it serves and an
// eventfd to wake it for stopping.
type loop struct {
	s      *Server
	epfd   int
	evfd   int
	mu     sync.RWMutex
	conns  map[int32]*loopConn
	closed atomic.Bool
	// fdsClosed (under mu) is set once epfd is closed: its number may be
	// reused, so no more epoll_ctl.
	fdsClosed bool
	done      chan struct{}

	// Used by the loop goroutine only.
	events [64]unix.EpollEvent
	in     *udpbatch.Batch
	out    sendBatch
	// tx sends a wake's client→peer datagrams, each from its own relayed
	// socket, with one io_uring submission; nil where io_uring is refused
	// (then one sendto each).
	tx *udpbatch.Sender
}

func newLoop(s *Server) (*loop, error) {
	epfd, evfd, err := epollwake.New()
	if err != nil {
		return nil, err
	}
	in, err := udpbatch.New(udpbatch.Config{Slots: loopBatch, Size: recvSlot, Addrs: true})
	if err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	out, err := udpbatch.New(udpbatch.Config{Slots: loopBatch, Size: sendSlot, Addrs: true})
	if err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	l := &loop{s: s, epfd: epfd, evfd: evfd, conns: map[int32]*loopConn{}, done: make(chan struct{}),
		in: in, out: sendBatch{b: out}}
	if tx, err := udpbatch.NewSender(uringSlots, recvSlot); err == nil {
		l.tx = tx
	} else {
		s.log.Info("relay: io_uring refused, relaying with one sendto per datagram", "err", err)
	}
	return l, nil
}

// uringSlots is how many client→peer datagrams one io_uring submission
// carries at most (two recvmmsg batches).
const uringSlots = 2 * loopBatch

// add registers a bound socket with the loop.
func (l *loop) add(fd int, listener bool) (*loopConn, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("getsockname", err)
	}
	sa4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		unix.Close(fd)
		return nil, fmt.Errorf("relay: socket is not IPv4: %w", ErrUnsupported)
	}
	// A relayed socket queues only what has no channel (Data
	// indications); its queue is per allocation, so kept short.
	qlen := 32
	if listener {
		qlen = 1024
	}
	c := &loopConn{
		fd: fd, l: l, listener: listener,
		local: netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(sa4.Port)), //nolint:gosec // a port
		queue: make(chan *packet, qlen), done: make(chan struct{}),
	}
	c.laddr = net.UDPAddrFromAddrPort(c.local)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fdsClosed {
		unix.Close(fd)
		return nil, net.ErrClosed
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)} //nolint:gosec // fds are small
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	l.conns[int32(fd)] = c //nolint:gosec // fds are small
	return c, nil
}

func (l *loop) remove(c *loopConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fdsClosed {
		return
	}
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	if l.conns[int32(c.fd)] == c { //nolint:gosec // fds are small
		delete(l.conns, int32(c.fd)) //nolint:gosec // fds are small
	}
}

func (l *loop) stop() {
	if !l.closed.CompareAndSwap(false, true) {
		return
	}
	epollwake.Wake(l.evfd)
	<-l.done
	l.mu.Lock()
	l.fdsClosed = true
	unix.Close(l.epfd)
	unix.Close(l.evfd)
	l.mu.Unlock()
}

// run is the loop: wait, read every ready socket, relay or queue.
func (l *loop) run() {
	defer close(l.done)
	if l.closed.Load() {
		return
	}
	// The goroutine stays on its thread while it is in epoll_wait (a
	// blocking system call), so the scheduler is out of the per-packet
	// path. It yields every yieldEvery: a goroutine that never does is
	// preempted by sysmon, which then retakes its P at every wait and
	// polls every 20 µs, costing more than the relaying.
	lastYield := time.Now()
	for !l.closed.Load() {
		if now := time.Now(); now.Sub(lastYield) > yieldEvery {
			runtime.Gosched()
			lastYield = now
		}
		n, err := unix.EpollWait(l.epfd, l.events[:], -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			l.s.log.Error("relay: epoll_wait", "err", err)
			return
		}
		// mu is held for the whole wake, until the queued sends are
		// submitted: a relayed socket's Close waits for it (barrier), so
		// no datagram leaves from a closed (or reused) descriptor.
		l.mu.RLock()
		for i := range n {
			fd := l.events[i].Fd
			if int(fd) == l.evfd {
				continue
			}
			if c := l.conns[fd]; c != nil {
				l.serve(c)
			}
		}
		l.flushTx()
		l.out.flush()
		l.mu.RUnlock()
	}
}

// toPeer relays a client's ChannelData of a known channel: queued to the
// loop's io_uring when both it and the relayed socket are the loop's,
// else sent at once.
func (l *loop) toPeer(b []byte, client, local netip.AddrPort) bool {
	if l.tx == nil {
		return l.s.fast.toPeer(b, client, local)
	}
	e, payload, ok := l.s.fast.route(b, client, local)
	if !ok {
		return false
	}
	raw, isLoop := e.rc.PacketConn.(*loopConn)
	if !isLoop || !e.peerAP.Addr().Is4() {
		_, _ = e.rc.WriteTo(payload, e.peer)
		return true
	}
	if e.rc.bucket != nil && !e.rc.bucket.take(len(payload)) {
		e.rc.ctr.bandwidthDrops.Add(1)
		return true
	}
	if raw.closed.Load() {
		return true
	}
	if l.tx.Full() {
		l.flushTx()
	}
	l.tx.QueueTo(raw.fd, payload, e.peerAP)
	return true
}

// flushTx submits the queued client→peer datagrams and counts what left.
// What the kernel refused (a full send buffer) is dropped, as a full link
// would.
func (l *loop) flushTx() {
	if l.tx == nil || l.tx.Queued() == 0 {
		return
	}
	r := l.tx.Flush(false)
	l.s.ctr.pktsToPeer.Add(uint64(r.Sent))   //nolint:gosec // a count
	l.s.ctr.bytesToPeer.Add(uint64(r.Bytes)) //nolint:gosec // a count
}

// barrier waits until no loop is inside a wake: what a loop queued before
// has been sent.
func (ls *loops) barrier() {
	for _, l := range ls.all {
		l.mu.Lock()
		//nolint:staticcheck // an empty critical section: waiting is the point
		l.mu.Unlock()
	}
}

// serve reads one batch from c and relays or queues each datagram.
func (l *loop) serve(c *loopConn) {
	c.mu.RLock()
	if c.closed.Load() {
		c.mu.RUnlock()
		return
	}
	n, errno := l.in.Recv(c.fd)
	c.mu.RUnlock()
	if errno != 0 {
		return // EAGAIN: another reader was faster; errors: the socket is closing
	}
	for i := range n {
		b := l.in.Data(i)
		src := l.in.Addr(i)
		if c.listener {
			if len(b) < inboundMTU && len(b) >= 4 && b[0]&0xC0 == 0x40 && l.toPeer(b, src, c.local) {
				continue
			}
		} else if l.toClient(c, b, src) {
			continue
		}
		c.enqueue(b, src)
	}
}

// toClient relays a peer's datagram as ChannelData when the peer has a
// channel, batching the frames that leave one listening socket.
func (l *loop) toClient(c *loopConn, b []byte, src netip.AddrPort) bool {
	rc := c.relay.Load()
	if rc == nil {
		return false
	}
	f := l.s.fast
	f.mu.RLock()
	t, ok := rc.in.find(src)
	f.mu.RUnlock()
	if !ok {
		return false
	}
	if rc.bucket != nil && !rc.bucket.take(len(b)) {
		rc.ctr.bandwidthDrops.Add(1)
		return true
	}
	rc.ctr.pktsToClient.Add(1)
	rc.ctr.bytesToClient.Add(uint64(len(b)))
	turn, ok := t.turn.(*loopConn)
	if !ok {
		// A listening socket on Go's poller: write the frame directly.
		frame := make([]byte, 4+len(b))
		binary.BigEndian.PutUint16(frame[0:2], t.ch)
		binary.BigEndian.PutUint16(frame[2:4], uint16(len(b))) //nolint:gosec // len < inboundMTU
		copy(frame[4:], b)
		_, _ = t.turn.WriteTo(frame, t.client)
		return true
	}
	l.out.add(turn, t.ch, b, t.clientAP)
	return true
}

// sendBatch collects ChannelData frames leaving one listening socket, for
// one sendmmsg.
type sendBatch struct {
	c *loopConn // the socket the queued frames leave from
	b *udpbatch.Batch
}

func (o *sendBatch) add(c *loopConn, ch uint16, b []byte, dst netip.AddrPort) {
	if o.c != c || o.b.Full() {
		o.flush()
		o.c = c
	}
	buf := o.b.Next()
	binary.BigEndian.PutUint16(buf[0:2], ch)
	binary.BigEndian.PutUint16(buf[2:4], uint16(len(b))) //nolint:gosec // len < inboundMTU
	copy(buf[4:], b)
	o.b.Push(4+len(b), dst)
}

func (o *sendBatch) flush() {
	if o.b.Queued() == 0 {
		return
	}
	c := o.c
	o.c = nil
	defer o.b.Reset() // what is not sent is dropped, as a full link would
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed.Load() {
		return
	}
	for o.b.Queued() > 0 {
		if _, errno := o.b.Send(c.fd); errno != 0 {
			if errno == unix.EAGAIN && c.waitWritable() {
				continue
			}
			return
		}
	}
}

// packet is a datagram queued for ReadFrom.
type packet struct {
	b   []byte
	src netip.AddrPort
}

var packetPool = sync.Pool{New: func() any { return &packet{b: make([]byte, 0, inboundMTU+1)} }}

// loopConn is a non-blocking UDP socket served by a loop, as pion's
// net.PacketConn: ReadFrom returns what the loop queued; WriteTo sends
// directly.
type loopConn struct {
	fd       int
	l        *loop
	listener bool
	local    netip.AddrPort
	laddr    *net.UDPAddr
	relay    atomic.Pointer[relayConn] // the allocation's wrapper, for the fast path (relayed sockets)
	queue    chan *packet
	done     chan struct{}
	closed   atomic.Bool
	mu       sync.RWMutex // held (read) around system calls on fd; Close takes it to close fd
	deadline atomic.Int64 // read deadline, UnixNano; 0: none
}

func (c *loopConn) enqueue(b []byte, src netip.AddrPort) {
	p, _ := packetPool.Get().(*packet)
	p.b = append(p.b[:0], b...)
	p.src = src
	select {
	case c.queue <- p:
	default:
		packetPool.Put(p) // full: dropped, as a full socket buffer would
	}
}

// ReadFrom returns the next datagram the loop did not relay itself. A
// datagram larger than p is cut to len(p) bytes, as a UDP read would.
func (c *loopConn) ReadFrom(p []byte) (int, net.Addr, error) {
	var timeout <-chan time.Time
	if d := c.deadline.Load(); d != 0 {
		wait := time.Until(time.Unix(0, d))
		if wait <= 0 {
			return 0, nil, c.opErr("read", os.ErrDeadlineExceeded)
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case pk := <-c.queue:
		n := copy(p, pk.b)
		src := pk.src
		packetPool.Put(pk)
		return n, net.UDPAddrFromAddrPort(src), nil
	case <-c.done:
		return 0, nil, c.opErr("read", net.ErrClosed)
	case <-timeout:
		return 0, nil, c.opErr("read", os.ErrDeadlineExceeded)
	}
}

// WriteTo sends one datagram to an IPv4 UDP address.
func (c *loopConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, c.opErr("write", fmt.Errorf("%w: not a UDP address: %v", ErrUnsupported, addr))
	}
	ap := ua.AddrPort()
	return c.writeTo(p, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

func (c *loopConn) writeTo(p []byte, dst netip.AddrPort) (int, error) {
	if !dst.Addr().Is4() {
		return 0, c.opErr("write", fmt.Errorf("%w: IPv6 destination %s on an IPv4 socket", ErrUnsupported, dst))
	}
	var sa unix.RawSockaddrInet4
	udpbatch.PutAddrPort(&sa, dst)
	c.mu.RLock()
	defer c.mu.RUnlock()
	for {
		if c.closed.Load() {
			return 0, c.opErr("write", net.ErrClosed)
		}
		var ptr unsafe.Pointer
		if len(p) > 0 {
			ptr = unsafe.Pointer(&p[0])
		}
		_, _, errno := syscall.Syscall6(unix.SYS_SENDTO, uintptr(c.fd), uintptr(ptr), uintptr(len(p)),
			unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4)
		switch {
		case errno == 0:
			return len(p), nil
		case errno == unix.EAGAIN && c.waitWritable():
			continue
		default:
			return 0, c.opErr("write", os.NewSyscallError("sendto", errno))
		}
	}
}

// waitWritable waits a little for room in the send buffer.
func (c *loopConn) waitWritable() bool {
	fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLOUT}} //nolint:gosec // fds are small
	n, err := unix.Poll(fds, 100)
	return err == nil && n == 1
}

func (c *loopConn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.laddr, Err: err}
}

func (c *loopConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(c.done)
	c.l.remove(c)
	if c.l.s.loops != nil {
		c.l.s.loops.barrier()
	}
	c.mu.Lock()
	err := unix.Close(c.fd)
	c.mu.Unlock()
	if err != nil {
		return c.opErr("close", os.NewSyscallError("close", err))
	}
	return nil
}

func (c *loopConn) LocalAddr() net.Addr { return c.laddr }

func (c *loopConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *loopConn) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		c.deadline.Store(0)
	} else {
		c.deadline.Store(t.UnixNano())
	}
	return nil
}

// SetWriteDeadline is accepted and ignored: writes do not block (a full
// send buffer waits at most 100 ms, then drops).
func (c *loopConn) SetWriteDeadline(time.Time) error { return nil }

func (c *loopConn) SetReadBuffer(n int) error {
	return c.setsockopt(unix.SO_RCVBUF, n)
}

func (c *loopConn) SetWriteBuffer(n int) error {
	return c.setsockopt(unix.SO_SNDBUF, n)
}

func (c *loopConn) setsockopt(opt, v int) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, opt, v))
}
