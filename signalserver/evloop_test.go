//go:build linux

package signalserver

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// rawClient speaks RFC 6455 on a bare socket, so that a test decides each
// byte and holds no goroutine of its own.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// dialRaw upgrades a socket to hs's /ws; early is sent in the same write
// as the request (frames right behind the handshake).
func dialRaw(t *testing.T, hs *httptest.Server, early []byte) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(hs.URL, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	req := "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	_, err = nc.Write(append([]byte(req), early...))
	require.NoError(t, err)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_ = resp.Body.Close() // a 101 has no body; the frames follow on br
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", resp.Header.Get("Sec-WebSocket-Accept"))
	return &rawClient{t: t, nc: nc, br: br}
}

// clientFrame is a masked client frame.
func clientFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	key := [4]byte{1, 2, 3, 4}
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, payload...)
	unmask(b[start:], key)
	return b
}

func (c *rawClient) send(b []byte) {
	_, err := c.nc.Write(b)
	require.NoError(c.t, err)
}

// next reads one server frame.
func (c *rawClient) next() (op byte, payload []byte) {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [2]byte
	_, err := io.ReadFull(c.br, h[:])
	require.NoError(c.t, err)
	require.Zero(c.t, h[1]&0x80, "server frames are unmasked")
	n := int(h[1] & 0x7F)
	switch n {
	case 126:
		var x [2]byte
		_, err = io.ReadFull(c.br, x[:])
		n = int(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		_, err = io.ReadFull(c.br, x[:])
		n = int(binary.BigEndian.Uint64(x[:])) //nolint:gosec // test frames are small
	}
	require.NoError(c.t, err)
	payload = make([]byte, n)
	_, err = io.ReadFull(c.br, payload)
	require.NoError(c.t, err)
	return h[0] & 0x0F, payload
}

// nextText skips control frames (pings) up to the next text frame.
func (c *rawClient) nextText() string {
	for {
		op, p := c.next()
		if op == opText {
			return string(p)
		}
		require.Equal(c.t, byte(opPing), op, "unexpected frame %#x %q", op, p)
	}
}

func startLoopServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s, err := NewServer(cfg)
	require.NoError(t, err)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		require.NoError(t, s.Close())
	})
	return s, hs
}

// The loop serves these connections: idle ones hold no goroutine, and
// fragmented messages, pings, frames sent with the handshake and binary
// frames behave as with coder/websocket.
func TestEventLoopFraming(t *testing.T) {
	s, hs := startLoopServer(t, Config{})
	before := runtime.NumGoroutine()
	var idle []*rawClient
	for i := range 50 {
		c := dialRaw(t, hs, clientFrame(true, opText, []byte(fmt.Sprintf(`{"type":"join","room":"idle%d"}`, i))))
		require.Contains(t, c.nextText(), `"joined"`)
		idle = append(idle, c)
	}
	require.Eventually(t, func() bool { return runtime.NumGoroutine() < before+10 }, 5*time.Second, 20*time.Millisecond,
		"50 idle connections hold no goroutine each (%d → %d)", before, runtime.NumGoroutine())
	for _, c := range idle {
		require.NotNil(t, s.connOf(c.nc.LocalAddr().String()).ev, "an event loop serves %s", c.nc.LocalAddr())
	}

	a := dialRaw(t, hs, nil)
	a.send(clientFrame(false, opText, []byte(`{"type":"jo`)))
	a.send(clientFrame(true, opPing, []byte("hi"))) // a control frame inside a fragmented message
	op, p := a.next()
	require.Equal(t, byte(opPong), op)
	require.Equal(t, "hi", string(p))
	a.send(clientFrame(true, opContinuation, []byte(`in","room":"r","peer":"a"}`)))
	require.Contains(t, a.nextText(), `"joined"`)

	b := dialRaw(t, hs, clientFrame(true, opText, []byte(`{"type":"join","room":"r","peer":"b"}`)))
	require.Contains(t, b.nextText(), `"joined"`)
	require.Contains(t, a.nextText(), `"peer-joined"`)
	big := strings.Repeat("x", 70000) // a 64-bit length
	a.send(clientFrame(true, opText, []byte(`{"type":"offer","sdp":"`+big[:60000]+`"}`)))
	require.Contains(t, b.nextText(), big[:60000])
	a.send(clientFrame(true, opBinary, []byte{1, 2, 3}))
	require.Contains(t, a.nextText(), `"bad_message"`)

	// A close frame is echoed; the peer leaves at once.
	b.send(clientFrame(true, opClose, closePayload(websocket.StatusNormalClosure, "bye")))
	op, p = b.next()
	require.Equal(t, byte(opClose), op)
	require.Equal(t, []byte{0x03, 0xE8}, p)
	require.Contains(t, a.nextText(), `"peer-left"`)
}

// A frame that breaks RFC 6455 closes the connection with 1002.
func TestEventLoopProtocolError(t *testing.T) {
	_, hs := startLoopServer(t, Config{})
	c := dialRaw(t, hs, nil)
	c.send([]byte{0x81, 0x02, 'h', 'i'}) // unmasked
	op, p := c.next()
	require.Equal(t, byte(opClose), op)
	code, err := parseClose(p)
	require.NoError(t, err)
	require.Equal(t, websocket.StatusProtocolError, code)
	require.Contains(t, string(p), "unmasked")
}

// The loop pings: a client that answers stays past IdleTimeout, one that
// does not is closed with the idle reason.
func TestEventLoopHeartbeat(t *testing.T) {
	_, hs := startLoopServer(t, Config{HeartbeatInterval: 100 * time.Millisecond, IdleTimeout: 400 * time.Millisecond})
	live := dialRaw(t, hs, nil)
	dead := dialRaw(t, hs, nil)
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		op, p := live.next()
		require.Equal(t, byte(opPing), op)
		live.send(clientFrame(true, opPong, p))
	}
	for {
		op, p := dead.next()
		if op == opClose {
			code, _ := parseClose(p)
			require.Equal(t, websocket.StatusPolicyViolation, code)
			require.Contains(t, string(p), "idle timeout")
			break
		}
		require.Equal(t, byte(opPing), op)
	}
	live.send(clientFrame(true, opText, []byte(`{"type":"ping"}`)))
	require.Contains(t, live.nextText(), `"pong"`)
}

// connOf finds the connection whose client address is remote.
func (s *Server) connOf(remote string) *wsConn {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for c := range s.conns {
		if c.remote == remote {
			return c
		}
	}
	return nil
}

// unmask matches the byte-by-byte definition of RFC 6455 for every length
// and alignment of the word loop.
func TestUnmask(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for n := range 40 {
		p := make([]byte, n)
		want := make([]byte, n)
		for i := range p {
			p[i] = byte(i * 7)
			want[i] = p[i] ^ key[i%4]
		}
		unmask(p, key)
		require.Equal(t, want, p, "length %d", n)
	}
}
