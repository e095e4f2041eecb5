package call

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/natkit/natkit/reports"
)

// Path classes, in the user's words.
const (
	PathDirectHost = "direct-host" // host ↔ host: same LAN, or no NAT on either side
	PathDirectNAT  = "direct-nat"  // through NAT, server- or peer-reflexive
	PathRelay      = "relay"       // through a TURN relay
	PathNone       = "none"        // no pair selected
)

// Path is how the media went, seen from one peer.
type Path struct {
	Class string `json:"class"`
	// RelayedBy names the peers whose relay candidate is in the pair.
	RelayedBy []string `json:"relayed_by,omitempty"`
	Pair      *Pair    `json:"pair,omitempty"`
}

// Direct reports whether the path avoids the relay.
func (p Path) Direct() bool { return p.Class == PathDirectHost || p.Class == PathDirectNAT }

// Describe says it in a sentence.
func (p Path) Describe() string {
	switch p.Class {
	case PathDirectHost:
		return "direct between host addresses (same LAN, or no NAT)"
	case PathDirectNAT:
		return fmt.Sprintf("direct through NAT (%s ↔ %s)", p.Pair.Local.Type, p.Pair.Remote.Type)
	case PathRelay:
		return "relayed through " + strings.Join(p.RelayedBy, " and ") + "'s TURN relay"
	}
	return "no path: no candidate pair was selected"
}

// PathOf classifies pair as seen by peer self, whose partner is other.
// remote are the partner's own candidates when known (nil otherwise): a
// peer-reflexive remote candidate that is really one of them (the check
// arrived before the trickled candidate) takes that candidate's type.
func PathOf(pair *Pair, self, other string, remote []Candidate) Path {
	if pair == nil {
		return Path{Class: PathNone}
	}
	cp := *pair
	pair = &cp
	if pair.Remote.Type == "prflx" {
		for _, c := range remote {
			if c.Address == pair.Remote.Address && c.Protocol == pair.Remote.Protocol {
				pair.Remote.Type = c.Type
				break
			}
		}
	}
	p := Path{Pair: pair}
	if pair.Local.Type == "relay" {
		p.RelayedBy = append(p.RelayedBy, self)
	}
	if pair.Remote.Type == "relay" {
		p.RelayedBy = append(p.RelayedBy, other)
	}
	switch {
	case len(p.RelayedBy) > 0:
		p.Class = PathRelay
	case pair.Local.Type == "host" && pair.Remote.Type == "host":
		p.Class = PathDirectHost
	default:
		p.Class = PathDirectNAT
	}
	return p
}

// Config is a two-peer call in one process.
type Config struct {
	// A is the offerer, B the answerer. Their Role is set by Call.
	A, B PeerConfig
	// Signaling shapes the in-process signaling pipe. Default: instant.
	Signaling PipeConfig
	// ConnectTimeout bounds the wait for "connected". Default 30s.
	ConnectTimeout time.Duration
	// Probe is the data-channel probe of Run. Default: 10 × 64 bytes.
	Probe ProbeConfig
}

func (c *Config) validate() error {
	if c.ConnectTimeout < 0 {
		return &ConfigError{Field: "connect timeout", Reason: "must not be negative"}
	}
	if err := c.Signaling.Validate(); err != nil {
		return err
	}
	return c.Probe.Validate()
}

// Call is a two-peer call over an in-process signaling pipe.
type Call struct {
	A, B     *Peer
	Timeline *Timeline
	Started  time.Time
	cfg      Config
	sigA     Signaler
	sigB     Signaler
	probes   ProbeStats
	path     *Path
}

// New creates both peers over an in-process signaling pipe shaped by
// cfg.Signaling; nothing is sent until Start.
func New(cfg Config) (*Call, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	sigA, sigB := NewPipe(cfg.Signaling)
	return NewWith(cfg, sigA, sigB)
}

// NewWith creates both peers over the given signalers (e.g. two clients
// of a real signaling server); cfg.Signaling is ignored. Close closes
// both signalers.
func NewWith(cfg Config, sigA, sigB Signaler) (*Call, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	cfg.A.Role, cfg.B.Role = RoleOffer, RoleAnswer
	if cfg.A.Name == "" {
		cfg.A.Name = "a"
	}
	if cfg.B.Name == "" {
		cfg.B.Name = "b"
	}
	c := &Call{Timeline: &Timeline{}, Started: time.Now(), cfg: cfg, sigA: sigA, sigB: sigB}
	var err error
	if c.A, err = NewPeer(cfg.A, c.sigA, c.Timeline); err != nil {
		_ = c.closeSignalers()
		return nil, err
	}
	if c.B, err = NewPeer(cfg.B, c.sigB, c.Timeline); err != nil {
		_ = c.A.Close()
		_ = c.closeSignalers()
		return nil, err
	}
	return c, nil
}

// Start starts both peers; the offerer sends its offer.
func (c *Call) Start(ctx context.Context) error {
	c.Started = time.Now()
	if err := c.B.Start(ctx); err != nil {
		return err
	}
	return c.A.Start(ctx)
}

// WaitConnected waits until both peers are connected and the data channel
// is open on both, or until the connect timeout.
func (c *Call) WaitConnected(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	for _, p := range []*Peer{c.A, c.B} {
		if err := p.WaitConnected(ctx); err != nil {
			return err
		}
	}
	for _, p := range []*Peer{c.A, c.B} {
		if err := p.WaitDataChannel(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Probe sends probe messages from A, echoed by B.
func (c *Call) Probe(ctx context.Context, cfg ProbeConfig) (ProbeStats, error) {
	st, err := c.A.Probe(ctx, cfg)
	c.probes = c.probes.Add(st)
	return st, err
}

// HangUp ends the call from A, after noting the path in use.
func (c *Call) HangUp() {
	c.snapshot()
	_ = c.A.HangUp()
}

// snapshot notes the path while the peer connection is still open.
func (c *Call) snapshot() {
	p := PathOf(c.A.Selected(), c.A.Name(), c.B.Name(), c.B.Candidates())
	c.path = &p
}

// Close closes both peers and the signaling pipe.
func (c *Call) Close() error {
	if c.path == nil {
		c.snapshot()
	}
	err := errors.Join(c.A.Close(), c.B.Close())
	_ = c.closeSignalers()
	return err
}

func (c *Call) closeSignalers() error {
	return errors.Join(c.sigA.Close(), c.sigB.Close())
}

// Result is what a call did.
type Result struct {
	Started         time.Time     `json:"started"`
	Connected       bool          `json:"connected"`
	TimeToConnected time.Duration `json:"time_to_connected,omitempty"`
	Path            Path          `json:"path"`
	Messages        ProbeStats    `json:"messages"`
	// Audio counts synthetic RTP packets, when the call had audio.
	Audio      *AudioStats            `json:"audio,omitempty"`
	ICE        ICESettings            `json:"ice"`
	Candidates map[string][]Candidate `json:"candidates"`
	Events     []Event                `json:"events"`
	// Error is why the call did not complete, if it did not.
	Error string `json:"error,omitempty"`
	// RTT is the data-channel round-trip time of the probes.
	RTT *reports.Recorder `json:"-"`
}

// AudioStats counts the synthetic audio track's packets.
type AudioStats struct {
	Sent     int64 `json:"sent"`
	Received int64 `json:"received"`
}

// Result summarises the call so far.
func (c *Call) Result() *Result {
	r := &Result{
		Started: c.Started, ICE: c.A.ICE(), Messages: c.probes, RTT: c.A.RTT(),
		Candidates: map[string][]Candidate{c.A.Name(): c.A.Candidates(), c.B.Name(): c.B.Candidates()},
		Events:     c.Timeline.Events(),
	}
	if c.cfg.A.Audio {
		sent, _ := c.A.Audio()
		_, recv := c.B.Audio()
		r.Audio = &AudioStats{Sent: sent, Received: recv}
	}
	ta, tb := c.A.ConnectedAt(), c.B.ConnectedAt()
	if !ta.IsZero() && !tb.IsZero() {
		r.Connected = true
		last := ta
		if tb.After(ta) {
			last = tb
		}
		r.TimeToConnected = last.Sub(c.Started)
	}
	if c.path != nil {
		r.Path = *c.path
	} else {
		r.Path = PathOf(c.A.Selected(), c.A.Name(), c.B.Name(), c.B.Candidates())
	}
	return r
}

// Run places a whole call over an in-process pipe: connect, probe, hang
// up. A call that does not connect is a Result with Connected false, not
// an error; errors are for bad configs and broken setups.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return c.run(ctx)
}

// RunWith is Run over the given signalers.
func RunWith(ctx context.Context, cfg Config, sigA, sigB Signaler) (*Result, error) {
	c, err := NewWith(cfg, sigA, sigB)
	if err != nil {
		return nil, err
	}
	return c.run(ctx)
}

func (c *Call) run(ctx context.Context) (*Result, error) {
	cfg := c.cfg
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	var runErr error
	if err := c.WaitConnected(ctx); err != nil {
		runErr = err
	} else if _, err := c.Probe(ctx, cfg.Probe); err != nil {
		runErr = err
	}
	if runErr == nil {
		c.HangUp()
	}
	r := c.Result()
	if runErr != nil {
		r.Error = runErr.Error()
	}
	return r, ctx.Err()
}

// SoloConfig is one peer of a call whose other peer runs elsewhere (e.g.
// natkit call --role on another machine).
type SoloConfig struct {
	// Peer configures this peer; its Role says offer or answer.
	Peer PeerConfig
	// ConnectTimeout bounds the wait for "connected". Default 30s.
	ConnectTimeout time.Duration
	// Probe is what the offerer sends. Default: 10 × 64 bytes.
	Probe ProbeConfig
	// Linger is how long an answerer stays after connecting when the
	// offerer does not hang up. Default 30s.
	Linger time.Duration
}

// RunSolo runs one peer: the offerer connects, probes and hangs up; the
// answerer connects, echoes, and stays until the offerer hangs up (or
// Linger). The result is seen from this peer; the other peer's candidates
// are unknown, so Path keeps peer-reflexive remote candidates as such.
func RunSolo(ctx context.Context, cfg SoloConfig, sig Signaler) (*Result, error) {
	if err := cfg.Probe.Validate(); err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout < 0 || cfg.Linger < 0 {
		return nil, &ConfigError{Field: "timeout", Reason: "must not be negative"}
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.Linger == 0 {
		cfg.Linger = 30 * time.Second
	}
	tl := &Timeline{}
	started := time.Now()
	p, err := NewPeer(cfg.Peer, sig, tl)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	var probes ProbeStats
	var path *Path
	snapshot := func() {
		pp := PathOf(p.Selected(), p.Name(), "remote", nil)
		path = &pp
	}
	runErr := func() error {
		if err := p.Start(ctx); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
		defer cancel()
		if err := p.WaitConnected(wctx); err != nil {
			return err
		}
		if err := p.WaitDataChannel(wctx); err != nil {
			return err
		}
		if p.Role() == RoleOffer {
			st, err := p.Probe(ctx, cfg.Probe)
			probes = st
			snapshot()
			if err == nil {
				_ = p.HangUp()
			}
			return err
		}
		t := time.NewTimer(cfg.Linger)
		defer t.Stop()
		select {
		case <-p.RemoteHungUp():
		case <-t.C:
		case <-ctx.Done():
		}
		snapshot()
		return nil
	}()
	if path == nil {
		snapshot()
	}
	r := &Result{
		Started: started, ICE: p.ICE(), Messages: probes, RTT: p.RTT(), Path: *path,
		Candidates: map[string][]Candidate{p.Name(): p.Candidates()}, Events: tl.Events(),
	}
	if cfg.Peer.Audio {
		sent, recv := p.Audio()
		r.Audio = &AudioStats{Sent: sent, Received: recv}
	}
	if at := p.ConnectedAt(); !at.IsZero() {
		r.Connected = true
		r.TimeToConnected = at.Sub(started)
	}
	if runErr != nil {
		r.Error = runErr.Error()
	}
	return r, ctx.Err()
}

// Fill adds the call's timeline, metrics and candidates to rep.
func (r *Result) Fill(rep *reports.Report) {
	for _, e := range r.Events {
		rep.AddEvent(e.At, e.Peer, e.Kind, e.Detail)
	}
	if r.Connected {
		rep.Metrics = append(rep.Metrics, reports.Gauge("time_to_connected", "ms", float64(r.TimeToConnected)/float64(time.Millisecond)))
	}
	if r.RTT != nil && r.RTT.Count() > 0 {
		rep.Metrics = append(rep.Metrics, r.RTT.Metric())
	}
	if r.Audio != nil {
		rep.Metrics = append(rep.Metrics,
			reports.Counter("audio_packets_sent", "packets", float64(r.Audio.Sent)),
			reports.Counter("audio_packets_received", "packets", float64(r.Audio.Received)))
	}
	if r.Messages.Sent > 0 {
		rep.Metrics = append(rep.Metrics,
			reports.Counter("messages_sent", "messages", float64(r.Messages.Sent)),
			reports.Counter("messages_lost", "messages", float64(r.Messages.Lost())))
	}
	t := reports.Table{Title: "candidates", Columns: []string{"peer", "type", "protocol", "address", "base"}}
	for _, name := range sortedNames(r.Candidates) {
		for _, c := range r.Candidates[name] {
			t.Rows = append(t.Rows, []string{name, c.Type, c.Protocol, c.Address, c.Related})
		}
	}
	rep.Tables = append(rep.Tables, t)
	rep.Tables = append(rep.Tables, reports.Table{Title: "ice settings", Columns: []string{"setting", "value"}, Rows: [][]string{
		{"disconnected timeout", r.ICE.DisconnectedTimeout.String()}, {"failed timeout", r.ICE.FailedTimeout.String()},
		{"keepalive", r.ICE.KeepAlive.String()}, {"host wait", r.ICE.HostWait.String()}, {"srflx wait", r.ICE.SrflxWait.String()},
		{"prflx wait", r.ICE.PrflxWait.String()}, {"relay wait", r.ICE.RelayWait.String()},
	}})
}

func sortedNames(m map[string][]Candidate) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
