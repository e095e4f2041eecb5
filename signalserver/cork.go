package signalserver

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
)

// corkConn is a WebSocket's network connection that can hold writes: while
// corked, the frames coder/websocket flushes are appended to a buffer, and
// uncork writes them all with one system call. The writer corks around a
// batch of queued frames, so that a connection with several frames waiting
// costs one write, not one per frame. Control frames from other goroutines
// (pings, closes) written meanwhile join the batch, whole: coder/websocket
// writes every frame under its own lock. Close does not wait for a write in
// progress: it unblocks it.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    *[]byte // from corkBufs while corked
}

// corkBufs recycles batch buffers, so that an idle connection holds none.
var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// maxCorked is how many bytes a batch holds before it is written early.
const maxCorked = 64 << 10

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.Conn.Write(p)
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= maxCorked {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// cork starts a batch (a nil corkConn does nothing).
func (c *corkConn) cork() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.corked = true
	if c.buf == nil {
		c.buf = corkBufs.Get().(*[]byte)
	}
	c.mu.Unlock()
}

// uncork writes the batch and ends it.
func (c *corkConn) uncork() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.flushLocked()
	c.corked = false
	if c.buf != nil {
		if cap(*c.buf) <= 4*maxCorked {
			*c.buf = (*c.buf)[:0]
			corkBufs.Put(c.buf)
		}
		c.buf = nil
	}
	return err
}

func (c *corkConn) flushLocked() error {
	if c.buf == nil || len(*c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(*c.buf)
	*c.buf = (*c.buf)[:0]
	return err
}

// corkWriter hands websocket.Accept a hijacked connection wrapped in a
// corkConn.
type corkWriter struct {
	http.ResponseWriter
	cc *corkConn
}

func (w *corkWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("http.ResponseWriter does not implement http.Hijacker")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Flush(); err != nil {
		_ = nc.Close()
		return nil, nil, err
	}
	w.cc = &corkConn{Conn: nc}
	brw.Writer.Reset(w.cc)
	return w.cc, brw, nil
}
