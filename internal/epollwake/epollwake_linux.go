// Package epollwake is the start of an epoll event loop that other
// goroutines can wake: an epoll set with an eventfd registered in it. The
// relay's and the signaling server's loops both begin with one.
package epollwake

import (
	"os"

	"golang.org/x/sys/unix"
)

// New returns a new epoll descriptor and an eventfd (non-blocking, in the
// set for reading). The caller closes both.
func New() (epfd, evfd int, err error) {
	epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return -1, -1, os.NewSyscallError("epoll_create1", err)
	}
	evfd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return -1, -1, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)} //nolint:gosec // fds are small
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(evfd)
		return -1, -1, os.NewSyscallError("epoll_ctl", err)
	}
	return epfd, evfd, nil
}

// Wake makes the loop's epoll_wait return (evfd readable).
func Wake(evfd int) {
	one := [8]byte{1}
	_, _ = unix.Write(evfd, one[:])
}

// Drain resets evfd after a wake, so the next wait blocks again.
func Drain(evfd int) {
	var b [8]byte
	_, _ = unix.Read(evfd, b[:])
}
