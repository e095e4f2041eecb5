//go:build linux

package udpbatch

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/natkit/natkit/internal/configerr"
)

// Sender sends datagrams on many connected sockets with one io_uring
// submission: where sendmmsg batches one socket's datagrams, a Sender
// batches one datagram each of many sockets (the load engine's
// allocations, each its own 5-tuple). Queue copies a datagram into one of
// the Sender's slots and Flush submits them all with one io_uring_enter.
// Non-blocking sockets complete their sends inline, inside that call, so
// Flush reaps every completion before it returns and the slots are free
// again. A Sender is used by one goroutine.
type Sender struct {
	fd      int
	ring    []byte // SQ and CQ rings (one mapping: IORING_FEAT_SINGLE_MMAP)
	sqeMem  []byte
	sqHead  *uint32
	sqTail  *uint32
	sqMask  uint32
	sqArray []uint32
	sqes    []uringSQE
	cqHead  *uint32
	cqTail  *uint32
	cqMask  uint32
	cqes    []uringCQE

	slots  int
	size   int
	bufs   []byte
	queued int
	// QueueTo's per-slot message headers, iovecs and destinations.
	msgs  []unix.Msghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4
}

// SenderResult is what one Flush did: Sent datagrams (Bytes in all) left,
// Refused got ECONNREFUSED (an ICMP port unreachable on a connected
// socket), Failed got another error, the last of which is Err.
type SenderResult struct {
	Sent, Refused, Failed int
	Bytes                 int
	Err                   syscall.Errno
}

// io_uring ABI (linux/io_uring.h).
const (
	sysIOURingSetup = 425
	sysIOURingEnter = 426

	uringOffSQRing = 0
	uringOffSQEs   = 0x10000000

	uringFeatSingleMmap = 1 << 0
	uringSetupSubmitAll = 1 << 7
	uringEnterGetEvents = 1 << 0
	uringOpSendmsg      = 9
	uringOpSend         = 26
)

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  struct {
		head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
		userAddr                                                        uint64
	}
	cqOff struct {
		head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
		userAddr                                                        uint64
	}
}

type uringSQE struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	msgFlags    uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	_           uint64
}

type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// NewSender sets up an io_uring of slots entries, each with a size-byte
// buffer. Where the kernel or a seccomp policy refuses io_uring it returns
// the errno (ENOSYS, EPERM, …) wrapped, for the caller to fall back on
// write(2).
func NewSender(slots, size int) (*Sender, error) {
	if slots <= 0 || slots > 4096 {
		return nil, configerr.New(ErrConfig, "udpbatch", "Slots", "", "must be in 1..4096, got %d", slots)
	}
	if size <= 0 {
		return nil, configerr.New(ErrConfig, "udpbatch", "Size", "", "must be positive, got %d", size)
	}
	var p uringParams
	p.flags = uringSetupSubmitAll
	fd, _, errno := syscall.Syscall(sysIOURingSetup, uintptr(slots), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	s := &Sender{fd: int(fd), slots: slots, size: size}
	if p.features&uringFeatSingleMmap == 0 {
		s.Close()
		return nil, fmt.Errorf("io_uring_setup: %w (no IORING_FEAT_SINGLE_MMAP)", syscall.ENOSYS)
	}
	ringSize := max(int(p.sqOff.array)+int(p.sqEntries)*4, int(p.cqOff.cqes)+int(p.cqEntries)*int(unsafe.Sizeof(uringCQE{})))
	ring, err := unix.Mmap(s.fd, uringOffSQRing, ringSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("io_uring mmap: %w", err)
	}
	s.ring = ring
	sqeMem, err := unix.Mmap(s.fd, uringOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(uringSQE{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("io_uring mmap: %w", err)
	}
	s.sqeMem = sqeMem
	u32 := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&ring[off])) }
	s.sqHead, s.sqTail, s.sqMask = u32(p.sqOff.head), u32(p.sqOff.tail), *u32(p.sqOff.ringMask)
	s.sqArray = unsafe.Slice(u32(p.sqOff.array), p.sqEntries)
	s.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&sqeMem[0])), p.sqEntries)
	s.cqHead, s.cqTail, s.cqMask = u32(p.cqOff.head), u32(p.cqOff.tail), *u32(p.cqOff.ringMask)
	s.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&ring[p.cqOff.cqes])), p.cqEntries)
	s.slots = min(slots, int(p.sqEntries))
	s.bufs = make([]byte, s.slots*size)
	s.msgs = make([]unix.Msghdr, s.slots)
	s.iovs = make([]unix.Iovec, s.slots)
	s.names = make([]unix.RawSockaddrInet4, s.slots)
	for i := range s.msgs {
		s.iovs[i].Base = &s.bufs[i*size]
		s.msgs[i].Name = (*byte)(unsafe.Pointer(&s.names[i]))
		s.msgs[i].Namelen = unix.SizeofSockaddrInet4
		s.msgs[i].Iov = &s.iovs[i]
		s.msgs[i].SetIovlen(1)
	}
	return s, nil
}

// Full reports whether every slot is queued: Flush before the next Queue.
func (s *Sender) Full() bool { return s.queued == s.slots }

// Queued is how many datagrams wait for Flush.
func (s *Sender) Queued() int { return s.queued }

// Queue copies b (cut to the slot size) into the next slot, to be sent on
// the connected socket fd at the next Flush. It returns false when every
// slot is taken.
func (s *Sender) Queue(fd int, b []byte) bool {
	if s.queued == s.slots {
		return false
	}
	i := s.queued
	buf := s.bufs[i*s.size : (i+1)*s.size]
	n := copy(buf, b)
	s.push(uringSQE{opcode: uringOpSend, fd: int32(fd), addr: uint64(uintptr(unsafe.Pointer(&buf[0]))), //nolint:gosec // fds are small
		len: uint32(n), msgFlags: unix.MSG_DONTWAIT, userData: uint64(i)}) //nolint:gosec // n ≤ size
	return true
}

// QueueTo is Queue for an unconnected socket: b goes to the IPv4 address
// dst (sendmsg).
func (s *Sender) QueueTo(fd int, b []byte, dst netip.AddrPort) bool {
	if s.queued == s.slots {
		return false
	}
	i := s.queued
	n := copy(s.bufs[i*s.size:(i+1)*s.size], b)
	s.iovs[i].SetLen(n)
	PutAddrPort(&s.names[i], dst)
	s.push(uringSQE{opcode: uringOpSendmsg, fd: int32(fd), addr: uint64(uintptr(unsafe.Pointer(&s.msgs[i]))), //nolint:gosec // fds are small
		len: 1, msgFlags: unix.MSG_DONTWAIT, userData: uint64(i)}) //nolint:gosec // i < slots
	return true
}

// push writes e into the next SQE and publishes it to the kernel.
func (s *Sender) push(e uringSQE) {
	tail := atomic.LoadUint32(s.sqTail)
	idx := tail & s.sqMask
	s.sqes[idx] = e
	s.sqArray[idx] = idx
	atomic.StoreUint32(s.sqTail, tail+1)
	s.queued++
}

// Flush submits every queued datagram with one io_uring_enter, waits for
// their completions (inline for non-blocking sockets) and counts them.
// raw makes the call with RawSyscall6 (see Config.Raw).
func (s *Sender) Flush(raw bool) SenderResult {
	var r SenderResult
	if s.queued == 0 {
		return r
	}
	n := s.queued
	for done := 0; done < n; {
		var errno syscall.Errno
		if raw {
			_, _, errno = syscall.RawSyscall6(sysIOURingEnter, uintptr(s.fd), uintptr(n-done), uintptr(n-done), uringEnterGetEvents, 0, 0)
		} else {
			_, _, errno = syscall.Syscall6(sysIOURingEnter, uintptr(s.fd), uintptr(n-done), uintptr(n-done), uringEnterGetEvents, 0, 0)
		}
		if errno == syscall.EINTR {
			continue
		}
		got := s.reap(&r)
		done += got
		if errno != 0 && got == 0 {
			// The ring itself failed: what was not submitted is dropped.
			r.Failed += n - done
			r.Err = errno
			s.discard()
			break
		}
	}
	s.queued = 0
	return r
}

// reap counts the completions in the CQ ring and frees them.
func (s *Sender) reap(r *SenderResult) int {
	head := atomic.LoadUint32(s.cqHead)
	tail := atomic.LoadUint32(s.cqTail)
	n := 0
	for ; head != tail; head++ {
		c := s.cqes[head&s.cqMask]
		switch {
		case c.res >= 0:
			r.Sent++
			r.Bytes += int(c.res)
		case syscall.Errno(-c.res) == syscall.ECONNREFUSED:
			r.Refused++
		default:
			r.Failed++
			r.Err = syscall.Errno(-c.res)
		}
		n++
	}
	atomic.StoreUint32(s.cqHead, head)
	return n
}

// discard drops submissions the kernel has not consumed.
func (s *Sender) discard() {
	atomic.StoreUint32(s.sqTail, atomic.LoadUint32(s.sqHead))
}

// Close unmaps the rings and closes the io_uring.
func (s *Sender) Close() error {
	if s.sqeMem != nil {
		_ = unix.Munmap(s.sqeMem)
		s.sqeMem = nil
	}
	if s.ring != nil {
		_ = unix.Munmap(s.ring)
		s.ring = nil
	}
	if s.fd >= 0 {
		err := syscall.Close(s.fd)
		s.fd = -1
		return err
	}
	return nil
}
