//go:build linux

package udpbatch

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/natkit/natkit/internal/configerr"
)

// Config sizes a Batch.
type Config struct {
	// Slots is how many datagrams one Recv or Send moves. Required (> 0).
	Slots int
	// Size is each slot's buffer in bytes. A datagram larger than Size is
	// cut to Size bytes and flagged Truncated. Required (> 0).
	Size int
	// Control is each slot's ancillary-data buffer in bytes (e.g. for
	// SO_TIMESTAMPNS). Default 0: none.
	Control int
	// Addrs gives each slot an IPv4 address: the source of a received
	// datagram, the destination of a sent one. Default false: the socket
	// is connected.
	Addrs bool
	// Raw makes the system calls with RawSyscall6, so the calling thread
	// never enters the runtime's syscall state: cheaper for a loop that
	// calls thousands of times a second and owns its thread, and safe
	// because MSG_DONTWAIT never blocks. Default false: Syscall6.
	Raw bool
}

func (c Config) validate() error {
	switch {
	case c.Slots <= 0:
		return configerr.New(ErrConfig, "udpbatch", "Slots", "", "must be positive, got %d", c.Slots)
	case c.Size <= 0:
		return configerr.New(ErrConfig, "udpbatch", "Size", "", "must be positive, got %d", c.Size)
	case c.Control < 0:
		return configerr.New(ErrConfig, "udpbatch", "Control", "", "must not be negative, got %d", c.Control)
	}
	return nil
}

// Batch holds the mmsghdr array of one recvmmsg or sendmmsg and the
// buffers it points at. It is used by one goroutine, for receiving or for
// sending, not both: Recv overwrites the slots Send would read.
type Batch struct {
	cfg   Config
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4 // nil unless cfg.Addrs
	bufs  []byte                  // Slots × Size
	ctrl  []byte                  // Slots × Control

	// Send side: slots [sent, queued) wait for Send.
	queued, sent int
}

// New allocates a Batch and points its headers at its buffers once.
func New(cfg Config) (*Batch, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Batch{
		cfg:  cfg,
		msgs: make([]unix.Mmsghdr, cfg.Slots),
		iovs: make([]unix.Iovec, cfg.Slots),
		bufs: make([]byte, cfg.Slots*cfg.Size),
	}
	if cfg.Addrs {
		b.names = make([]unix.RawSockaddrInet4, cfg.Slots)
	}
	if cfg.Control > 0 {
		b.ctrl = make([]byte, cfg.Slots*cfg.Control)
	}
	for i := range b.msgs {
		b.iovs[i].Base = &b.bufs[i*cfg.Size]
		b.iovs[i].SetLen(cfg.Size)
		h := &b.msgs[i].Hdr
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
		if b.names != nil {
			h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
			h.Namelen = unix.SizeofSockaddrInet4
		}
		if b.ctrl != nil {
			h.Control = &b.ctrl[i*cfg.Control]
			h.SetControllen(cfg.Control)
		}
	}
	return b, nil
}

// Slots is how many datagrams one call moves at most.
func (b *Batch) Slots() int { return len(b.msgs) }

// Recv reads up to Slots datagrams queued on fd with one recvmmsg. It
// returns how many it read, or the errno (unix.EAGAIN: none was queued).
// Data, Addr and Control then describe datagram i < n, until the next Recv.
func (b *Batch) Recv(fd int) (int, unix.Errno) {
	for i := range b.msgs {
		// The kernel writes back how much of each it used.
		h := &b.msgs[i].Hdr
		if b.names != nil {
			h.Namelen = unix.SizeofSockaddrInet4
		}
		if b.ctrl != nil {
			h.SetControllen(b.cfg.Control)
		}
	}
	return b.mmsg(unix.SYS_RECVMMSG, fd, 0, len(b.msgs))
}

// Data is datagram i of the last Recv, in the Batch's own buffer.
func (b *Batch) Data(i int) []byte {
	off := i * b.cfg.Size
	return b.bufs[off : off+int(b.msgs[i].Len)]
}

// Truncated reports whether datagram i was larger than Size (MSG_TRUNC).
func (b *Batch) Truncated(i int) bool { return b.msgs[i].Hdr.Flags&unix.MSG_TRUNC != 0 }

// Addr is datagram i's source; the zero AddrPort without Config.Addrs.
func (b *Batch) Addr(i int) netip.AddrPort {
	if b.names == nil {
		return netip.AddrPort{}
	}
	return AddrPort(&b.names[i])
}

// Control is datagram i's ancillary data; nil without Config.Control.
func (b *Batch) Control(i int) []byte {
	if b.ctrl == nil {
		return nil
	}
	off := i * b.cfg.Control
	return b.ctrl[off : off+min(int(b.msgs[i].Hdr.Controllen), b.cfg.Control)] //nolint:gosec // at most Control, an int
}

// ControlTruncated reports whether datagram i's ancillary data did not fit
// in Control bytes (MSG_CTRUNC).
func (b *Batch) ControlTruncated(i int) bool { return b.msgs[i].Hdr.Flags&unix.MSG_CTRUNC != 0 }

// Full reports whether every slot is queued: Send (or Reset) before Next.
func (b *Batch) Full() bool { return b.queued == len(b.msgs) }

// Queued is how many datagrams wait for Send.
func (b *Batch) Queued() int { return b.queued - b.sent }

// Next is the next free slot's whole buffer (Size bytes), for the caller
// to write a datagram into in place; Push queues it. The Batch must not
// be Full.
func (b *Batch) Next() []byte {
	off := b.queued * b.cfg.Size
	return b.bufs[off : off+b.cfg.Size]
}

// Push queues the first n bytes of the buffer Next returned, for dst
// (ignored without Config.Addrs: the socket is connected).
func (b *Batch) Push(n int, dst netip.AddrPort) {
	b.iovs[b.queued].SetLen(n)
	if b.names != nil {
		PutAddrPort(&b.names[b.queued], dst)
	}
	b.queued++
}

// Send sends the queued datagrams with one sendmmsg. It returns how many
// the kernel took (they leave the queue) or the errno for the first one
// it did not (unix.EAGAIN: the send buffer is full). The kernel may take
// fewer than Queued without an error; call Send again for the rest.
func (b *Batch) Send(fd int) (int, unix.Errno) {
	if b.Queued() == 0 {
		return 0, 0
	}
	n, errno := b.mmsg(unix.SYS_SENDMMSG, fd, b.sent, b.Queued())
	b.sent += n
	return n, errno
}

// Reset empties the send queue, dropping what Send did not take.
func (b *Batch) Reset() { b.queued, b.sent = 0, 0 }

// mmsg makes one recvmmsg or sendmmsg on msgs[off:off+n].
func (b *Batch) mmsg(trap uintptr, fd, off, n int) (int, unix.Errno) {
	var r1 uintptr
	var errno syscall.Errno
	if b.cfg.Raw {
		r1, _, errno = unix.RawSyscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&b.msgs[off])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
	} else {
		r1, _, errno = unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&b.msgs[off])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
	}
	if errno != 0 {
		return 0, errno
	}
	return int(r1), 0
}

// AddrPort converts an IPv4 socket address (port in network byte order).
func AddrPort(sa *unix.RawSockaddrInet4) netip.AddrPort {
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
}

// PutAddrPort fills sa with ap, an IPv4 address.
func PutAddrPort(sa *unix.RawSockaddrInet4, ap netip.AddrPort) {
	sa.Family = unix.AF_INET
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(ap.Port()>>8), byte(ap.Port())
	sa.Addr = ap.Addr().As4()
}
