package signalserver

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"

	"github.com/natkit/natkit/internal/epollwake"
)

// evLoop is one event loop: an epoll instance, the sockets it serves, and
// an eventfd that wakes it when another goroutine queues frames for one
// of them.
type evLoop struct {
	s    *Server
	epfd int
	evfd int

	mu       sync.Mutex
	ready    []*wsConn // connections with frames, control frames or a close to send
	sleeping bool      // in epoll_wait without a timeout: schedule must wake it
	stopping bool
	done     chan struct{}

	// Owned by the loop goroutine.
	conns  map[int32]*wsConn
	events [128]unix.EpollEvent
	rbuf   []byte
	batch  []*wsConn
}

// evLoopsAvailable: the event loop runs on Linux.
const evLoopsAvailable = true

// yieldEvery is how often a busy loop yields to the scheduler: it stays on
// its thread in epoll_wait (a blocking system call), and a goroutine that
// never yields is preempted by sysmon at every wait.
const yieldEvery = 2 * time.Millisecond

// readChunk is what one read takes from a socket: the loop's one buffer.
const readChunk = 64 << 10

func newEvLoop(s *Server) (*evLoop, error) {
	epfd, evfd, err := epollwake.New()
	if err != nil {
		return nil, err
	}
	l := &evLoop{s: s, epfd: epfd, evfd: evfd, done: make(chan struct{}),
		conns: map[int32]*wsConn{}, rbuf: make([]byte, readChunk)}
	go l.run()
	return l, nil
}

// takeFD takes nc's socket for an event loop: a duplicate of its
// descriptor, non-blocking, that Go's poller never sees; nc is closed.
// It works for a *net.TCPConn only.
func takeFD(nc net.Conn) (int, bool) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return -1, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1, false
	}
	fd := -1
	if cerr := rc.Control(func(sfd uintptr) {
		fd, err = unix.FcntlInt(sfd, unix.F_DUPFD_CLOEXEC, 0)
	}); cerr != nil || err != nil {
		return -1, false
	}
	_ = tc.Close() // the duplicate keeps the socket open
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, false
	}
	return fd, true
}

// schedule makes the loop flush c after its current round, waking it if
// it sleeps. Callers mark c (evMarkLocked) first, so it is listed once.
func (l *evLoop) schedule(c *wsConn) {
	l.mu.Lock()
	l.ready = append(l.ready, c)
	wake := l.sleeping
	l.sleeping = false
	l.mu.Unlock()
	if wake {
		l.wake()
	}
}

func closeFD(fd int) { _ = unix.Close(fd) }

func (l *evLoop) wake() { epollwake.Wake(l.evfd) }

// stop ends the loop once its connections are gone (Server.Close waits
// for them first).
func (l *evLoop) stop() {
	l.mu.Lock()
	l.stopping = true
	l.mu.Unlock()
	l.wake()
	<-l.done
}

func (l *evLoop) run() {
	defer close(l.done)
	defer func() {
		for fd := range l.conns {
			unix.Close(int(fd))
		}
		unix.Close(l.epfd)
		unix.Close(l.evfd)
	}()
	lastYield := time.Now()
	for {
		l.mu.Lock()
		if l.stopping {
			l.mu.Unlock()
			return
		}
		timeout := 0
		if len(l.ready) == 0 {
			timeout = -1
			l.sleeping = true
		}
		l.mu.Unlock()
		if now := time.Now(); now.Sub(lastYield) > yieldEvery {
			runtime.Gosched()
			lastYield = now
		}
		n, err := unix.EpollWait(l.epfd, l.events[:], timeout)
		if timeout != 0 {
			l.mu.Lock()
			l.sleeping = false
			l.mu.Unlock()
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			l.s.log.Error("signal: epoll_wait", "err", err)
			return
		}
		for i := range max(n, 0) {
			e := l.events[i]
			if int(e.Fd) == l.evfd {
				epollwake.Drain(l.evfd)
				continue
			}
			c := l.conns[e.Fd]
			if c == nil {
				continue
			}
			if e.Events&unix.EPOLLOUT != 0 {
				l.writeOut(c)
			}
			if e.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				l.read(c)
			}
		}
		l.flushReady()
	}
}

// flushReady serves the connections scheduled meanwhile: registration,
// queued frames, closes. Flushing may schedule more (a close after the
// last frame): those wait for the next round.
func (l *evLoop) flushReady() {
	l.mu.Lock()
	l.batch, l.ready = l.ready, l.batch[:0]
	l.mu.Unlock()
	for i, c := range l.batch {
		l.flush(c)
		l.batch[i] = nil
	}
}

// read takes what the socket holds and handles the complete frames.
func (l *evLoop) read(c *wsConn) {
	ev := c.ev
	if ev.ended {
		return
	}
	n, err := unix.Read(ev.fd, l.rbuf)
	if err == unix.EAGAIN || err == unix.EINTR {
		return
	}
	if n <= 0 {
		l.end(c, -1) // EOF or an error, without a close frame: a drop
		return
	}
	b := l.rbuf[:n]
	if len(ev.in) > 0 {
		ev.in = append(ev.in, b...)
		b = ev.in
	}
	rest, closed := c.consume(b)
	switch {
	case closed:
		l.writeOut(c)
		l.end(c, c.ev.peerStatus)
		return
	case len(rest) == 0:
		ev.in = nil
	case len(ev.in) > 0:
		if len(rest) < len(ev.in) { // rest is a suffix of ev.in: move it to the front
			ev.in = append(ev.in[:0], rest...)
		}
	default:
		ev.in = append([]byte(nil), rest...)
	}
}

// flush handles what was scheduled for c, then writes its queue with one
// system call.
func (l *evLoop) flush(c *wsConn) {
	ev := c.ev
	c.wmu.Lock()
	ev.scheduled = false
	if ev.ended {
		c.wmu.Unlock()
		return
	}
	now, closeReq := ev.closeNow, ev.closeReq && !ev.closeSent
	code, reason := ev.closeCode, ev.closeMsg
	ctl := ev.ctl
	ev.ctl = nil
	var q [][]byte
	if len(ev.out) == 0 && !closeReq {
		q = c.queue
		c.queue = nil
	}
	if closeReq {
		c.queue = nil
	}
	c.wmu.Unlock()
	if !ev.registered {
		if !l.register(c) {
			return
		}
	}
	if now {
		l.end(c, -1)
		return
	}
	if len(ev.out) > 0 {
		// The socket is full: frames wait in the bounded queue; control
		// frames and a close go behind the bytes in flight, and EPOLLOUT
		// writes on. (Copying what waits here at every flush would cost
		// a slow consumer's whole backlog per frame.)
		ev.out = append(ev.out, ctl...)
		if closeReq {
			l.queueClose(c, code, reason)
		}
		return
	}
	bp := writeBufs.Get().(*[]byte)
	b := append((*bp)[:0], ctl...)
	closing := false
	for _, f := range q {
		if len(f) == 0 { // closeFrame: close after the frames before it
			closing = true
			break
		}
		b = appendFrame(b, opText, f)
	}
	ev.out = b
	if closeReq {
		l.queueClose(c, code, reason)
	}
	l.writeOut(c)
	if len(ev.out) > 0 { // keep what is left, not the pooled batch
		ev.out = append([]byte(nil), ev.out...)
	}
	if cap(b) <= 4*maxCorked {
		*bp = b[:0]
		writeBufs.Put(bp)
	}
	if closing {
		c.kick(c.closeCode, c.closeReason)
	}
}

// queueClose appends the close frame and gives the client 2 s to answer.
func (l *evLoop) queueClose(c *wsConn, code websocket.StatusCode, reason string) {
	ev := c.ev
	ev.out = appendFrame(ev.out, opClose, closePayload(code, reason))
	ev.closeSent = true
	ev.closeTimer = time.AfterFunc(2*time.Second, func() { c.evClose(closeNormal, "") })
}

// register adds c's socket to the loop's epoll set.
func (l *evLoop) register(c *wsConn) bool {
	ev := c.ev
	e := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(ev.fd)} //nolint:gosec // fds are small
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, ev.fd, &e); err != nil {
		l.s.log.Warn("signal: epoll_ctl add", "err", err)
		unix.Close(ev.fd)
		ev.ended = true
		c.evEnded(-1)
		return false
	}
	ev.registered = true
	l.conns[int32(ev.fd)] = c //nolint:gosec // fds are small
	if len(ev.in) > 0 {       // frames that came with the upgrade request
		b := ev.in
		ev.in = nil
		if rest, closed := c.consume(b); closed {
			l.writeOut(c)
			l.end(c, ev.peerStatus)
			return false
		} else if len(rest) > 0 {
			ev.in = append([]byte(nil), rest...)
		}
	}
	return true
}

// writeOut writes ev.out as far as the socket takes it. What remains
// stays in ev.out (flush copies it out of a pooled batch) and the loop
// waits for EPOLLOUT; the write watch drops a connection whose write
// waits longer than WriteTimeout.
func (l *evLoop) writeOut(c *wsConn) {
	ev := c.ev
	if ev.ended || len(ev.out) == 0 {
		return
	}
	wasBlocked := c.writeStart.Load() != 0
	b := ev.out
	for len(b) > 0 {
		n, err := unix.Write(ev.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			ev.out = nil
			l.end(c, -1)
			return
		}
		b = b[n:]
	}
	if len(b) == 0 {
		ev.out = nil
		if wasBlocked {
			c.writeStart.Store(0)
			l.watchOut(c, false)
			l.afterDrain(c)
		}
		return
	}
	ev.out = b
	if !wasBlocked {
		c.writeStart.Store(time.Now().UnixNano())
		l.watchOut(c, true)
	}
}

// afterDrain flushes what was queued while the socket was full.
func (l *evLoop) afterDrain(c *wsConn) {
	c.wmu.Lock()
	more := len(c.queue) > 0
	c.wmu.Unlock()
	if more {
		l.flush(c)
	}
}

func (l *evLoop) watchOut(c *wsConn, on bool) {
	events := uint32(unix.EPOLLIN | unix.EPOLLRDHUP)
	if on {
		events |= unix.EPOLLOUT
	}
	e := unix.EpollEvent{Events: events, Fd: int32(c.ev.fd)} //nolint:gosec // fds are small
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.ev.fd, &e)
}

// end closes c's socket and ends the connection with status (-1: none).
func (l *evLoop) end(c *wsConn, status websocket.StatusCode) {
	ev := c.ev
	if ev.ended {
		return
	}
	c.wmu.Lock()
	ev.ended = true
	ev.ctl = nil
	c.wmu.Unlock()
	if ev.closeTimer != nil {
		ev.closeTimer.Stop()
	}
	if ev.registered {
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, ev.fd, nil)
		delete(l.conns, int32(ev.fd)) //nolint:gosec // fds are small
	}
	unix.Close(ev.fd)
	ev.in, ev.msg, ev.out = nil, nil, nil
	c.writeStart.Store(0)
	c.evEnded(status)
}
