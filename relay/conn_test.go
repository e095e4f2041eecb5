package relay

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/stretchr/testify/require"
)

// flakyListener fails Accept with errs in turn, then hands out conns.
type flakyListener struct {
	mu    sync.Mutex
	errs  []error
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *flakyListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *flakyListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3478} }

// syncBuffer is a log sink read while the relay writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Issue 12: EMFILE from accept must not end the TCP/TLS listener for good.
func TestAcceptSurvivesTemporaryErrors(t *testing.T) {
	var logs syncBuffer
	s, err := New(Config{
		Listen: []Listener{{Network: NetworkUDP, Addr: "127.0.0.1:0"}},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	enfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.ENFILE)}
	fl := &flakyListener{errs: []error{emfile, emfile, enfile}, conns: make(chan net.Conn, 1), done: make(chan struct{})}
	ln := newTCPListener(fl, s, NetworkTCP)
	client, server := net.Pipe()
	defer client.Close()
	fl.conns <- server

	c, err := ln.Accept()
	require.NoError(t, err, "a temporary accept error must be retried")
	require.NotNil(t, c)
	require.EqualValues(t, 3, s.Stats().AcceptErrors)
	require.Contains(t, logs.String(), "level=WARN")
	require.Contains(t, logs.String(), "too many open files")
	require.NoError(t, c.Close())

	// Close ends a listener that is waiting out a back-off.
	fl.errs = []error{emfile}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := ln.Accept(); done <- err }()
	require.Eventually(t, func() bool { return s.Stats().AcceptErrors == 4 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, ln.Close())
	select {
	case err := <-done:
		require.True(t, errors.Is(err, net.ErrClosed), "got %v", err)
	case <-ctx.Done():
		t.Fatal("Accept did not return after Close")
	}
	require.False(t, strings.Contains(logs.String(), "level=ERROR"))
}

// A frame handed to inspect must not share capacity with the next one:
// pion's MessageIntegrity.Check appends its HMAC after the message.
func TestFramesDoNotShareCapacity(t *testing.T) {
	s, err := New(Config{Listen: []Listener{{Network: NetworkUDP, Addr: "127.0.0.1:0"}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	var stream bytes.Buffer
	var want [][]byte
	for range 3 {
		m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodCreatePermission, stun.ClassRequest),
			stun.NewUsername("u"), stun.NewRealm(DefaultRealm), stun.NewNonce("n"),
			stun.NewLongTermIntegrity("u", DefaultRealm, "p"), stun.Fingerprint)
		require.NoError(t, err)
		stream.Write(m.Raw)
		want = append(want, m.Raw)
	}
	fc := newFramedConn(fakeConn{}, &stream, newTCPListener(nil, s, NetworkTCP))
	for i, w := range want {
		f, err := fc.readFrame()
		require.NoError(t, err)
		require.Equal(t, w, f, "frame %d", i)
		_ = append(f, bytes.Repeat([]byte{0xee}, 20)...)
	}
}
