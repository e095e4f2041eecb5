package signalserver

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"time"
)

// evEligible reports whether r's connection may go to an event loop: the
// loops are on (Config.EventLoops), and r came over plain TCP (HTTP/1.1, no
// TLS) on a real socket, as the *net.TCPAddr of its local address shows.
// vnet and TLS connections keep coder/websocket's reader goroutine.
func (s *Server) evEligible(r *http.Request) bool {
	if !evLoopsAvailable || s.cfg.EventLoops < 0 || r.TLS != nil || !r.ProtoAtLeast(1, 1) {
		return false
	}
	_, tcp := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	return tcp
}

// acceptEv upgrades r and hands its socket to an event loop. done is false
// when the hijacked connection is no *net.TCPConn (a wrapping listener):
// the caller then accepts it with coder/websocket through w2, which hands
// over the connection already hijacked.
func (s *Server) acceptEv(c *wsConn, w http.ResponseWriter, r *http.Request) (w2 http.ResponseWriter, done bool) {
	key, code, why := checkUpgrade(r)
	hj, ok := w.(http.Hijacker)
	if code == 0 && !ok {
		code, why = http.StatusNotImplemented, "http.ResponseWriter does not implement http.Hijacker"
	}
	if code != 0 {
		s.forget(c)
		s.wg.Done()
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, why, code)
		return nil, true
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		s.forget(c)
		s.wg.Done()
		return nil, true
	}
	if _, tcp := nc.(*net.TCPConn); !tcp {
		return &hijackedWriter{nc: nc, brw: brw, h: http.Header{}}, false
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"
	_ = nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if _, err := nc.Write([]byte(resp)); err != nil {
		_ = nc.Close()
		s.forget(c)
		s.wg.Done()
		return nil, true
	}
	var early []byte // frames the client sent right behind its request
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Peek(n)
		early = append([]byte(nil), b...)
	}
	fd, ok := takeFD(nc)
	if !ok {
		_ = nc.Close()
		s.forget(c)
		s.wg.Done()
		return nil, true
	}
	l, err := s.pickLoop()
	if err != nil {
		s.log.Warn("signal: no event loop", "err", err)
		closeFD(fd)
		s.forget(c)
		s.wg.Done()
		return nil, true
	}
	ev := &evSock{loop: l, fd: fd, in: early}
	c.touch()
	c.bucket = newBucket(s.cfg.RatePerSecond, s.cfg.RateBurst, time.Now())
	s.mu.Lock()
	closed := false
	select {
	case <-c.done: // Close ran during the upgrade
		closed = true
	default:
		c.ev = ev
	}
	s.mu.Unlock()
	if closed {
		closeFD(fd)
		s.forget(c)
		s.wg.Done()
		return nil, true
	}
	// The loop registers the socket when it flushes c for the first time,
	// so that every use of the descriptor is on the loop's goroutine.
	c.wmu.Lock()
	sched := c.evMarkLocked()
	c.wmu.Unlock()
	if sched {
		l.schedule(c)
	}
	return nil, true
}

// pickLoop returns the next event loop, round robin, starting the loops
// on the first connection (a server that serves none starts none).
func (s *Server) pickLoop() (*evLoop, error) {
	s.loopMu.Lock()
	defer s.loopMu.Unlock()
	if s.loopsStopped {
		return nil, ErrServerClosed
	}
	if s.loops == nil {
		for range s.cfg.EventLoops {
			l, err := newEvLoop(s)
			if err != nil {
				return nil, err
			}
			s.loops = append(s.loops, l)
		}
	}
	l := s.loops[s.nextLoop%len(s.loops)]
	s.nextLoop++
	return l, nil
}

// stopLoops ends the event loops; Close calls it once every connection is
// gone.
func (s *Server) stopLoops() {
	s.loopMu.Lock()
	loops := s.loops
	s.loops = nil
	s.loopsStopped = true
	s.loopMu.Unlock()
	for _, l := range loops {
		l.stop()
	}
}

// hijackedWriter hands coder/websocket a connection hijacked already: it
// answers the upgrade itself when Accept hijacks.
type hijackedWriter struct {
	nc   net.Conn
	brw  *bufio.ReadWriter
	h    http.Header
	code int
}

func (w *hijackedWriter) Header() http.Header { return w.h }
func (w *hijackedWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

// Write answers an error (Accept refused the upgrade) and closes.
func (w *hijackedWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.h.Set("Connection", "close")
	w.h.Set("Content-Length", fmt.Sprint(len(p)))
	if err := w.writeHead(); err != nil {
		return 0, err
	}
	n, err := w.brw.Write(p)
	if err == nil {
		err = w.brw.Flush()
	}
	_ = w.nc.Close()
	return n, err
}

func (w *hijackedWriter) writeHead() error {
	if _, err := fmt.Fprintf(w.brw, "HTTP/1.1 %d %s\r\n", w.code, http.StatusText(w.code)); err != nil {
		return err
	}
	if err := w.h.Write(w.brw); err != nil {
		return err
	}
	_, err := w.brw.WriteString("\r\n")
	return err
}

func (w *hijackedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if err := w.writeHead(); err != nil {
		return nil, nil, err
	}
	return w.nc, w.brw, w.brw.Flush()
}
