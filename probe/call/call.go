package call

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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
	// SeenAs is the address the partner saw this peer's direct candidate
	// at, when it differs from the candidate's: a NAT translated it.
	SeenAs string `json:"seen_as,omitempty"`
}

// Direct reports whether the path avoids the relay.
func (p Path) Direct() bool { return p.Class == PathDirectHost || p.Class == PathDirectNAT }

// Describe says it in a sentence.
func (p Path) Describe() string {
	switch p.Class {
	case PathDirectHost:
		return "direct between host addresses (same LAN, or no NAT)" + p.overICETCP() + p.overIPv6()
	case PathDirectNAT:
		translated := ""
		if p.SeenAs != "" {
			translated = "; this peer's " + p.Pair.Local.Address + " reached the other as " + p.SeenAs
		}
		return fmt.Sprintf("direct through NAT (%s ↔ %s%s)", p.Pair.Local.Type, p.Pair.Remote.Type, translated) + p.overICETCP() + p.overIPv6()
	case PathRelay:
		return "relayed through " + strings.Join(p.RelayedBy, " and ") + "'s TURN relay" + p.overStream() + p.overIPv6()
	}
	return "no path: no candidate pair was selected"
}

// PathOf classifies pair as seen by peer self, whose partner is other.
// remote are the partner's own candidates when known (nil otherwise): a
// peer-reflexive or server-reflexive remote candidate that is really one
// of them (the check arrived before the trickled candidate, or no NAT
// translated it) takes that candidate's type, a host one first. A
// reflexive candidate equal to its own base crossed no NAT: it counts as
// host, so that two peers without NAT are "direct-host" whichever of the
// equal pairs ICE happened to select.
func PathOf(pair *Pair, self, other string, remote []Candidate) Path {
	if pair == nil {
		return Path{Class: PathNone}
	}
	cp := *pair
	pair = &cp
	if t := pair.Remote.Type; t == "prflx" || t == "srflx" {
		for _, c := range remote {
			if (c.Address == pair.Remote.Address || resolvesTo(c, pair.Remote)) && c.Protocol == pair.Remote.Protocol {
				pair.Remote.Type, pair.Remote.MDNS = c.Type, c.MDNS
				if c.Type == "host" {
					break
				}
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
	case untranslated(pair.Local) && untranslated(pair.Remote):
		p.Class = PathDirectHost
	default:
		p.Class = PathDirectNAT
	}
	return p
}

// SeenBy refines p with the partner's own selected pair: when the partner
// saw this peer's direct candidate at another address, a NAT translated it
// on the way, and the path is through NAT even between host candidates
// (pion learns no reflexive ICE-TCP candidate, so an active TCP connection
// through NAT pairs two host candidates). partner may be nil.
func (p Path) SeenBy(partner *Pair) Path {
	if !p.Direct() || partner == nil || p.Pair == nil || partner.Remote.MDNS || p.Pair.Local.MDNS {
		return p
	}
	if seen := partner.Remote.Address; seen != "" && seen != p.Pair.Local.Address && partner.Remote.Protocol == p.Pair.Local.Protocol {
		p.Class, p.SeenAs = PathDirectNAT, seen
	}
	return p
}

// untranslated: a host candidate, or a reflexive one equal to its base.
func untranslated(c Candidate) bool {
	return c.Type == "host" || (c.Type == "srflx" && c.Related == c.Address)
}

// Config is a two-peer call in one process.
type Config struct {
	// A is the offerer, B the answerer; Call sets their Role. Default
	// names "a" and "b".
	A, B PeerConfig
	// Signaling shapes the in-process signaling pipe (New and Run only).
	// Default: instant, in order.
	Signaling PipeConfig
	// ConnectTimeout bounds the wait for "connected". Default 30s.
	ConnectTimeout time.Duration
	// Probe is the data-channel probe of Run. Default: 10 × 64 bytes,
	// every 20ms.
	Probe ProbeConfig
	// NoDirectPath is the caller's explanation of why the two peers'
	// networks rule out a direct path (e.g. vnet.WhyNoDirectPath), used by
	// Diagnosis. Default "": unknown.
	NoDirectPath string
	// Timeline is where the call records its events; pass the one a
	// signaler records into to get both in one. Default: a new one.
	Timeline *Timeline
}

func (c Config) withDefaults() Config {
	c.A.Role, c.B.Role = RoleOffer, RoleAnswer
	if c.A.Name == "" {
		c.A.Name = "a"
	}
	if c.B.Name == "" {
		c.B.Name = "b"
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 30 * time.Second
	}
	if c.Timeline == nil {
		c.Timeline = &Timeline{}
	}
	return c
}

func (c Config) validate() error {
	if c.ConnectTimeout < 0 {
		return configErrorf("connect timeout", "must not be negative")
	}
	for _, p := range []PeerConfig{c.A, c.B} {
		if p.ICE != nil {
			if err := p.ICE.validate(); err != nil {
				return err
			}
		}
		if p.GatherTimeout < 0 {
			return configErrorf("gather timeout", "must not be negative")
		}
	}
	if err := c.Signaling.validate(); err != nil {
		return err
	}
	return c.Probe.validate()
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

	mu     sync.Mutex
	ctx    context.Context // Start's, to tell an interrupted call
	runErr error           // the first wait or probe that failed
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
	cfg = cfg.withDefaults()
	c := &Call{Timeline: cfg.Timeline, Started: time.Now(), cfg: cfg, sigA: sigA, sigB: sigB}
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

// Start starts both peers; the offerer sends its offer. ctx ending later
// marks the call interrupted.
func (c *Call) Start(ctx context.Context) error {
	c.Started = time.Now()
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	if err := c.B.Start(ctx); err != nil {
		return c.fail(err)
	}
	return c.fail(c.A.Start(ctx))
}

// fail notes the first error of the call, for its Cause.
func (c *Call) fail(err error) error {
	if err != nil {
		c.mu.Lock()
		if c.runErr == nil {
			c.runErr = err
		}
		c.mu.Unlock()
	}
	return err
}

// WaitConnected waits until both peers are connected and the data channel
// is open on both, or until the connect timeout.
func (c *Call) WaitConnected(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	for _, p := range []*Peer{c.A, c.B} {
		if err := p.WaitConnected(ctx); err != nil {
			return c.fail(err)
		}
	}
	for _, p := range []*Peer{c.A, c.B} {
		if err := p.WaitDataChannel(ctx); err != nil {
			return c.fail(err)
		}
	}
	return nil
}

// Probe sends probe messages from A, echoed by B.
func (c *Call) Probe(ctx context.Context, cfg ProbeConfig) (ProbeStats, error) {
	st, err := c.A.Probe(ctx, cfg)
	c.probes = c.probes.Add(st)
	return st, c.fail(err)
}

// HangUp ends the call from A, after noting the path in use.
func (c *Call) HangUp() {
	c.snapshot()
	_ = c.A.HangUp()
}

// snapshot notes the path while the peer connection is still open.
func (c *Call) snapshot() {
	p := PathOf(c.A.Selected(), c.A.Name(), c.B.Name(), c.B.Candidates()).SeenBy(c.B.Selected())
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

// Result is what a call did, and why it ended as it did.
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
	// Cause is why the call ended as it did; Diagnosis says it in words.
	Cause Cause `json:"cause"`
	// Error is the error that stopped the call, if one did.
	Error string `json:"error,omitempty"`
	// TURNErrors are the TURN servers' error responses the peers saw
	// (a 401 challenge or a stale nonce is not one).
	TURNErrors []TURNError `json:"turn_errors,omitempty"`
	// PermissionsGranted counts the TURN permissions and channel bindings
	// the relays granted.
	PermissionsGranted int `json:"permissions_granted,omitempty"`
	// RelayOnly: the ICE transport policy was relay.
	RelayOnly bool `json:"relay_only,omitempty"`
	// RelayConfigured: a turn: or turns: server was given.
	RelayConfigured bool `json:"relay_configured,omitempty"`
	// Unreached are the sides given STUN or TURN servers that gathered
	// neither a srflx nor a relay candidate from them, nor an error
	// response: none of their servers answered.
	Unreached []string `json:"unreached,omitempty"`
	// TURNHandshakeErrors are the failed TLS and DTLS handshakes with TURN
	// servers of the sides that gathered no relay candidate.
	TURNHandshakeErrors []TURNHandshakeError `json:"turn_handshake_errors,omitempty"`
	// RelayNotGathered are the sides given TURN servers that gathered no
	// relay candidate and read no error answer from them (a side in
	// Unreached is not repeated here).
	RelayNotGathered []string `json:"relay_not_gathered,omitempty"`
	// RelayNotGatheredWhy says, by side, what its configuration shows,
	// e.g. IPv4 literal TURN URLs on an IPv6-only host.
	RelayNotGatheredWhy map[string]string `json:"relay_not_gathered_why,omitempty"`
	// NoDirectPath is Config.NoDirectPath.
	NoDirectPath string `json:"no_direct_path,omitempty"`
	// RTT is the data-channel round-trip time of the probes.
	RTT *reports.Recorder `json:"-"`
}

// AudioStats counts the synthetic audio track's packets.
type AudioStats struct {
	Sent     int64 `json:"sent"`
	Received int64 `json:"received"`
}

// Result summarises the call so far, with its Cause.
func (c *Call) Result() *Result {
	r := newResult(c.Started, c.A, c.Timeline, c.cfg.NoDirectPath, c.A, c.B)
	r.Messages = c.probes
	if c.cfg.A.Audio {
		sent, _ := c.A.Audio()
		_, recv := c.B.Audio()
		r.Audio = &AudioStats{Sent: sent, Received: recv}
	}
	if c.path != nil {
		r.Path = *c.path
	} else {
		r.Path = PathOf(c.A.Selected(), c.A.Name(), c.B.Name(), c.B.Candidates()).SeenBy(c.B.Selected())
	}
	c.mu.Lock()
	ctx, runErr := c.ctx, c.runErr
	c.mu.Unlock()
	r.finish(ctx, runErr)
	return r
}

// newResult fills what every result holds from its peers: candidates,
// time to connected (when all of them connected), TURN errors, settings.
func newResult(started time.Time, self *Peer, tl *Timeline, noDirect string, peers ...*Peer) *Result {
	r := &Result{
		Started: started, ICE: self.ICE(), RTT: self.RTT(), Candidates: map[string][]Candidate{},
		Events: tl.Events(), NoDirectPath: noDirect, RelayOnly: self.cfg.RelayOnly,
	}
	var last time.Time
	r.Connected = true
	for _, p := range peers {
		r.Candidates[p.Name()] = p.Candidates()
		errs, granted := p.TURNErrors()
		r.TURNErrors = append(r.TURNErrors, errs...)
		handshakes := p.TURNHandshakeErrors()
		if !hasType(r.Candidates[p.Name()], "relay") {
			r.TURNHandshakeErrors = append(r.TURNHandshakeErrors, handshakes...)
		}
		r.PermissionsGranted += granted
		servers, turn := false, false
		for _, s := range p.cfg.ICEServers {
			for _, u := range s.URLs {
				turn = turn || isRelayURL(u)
				servers = true
			}
		}
		r.RelayConfigured = r.RelayConfigured || turn
		// An error response (401, 403, 486…) is an answer: that server was
		// reached, and its error is the cause to name.
		if servers && len(errs) == 0 && len(handshakes) == 0 && !hasServerCandidate(r.Candidates[p.Name()]) {
			r.Unreached = append(r.Unreached, p.Name())
		} else if turn && len(errs) == 0 && len(handshakes) == 0 && !hasType(r.Candidates[p.Name()], "relay") {
			r.RelayNotGathered = append(r.RelayNotGathered, p.Name())
			if why := ipv4LiteralsOnIPv6Only(p.cfg, p.ipv6Only); why != "" {
				if r.RelayNotGatheredWhy == nil {
					r.RelayNotGatheredWhy = map[string]string{}
				}
				r.RelayNotGatheredWhy[p.Name()] = why
			}
		}
		at := p.ConnectedAt()
		if at.IsZero() {
			r.Connected = false
		} else if at.After(last) {
			last = at
		}
	}
	if r.Connected {
		r.TimeToConnected = last.Sub(started)
	}
	return r
}

// finish sets Error and Cause. ctx is the one the call started under (nil
// if it never started).
func (r *Result) finish(ctx context.Context, runErr error) {
	if runErr != nil {
		r.Error = runErr.Error()
	}
	if ctx == nil {
		r.Cause = CauseNotRun
		return
	}
	r.Cause = r.classify(runErr, ctx.Err() != nil)
}

// NotStarted is the result of a call whose signaling failed before the
// peers existed (joining a room, waiting for the other peer): its Cause is
// signaling-failed, or interrupted when ctx ended it. tl holds what the
// signaler recorded.
func NotStarted(ctx context.Context, started time.Time, tl *Timeline, err error) *Result {
	r := &Result{Started: started, Cause: CauseSignalingFailed, Candidates: map[string][]Candidate{}, Path: Path{Class: PathNone}}
	if tl != nil {
		r.Events = tl.Events()
	}
	if err != nil {
		r.Error = err.Error()
	}
	if ctx.Err() != nil {
		r.Cause = CauseInterrupted
	}
	return r
}

// Run places a whole call over an in-process pipe: connect, probe, hang
// up. A call that does not connect is a Result with Connected false and a
// Cause, not an error; errors are for bad configs and broken setups, and
// ctx's error when it ended the call (the Result is then interrupted).
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
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	if err := c.WaitConnected(ctx); err == nil {
		if _, err := c.Probe(ctx, c.cfg.Probe); err == nil {
			c.HangUp()
		}
	}
	return c.Result(), ctx.Err()
}

// SoloConfig is one peer of a call whose other peer runs elsewhere (e.g.
// natkit call --role on another machine).
type SoloConfig struct {
	// Peer configures this peer; its Role says offer or answer. Required.
	Peer PeerConfig
	// ConnectTimeout bounds the wait for "connected". Default 30s.
	ConnectTimeout time.Duration
	// Probe is what the offerer sends. Default: 10 × 64 bytes, every 20ms.
	Probe ProbeConfig
	// Linger is how long an answerer stays after connecting when the
	// offerer does not hang up. Default 30s.
	Linger time.Duration
	// Timeline is where the peer records; pass the signaler's. Default: a
	// new one.
	Timeline *Timeline
}

func (c SoloConfig) withDefaults() SoloConfig {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 30 * time.Second
	}
	if c.Linger == 0 {
		c.Linger = 30 * time.Second
	}
	if c.Timeline == nil {
		c.Timeline = &Timeline{}
	}
	return c
}

func (c SoloConfig) validate() error {
	if c.ConnectTimeout < 0 || c.Linger < 0 {
		return configErrorf("timeout", "must not be negative")
	}
	if err := c.Peer.validate(); err != nil {
		return err
	}
	return c.Probe.validate()
}

// RunSolo runs one peer: the offerer connects, probes and hangs up; the
// answerer connects, echoes, and stays until the offerer hangs up (or
// Linger). The result is seen from this peer; the other peer's candidates
// are unknown, so Path keeps peer-reflexive remote candidates as such.
func RunSolo(ctx context.Context, cfg SoloConfig, sig Signaler) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tl := cfg.Timeline
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
	r := newResult(started, p, tl, "", p)
	r.Messages, r.Path = probes, *path
	if cfg.Peer.Audio {
		sent, recv := p.Audio()
		r.Audio = &AudioStats{Sent: sent, Received: recv}
	}
	r.finish(ctx, runErr)
	return r, ctx.Err()
}

// hasServerCandidate reports whether cs holds a candidate only a STUN or
// TURN server's answer gives: server-reflexive or relay.
func hasServerCandidate(cs []Candidate) bool {
	return hasType(cs, "srflx") || hasType(cs, "relay")
}

func hasType(cs []Candidate, typ string) bool {
	for _, c := range cs {
		if c.Type == typ {
			return true
		}
	}
	return false
}
