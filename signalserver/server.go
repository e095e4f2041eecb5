// Package signalserver is natkit's reference WebRTC signaling server: rooms
// and presence over WebSocket (protocol v1, package protocol), an ICE-token
// endpoint minting coturn-compatible TURN credentials, /healthz, /metrics,
// embedded web pages (candidate gathering, two-peer call), and a hub
// interface with an in-memory and a Redis implementation for scale-out.
//
//	srv, err := signalserver.NewServer(signalserver.Config{})
//	http.ListenAndServe("127.0.0.1:8080", srv) // or srv.Serve(listener)
//	defer srv.Close()
//
// Clients use package signalserver/client.
package signalserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/natkit/natkit/internal/sidehttp"
	"github.com/natkit/natkit/signalserver/protocol"
)

// Server is the signaling server; it is an http.Handler.
type Server struct {
	cfg          Config
	hub          Hub
	log          *slog.Logger
	metrics      *metrics
	mux          *http.ServeMux
	tokenLimiter *ipLimiter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.RWMutex
	rooms   map[string]*localRoom
	conns   map[*wsConn]struct{}
	queued  int
	closed  bool
	servers []*http.Server
	pprof   *sidehttp.Server // nil unless Config.PprofAddr
	// metricsHTTP serves /metrics; nil unless Config.MetricsAddr.
	metricsHTTP *sidehttp.Server

	// The event loops, started by the first connection that uses one.
	loopMu       sync.Mutex
	loops        []*evLoop
	nextLoop     int
	loopsStopped bool
	// inlineHub: the hub's calls never block (the memory hub), so event
	// loops handle frames themselves instead of handing them to a
	// goroutine per busy connection.
	inlineHub bool
}

type localRoom struct {
	peers map[string]*session
	// pending holds messages from this instance's peers waiting for a
	// recipient to join.
	pending []pendingMsg
}

type pendingMsg struct {
	env      Envelope
	deadline time.Time
}

// session is a joined peer on this instance.
type session struct {
	room, peer string
	resume     string
	// conn is nil while the join completes and while the peer is away.
	conn *wsConn
	// buf holds frames for the peer while conn is nil.
	buf       []pendingMsg
	awayTimer *time.Timer
	left      bool
}

// NewServer builds a server and starts its hub.
func NewServer(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, hub: cfg.Hub, log: cfg.Logger, metrics: newMetrics(),
		tokenLimiter: newIPLimiter(cfg.TokenRatePerSecond, cfg.TokenBurst),
		ctx:          ctx, cancel: cancel,
		rooms: map[string]*localRoom{}, conns: map[*wsConn]struct{}{},
	}
	_, s.inlineHub = cfg.Hub.(*memoryHub)
	if err := s.startPprof(); err != nil {
		cancel()
		return nil, err
	}
	if err := s.startMetrics(); err != nil {
		cancel()
		s.closeSide()
		return nil, err
	}
	if err := s.hub.Start(hubDelivery{s}); err != nil {
		cancel()
		s.closeSide()
		return nil, err
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /ws", s.handleWS)
	s.mux.HandleFunc("/v1/ice-servers", s.handleICEServers)
	s.mux.HandleFunc("GET /healthz", s.handleHealth)
	s.mux.Handle("GET /metrics", s.MetricsHandler())
	s.mux.Handle("/", webHandler())
	s.wg.Add(3)
	go s.janitor()
	go s.watchWrites()
	go s.heartbeats()
	return s, nil
}

// ServeHTTP serves /ws, /v1/ice-servers, /healthz, /metrics and the pages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// MetricsHandler serves the Prometheus metrics (also at /metrics).
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
}

// Listen opens a TCP listener on addr through the configured transport.Net.
func (s *Server) Listen(addr string) (net.Listener, error) {
	taddr, err := s.cfg.Net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("signal listen %s: %w", addr, err)
	}
	l, err := s.cfg.Net.ListenTCP("tcp", taddr)
	if err != nil {
		return nil, fmt.Errorf("signal listen %s: %w", addr, err)
	}
	return l, nil
}

// Serve serves HTTP on l until Close; h is the handler (nil: the server).
// It returns nil after Close.
func (s *Server) Serve(l net.Listener, h http.Handler) error {
	if h == nil {
		h = s
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return s.ctx }}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	err := hs.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ServeTLS is Serve with TLS from certFile and keyFile.
func (s *Server) ServeTLS(l net.Listener, certFile, keyFile string) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return s.ctx }}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	err := hs.ServeTLS(l, certFile, keyFile)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close closes every connection (status 1001, "server shutting down"),
// stops the HTTP servers started by Serve and closes the hub.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	servers := s.servers
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	for _, r := range s.rooms {
		for _, sess := range r.peers {
			if sess.awayTimer != nil {
				sess.awayTimer.Stop()
			}
		}
	}
	s.mu.Unlock()
	s.closeSide()
	for _, hs := range servers {
		_ = hs.Close()
	}
	for _, c := range conns {
		c.fail(closeGoingAway, "server shutting down")
	}
	s.cancel()
	s.wg.Wait()
	s.stopLoops()
	return s.hub.Close()
}

// Stats is a snapshot of the server's state.
type Stats struct {
	Connections int
	Rooms       int
	Queued      int
}

// Stats returns the current connection, room and queue counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Connections: len(s.conns), Rooms: len(s.rooms), Queued: s.queued}
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// janitor expires queued messages.
func (s *Server) janitor() {
	defer s.wg.Done()
	every := s.cfg.QueueTTL / 4
	if every > time.Second {
		every = time.Second
	}
	if every < 10*time.Millisecond {
		every = 10 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.expire(now)
		}
	}
}

func (s *Server) expire(now time.Time) {
	var dead []pendingMsg
	s.mu.Lock()
	for _, r := range s.rooms {
		kept := r.pending[:0]
		for _, p := range r.pending {
			if now.After(p.deadline) {
				dead = append(dead, p)
			} else {
				kept = append(kept, p)
			}
		}
		clear(r.pending[len(kept):])
		r.pending = kept
		for _, sess := range r.peers {
			kb := sess.buf[:0]
			for _, p := range sess.buf {
				if now.After(p.deadline) {
					dead = append(dead, p)
				} else {
					kb = append(kb, p)
				}
			}
			clear(sess.buf[len(kb):])
			sess.buf = kb
		}
	}
	s.queued -= len(dead)
	s.metrics.queuedNow.Set(float64(s.queued))
	s.mu.Unlock()
	for _, p := range dead {
		s.undelivered(p.env, fmt.Sprintf("no peer %s joined within %s", recipient(p.env), s.cfg.QueueTTL))
	}
}

func recipient(env Envelope) string {
	if env.To == "" {
		return "(any)"
	}
	return fmt.Sprintf("%q", env.To)
}

// undelivered tells a message's sender that it was not delivered.
func (s *Server) undelivered(env Envelope, why string) {
	s.metrics.expired.Inc()
	if env.From == "" || !protocol.Relayed(env.Type) {
		return
	}
	e := &protocol.Error{Code: protocol.CodeUndelivered, Ref: env.Type,
		Message: fmt.Sprintf("%s for peer %s in room %q was not delivered: %s", env.Type, recipient(env), env.Room, why)}
	s.metrics.errors.WithLabelValues(e.Code).Inc()
	_, _ = s.hub.Route(s.ctx, Envelope{Room: env.Room, To: env.From, Type: protocol.TypeError, Frame: protocol.Encode(e.Frame())})
}

// hubDelivery is what the server hands its hub: the Delivery callbacks
// stay off Server's public API, so an importer cannot change room state
// by calling them.
type hubDelivery struct{ s *Server }

func (d hubDelivery) Deliver(env Envelope)         { d.s.deliver(env) }
func (d hubDelivery) PeerJoined(room, peer string) { d.s.peerJoined(room, peer) }
func (d hubDelivery) PeerLeft(room, peer string)   { d.s.peerLeft(room, peer) }
func (d hubDelivery) PeerMoved(room, peer string)  { d.s.peerMoved(room, peer) }

// deliver hands a frame to a peer of this instance.
func (s *Server) deliver(env Envelope) {
	s.mu.RLock()
	var sess *session
	if r := s.rooms[env.Room]; r != nil {
		sess = r.peers[env.To]
	}
	var c *wsConn
	if sess != nil && !sess.left {
		c = sess.conn
	}
	s.mu.RUnlock()
	if c != nil && c.enqueue(env.Frame) {
		s.metrics.countRelayed(env.Type)
		return
	}
	// No connection, or it is closing: hold the frame as for an away peer,
	// so that a resume gets it or its sender hears that it was not
	// delivered.
	s.mu.Lock()
	if sess == nil || sess.left {
		s.mu.Unlock()
		if !env.rerouted {
			// The peer may have resumed on another instance: ask the hub
			// once more where it is.
			env.rerouted = true
			if _, err := s.hub.Route(s.ctx, env); err == nil {
				return
			}
		}
		s.undelivered(env, "the peer left")
		return
	}
	if c2 := sess.conn; c2 != nil && c2 != c { // a new connection attached meanwhile
		s.mu.Unlock()
		if c2.enqueue(env.Frame) {
			s.metrics.countRelayed(env.Type)
			return
		}
		s.mu.Lock()
	}
	if len(sess.buf) >= s.cfg.QueueMax {
		s.mu.Unlock()
		s.undelivered(env, fmt.Sprintf("the queue for the reconnecting peer is full (%d messages)", s.cfg.QueueMax))
		return
	}
	sess.buf = append(sess.buf, pendingMsg{env: env, deadline: time.Now().Add(s.cfg.QueueTTL)})
	s.queued++
	s.metrics.queued.Inc()
	s.metrics.queuedNow.Set(float64(s.queued))
	s.mu.Unlock()
}

// peerJoined tells the local peers of room and flushes
// messages queued for the newcomer.
func (s *Server) peerJoined(room, peer string) {
	frame := protocol.Encode(protocol.Message{Type: protocol.TypePeerJoined, Peer: peer})
	s.mu.Lock()
	r := s.rooms[room]
	if r == nil {
		s.mu.Unlock()
		return
	}
	targets := s.announceLocked(r, room, peer, protocol.TypePeerJoined, frame)
	flush := s.takePendingLocked(r, peer)
	s.mu.Unlock()
	for _, c := range targets {
		c.enqueue(frame)
	}
	s.route(flush)
}

// peerLeft tells the local peers of room.
func (s *Server) peerLeft(room, peer string) {
	frame := protocol.Encode(protocol.Message{Type: protocol.TypePeerLeft, Peer: peer})
	s.mu.Lock()
	r := s.rooms[room]
	if r == nil {
		s.mu.Unlock()
		return
	}
	targets := s.announceLocked(r, room, peer, protocol.TypePeerLeft, frame)
	s.mu.Unlock()
	for _, c := range targets {
		c.enqueue(frame)
	}
}

// announceLocked returns the connected peers of r other than peer, to send
// a presence frame to after unlocking, and holds the frame for sessions that
// are joining or away. s.mu must be held.
func (s *Server) announceLocked(r *localRoom, room, peer, typ string, frame []byte) []*wsConn {
	var targets []*wsConn
	for id, sess := range r.peers {
		if id == peer || sess.left {
			continue
		}
		if sess.conn != nil {
			targets = append(targets, sess.conn)
		} else {
			s.holdLocked(sess, Envelope{Room: room, To: id, Type: typ, Frame: frame})
		}
	}
	return targets
}

// route sends queued envelopes on through the hub; the sender of one that
// cannot be delivered is told.
func (s *Server) route(envs []Envelope) {
	for _, env := range envs {
		if _, err := s.hub.Route(s.ctx, env); err != nil {
			s.undelivered(env, err.Error())
		}
	}
}

// holdLocked keeps a presence frame for a session that is joining or away;
// attach delivers it. Called with s.mu held.
func (s *Server) holdLocked(sess *session, env Envelope) {
	if len(sess.buf) >= s.cfg.QueueMax {
		return
	}
	sess.buf = append(sess.buf, pendingMsg{env: env, deadline: time.Now().Add(s.cfg.QueueTTL)})
	s.queued++
	s.metrics.queuedNow.Set(float64(s.queued))
}

// peerMoved: peer resumed on another instance. Forget
// it here without reporting it left, and forward what was held for it.
func (s *Server) peerMoved(room, peer string) {
	s.mu.Lock()
	r := s.rooms[room]
	var sess *session
	if r != nil {
		sess = r.peers[peer]
	}
	if sess == nil || sess.left {
		s.mu.Unlock()
		return
	}
	sess.left = true
	if sess.awayTimer != nil {
		sess.awayTimer.Stop()
	}
	old := sess.conn
	sess.conn = nil
	if old != nil {
		old.sess = nil
	}
	buf := sess.buf
	sess.buf = nil
	s.queued -= len(buf)
	delete(r.peers, peer)
	var orphans []pendingMsg
	kept := r.pending[:0]
	for _, p := range r.pending {
		if p.env.From == peer || len(r.peers) == 0 {
			orphans = append(orphans, p)
		} else {
			kept = append(kept, p)
		}
	}
	clear(r.pending[len(kept):])
	r.pending = kept
	s.queued -= len(orphans)
	if len(r.peers) == 0 {
		delete(s.rooms, room)
	}
	s.metrics.queuedNow.Set(float64(s.queued))
	s.metrics.rooms.Set(float64(len(s.rooms)))
	s.metrics.peers.Dec()
	s.mu.Unlock()
	if old != nil {
		old.fail(closePolicy, "session resumed on another instance")
	}
	for _, p := range buf {
		env := p.env
		env.rerouted = true
		if _, err := s.hub.Route(s.ctx, env); err != nil {
			s.undelivered(p.env, err.Error())
		}
	}
	for _, p := range orphans {
		s.undelivered(p.env, "its sender resumed on another instance before the recipient joined")
	}
}

// queuePending keeps a message from a local peer until its recipient joins.
func (s *Server) queuePending(env Envelope) {
	s.mu.Lock()
	r := s.rooms[env.Room]
	if r == nil {
		s.mu.Unlock()
		return
	}
	if len(r.pending) >= s.cfg.QueueMax {
		s.mu.Unlock()
		s.undelivered(env, fmt.Sprintf("the room's queue for peers not yet joined is full (%d messages)", s.cfg.QueueMax))
		return
	}
	r.pending = append(r.pending, pendingMsg{env: env, deadline: time.Now().Add(s.cfg.QueueTTL)})
	s.queued++
	s.metrics.queued.Inc()
	s.metrics.queuedNow.Set(float64(s.queued))
	s.mu.Unlock()
	// The recipient may have joined between Route and now: flush for the
	// current members so nothing waits for a join that already happened.
	members, err := s.hub.Members(s.ctx, env.Room)
	if err != nil {
		return
	}
	for _, m := range members {
		if m != env.From && (env.To == "" || env.To == m) {
			s.flushPendingFor(env.Room, m)
		}
	}
}

// takePendingLocked removes from the room's queue the messages waiting for
// peer (addressed to it, or to everyone but not from it) and returns them
// addressed to peer. s.mu must be held.
func (s *Server) takePendingLocked(r *localRoom, peer string) []Envelope {
	var take []Envelope
	kept := r.pending[:0]
	for _, p := range r.pending {
		if p.env.From != peer && (p.env.To == peer || p.env.To == "") {
			env := p.env
			env.To = peer
			take = append(take, env)
		} else {
			kept = append(kept, p)
		}
	}
	clear(r.pending[len(kept):])
	r.pending = kept
	s.queued -= len(take)
	s.metrics.queuedNow.Set(float64(s.queued))
	return take
}

func (s *Server) flushPendingFor(room, peer string) {
	s.mu.Lock()
	r := s.rooms[room]
	if r == nil {
		s.mu.Unlock()
		return
	}
	flush := s.takePendingLocked(r, peer)
	s.mu.Unlock()
	s.route(flush)
}

// leave removes a session from its room now: the hub, the local peers,
// and the senders of anything still queued for it are told.
func (s *Server) leave(sess *session) {
	s.mu.Lock()
	if sess.left {
		s.mu.Unlock()
		return
	}
	sess.left = true
	if sess.awayTimer != nil {
		sess.awayTimer.Stop()
	}
	buf := sess.buf
	sess.buf = nil
	s.queued -= len(buf)
	r := s.rooms[sess.room]
	if r != nil {
		delete(r.peers, sess.peer)
		kept := r.pending[:0]
		for _, p := range r.pending {
			if p.env.From != sess.peer {
				kept = append(kept, p)
			} else {
				s.queued--
			}
		}
		clear(r.pending[len(kept):])
		r.pending = kept
		if len(r.peers) == 0 {
			s.queued -= len(r.pending)
			delete(s.rooms, sess.room)
		}
	}
	s.metrics.queuedNow.Set(float64(s.queued))
	s.metrics.rooms.Set(float64(len(s.rooms)))
	s.metrics.peers.Dec()
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.hub.Leave(ctx, sess.room, sess.peer); err != nil {
		s.log.Warn("hub leave", "room", sess.room, "peer", sess.peer, "err", err)
	}
	s.peerLeft(sess.room, sess.peer)
	for _, p := range buf {
		s.undelivered(p.env, "the peer left")
	}
}

// closeSide stops the pprof and metrics listeners.
func (s *Server) closeSide() {
	for _, side := range []*sidehttp.Server{s.pprof, s.metricsHTTP} {
		if side != nil {
			_ = side.Close()
		}
	}
}
