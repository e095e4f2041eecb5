package signalserver

import (
	"sync"
	"time"

	"github.com/coder/websocket"
)

// An event loop (evloop_linux.go) serves the WebSockets accepted on a real
// TCP listener: it waits on epoll for all of them from one goroutine, reads
// and handles their frames, and writes what was queued for each with one
// system call per wake-up. An idle connection then holds no goroutine, no
// stack and no buffer: only its wsConn and the kernel socket. Other
// listeners (vnet, TLS, other systems) keep coder/websocket with a reader
// goroutine per connection.

// evSock is a wsConn's socket while an event loop serves it.
type evSock struct {
	loop *evLoop
	fd   int

	// Owned by the loop goroutine.
	registered bool
	in         []byte // unparsed input; nil while none (idle)
	msg        []byte // a fragmented message being assembled
	msgOp      byte
	skip       int64  // bytes of an oversized frame still to discard
	out        []byte // bytes not yet written (the socket was full); nil while none
	closeSent  bool
	peerStatus websocket.StatusCode // the status of the client's close frame
	ended      bool
	closeTimer *time.Timer

	// Guarded by the wsConn's wmu.
	scheduled bool
	ctl       []byte // framed control frames (pongs, pings) to send
	closeReq  bool   // send a close frame with closeCode/closeMsg
	closeNow  bool   // close the socket without a handshake
	closeCode websocket.StatusCode
	closeMsg  string
}

// writeBufs recycles the loop's write batches, so that an idle connection
// holds none.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// inFrame is a frame handed from the loop to a connection's handler
// goroutine (hubs whose calls block, such as Redis): end marks the end of
// the connection, with its close status.
type inFrame struct {
	typ    websocket.MessageType
	data   []byte
	end    bool
	status websocket.StatusCode
}

// evClose asks the loop to close c: with a close frame (code, reason), or
// at once when reason is "" (as coder/websocket's CloseNow).
func (c *wsConn) evClose(code websocket.StatusCode, reason string) {
	c.wmu.Lock()
	if reason == "" {
		c.ev.closeNow = true
	} else if !c.ev.closeReq {
		c.ev.closeReq = true
		c.ev.closeCode, c.ev.closeMsg = code, reason
	}
	sched := c.evMarkLocked()
	c.wmu.Unlock()
	if sched {
		c.ev.loop.schedule(c)
	}
}

// evPing queues a ping; the pong (or any frame) touches the connection.
func (c *wsConn) evPing() {
	c.wmu.Lock()
	c.ev.ctl = appendFrame(c.ev.ctl, opPing, nil)
	sched := c.evMarkLocked()
	c.wmu.Unlock()
	if sched {
		c.ev.loop.schedule(c)
	}
}

// evMarkLocked marks c for the loop's next flush and reports whether the
// caller must schedule it. c.wmu must be held.
func (c *wsConn) evMarkLocked() bool {
	if c.ev.scheduled {
		return false
	}
	c.ev.scheduled = true
	return true
}

// consume parses the client frames in b and handles each complete one. It
// returns the bytes of an incomplete frame, to keep for the next read, and
// whether the connection ended (a close frame or a protocol error).
func (c *wsConn) consume(b []byte) (rest []byte, ended bool) {
	ev := c.ev
	max := int64(c.s.cfg.MaxMessageSize)
	for len(b) > 0 {
		if ev.skip > 0 {
			k := min(ev.skip, int64(len(b)))
			b = b[k:]
			ev.skip -= k
			continue
		}
		h, ok, err := parseHeader(b)
		if err != nil {
			c.protocolError(err.Error())
			return nil, false
		}
		if !ok {
			return b, false
		}
		if h.op < opClose && int64(len(ev.msg))+h.length > max {
			// Answer too_large as soon as the header says so, and discard
			// the payload rather than buffer it.
			b = b[h.size:]
			ev.skip = h.length
			ev.msg = nil
			if !c.closing.Load() {
				c.tooLarge()
			}
			continue
		}
		total := int64(h.size) + h.length
		if int64(len(b)) < total {
			return b, false
		}
		p := b[h.size:total]
		b = b[total:]
		unmask(p, h.mask)
		c.touch()
		switch h.op {
		case opPing:
			c.wmu.Lock()
			ev.ctl = appendFrame(ev.ctl, opPong, p)
			sched := c.evMarkLocked()
			c.wmu.Unlock()
			if sched {
				ev.loop.schedule(c)
			}
		case opPong:
		case opClose:
			code, err := parseClose(p)
			if err != nil {
				c.protocolError(err.Error())
				return nil, false
			}
			c.evCloseReceived(code)
			return nil, true
		case opContinuation:
			if ev.msgOp == 0 {
				c.protocolError("continuation frame without a message to continue")
				return nil, false
			}
			ev.msg = append(ev.msg, p...)
			if h.fin {
				c.dispatch(ev.msgOp, ev.msg)
				ev.msg, ev.msgOp = nil, 0
			}
		default: // text, binary
			if ev.msgOp != 0 {
				c.protocolError("new data frame inside a fragmented message")
				return nil, false
			}
			if !h.fin {
				ev.msgOp = h.op
				ev.msg = append([]byte(nil), p...)
				continue
			}
			c.dispatch(h.op, p)
		}
	}
	return nil, false
}

// dispatch handles one message (p is valid only during the call): inline
// on the loop when the hub never blocks, otherwise on the connection's
// handler goroutine, so that a Redis round trip stalls no other connection.
func (c *wsConn) dispatch(op byte, p []byte) {
	if c.closing.Load() {
		return // too_large or a close is being sent: nothing more is handled
	}
	typ := websocket.MessageText
	if op == opBinary {
		typ = websocket.MessageBinary
	}
	if c.s.inlineHub {
		c.frame(typ, p)
		return
	}
	c.handOff(inFrame{typ: typ, data: append([]byte(nil), p...)})
}

// handOff queues f for the connection's handler goroutine, which exists
// only while frames wait.
func (c *wsConn) handOff(f inFrame) {
	c.wmu.Lock()
	c.inq = append(c.inq, f)
	start := !c.handling
	c.handling = true
	c.wmu.Unlock()
	if start {
		c.s.wg.Add(1)
		go c.handleQueued()
	}
}

func (c *wsConn) handleQueued() {
	defer c.s.wg.Done()
	for {
		c.wmu.Lock()
		q := c.inq
		c.inq = nil
		if len(q) == 0 {
			c.handling = false
			c.wmu.Unlock()
			return
		}
		c.wmu.Unlock()
		for _, f := range q {
			if f.end {
				c.finish(f.status)
				continue
			}
			if !c.closing.Load() {
				c.frame(f.typ, f.data)
			}
		}
	}
}

// protocolError closes the connection for a frame that breaks RFC 6455.
func (c *wsConn) protocolError(why string) {
	c.s.metrics.disconnects.WithLabelValues("protocol_error").Inc()
	c.closing.Store(true)
	c.ev.skip = 0
	c.fail(websocket.StatusProtocolError, why)
}

// evCloseReceived answers a client's close frame: the echo, then the
// socket closes (the loop ends the connection with the client's status).
func (c *wsConn) evCloseReceived(code websocket.StatusCode) {
	c.ev.peerStatus = code
	if c.ev.closeSent {
		return
	}
	c.ev.closeSent = true
	c.ev.out = appendFrame(c.ev.out, opClose, closePayload(code, "")) // the echo (1005: empty)
}

// evEnded runs on the loop when c's socket is closed: what serve does
// after a reader goroutine's loop ends.
func (c *wsConn) evEnded(status websocket.StatusCode) {
	if c.s.inlineHub {
		c.finish(status)
		return
	}
	c.handOff(inFrame{end: true, status: status})
}

// finish cleans up after the connection's last frame was handled.
func (c *wsConn) finish(status websocket.StatusCode) {
	s := c.s
	c.fail(closeNormal, "")
	c.wmu.Lock()
	c.finished = true
	c.queue = nil
	c.wmu.Unlock()
	s.disconnected(c, status)
	s.forget(c)
	s.wg.Done()
}
