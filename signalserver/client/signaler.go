package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/natkit/natkit/internal/configerr"
	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/signalserver/protocol"
)

// ErrConfig: a SignalerConfig or CallConfig holds an impossible value.
var ErrConfig = errors.New("bad signaler config")

// ErrNoPeer: nobody else joined the room in time.
var ErrNoPeer = errors.New("no other peer joined")

// ConfigError names the field that is wrong; errors.Is(err, ErrConfig)
// holds.
type ConfigError = configerr.Error

// SignalerConfig configures JoinCall.
type SignalerConfig struct {
	// URL is the server's WebSocket URL (ws:// or wss://, path /ws).
	// Required.
	URL string
	// Room is the room to meet in. Required.
	Room string
	// Token is the room token, when the server requires one. Default none.
	Token string
	// Name labels this peer in the timeline. Default "a".
	Name string
	// Timeline receives the room's events (joined, peer-joined, peer-left,
	// signaling errors); give the same one to the call. Default: a new one.
	Timeline *call.Timeline
	// Dial are the WebSocket options. Default: the zero Options.
	Dial *Options
	// OnEvent, if set, sees each timeline event as it happens (e.g. for a
	// progress line). Default nil.
	OnEvent func(call.Event)
}

func (c SignalerConfig) withDefaults() SignalerConfig {
	if c.Name == "" {
		c.Name = "a"
	}
	if c.Timeline == nil {
		c.Timeline = &call.Timeline{}
	}
	return c
}

func (c SignalerConfig) validate() error {
	if c.URL == "" {
		return configerr.New(ErrConfig, "signaler", "url", "", "required")
	}
	if err := protocol.ValidID("room", c.Room); err != nil {
		return &ConfigError{Component: "signaler", Field: "room", Err: err, Kind: ErrConfig}
	}
	return nil
}

// Signaler carries one call peer's messages over signaling protocol v1. It
// implements call.Signaler, and records the room's events into a
// call.Timeline. One goroutine reads the connection until Close.
type Signaler struct {
	c      *Client
	name   string
	tl     *call.Timeline
	joined protocol.Message
	in     chan call.Message
	peers  chan string // peer-joined announcements, for WaitPeer
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu sync.Mutex
	to string // the peer messages go to: found by WaitPeer, or the first sender
}

// JoinCall dials the server and joins the room. ctx bounds the dial and
// the join only.
func JoinCall(ctx context.Context, cfg SignalerConfig) (*Signaler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c, err := Dial(ctx, cfg.URL, cfg.Dial)
	if err != nil {
		return nil, err
	}
	j, err := c.Join(ctx, cfg.Room, JoinOptions{Token: cfg.Token})
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	s := &Signaler{c: c, name: cfg.Name, tl: cfg.Timeline, joined: j, in: make(chan call.Message, 256), peers: make(chan string, 8), cancel: cancel}
	s.tl.Add(s.name, call.EvJoined, fmt.Sprintf("room %s as %s, %d other peer(s), %d ice server(s) offered", cfg.Room, j.Peer, len(j.Peers), len(j.ICEServers)))
	s.wg.Add(1)
	go s.recv(rctx)
	return s, nil
}

// Joined is the server's joined message: this peer's id, the peers
// already in the room, and the ICE servers the server offers.
func (s *Signaler) Joined() protocol.Message { return s.joined }

// ICEServers are the ICE servers of the joined message, for pion.
func (s *Signaler) ICEServers() []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(s.joined.ICEServers))
	for _, is := range s.joined.ICEServers {
		out = append(out, webrtc.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
	}
	return out
}

func (s *Signaler) recv(ctx context.Context) {
	defer s.wg.Done()
	defer close(s.in)
	for {
		m, err := s.c.Recv(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, ErrClosed) {
				s.tl.Add(s.name, call.EvSignalError, err.Error())
			}
			return
		}
		switch m.Type {
		case protocol.TypeOffer, protocol.TypeAnswer, protocol.TypeCandidate, protocol.TypeBye:
			s.mu.Lock()
			if s.to == "" {
				s.to = m.From
			}
			s.mu.Unlock()
			cm := call.Message{Type: m.Type, SDP: m.SDP}
			if m.Candidate != nil {
				cm.Candidate = &webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid,
					SDPMLineIndex: m.Candidate.SDPMLineIndex, UsernameFragment: m.Candidate.UsernameFragment}
			}
			select {
			case s.in <- cm:
			case <-ctx.Done():
				return
			}
		case protocol.TypePeerJoined:
			s.tl.Add(s.name, call.EvPeerJoined, m.Peer)
			select {
			case s.peers <- m.Peer:
			default:
			}
		case protocol.TypePeerLeft:
			s.tl.Add(s.name, call.EvPeerLeft, m.Peer)
		case protocol.TypeError:
			s.tl.Add(s.name, call.EvSignalError, m.Err().Error())
		}
	}
}

// WaitPeer finds the peer to call: one already in the room, or the next
// to join; ErrNoPeer when none joins before ctx's deadline.
func (s *Signaler) WaitPeer(ctx context.Context) error {
	if len(s.joined.Peers) > 0 {
		s.setPeer(s.joined.Peers[0])
		return nil
	}
	select {
	case p := <-s.peers:
		s.setPeer(p)
		return nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w room %q in time; start the answerer first", ErrNoPeer, s.joined.Room)
		}
		return ctx.Err()
	}
}

func (s *Signaler) setPeer(p string) {
	s.mu.Lock()
	s.to = p
	s.mu.Unlock()
}

// Send relays m to the other peer.
func (s *Signaler) Send(ctx context.Context, m call.Message) error {
	s.mu.Lock()
	to := s.to
	s.mu.Unlock()
	pm := protocol.Message{Type: m.Type, To: to, SDP: m.SDP}
	if m.Candidate != nil {
		pm.Candidate = &protocol.Candidate{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid,
			SDPMLineIndex: m.Candidate.SDPMLineIndex, UsernameFragment: m.Candidate.UsernameFragment}
	}
	return s.c.Send(ctx, pm)
}

// Recv returns the other peer's messages; it is closed when the
// connection ends.
func (s *Signaler) Recv() <-chan call.Message { return s.in }

// Close leaves the room and stops the reader. It is safe to call twice.
func (s *Signaler) Close() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		err = s.c.Close()
		s.wg.Wait()
	})
	return err
}

// Roles of CallConfig: both peers here, or one.
const (
	RoleBoth   = "both"
	RoleOffer  = string(call.RoleOffer)
	RoleAnswer = string(call.RoleAnswer)
)

// CallConfig configures Call: a call through a signaling server.
type CallConfig struct {
	// URL is the server's WebSocket URL. Required.
	URL string
	// Room is the room to meet in. Required.
	Room string
	// Token is the room token. Default none.
	Token string
	// Role is "both" (two peers here), "offer" or "answer" (one peer,
	// the other elsewhere). Default "both".
	Role string
	// Peer is the template of each peer: ICE servers (none: those of the
	// server's joined message), relay-only, audio, logger. Its Name and
	// Role are set here.
	Peer call.PeerConfig
	// ConnectTimeout bounds the join, the wait for the other peer and the
	// wait for "connected"; an answerer also waits this long for the
	// offerer's bye. Default 30s.
	ConnectTimeout time.Duration
	// Probe is what the offerer sends. Default: 10 × 64 bytes.
	Probe call.ProbeConfig
	// Dial are the WebSocket options. Default: the zero Options.
	Dial *Options
	// OnEvent, if set, sees each timeline event as it happens (e.g. for a
	// progress line). Default nil.
	OnEvent func(call.Event)
}

func (c CallConfig) withDefaults() CallConfig {
	if c.Role == "" {
		c.Role = RoleBoth
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 30 * time.Second
	}
	return c
}

func (c CallConfig) validate() error {
	switch c.Role {
	case "", RoleBoth, RoleOffer, RoleAnswer:
	default:
		return configerr.New(ErrConfig, "call", "role", c.Role, "want both, offer or answer")
	}
	if c.ConnectTimeout < 0 {
		return configerr.New(ErrConfig, "call", "connect timeout", "", "must not be negative")
	}
	return SignalerConfig{URL: c.URL, Room: c.Room}.validate()
}

// Call places a call through a signaling server: it joins the room with
// one signaler per local peer, waits for the other peer, and runs the call
// (call.RunWith for both peers, call.RunSolo for one). The Result always
// comes back, unless cfg is bad: a call whose signaling failed has Cause
// signaling-failed. The error is cfg's, or ctx's when it ended the call.
func Call(ctx context.Context, cfg CallConfig) (*call.Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tl := &call.Timeline{Observe: cfg.OnEvent}
	started := time.Now()
	names := []string{cfg.Role}
	if cfg.Role == RoleBoth {
		names = []string{"a", "b"}
	}
	var sigs []*Signaler
	closeAll := func() {
		for _, s := range sigs {
			_ = s.Close()
		}
	}
	failed := func(err error) (*call.Result, error) {
		closeAll()
		return call.NotStarted(ctx, started, tl, err), ctx.Err()
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	for _, name := range names {
		s, err := JoinCall(wctx, SignalerConfig{URL: cfg.URL, Room: cfg.Room, Token: cfg.Token, Name: name, Timeline: tl, Dial: cfg.Dial})
		if err != nil {
			return failed(err)
		}
		sigs = append(sigs, s)
	}
	if cfg.Role != RoleAnswer {
		// The offerer needs someone to send its offer to; an answerer
		// answers whoever offers.
		if err := sigs[0].WaitPeer(wctx); err != nil {
			return failed(err)
		}
	}
	peer := func(s *Signaler, role call.Role) call.PeerConfig {
		p := cfg.Peer
		p.Name, p.Role = s.name, role
		if len(p.ICEServers) == 0 {
			p.ICEServers = s.ICEServers()
		}
		return p
	}
	switch cfg.Role {
	case RoleBoth:
		// RunWith closes both signalers.
		return call.RunWith(ctx, call.Config{A: peer(sigs[0], call.RoleOffer), B: peer(sigs[1], call.RoleAnswer),
			ConnectTimeout: cfg.ConnectTimeout, Probe: cfg.Probe, Timeline: tl}, sigs[0], sigs[1])
	case RoleOffer:
		defer closeAll()
		return call.RunSolo(ctx, call.SoloConfig{Peer: peer(sigs[0], call.RoleOffer), ConnectTimeout: cfg.ConnectTimeout, Probe: cfg.Probe, Timeline: tl}, sigs[0])
	default:
		defer closeAll()
		return call.RunSolo(ctx, call.SoloConfig{Peer: peer(sigs[0], call.RoleAnswer), ConnectTimeout: cfg.ConnectTimeout, Linger: cfg.ConnectTimeout, Timeline: tl}, sigs[0])
	}
}
