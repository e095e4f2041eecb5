//go:build linux

package udpbatch

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// udpSocket opens a non-blocking IPv4 UDP socket on 127.0.0.1 with a free
// port, closed when the test ends.
func udpSocket(t *testing.T) (int, netip.AddrPort) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(fd) })
	require.NoError(t, unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	sa, err := unix.Getsockname(fd)
	require.NoError(t, err)
	sa4, ok := sa.(*unix.SockaddrInet4)
	require.True(t, ok)
	return fd, netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(sa4.Port)) //nolint:gosec // a port
}

func newBatch(t *testing.T, cfg Config) *Batch {
	t.Helper()
	b, err := New(cfg)
	require.NoError(t, err)
	return b
}

// sendAll queues msgs on b for dst and sends them, asserting that the
// kernel takes them all.
func sendAll(t *testing.T, b *Batch, fd int, dst netip.AddrPort, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		require.False(t, b.Full())
		b.Push(copy(b.Next(), m), dst)
	}
	for b.Queued() > 0 {
		_, errno := b.Send(fd)
		require.Zero(t, errno, "sendmmsg: %v", errno)
	}
	b.Reset()
}

func TestRecvPartialBatchWithSources(t *testing.T) {
	for _, raw := range []bool{false, true} {
		t.Run(fmt.Sprintf("raw=%v", raw), func(t *testing.T) {
			rfd, raddr := udpSocket(t)
			sfd, saddr := udpSocket(t)
			out := newBatch(t, Config{Slots: 8, Size: 64, Addrs: true, Raw: raw})
			sendAll(t, out, sfd, raddr, "a", "bb", "ccc")

			in := newBatch(t, Config{Slots: 8, Size: 64, Addrs: true, Raw: raw})
			n, errno := in.Recv(rfd)
			require.Zero(t, errno)
			require.Equal(t, 3, n, "a partial batch: three datagrams in eight slots")
			for i, want := range []string{"a", "bb", "ccc"} {
				require.Equal(t, want, string(in.Data(i)))
				require.Equal(t, saddr, in.Addr(i))
				require.False(t, in.Truncated(i))
			}
			n, errno = in.Recv(rfd)
			require.Equal(t, unix.EAGAIN, errno, "an empty queue is EAGAIN, not a block")
			require.Zero(t, n)
		})
	}
}

func TestRecvMoreThanSlots(t *testing.T) {
	rfd, raddr := udpSocket(t)
	sfd, _ := udpSocket(t)
	out := newBatch(t, Config{Slots: 16, Size: 16, Addrs: true})
	var msgs []string
	for i := range 10 {
		msgs = append(msgs, fmt.Sprint(i))
	}
	sendAll(t, out, sfd, raddr, msgs...)

	in := newBatch(t, Config{Slots: 4, Size: 16, Addrs: true})
	var got []string
	var sizes []int
	for {
		n, errno := in.Recv(rfd)
		if errno == unix.EAGAIN {
			break
		}
		require.Zero(t, errno)
		sizes = append(sizes, n)
		for i := range n {
			got = append(got, string(in.Data(i)))
		}
	}
	require.Equal(t, []int{4, 4, 2}, sizes)
	require.Equal(t, msgs, got)
}

func TestRecvTruncated(t *testing.T) {
	rfd, raddr := udpSocket(t)
	sfd, _ := udpSocket(t)
	out := newBatch(t, Config{Slots: 2, Size: 64, Addrs: true})
	sendAll(t, out, sfd, raddr, "0123456789abcdef", "01234567")

	in := newBatch(t, Config{Slots: 2, Size: 8, Addrs: true})
	n, errno := in.Recv(rfd)
	require.Zero(t, errno)
	require.Equal(t, 2, n)
	require.Equal(t, "01234567", string(in.Data(0)), "cut to Size")
	require.True(t, in.Truncated(0))
	require.Equal(t, "01234567", string(in.Data(1)))
	require.False(t, in.Truncated(1), "exactly Size bytes is not truncated")
}

func TestRecvControlOnConnectedSocket(t *testing.T) {
	rfd, raddr := udpSocket(t)
	sfd, saddr := udpSocket(t)
	require.NoError(t, unix.SetsockoptInt(rfd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1))
	require.NoError(t, unix.Connect(rfd, &unix.SockaddrInet4{Addr: saddr.Addr().As4(), Port: int(saddr.Port())}))
	require.NoError(t, unix.Connect(sfd, &unix.SockaddrInet4{Addr: raddr.Addr().As4(), Port: int(raddr.Port())}))
	// A connected sender needs no addresses either.
	out := newBatch(t, Config{Slots: 2, Size: 16})
	sendAll(t, out, sfd, netip.AddrPort{}, "x", "y")

	in := newBatch(t, Config{Slots: 1, Size: 16, Control: 64})
	n, errno := in.Recv(rfd)
	require.Zero(t, errno)
	require.Equal(t, 1, n)
	require.Equal(t, "x", string(in.Data(0)))
	require.False(t, in.Addr(0).IsValid(), "no address without Config.Addrs")
	require.False(t, in.ControlTruncated(0))
	cmsgs, err := unix.ParseSocketControlMessage(in.Control(0))
	require.NoError(t, err)
	require.Len(t, cmsgs, 1)
	require.Equal(t, int32(unix.SCM_TIMESTAMPNS), cmsgs[0].Header.Type)

	small := newBatch(t, Config{Slots: 1, Size: 16, Control: 8})
	n, errno = small.Recv(rfd)
	require.Zero(t, errno)
	require.Equal(t, 1, n)
	require.Equal(t, "y", string(small.Data(0)))
	require.True(t, small.ControlTruncated(0), "8 bytes cannot hold a timestamp")
}

func TestSendPartial(t *testing.T) {
	rfd, raddr := udpSocket(t)
	sfd, _ := udpSocket(t)
	// 70000 bytes is more than a UDP datagram can carry: the kernel takes
	// the first datagram, then refuses the second.
	out := newBatch(t, Config{Slots: 3, Size: 70000, Addrs: true})
	out.Push(copy(out.Next(), "first"), raddr)
	out.Push(len(out.Next()), raddr)
	out.Push(copy(out.Next(), "third"), raddr)
	require.True(t, out.Full())
	require.Equal(t, 3, out.Queued())

	n, errno := out.Send(sfd)
	require.Zero(t, errno, "an error after the first datagram is not the call's error")
	require.Equal(t, 1, n)
	require.Equal(t, 2, out.Queued())
	n, errno = out.Send(sfd)
	require.Equal(t, unix.EMSGSIZE, errno)
	require.Zero(t, n)
	require.Equal(t, 2, out.Queued(), "a refused datagram stays queued")
	out.Reset()
	require.Zero(t, out.Queued())
	require.False(t, out.Full())
	n, errno = out.Send(sfd)
	require.Zero(t, n)
	require.Zero(t, errno, "nothing queued: no system call")

	in := newBatch(t, Config{Slots: 4, Size: 64})
	n, errno = in.Recv(rfd)
	require.Zero(t, errno)
	require.Equal(t, 1, n)
	require.Equal(t, "first", string(in.Data(0)))
}

func TestSendEAGAIN(t *testing.T) {
	// Loopback UDP drops at a full receiver instead of pushing back, so
	// fill a connected datagram socket pair nobody reads: the kernel then
	// refuses with EAGAIN instead of blocking. Bounded at 10000 datagrams.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(fds[0]); _ = unix.Close(fds[1]) })
	out := newBatch(t, Config{Slots: 16, Size: 512})
	sent := 0
	var errno unix.Errno
	for sent < 10000 {
		if out.Queued() == 0 {
			out.Reset()
			for !out.Full() {
				out.Push(len(out.Next()), netip.AddrPort{})
			}
		}
		var n int
		if n, errno = out.Send(fds[0]); errno != 0 {
			break
		}
		sent += n
	}
	require.Equal(t, unix.EAGAIN, errno, "after %d datagrams", sent)
	require.Positive(t, sent)
	require.Positive(t, out.Queued(), "what the kernel refused stays queued")
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg   Config
		field string
	}{
		{Config{Slots: 0, Size: 1}, "Slots"},
		{Config{Slots: 1, Size: 0}, "Size"},
		{Config{Slots: 1, Size: 1, Control: -1}, "Control"},
	} {
		_, err := New(tt.cfg)
		require.ErrorIs(t, err, ErrConfig)
		var ce *ConfigError
		require.True(t, errors.As(err, &ce))
		require.Equal(t, tt.field, ce.Field)
	}
}

func TestAddrPortRoundTrip(t *testing.T) {
	ap := netip.MustParseAddrPort("192.0.2.7:3478")
	var sa unix.RawSockaddrInet4
	PutAddrPort(&sa, ap)
	require.Equal(t, uint16(unix.AF_INET), sa.Family)
	require.Equal(t, ap, AddrPort(&sa))
}
