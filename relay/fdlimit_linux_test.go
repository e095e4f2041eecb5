package relay_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

const fdChildEnv = "NATKIT_RELAY_FDLIMIT_CHILD"

// Issue 12: with the descriptor limit at 256, connections that never send
// a whole frame used up the descriptors; once they closed, UDP recovered
// but TCP never did. The relay runs in a child process so that the low
// limit touches nothing else.
func TestTCPListenerSurvivesFdExhaustion(t *testing.T) {
	if os.Getenv(fdChildEnv) != "1" {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestTCPListenerSurvivesFdExhaustion$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), fdChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "child:\n%s", out)
		require.Contains(t, string(out), "--- PASS: TestTCPListenerSurvivesFdExhaustion")
		return
	}
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	lim.Cur = 256
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))

	srv := startLoopback(t, relay.Config{Users: map[string]string{"u": "p"}})
	tcpAddr := addrOf(t, srv, "tcp")

	// 300 connections that send half a STUN header, as many as the limit
	// lets us open.
	var held []*os.File
	var conns []net.Conn
	release := func() {
		for _, c := range conns {
			c.Close()
		}
		for _, f := range held {
			f.Close()
		}
		conns, held = nil, nil
	}
	defer release()
	for range 300 {
		c, err := net.DialTimeout("tcp4", tcpAddr, time.Second)
		if err != nil {
			break
		}
		conns = append(conns, c)
		_, _ = c.Write([]byte{0x00, 0x03, 0x00, 0x08, 0x21, 0x12})
	}
	// Fill the table, free one descriptor and dial into it: the client's
	// socket takes it, so the relay's accept gets EMFILE.
	for range 3 {
		for {
			f, err := os.Open(os.DevNull)
			if err != nil {
				break
			}
			held = append(held, f)
		}
		if len(held) > 0 {
			held[len(held)-1].Close()
			held = held[:len(held)-1]
		}
		if c, err := net.DialTimeout("tcp4", tcpAddr, time.Second); err == nil {
			conns = append(conns, c)
		}
	}
	require.Eventually(t, func() bool { return srv.Stats().AcceptErrors > 0 }, 10*time.Second, 10*time.Millisecond,
		"the relay never hit the descriptor limit")
	release()

	// TCP serves again: an Allocate over a fresh connection succeeds.
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := tcpAllocate(t, tcpAddr)
		if err == nil {
			require.Zero(t, errorCode(resp), "response %s", resp)
			break
		}
		require.True(t, time.Now().Before(deadline), "TCP listener did not recover: %v", err)
	}
	// So does UDP.
	require.Zero(t, errorCode(newRawClient(t, addrOf(t, srv, "udp"), "u", "p").allocate()))
}

// tcpAllocate fetches a nonce and allocates over a new TCP connection; an
// error means no answer in time.
func tcpAllocate(t *testing.T, addr string) (*stun.Message, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp4", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	c := &rawClient{t: t, tcp: conn, server: conn.RemoteAddr(), user: "u", pass: "p"}
	first, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), requestedTransportUDP{})
	require.NoError(t, err)
	c.send(first.Raw)
	buf := make([]byte, 2048)
	n, err := c.read(buf, 2*time.Second)
	if err != nil {
		return nil, err
	}
	m := &stun.Message{Raw: buf[:n]}
	if err := m.Decode(); err != nil {
		return nil, err
	}
	var nonce stun.Nonce
	var realm stun.Realm
	if nonce.GetFrom(m) != nil || realm.GetFrom(m) != nil {
		return nil, errors.New("401 without NONCE/REALM")
	}
	c.nonce, c.realm = nonce, realm.String()
	req := c.signed(stun.MethodAllocate, requestedTransportUDP{})
	return c.roundTrip(req.Raw, req.TransactionID), nil
}
