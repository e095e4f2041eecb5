package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// rawConn is the load generator's own WebSocket client: a normal HTTP
// upgrade, then RFC 6455 frames written and parsed directly on the
// net.Conn, so that the generator spends its CPU on the sockets, not on
// per-frame machinery. Client frames carry the all-zero masking key
// (valid framing: the mask bit is set and the payload XOR the key is the
// payload), so that frames can be encoded once and written many times.
type rawConn struct {
	nc  net.Conn
	buf []byte // read buffer
	r   int    // start of unparsed bytes in buf
	w   int    // end of read bytes in buf
}

// WebSocket opcodes.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

var errClosed = errors.New("the server closed the WebSocket")

// dialRaw connects and upgrades to WebSocket at rawURL (ws://host/path).
func dialRaw(ctx context.Context, rawURL string) (*rawConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("-url %q: %w", rawURL, err)
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("-url %q: the raw client speaks ws:// only", rawURL)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	path := u.RequestURI()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		_ = nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	_ = resp.Body.Close() // a 101 response has no body
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_ = nc.Close()
		return nil, fmt.Errorf("upgrade: status %s", resp.Status)
	}
	c := &rawConn{nc: nc, buf: make([]byte, 16<<10)}
	// Bytes after the response already belong to the WebSocket stream.
	n := br.Buffered()
	if n > 0 {
		b, _ := br.Peek(n)
		c.w = copy(c.buf, b)
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// frame encodes one masked (zero key) client frame with opcode op.
func frame(op byte, payload []byte) []byte {
	var b []byte
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|op, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|op, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|op, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, 0, 0, 0, 0) // masking key
	return append(b, payload...)
}

func (c *rawConn) write(b []byte) error {
	_, err := c.nc.Write(b)
	return err
}

// closeFrame is a client close frame with status 1000 (normal closure):
// the server then ends the session at once instead of holding it for a
// resume.
var closeFrame = frame(opClose, []byte{0x03, 0xE8})

func (c *rawConn) close() {
	_ = c.nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = c.nc.Write(closeFrame)
	_ = c.nc.Close()
}

// next returns the payload of the next complete server frame in the
// buffer (valid until the next fill), or ok=false if more bytes are
// needed. Server frames are unmasked and, from natkit signal,
// unfragmented.
func (c *rawConn) next() (op byte, payload []byte, ok bool, err error) {
	b := c.buf[c.r:c.w]
	if len(b) < 2 {
		return 0, nil, false, nil
	}
	if b[0]&0x80 == 0 {
		return 0, nil, false, errors.New("fragmented server frame: the benchmark client does not reassemble")
	}
	op = b[0] & 0x0F
	h := 2
	n := int(b[1] & 0x7F)
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, nil, false, nil
		}
		n = int(binary.BigEndian.Uint16(b[2:]))
		h = 4
	case 127:
		if len(b) < 10 {
			return 0, nil, false, nil
		}
		l := binary.BigEndian.Uint64(b[2:])
		if l > uint64(len(c.buf)) {
			return 0, nil, false, fmt.Errorf("server frame of %d bytes exceeds the read buffer", l)
		}
		n = int(l)
		h = 10
	}
	if b[1]&0x80 != 0 {
		return 0, nil, false, errors.New("masked server frame")
	}
	if h+n > len(c.buf) {
		return 0, nil, false, fmt.Errorf("server frame of %d bytes exceeds the read buffer", n)
	}
	if len(b) < h+n {
		return 0, nil, false, nil
	}
	c.r += h + n
	return op, b[h : h+n], true, nil
}

// fill reads more bytes, compacting the buffer first.
func (c *rawConn) fill() error {
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	n, err := c.nc.Read(c.buf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	return err
}

// eachFrame reads until the connection ends, calling text for every text
// frame of one read, then batch (if not nil) once per read with the
// number of text frames handled. It answers pings and returns errClosed
// on a close frame.
func (c *rawConn) eachFrame(text func(p []byte), batch func(n int) error) error {
	for {
		if err := c.fill(); err != nil {
			return err
		}
		k := 0
		for {
			op, p, ok, err := c.next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			switch op {
			case opText:
				text(p)
				k++
			case opPing:
				if err := c.write(frame(opPong, p)); err != nil {
					return err
				}
			case opClose:
				return errClosed
			}
		}
		if k > 0 && batch != nil {
			if err := batch(k); err != nil {
				return err
			}
		}
	}
}

// readText returns the next text frame's payload (a copy), for the
// handshake phase.
func (c *rawConn) readText() ([]byte, error) {
	for {
		op, p, ok, err := c.next()
		if err != nil {
			return nil, err
		}
		if ok {
			switch op {
			case opText:
				return bytes.Clone(p), nil
			case opPing:
				if err := c.write(frame(opPong, p)); err != nil {
					return nil, err
				}
			case opClose:
				return nil, errClosed
			}
			continue
		}
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
}
