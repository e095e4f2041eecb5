package signalserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/natkit/natkit/signalserver/protocol"
)

// WebSocket close codes the server uses.
const (
	closeNormal    = websocket.StatusNormalClosure
	closeGoingAway = websocket.StatusGoingAway
	closePolicy    = websocket.StatusPolicyViolation
	closeTooBig    = websocket.StatusMessageTooBig
)

// closeFrame is the sentinel queued by closeAfter: the writer closes the
// connection with closeCode and closeReason after the frames before it.
var closeFrame = []byte{}

// wsConn is one client connection. Served by an event loop (ev), it holds
// no goroutine; otherwise (ws) it has a reader goroutine, and a writer
// goroutine while frames wait in its bounded queue.
type wsConn struct {
	s      *Server
	ws     *websocket.Conn
	cc     *corkConn // ws's network connection
	ev     *evSock   // set instead of ws when an event loop serves it
	remote string

	done      chan struct{}
	closeOnce sync.Once
	lastSeen  atomic.Int64
	// writeStart is when the write in progress began (0: none); the
	// heartbeat enforces WriteTimeout with it, so that writes need no
	// per-frame timer.
	writeStart atomic.Int64
	// wmu guards queue (frames to send, at most SendQueue; nil while
	// empty, so an idle connection holds no buffer), writing (a writer
	// goroutine runs) and finished (the reader ended: no writer may start).
	wmu      sync.Mutex
	queue    [][]byte
	writing  bool
	finished bool
	// inq holds frames for the handler goroutine (event loop with a hub
	// that blocks); handling: that goroutine runs. Both under wmu.
	inq      []inFrame
	handling bool
	// closeCode and closeReason are set before closeFrame is queued.
	closeCode   websocket.StatusCode
	closeReason string
	// closing: a close is queued behind the frames to flush first.
	closing atomic.Bool

	// Owned by the reader goroutine.
	bucket       bucket
	limitedSince time.Time
	limitedCount int

	// sess is guarded by s.mu.
	sess *session
}

func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r) {
		s.metrics.disconnects.WithLabelValues("host").Inc()
		s.refuseHost(w, r)
		return
	}
	if !s.originAllowed(r) {
		s.metrics.disconnects.WithLabelValues("origin").Inc()
		http.Error(w, fmt.Sprintf("origin %q is not allowed (natkit signal --allowed-origin)", r.Header.Get("Origin")), http.StatusForbidden)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	if len(s.conns) >= s.cfg.MaxConnections {
		s.mu.Unlock()
		s.metrics.disconnects.WithLabelValues("max_connections").Inc()
		w.Header().Set("Retry-After", "5")
		http.Error(w, fmt.Sprintf("server_full: the limit of %d connections is reached", s.cfg.MaxConnections), http.StatusServiceUnavailable)
		return
	}
	c := &wsConn{s: s, remote: r.RemoteAddr, done: make(chan struct{})}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.metrics.connections.Inc()
	if s.evEligible(r) {
		hw, done := s.acceptEv(c, w, r)
		if done {
			return
		}
		w = hw // not a *net.TCPConn after all: coder/websocket takes it
	}
	// Wrapped only when it can hijack, so that websocket.Accept still
	// refuses a ResponseWriter that cannot before answering 101.
	cw := &corkWriter{ResponseWriter: w}
	aw := w
	if _, ok := w.(http.Hijacker); ok {
		aw = cw
	}
	ws, err := websocket.Accept(aw, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // origin checked above
		OnPongReceived:     func(context.Context, []byte) { c.touch() },
	})
	if err != nil {
		s.forget(c)
		s.wg.Done()
		return
	}
	s.mu.Lock()
	c.ws = ws
	c.cc = cw.cc
	s.mu.Unlock()
	select {
	case <-c.done: // Close ran during the upgrade
		_ = ws.CloseNow()
		s.forget(c)
		s.wg.Done()
		return
	default:
	}
	ws.SetReadLimit(-1) // the reader enforces MaxMessageSize itself, to answer too_large
	c.touch()
	c.bucket = newBucket(s.cfg.RatePerSecond, s.cfg.RateBurst, time.Now())
	// The reader gets its own goroutine so that the HTTP handler returns
	// and net/http frees the request: an idle connection keeps only what
	// the WebSocket needs.
	go c.serve()
}

func (s *Server) forget(c *wsConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.metrics.connections.Dec()
}

// serve reads until the connection ends, then cleans up.
func (c *wsConn) serve() {
	s := c.s
	defer s.wg.Done()
	defer s.forget(c)
	status := c.readLoop()
	if c.closing.Load() {
		select {
		case <-c.done:
		case <-time.After(s.cfg.WriteTimeout):
		}
	}
	c.fail(closeNormal, "")
	c.wmu.Lock()
	c.finished = true
	c.wmu.Unlock()
	s.disconnected(c, status)
}

func (c *wsConn) touch() { c.lastSeen.Store(time.Now().UnixNano()) }

// enqueue queues a frame without blocking. A full queue means a slow
// consumer: it is disconnected, and nobody else waits for it.
func (c *wsConn) enqueue(f []byte) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	c.wmu.Lock()
	if len(c.queue) >= c.s.cfg.SendQueue {
		c.wmu.Unlock()
		c.s.metrics.disconnects.WithLabelValues("slow_consumer").Inc()
		c.kick(closePolicy, fmt.Sprintf("slow consumer: %d frames waiting to be sent", c.s.cfg.SendQueue))
		return false
	}
	c.queue = append(c.queue, f)
	if c.ev != nil {
		sched := !c.finished && c.evMarkLocked()
		c.wmu.Unlock()
		if sched {
			c.ev.loop.schedule(c)
		}
		return true
	}
	if !c.writing && !c.finished {
		// Writers exist only while there is something to send, so an idle
		// connection costs one goroutine (its reader). The reader still
		// holds its own count of s.wg here, so Close waits for the writer.
		c.writing = true
		c.s.wg.Add(1)
		go c.writeLoop()
	}
	c.wmu.Unlock()
	return true
}

// takeAll takes every queued frame, or ends the writer when there is
// none. The queue bound applies to frames waiting; the batch being written
// holds at most as many again.
func (c *wsConn) takeAll() ([][]byte, bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	q := c.queue
	c.queue = nil
	if len(q) == 0 {
		c.writing = false
		return nil, false
	}
	return q, true
}

func (c *wsConn) sendMsg(m protocol.Message) bool {
	return c.enqueue(protocol.Encode(m))
}

func (c *wsConn) sendErr(e *protocol.Error) {
	c.s.metrics.errors.WithLabelValues(e.Code).Inc()
	c.sendMsg(e.Frame())
}

// closeAfter queues an error frame, then a close.
func (c *wsConn) closeAfter(e *protocol.Error, code websocket.StatusCode, reason string) {
	c.sendErr(e)
	c.s.metrics.disconnects.WithLabelValues(e.Code).Inc()
	if c.closing.CompareAndSwap(false, true) {
		c.closeCode, c.closeReason = code, reason
		c.enqueue(closeFrame)
	}
}

// fail closes the connection now with code and reason (once). The close
// handshake gets 2s; a peer that does not read loses the connection
// without it.
func (c *wsConn) fail(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		close(c.done)
		c.s.mu.RLock()
		ws, ev := c.ws, c.ev
		c.s.mu.RUnlock()
		if ev != nil {
			c.evClose(code, reason)
			return
		}
		if ws == nil {
			return // the upgrade sees done and closes the connection
		}
		c.s.wg.Add(1)
		go func() {
			defer c.s.wg.Done()
			if reason == "" {
				_ = ws.CloseNow()
				return
			}
			closed := make(chan struct{})
			go func() {
				defer close(closed)
				_ = ws.Close(code, reason)
			}()
			select {
			case <-closed:
			case <-time.After(2 * time.Second):
				_ = ws.CloseNow()
				<-closed
			}
		}()
	})
}

// kick closes the connection for a policy reason (slow consumer, idle,
// too large): its peer leaves the room now, without a resume grace.
func (c *wsConn) kick(code websocket.StatusCode, reason string) {
	c.s.log.Info("disconnecting", "remote", c.remote, "reason", reason)
	c.fail(code, reason)
	s := c.s
	s.mu.Lock()
	sess := c.sess
	c.sess = nil
	if sess != nil && sess.conn == c {
		sess.conn = nil
	} else {
		sess = nil
	}
	s.mu.Unlock()
	if sess != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.leave(sess)
		}()
	}
}

// writeLoop writes what is queued, in order, each batch with one system
// call (corkConn), until the queue is empty.
func (c *wsConn) writeLoop() {
	defer c.s.wg.Done()
	for {
		batch, ok := c.takeAll()
		if !ok {
			return
		}
		select {
		case <-c.done:
			c.stopWriter()
			return
		default:
		}
		c.writeStart.Store(time.Now().UnixNano())
		c.cc.cork()
		var err error
		closing := false
		for _, f := range batch {
			if len(f) == 0 { // closeFrame: close after the frames before it
				closing = true
				break
			}
			if err = c.ws.Write(context.Background(), websocket.MessageText, f); err != nil {
				break
			}
		}
		if uerr := c.cc.uncork(); err == nil {
			err = uerr
		}
		c.writeStart.Store(0)
		if err != nil {
			c.stopWriter()
			c.fail(closeNormal, "")
			return
		}
		if closing {
			c.stopWriter()
			c.kick(c.closeCode, c.closeReason)
			return
		}
	}
}

func (c *wsConn) stopWriter() {
	c.wmu.Lock()
	c.writing = false
	c.queue = nil
	c.wmu.Unlock()
}

// heartbeat runs every HeartbeatInterval: it enforces the idle timeout and
// pings. It reports whether the connection was closed.
func (c *wsConn) heartbeat(now time.Time) bool {
	select {
	case <-c.done:
		return true
	default:
	}
	idle := now.Sub(time.Unix(0, c.lastSeen.Load()))
	if idle > c.s.cfg.IdleTimeout {
		c.s.metrics.disconnects.WithLabelValues("idle_timeout").Inc()
		c.kick(closePolicy, fmt.Sprintf("idle timeout: nothing received for %s", idle.Round(time.Second)))
		return true
	}
	if c.ev != nil {
		c.evPing()
		return false
	}
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		ctx, cancel := context.WithTimeout(c.s.ctx, c.s.cfg.IdleTimeout)
		defer cancel()
		if c.ws.Ping(ctx) == nil {
			c.touch()
		}
	}()
	return false
}

// heartbeats pings every connection each HeartbeatInterval and closes the
// idle ones, from one goroutine for all connections.
func (s *Server) heartbeats() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.mu.RLock()
			conns := make([]*wsConn, 0, len(s.conns))
			for c := range s.conns {
				if c.ws != nil || c.ev != nil {
					conns = append(conns, c)
				}
			}
			s.mu.RUnlock()
			for _, c := range conns {
				c.heartbeat(now)
			}
		}
	}
}

// watchWrites enforces WriteTimeout for every connection: a write that
// takes longer means a slow consumer, and its connection is dropped (which
// unblocks the writer).
func (s *Server) watchWrites() {
	defer s.wg.Done()
	every := s.cfg.WriteTimeout / 4
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			limit := now.Add(-s.cfg.WriteTimeout).UnixNano()
			var slow []*wsConn
			s.mu.RLock()
			for c := range s.conns {
				if ws := c.writeStart.Load(); ws != 0 && ws < limit && (c.ws != nil || c.ev != nil) {
					slow = append(slow, c)
				}
			}
			s.mu.RUnlock()
			for _, c := range slow {
				s.metrics.disconnects.WithLabelValues("write_timeout").Inc()
				c.kick(closePolicy, fmt.Sprintf("slow consumer: a write took longer than %s", s.cfg.WriteTimeout))
				if c.ev != nil {
					c.evClose(closeNormal, "")
				} else {
					_ = c.ws.CloseNow()
				}
			}
		}
	}
}

// readBufs recycles frame read buffers: a reader holds one only while it
// handles a frame, so that an idle connection holds none, and a busy one
// does not allocate per frame.
var readBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledRead is the largest read buffer kept for reuse.
const maxPooledRead = 64 << 10

// readLoop reads frames until the connection ends and returns the close
// status the client sent (-1 if none).
func (c *wsConn) readLoop() websocket.StatusCode {
	max := c.s.cfg.MaxMessageSize
	var lr io.LimitedReader
	for {
		// No context: Close unblocks the read by closing the connection,
		// and an idle read then holds no context registration.
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			return websocket.CloseStatus(err)
		}
		buf := readBufs.Get().(*bytes.Buffer)
		buf.Reset()
		lr.R, lr.N = r, int64(max)+1
		_, err = buf.ReadFrom(&lr)
		lr.R = nil
		stop := false
		if err == nil {
			stop = c.frame(typ, buf.Bytes())
		}
		if buf.Cap() <= maxPooledRead {
			readBufs.Put(buf)
		}
		if err != nil {
			return websocket.CloseStatus(err)
		}
		if stop {
			return -1
		}
	}
}

// frame handles one frame (data is only valid during the call); true
// means the connection is being closed.
func (c *wsConn) frame(typ websocket.MessageType, data []byte) bool {
	max := c.s.cfg.MaxMessageSize
	c.touch()
	if len(data) > max {
		c.tooLarge()
		return true
	}
	if typ != websocket.MessageText {
		c.sendErr(protocol.Errorf(protocol.CodeBadMessage, "binary frame of %d bytes: the protocol uses JSON text frames", len(data)))
		return false
	}
	now := time.Now()
	if !c.bucket.allow(now) {
		c.limited(now)
		return false
	}
	m, perr := protocol.Decode(data, max)
	if perr != nil {
		c.sendErr(perr)
		return false
	}
	c.handle(m)
	return false
}

// tooLarge answers a frame over MaxMessageSize, then closes.
func (c *wsConn) tooLarge() {
	c.closeAfter(protocol.Errorf(protocol.CodeTooLarge, "frame exceeds the limit of %d bytes", c.s.cfg.MaxMessageSize), closeTooBig, "too_large")
}

// limited answers rate_limited at most once a second, counting the
// messages dropped meanwhile.
func (c *wsConn) limited(now time.Time) {
	c.limitedCount++
	if now.Sub(c.limitedSince) < time.Second {
		return
	}
	c.sendErr(protocol.Errorf(protocol.CodeRateLimited, "%d messages dropped: more than %g messages/s (burst %d)", c.limitedCount, c.s.cfg.RatePerSecond, c.s.cfg.RateBurst))
	c.limitedSince = now
	c.limitedCount = 0
}

func (c *wsConn) session() *session {
	c.s.mu.RLock()
	defer c.s.mu.RUnlock()
	return c.sess
}

func (c *wsConn) handle(m protocol.Message) {
	switch m.Type {
	case protocol.TypePing:
		c.sendMsg(protocol.Message{Type: protocol.TypePong})
	case protocol.TypeJoin:
		c.join(m)
	default:
		c.relay(m)
	}
}

func (c *wsConn) relay(m protocol.Message) {
	sess := c.session()
	if sess == nil {
		c.sendErr(&protocol.Error{Code: protocol.CodeNotInRoom, Ref: m.Type, Message: m.Type + ": join a room first"})
		return
	}
	if m.To == sess.peer {
		c.sendErr(&protocol.Error{Code: protocol.CodeBadMessage, Ref: m.Type, Message: m.Type + ": \"to\" names the sender itself"})
		return
	}
	out := m
	out.From = sess.peer
	out.To = ""
	env := Envelope{Room: sess.room, From: sess.peer, To: m.To, Type: m.Type, Frame: protocol.Encode(out)}
	n, err := c.s.hub.Route(c.s.ctx, env)
	switch {
	case errors.Is(err, ErrUnknownPeer):
		if m.Type == protocol.TypeBye {
			c.sendErr(&protocol.Error{Code: protocol.CodeUnknownPeer, Ref: m.Type, Message: fmt.Sprintf("bye: no peer %q in room %q", m.To, sess.room)})
		} else {
			c.s.queuePending(env)
		}
	case err != nil:
		c.sendErr(&protocol.Error{Code: protocol.CodeUndelivered, Ref: m.Type, Message: fmt.Sprintf("%s: %v", m.Type, err)})
	case n == 0 && m.Type != protocol.TypeBye:
		c.s.queuePending(env)
	}
	if m.Type == protocol.TypeBye && m.To == "" {
		c.s.mu.Lock()
		if c.sess == sess {
			c.sess = nil
		}
		c.s.mu.Unlock()
		c.s.leave(sess)
	}
}

func (c *wsConn) join(m protocol.Message) {
	s := c.s
	if cur := c.session(); cur != nil {
		c.sendErr(&protocol.Error{Code: protocol.CodeBadMessage, Ref: m.Type,
			Message: fmt.Sprintf("join: already in room %q; a connection is in one room at a time (send bye first)", cur.room)})
		return
	}
	if s.cfg.AuthSecret != "" {
		claims, err := VerifyRoomToken(s.cfg.AuthSecret, m.Token, time.Now())
		if err != nil {
			c.sendErr(&protocol.Error{Code: protocol.CodeUnauthorize, Ref: m.Type, Message: "join: " + err.Error()})
			return
		}
		if claims.Room != m.Room {
			c.sendErr(&protocol.Error{Code: protocol.CodeUnauthorize, Ref: m.Type, Message: fmt.Sprintf("join: the token is for room %q, not %q", claims.Room, m.Room)})
			return
		}
		if claims.Peer != "" {
			if m.Peer != "" && m.Peer != claims.Peer {
				c.sendErr(&protocol.Error{Code: protocol.CodeUnauthorize, Ref: m.Type, Message: fmt.Sprintf("join: the token is for peer %q, not %q", claims.Peer, m.Peer)})
				return
			}
			m.Peer = claims.Peer
		}
	}
	if m.Resume != "" {
		c.resume(m)
		return
	}
	peer := m.Peer
	if peer == "" {
		peer = randomID(9)
	}
	sess := &session{room: m.Room, peer: peer, resume: randomID(18)}
	s.mu.Lock()
	r := s.rooms[m.Room]
	if r == nil {
		if len(s.rooms) >= s.cfg.MaxRooms {
			s.mu.Unlock()
			c.sendErr(&protocol.Error{Code: protocol.CodeServerFull, Ref: m.Type, Message: fmt.Sprintf("join: this server's limit of %d rooms is reached", s.cfg.MaxRooms)})
			return
		}
		r = &localRoom{peers: map[string]*session{}}
		s.rooms[m.Room] = r
	}
	if r.peers[peer] != nil {
		s.mu.Unlock()
		c.sendErr(&protocol.Error{Code: protocol.CodePeerTaken, Ref: m.Type, Message: fmt.Sprintf("join: peer id %q is in use in room %q", peer, m.Room)})
		return
	}
	r.peers[peer] = sess
	s.metrics.rooms.Set(float64(len(s.rooms)))
	s.mu.Unlock()

	others, err := s.hub.Join(s.ctx, m.Room, peer, s.cfg.RoomCapacity)
	if err != nil {
		s.mu.Lock()
		delete(r.peers, peer)
		if len(r.peers) == 0 && s.rooms[m.Room] == r {
			delete(s.rooms, m.Room)
		}
		s.metrics.rooms.Set(float64(len(s.rooms)))
		s.mu.Unlock()
		switch {
		case errors.Is(err, ErrRoomFull):
			c.sendErr(&protocol.Error{Code: protocol.CodeRoomFull, Ref: m.Type, Message: fmt.Sprintf("join: room %q is full (%d peers)", m.Room, s.cfg.RoomCapacity)})
		case errors.Is(err, ErrPeerTaken):
			c.sendErr(&protocol.Error{Code: protocol.CodePeerTaken, Ref: m.Type, Message: fmt.Sprintf("join: peer id %q is in use in room %q", peer, m.Room)})
		default:
			s.log.Warn("hub join", "room", m.Room, "err", err)
			c.sendErr(&protocol.Error{Code: protocol.CodeServerFull, Ref: m.Type, Message: "join: the server cannot join rooms now: " + err.Error()})
		}
		return
	}
	s.metrics.peers.Inc()
	if mv, ok := s.hub.(Mover); ok && s.cfg.ResumeGrace > 0 {
		if err := mv.SetResume(s.ctx, m.Room, peer, hashToken(sess.resume)); err != nil {
			s.log.Warn("hub: resume token not shared; a resume must reach this instance", "room", m.Room, "peer", peer, "err", err)
		}
	}
	c.sendMsg(protocol.Message{Type: protocol.TypeJoined, Room: m.Room, Peer: peer, Peers: others, Resume: sess.resume, ICEServers: s.iceServersFor(peer)})
	c.attach(sess)
	s.peerJoined(m.Room, peer)
	s.log.Debug("joined", "room", m.Room, "peer", peer, "remote", c.remote)
}

// attach makes c the connection of sess and sends what was held for it.
func (c *wsConn) attach(sess *session) {
	s := c.s
	s.mu.Lock()
	c.sess = sess
	sess.conn = c
	buf := sess.buf
	sess.buf = nil
	s.queued -= len(buf)
	s.metrics.queuedNow.Set(float64(s.queued))
	s.mu.Unlock()
	for _, p := range buf {
		if c.enqueue(p.env.Frame) {
			s.metrics.countRelayed(p.env.Type)
		}
	}
}

func (c *wsConn) resume(m protocol.Message) {
	s := c.s
	s.mu.Lock()
	var sess *session
	if r := s.rooms[m.Room]; r != nil {
		sess = r.peers[m.Peer]
	}
	if sess == nil {
		s.mu.Unlock()
		if mv, ok := s.hub.(Mover); ok {
			c.resumeFromElsewhere(m, mv)
			return
		}
		c.refuseResume(m)
		return
	}
	if sess.left || subtle.ConstantTimeCompare([]byte(sess.resume), []byte(m.Resume)) != 1 {
		s.mu.Unlock()
		c.refuseResume(m)
		return
	}
	if sess.awayTimer != nil {
		sess.awayTimer.Stop()
		sess.awayTimer = nil
	}
	old := sess.conn
	sess.conn = nil
	if old != nil {
		old.sess = nil
	}
	s.mu.Unlock()
	if old != nil {
		old.fail(closePolicy, "session resumed on another connection")
	}
	members, err := s.hub.Members(s.ctx, m.Room)
	if err != nil {
		c.sendErr(&protocol.Error{Code: protocol.CodeServerFull, Ref: m.Type, Message: "join: resume: " + err.Error()})
		return
	}
	others := members[:0]
	for _, p := range members {
		if p != m.Peer {
			others = append(others, p)
		}
	}
	c.sendMsg(protocol.Message{Type: protocol.TypeJoined, Room: m.Room, Peer: m.Peer, Peers: others, Resume: sess.resume, ICEServers: s.iceServersFor(m.Peer)})
	c.attach(sess)
	s.log.Debug("resumed", "room", m.Room, "peer", m.Peer, "remote", c.remote)
}

func (c *wsConn) refuseResume(m protocol.Message) {
	c.sendErr(&protocol.Error{Code: protocol.CodeUnauthorize, Ref: m.Type,
		Message: fmt.Sprintf("join: cannot resume peer %q in room %q: no such session, the grace period of %s passed, or the resume token is wrong; join afresh", m.Peer, m.Room, c.s.cfg.ResumeGrace)})
}

// resumeFromElsewhere resumes a session that another instance holds: the
// hub moves the peer here, and the other instance forwards what it held.
func (c *wsConn) resumeFromElsewhere(m protocol.Message, mv Mover) {
	s := c.s
	sess := &session{room: m.Room, peer: m.Peer, resume: m.Resume}
	s.mu.Lock()
	r := s.rooms[m.Room]
	if r == nil {
		r = &localRoom{peers: map[string]*session{}}
		s.rooms[m.Room] = r
	}
	if r.peers[m.Peer] != nil {
		s.mu.Unlock()
		c.refuseResume(m)
		return
	}
	r.peers[m.Peer] = sess // buffers what the old instance forwards
	s.metrics.rooms.Set(float64(len(s.rooms)))
	s.mu.Unlock()
	if err := mv.Takeover(s.ctx, m.Room, m.Peer, hashToken(m.Resume)); err != nil {
		s.mu.Lock()
		if r.peers[m.Peer] == sess {
			delete(r.peers, m.Peer)
		}
		if len(r.peers) == 0 && s.rooms[m.Room] == r {
			delete(s.rooms, m.Room)
		}
		s.queued -= len(sess.buf)
		s.metrics.rooms.Set(float64(len(s.rooms)))
		s.mu.Unlock()
		c.refuseResume(m)
		return
	}
	s.metrics.peers.Inc()
	members, err := s.hub.Members(s.ctx, m.Room)
	if err != nil {
		members = nil
	}
	others := make([]string, 0, len(members))
	for _, p := range members {
		if p != m.Peer {
			others = append(others, p)
		}
	}
	c.sendMsg(protocol.Message{Type: protocol.TypeJoined, Room: m.Room, Peer: m.Peer, Peers: others, Resume: m.Resume, ICEServers: s.iceServersFor(m.Peer)})
	c.attach(sess)
	s.log.Debug("resumed from another instance", "room", m.Room, "peer", m.Peer, "remote", c.remote)
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// disconnected runs when c's reader ends. Any close handshake is a
// deliberate leave, whatever its code (a browser's ws.close() sends none:
// 1005), and so is a server shutdown: the peer leaves the room now. Only a
// connection that ended without a close frame (a drop, a timeout: 1006 or
// no status) keeps the session for ResumeGrace.
func (s *Server) disconnected(c *wsConn, status websocket.StatusCode) {
	s.mu.Lock()
	sess := c.sess
	c.sess = nil
	if sess == nil || sess.conn != c {
		s.mu.Unlock()
		return
	}
	sess.conn = nil
	clean := status >= 0 && status != websocket.StatusAbnormalClosure
	if clean || s.closed || s.cfg.ResumeGrace < 0 {
		s.mu.Unlock()
		s.leave(sess)
		return
	}
	sess.awayTimer = time.AfterFunc(s.cfg.ResumeGrace, func() {
		s.mu.Lock()
		away := sess.conn == nil && !sess.left
		s.mu.Unlock()
		if away {
			s.leave(sess)
		}
	})
	s.mu.Unlock()
}
