//go:build linux

package udpbatch

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// newSender skips where io_uring is refused (old kernels, seccomp), which
// is exactly when the load engine falls back on send(2).
func newSender(t *testing.T, slots, size int) *Sender {
	t.Helper()
	s, err := NewSender(slots, size)
	if errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		t.Skipf("io_uring refused here: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// connected opens a non-blocking UDP socket connected to dst.
func connected(t *testing.T, dst netip.AddrPort) int {
	t.Helper()
	fd, _ := udpSocket(t)
	require.NoError(t, unix.Connect(fd, &unix.SockaddrInet4{Addr: dst.Addr().As4(), Port: int(dst.Port())}))
	return fd
}

func TestSenderOneSubmissionManySockets(t *testing.T) {
	rfd, raddr := udpSocket(t)
	s := newSender(t, 4, 8)
	var fds []int
	for range 3 {
		fds = append(fds, connected(t, raddr))
	}
	// Two rounds: the slots are free again after a Flush.
	for round := range 2 {
		for i, fd := range fds {
			require.True(t, s.Queue(fd, fmt.Appendf(nil, "r%d-s%d", round, i)))
		}
		require.Equal(t, 3, s.Queued())
		require.Equal(t, SenderResult{Sent: 3, Bytes: 3 * 5}, s.Flush(round == 1))
		require.Zero(t, s.Queued())

		in := newBatch(t, Config{Slots: 8, Size: 64, Addrs: true})
		n, errno := in.Recv(rfd)
		require.Zero(t, errno)
		var got []string
		for i := range n {
			got = append(got, string(in.Data(i)))
		}
		require.ElementsMatch(t, []string{
			fmt.Sprintf("r%d-s0", round), fmt.Sprintf("r%d-s1", round), fmt.Sprintf("r%d-s2", round),
		}, got)
	}
}

func TestSenderFullCutAndErrors(t *testing.T) {
	rfd, raddr := udpSocket(t)
	s := newSender(t, 2, 4)
	fd := connected(t, raddr)
	require.True(t, s.Queue(fd, []byte("abcdefgh"))) // cut to the 4-byte slot
	require.True(t, s.Queue(-1, []byte("x")))        // a bad fd fails alone
	require.True(t, s.Full())
	require.False(t, s.Queue(fd, []byte("y")))
	r := s.Flush(false)
	require.Equal(t, 1, r.Sent)
	require.Equal(t, 1, r.Failed)
	require.Equal(t, syscall.EBADF, r.Err)

	in := newBatch(t, Config{Slots: 4, Size: 64})
	n, errno := in.Recv(rfd)
	require.Zero(t, errno)
	require.Equal(t, 1, n)
	require.Equal(t, "abcd", string(in.Data(0)))
}

func TestSenderRefusedByClosedPort(t *testing.T) {
	rfd, raddr := udpSocket(t)
	s := newSender(t, 2, 4)
	fd := connected(t, raddr)
	require.NoError(t, unix.Close(rfd)) // the cleanup's second close is harmless
	// The first send draws the ICMP port unreachable, the second reports it.
	for range 2 {
		require.True(t, s.Queue(fd, []byte("x")))
		r := s.Flush(false)
		if r.Refused == 1 {
			return
		}
		require.Equal(t, 1, r.Sent)
	}
	t.Fatal("no ECONNREFUSED after sending to a closed port")
}

func TestSenderQueueToAddresses(t *testing.T) {
	afd, aaddr := udpSocket(t)
	bfd, baddr := udpSocket(t)
	sfd, saddr := udpSocket(t) // unconnected: each datagram names its destination
	s := newSender(t, 4, 16)
	require.True(t, s.QueueTo(sfd, []byte("to-a"), aaddr))
	require.True(t, s.QueueTo(sfd, []byte("to-b"), baddr))
	require.Equal(t, SenderResult{Sent: 2, Bytes: 8}, s.Flush(true))
	for fd, want := range map[int]string{afd: "to-a", bfd: "to-b"} {
		in := newBatch(t, Config{Slots: 4, Size: 64, Addrs: true})
		n, errno := in.Recv(fd)
		require.Zero(t, errno)
		require.Equal(t, 1, n)
		require.Equal(t, want, string(in.Data(0)))
		require.Equal(t, saddr, in.Addr(0))
	}
}

func TestNewSenderConfig(t *testing.T) {
	_, err := NewSender(0, 8)
	require.ErrorIs(t, err, ErrConfig)
	_, err = NewSender(8, 0)
	require.ErrorIs(t, err, ErrConfig)
}
