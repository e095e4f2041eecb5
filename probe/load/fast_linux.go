//go:build linux && (amd64 || arm64)

package load

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/natkit/natkit/internal/udpbatch"
)

const (
	rxBatch      = 16  // datagrams per recvmmsg
	ctrlSize     = 64  // control bytes per datagram: one SCM_TIMESTAMPNS (32)
	maxEvents    = 256 // ready sockets per epoll_wait
	blockPollMs  = 10  // epoll_wait timeout outside traffic, to notice stop
	maxIdleSleep = 5 * time.Millisecond
	// fastThreadPPS is the packet rate one thread is given before the
	// load is spread over another (up to GOMAXPROCS): one thread sending
	// bigger bursts costs less per packet than two, as long as it keeps up.
	fastThreadPPS = 50000
	// epollET is EPOLLET as a uint32: each socket is reported once per
	// arrival and drained to empty, not polled again on every wait.
	epollET = 1 << 31
)

// haveFastPath says whether this platform has the batched data path.
const haveFastPath = true

// Send paths, as Result.SendPath names them.
const (
	// SendPathIOURing queues a wake's due packets, one per allocation
	// socket, and submits them with one io_uring_enter.
	SendPathIOURing = "io_uring"
	// SendPathSend makes one send(2) per packet on the connected socket.
	SendPathSend = "send"
	// SendPathWrite makes one write(2) per packet (the path before
	// io_uring; kept to measure against).
	SendPathWrite = "write"
)

// sendVia picks the batched path's send call: SendPathIOURing (default;
// send(2) where the kernel refuses io_uring), SendPathSend or
// SendPathWrite. A variable so A/B builds can set it:
// -ldflags '-X github.com/natkit/natkit/probe/load.sendVia=write'.
var sendVia = SendPathIOURing

// uringSlots is how many sends one io_uring submission carries at most.
const uringSlots = 256

// epollFast is the Linux fastPath: one reactor thread per shard.
type epollFast struct {
	e    *engine
	rs   []*reactor
	next atomic.Uint32
	// sendPath is the send call the reactors use, with why io_uring is
	// not used when it was wanted (e.g. "send (io_uring_setup: operation
	// not permitted)").
	sendPath string
}

// reactor owns an epoll set of session sockets. Outside traffic it blocks
// in epoll_wait and handles each response as it comes (allocation latency
// stays exact); while traffic flows (engine.polling) it wakes every
// fastTick, sends what has come due and drains every ready socket with
// recvmmsg, timestamping each datagram with the kernel's receive time.
type reactor struct {
	e     *engine
	epfd  int
	mu    sync.Mutex // guards socks; held while handling a wake's datagrams and sends
	socks map[int32]*session
	stop  atomic.Bool
	done  chan struct{}
	jobs  chan *sendJob

	events [maxEvents]syscall.EpollEvent
	in     *udpbatch.Batch
	tx     *udpbatch.Sender // nil unless the send path is io_uring
}

// sendJob is one reactor's share of the send schedule.
type sendJob struct {
	ctx      context.Context
	mine     []*session
	n, k     int64
	interval float64
	end      time.Duration
	done     chan struct{}
}

func newFastPath(e *engine) (fastPath, error) {
	want := int(math.Ceil(float64(e.cfg.Allocations) * e.cfg.PPS / fastThreadPPS))
	n := max(1, min(runtime.GOMAXPROCS(0), want))
	f := &epollFast{e: e, sendPath: sendVia}
	for range n {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			f.close()
			return nil, fmt.Errorf("epoll_create1: %w", err)
		}
		// Raw: the reactor owns its thread and never blocks in recvmmsg.
		in, err := udpbatch.New(udpbatch.Config{Slots: rxBatch, Size: readBufSize, Control: ctrlSize, Raw: true})
		if err != nil {
			_ = syscall.Close(epfd)
			f.close()
			return nil, err
		}
		r := &reactor{e: e, epfd: epfd, socks: map[int32]*session{}, done: make(chan struct{}), jobs: make(chan *sendJob, 1), in: in}
		if f.sendPath == SendPathIOURing {
			if r.tx, err = udpbatch.NewSender(uringSlots, readBufSize); err != nil {
				// Kernels before 5.6, seccomp policies and
				// kernel.io_uring_disabled refuse it: send(2) instead.
				f.sendPath = fmt.Sprintf("%s (%v)", SendPathSend, err)
				for _, o := range f.rs {
					_ = o.tx.Close()
					o.tx = nil
				}
			}
		}
		f.rs = append(f.rs, r)
		go r.run()
	}
	return f, nil
}

// nonblockingUDP is a connected, non-blocking UDP socket in a reactor's
// epoll set, outside Go's netpoller.
type nonblockingUDP struct {
	fd    int
	write bool // write(2) rather than send(2), to measure against
}

// Write sends b with send(2), which skips write(2)'s file layer (fdget_pos,
// vfs_write, the iov_iter set-up) on its way to udp_sendmsg.
func (c nonblockingUDP) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n uintptr
	var errno syscall.Errno
	if c.write {
		n, _, errno = syscall.RawSyscall(syscall.SYS_WRITE, uintptr(c.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	} else {
		n, _, errno = syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(c.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
			syscall.MSG_DONTWAIT, 0, 0)
	}
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func (c nonblockingUDP) Close() error { return syscall.Close(c.fd) }

func (f *epollFast) dial(s *session) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = syscall.Close(fd)
		}
	}()
	// Bursts of echoes must not overflow the default buffer.
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, socketBuffer)
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1); err != nil {
		return fmt.Errorf("enable receive timestamps: %w", err)
	}
	sa := &syscall.SockaddrInet4{Port: f.e.serverAddr.Port}
	copy(sa.Addr[:], f.e.serverAddr.IP.To4())
	if err := syscall.Connect(fd, sa); err != nil {
		return err
	}
	shard := int(f.next.Add(1)) % len(f.rs)
	r := f.rs[shard]
	s.fd, s.shard, s.fast, s.conn = fd, shard, true, nonblockingUDP{fd: fd, write: f.sendPath == SendPathWrite}
	if r.tx != nil {
		s.txq = r
	}
	r.mu.Lock()
	r.socks[int32(fd)] = s
	r.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollET, Fd: int32(fd)}
	if err := syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		r.mu.Lock()
		delete(r.socks, int32(fd))
		r.mu.Unlock()
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	ok = true
	return nil
}

func (f *epollFast) remove(s *session) {
	r := f.rs[s.shard]
	r.mu.Lock()
	r.removeLocked(s)
	r.mu.Unlock()
}

func (r *reactor) removeLocked(s *session) {
	if r.socks[int32(s.fd)] == s {
		delete(r.socks, int32(s.fd))
		_ = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_DEL, s.fd, nil)
	}
}

func (f *epollFast) sendAll(ctx context.Context, active []*session) {
	shards := min(len(f.rs), len(active))
	jobs := make([]*sendJob, shards)
	for j := range shards {
		mine := f.e.shard(active, j, shards)
		n := int64(len(mine))
		jobs[j] = &sendJob{ctx: ctx, mine: mine, n: n, interval: float64(time.Second) / (float64(n) * f.e.cfg.PPS),
			end: f.e.trafficStart + f.e.cfg.Duration, done: make(chan struct{})}
		f.rs[j].jobs <- jobs[j]
	}
	for _, j := range jobs {
		<-j.done
	}
}

func (f *epollFast) close() {
	for _, r := range f.rs {
		r.stop.Store(true)
		<-r.done
		_ = syscall.Close(r.epfd)
		if r.tx != nil {
			_ = r.tx.Close()
		}
	}
}

func (f *epollFast) path() string { return f.sendPath }

// queue is the io_uring send path (session.txq): the packet is copied into
// the reactor's ring, which flushTx submits once the wake's sends are
// queued (or the ring is full).
func (r *reactor) queue(fd int, b []byte) {
	if r.tx.Full() {
		r.flushTx()
	}
	r.tx.Queue(fd, b)
}

func (r *reactor) flushTx() {
	if r.tx == nil || r.tx.Queued() == 0 {
		return
	}
	res := r.tx.Flush(true)
	if res.Failed > 0 {
		r.e.sendErrors.Add(int64(res.Failed))
		r.e.log.Debug("send", "via", SendPathIOURing, "failed", res.Failed, "err", res.Err)
	}
}

// step sends every packet due by now; it returns the next one's scheduled
// time, or false when the job is over.
func (j *sendJob) step(e *engine) (time.Duration, bool) {
	if j.ctx.Err() != nil {
		return 0, false
	}
	for ; ; j.k++ {
		sched := e.trafficStart + time.Duration(float64(j.k)*j.interval)
		if sched >= j.end {
			return 0, false
		}
		now := e.now()
		if sched > now {
			return sched, true
		}
		s := j.mine[j.k%j.n]
		if sched-e.trafficStart >= s.firstTx {
			e.sendOne(s, j.k/j.n, sched, now)
		}
	}
}

func (r *reactor) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(r.done)
	var job *sendJob
	for !r.stop.Load() {
		if job == nil {
			select {
			case job = <-r.jobs:
			default:
			}
		}
		if job == nil && !r.e.polling.Load() {
			r.poll(blockPollMs)
			continue
		}
		wake := r.e.now()
		next := wake + fastTick // draining: poll every tick
		if job != nil {
			next = wake + maxIdleSleep
			// Under mu, so no socket is removed (and closed) between a
			// send's queueing and its submission.
			r.mu.Lock()
			at, more := job.step(r.e)
			r.flushTx()
			r.mu.Unlock()
			if more {
				next = min(next, at)
			} else {
				close(job.done)
				job = nil
			}
		}
		r.poll(0)
		next = max(next, wake+fastTick)
		if d := next - r.e.now(); d > 0 {
			sleep(d)
		}
	}
	if job != nil {
		close(job.done)
	}
}

// sleep blocks the thread for d without handing its P back to the
// scheduler: entering the runtime's syscall state thousands of times a
// second keeps sysmon polling every 20µs, which costs more than the sleep.
// Other goroutines still run on the other Ps, and sysmon preempts a
// reactor that holds its P for more than 10ms.
func sleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_, _, _ = syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// poll handles the sockets that are ready, waiting up to ms milliseconds
// for one.
func (r *reactor) poll(ms int) {
	var n int
	if ms == 0 {
		// Does not block: no need to enter the runtime's syscall state.
		r0, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(r.epfd), uintptr(unsafe.Pointer(&r.events[0])),
			maxEvents, 0, 0, 0)
		if errno != 0 {
			return
		}
		n = int(r0)
	} else {
		var err error
		if n, err = syscall.EpollWait(r.epfd, r.events[:], ms); err != nil {
			return
		}
	}
	if n <= 0 {
		return
	}
	now := time.Now()
	mono := now.Sub(r.e.t0)
	wall0 := now.UnixNano() - int64(mono) // the wall clock at engine time 0, as of now
	got := false
	r.mu.Lock()
	for i := range n {
		if s := r.socks[r.events[i].Fd]; s != nil && r.drain(s, wall0, mono) {
			got = true
		}
	}
	r.mu.Unlock()
	if got {
		r.e.lastRx.Store(int64(mono))
	}
}

// drain reads every datagram queued on s and hands each to s.handle with
// its kernel receive time (or mono, the wake time, when it has none).
func (r *reactor) drain(s *session, wall0 int64, mono time.Duration) bool {
	got := false
	for {
		m, errno := r.in.Recv(s.fd)
		switch {
		case errno == syscall.EAGAIN:
			return got
		case errno == syscall.EINTR:
			continue
		case errno == syscall.ECONNREFUSED:
			// ICMP port unreachable on the connected socket: the server is
			// gone. Keep reading; the watchdog decides.
			r.e.refused.Add(1)
			continue
		case errno != 0:
			r.e.readErrors.Add(1)
			r.e.log.Debug("read", "session", s.id, "err", errno)
			r.removeLocked(s)
			return got
		}
		for i := range m {
			// The kernel stamps the wall clock; wall0 maps it onto the run's
			// monotonic clock as of this wake (the two clock reads behind
			// it are a few ns apart, hence the clamp to mono). A missing or
			// implausible stamp (the wall clock stepped) falls back to mono.
			at := mono
			t, ok := rxTimestamp(r.in.Control(i))
			d := time.Duration(t - wall0)
			if ok && d > mono+time.Millisecond {
				// Stamped after this wake's clock read: the thread was held
				// up between the two (a loaded machine, -race). Only the
				// clock now tells that from a wall clock that stepped.
				mono = max(mono, r.e.now())
			}
			if ok && d > 0 && d <= mono+time.Millisecond {
				at = min(d, mono)
			} else {
				r.e.rxWakeStamped.Add(1)
			}
			s.handle(r.in.Data(i), at)
			got = true
			if s.closed.Load() {
				return got
			}
		}
		if m < rxBatch {
			return got
		}
	}
}

// rxTimestamp finds the SCM_TIMESTAMPNS control message (wall clock ns)
// in c.
func rxTimestamp(c []byte) (int64, bool) {
	const hdr = syscall.SizeofCmsghdr
	ne := binary.NativeEndian
	for len(c) >= hdr {
		l := int(ne.Uint64(c[0:8]))
		if l < hdr || l > len(c) {
			return 0, false
		}
		level, typ := int32(ne.Uint32(c[8:12])), int32(ne.Uint32(c[12:16]))
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && l >= hdr+16 {
			sec, nsec := int64(ne.Uint64(c[hdr:hdr+8])), int64(ne.Uint64(c[hdr+8:hdr+16]))
			return sec*1e9 + nsec, true
		}
		c = c[min(len(c), (l+7)&^7):]
	}
	return 0, false
}
