package call

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/transport/v3/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/natkit/natkit/internal/pionlog"
	"github.com/natkit/natkit/reports"
)

// probeHeader is the probe message header: kind, sequence, send time.
const probeHeader = 13

const (
	probePing = 'P'
	probeEcho = 'E'
)

// Candidate is one ICE candidate as the timeline shows it.
type Candidate struct {
	Type     string `json:"type"`
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
	Related  string `json:"related,omitempty"`
	// MDNS: the address is an mDNS (.local) name hiding a host address.
	MDNS bool `json:"mdns,omitempty"`
	// RelayProtocol is how a local relay candidate reaches its TURN
	// server: udp, tcp, tls or dtls (pion's stats). Set on the selected
	// pair's local candidate only.
	RelayProtocol string `json:"relay_protocol,omitempty"`
	// TCPType is an ICE-TCP candidate's role (RFC 6544): active (it
	// dials), passive (it listens) or so (simultaneous open).
	TCPType string `json:"tcp_type,omitempty"`
}

func (c Candidate) String() string {
	s := c.Type + " " + c.Protocol + " " + c.Address
	if c.TCPType != "" {
		s += " " + c.TCPType
	}
	if c.MDNS {
		s += " (mDNS)"
	}
	if c.Related != "" {
		s += " (base " + c.Related + ")"
	}
	return s
}

func fromICE(c *webrtc.ICECandidate) Candidate {
	out := Candidate{
		Type: c.Typ.String(), Protocol: c.Protocol.String(),
		Address: net.JoinHostPort(c.Address, strconv.Itoa(int(c.Port))),
		MDNS:    isMDNSAddress(c.Address), TCPType: c.TCPType,
	}
	if c.RelatedAddress != "" {
		out.Related = net.JoinHostPort(c.RelatedAddress, strconv.Itoa(int(c.RelatedPort)))
	}
	return out
}

// Peer is one side of a call.
type Peer struct {
	cfg   PeerConfig
	ice   ICESettings
	sig   Signaler
	tl    *Timeline
	pc    *webrtc.PeerConnection
	start time.Time

	mu         sync.Mutex
	dc         *webrtc.DataChannel
	pending    []webrtc.ICECandidateInit
	outbox     []webrtc.ICECandidateInit
	outboxOpen bool
	// describing holds trickled candidates while a description is being
	// set and sent: a candidate of a new ICE generation (a restart) that
	// overtook its offer or answer would reach the other peer's old
	// session and be lost.
	describing  bool
	early       []webrtc.ICECandidateInit
	haveRemote  bool
	candidates  []Candidate
	selected    *Pair
	connectedAt time.Time
	inflight    map[uint32]chan time.Duration
	seq         uint32
	gotFirst    bool

	connected  chan struct{}
	failed     chan struct{}
	dcOpen     chan struct{}
	remoteBye  chan struct{}
	done       chan struct{}
	closeOnce  sync.Once
	byeOnce    sync.Once
	connOnce   sync.Once
	failOnce   sync.Once
	dcOpenOnce sync.Once
	wg         sync.WaitGroup
	rtt        *reports.Recorder
	reconnects chan struct{}
	track      *webrtc.TrackLocalStaticRTP
	audioOut   atomic.Int64
	audioIn    atomic.Int64
	turn       *turnWatch
	iceTCP     *iceTCP
	// ipv6Only: the peer's network has no IPv4 address (behind NAT64).
	ipv6Only bool

	// stateMu guards changed, which is closed and replaced at each peer
	// connection state change, so that waiters block instead of polling.
	stateMu sync.Mutex
	changed chan struct{}
}

// Pair is a selected candidate pair, seen from one peer.
type Pair struct {
	Local  Candidate `json:"local"`
	Remote Candidate `json:"remote"`
}

// NewPeer creates a peer connection that signals through sig and records
// into tl.
func NewPeer(cfg PeerConfig, sig Signaler, tl *Timeline) (*Peer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Peer{
		cfg: cfg, ice: *cfg.ICE, sig: sig, tl: tl, start: time.Now(), changed: make(chan struct{}),
		turn:      newTURNWatch(cfg.Name, tl, cfg.RelayOnly),
		inflight:  map[uint32]chan time.Duration{},
		connected: make(chan struct{}), failed: make(chan struct{}), dcOpen: make(chan struct{}),
		remoteBye: make(chan struct{}), done: make(chan struct{}), reconnects: make(chan struct{}, 16),
		rtt: reports.NewLatencyRecorder("datachannel_rtt"),
	}
	if err := p.newPC(); err != nil {
		p.iceTCP.close()
		return nil, &PeerError{Peer: cfg.Name, Op: "create peer connection", Err: err}
	}
	return p, nil
}

func (p *Peer) newPC() error {
	se := webrtc.SettingEngine{}
	se.LoggerFactory = pionlog.NewFactory(p.cfg.Logger)
	n := p.cfg.Net
	if n == nil {
		std, err := stdnet.NewNet()
		if err != nil {
			return err
		}
		n = std
	}
	has4, has6 := families(n)
	p.ipv6Only = has6 && !has4
	p.turn.setDTLSHosts(p.cfg.ICEServers)
	fam := forFamilies(n, has4, has6)
	se.SetNet(&watchedNet{Net: fam, w: p.turn})
	se.SetICEMulticastDNSMode(p.cfg.MDNS.iceMode())
	types := networkTypes(has4, has6, webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6)
	if p.cfg.ICETCP {
		t, err := setupICETCP(&se, n, p.cfg.ICETCPPort, isOwnNet(n), has4, has6, se.LoggerFactory)
		if err != nil {
			return err
		}
		p.iceTCP = t
		types = append(types, networkTypes(has4, has6, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)...)
	}
	se.SetNetworkTypes(types)
	if d := newTURNDialer(fam, p.cfg.TURNRootCAs, p.cfg.ICEServers); d != nil {
		d.watch = p.turn
		se.SetICEProxyDialer(d)
	}
	se.SetICETimeouts(p.ice.DisconnectedTimeout, p.ice.FailedTimeout, p.ice.KeepAlive)
	se.SetHostAcceptanceMinWait(p.ice.HostWait)
	se.SetSrflxAcceptanceMinWait(p.ice.SrflxWait)
	se.SetPrflxAcceptanceMinWait(p.ice.PrflxWait)
	se.SetRelayAcceptanceMinWait(p.ice.RelayWait)
	opts := []func(*webrtc.API){webrtc.WithSettingEngine(se)}
	if p.cfg.Audio {
		m := &webrtc.MediaEngine{}
		if err := m.RegisterDefaultCodecs(); err != nil {
			return err
		}
		opts = append(opts, webrtc.WithMediaEngine(m))
	}
	api := webrtc.NewAPI(opts...)
	conf := webrtc.Configuration{ICEServers: p.cfg.ICEServers}
	if p.cfg.RelayOnly {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		return err
	}
	if err := p.cfg.MDNS.createAgentIn(n, pc); err != nil {
		_ = pc.Close()
		return err
	}
	p.pc = pc
	name := p.cfg.Name
	pc.OnICEGatheringStateChange(func(s webrtc.ICEGatheringState) {
		switch s {
		case webrtc.ICEGatheringStateGathering:
			p.tl.Add(name, EvGatheringStart, "")
		case webrtc.ICEGatheringStateComplete:
			p.tl.Add(name, EvGatheringComplete, fmt.Sprintf("%d candidates", p.candidateCount()))
		}
	})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		cand := fromICE(c)
		p.mu.Lock()
		p.candidates = append(p.candidates, cand)
		p.mu.Unlock()
		p.tl.Add(name, EvCandidate, cand.String())
		if p.cfg.NoTrickle {
			return
		}
		init := c.ToJSON()
		p.mu.Lock()
		if p.describing {
			p.early = append(p.early, init)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		p.sendCandidate(init)
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		p.tl.Record(Event{Peer: name, Kind: EvICEState, State: s.String()})
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		p.tl.Record(Event{Peer: name, Kind: EvPCState, State: s.String()})
		p.stateMu.Lock()
		close(p.changed)
		p.changed = make(chan struct{})
		p.stateMu.Unlock()
		switch s {
		case webrtc.PeerConnectionStateConnected:
			p.connOnce.Do(func() {
				p.mu.Lock()
				p.connectedAt = time.Now()
				p.mu.Unlock()
				close(p.connected)
			})
			select {
			case p.reconnects <- struct{}{}:
			default:
			}
		case webrtc.PeerConnectionStateFailed:
			p.failOnce.Do(func() { close(p.failed) })
		}
	})
	pc.SCTP().Transport().OnStateChange(func(s webrtc.DTLSTransportState) {
		p.tl.Record(Event{Peer: name, Kind: EvDTLSState, State: s.String()})
	})
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(cp *webrtc.ICECandidatePair) {
		pair := Pair{Local: fromICE(cp.Local), Remote: fromICE(cp.Remote)}
		p.mu.Lock()
		p.selected = &pair
		p.mu.Unlock()
		p.tl.Add(name, EvSelectedPair, pair.Local.String()+" ↔ "+pair.Remote.String())
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { p.attach(dc) })
	if p.cfg.Audio {
		return p.setupAudio()
	}
	return nil
}

// setupAudio adds the offerer's synthetic track, or the answerer's
// receiver.
func (p *Peer) setupAudio() error {
	if p.cfg.Role == RoleOffer {
		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "natkit")
		if err != nil {
			return err
		}
		if _, err := p.pc.AddTrack(track); err != nil {
			return err
		}
		p.track = track
		return nil
	}
	p.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		p.tl.Add(p.cfg.Name, EvTrack, tr.Kind().String()+" "+tr.Codec().MimeType)
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			if p.audioIn.Add(1) == 1 {
				p.tl.Add(p.cfg.Name, EvFirstRTP, "first audio packet")
			}
		}
	})
	return nil
}

// sendAudio writes a packet of Opus silence every 20 ms until the peer
// closes.
func (p *Peer) sendAudio() {
	defer p.wg.Done()
	select {
	case <-p.connected:
	case <-p.done:
		return
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: []byte{0xf8, 0xff, 0xfe}}
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
		pkt.SequenceNumber++
		pkt.Timestamp += 960
		if err := p.track.WriteRTP(pkt); err == nil {
			p.audioOut.Add(1)
		}
	}
}

// Audio returns the RTP packets sent (offerer) and received (answerer).
func (p *Peer) Audio() (sent, received int64) { return p.audioOut.Load(), p.audioIn.Load() }

func (p *Peer) candidateCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.candidates)
}

// Name returns the peer's name.
func (p *Peer) Name() string { return p.cfg.Name }

// Role returns the peer's role.
func (p *Peer) Role() Role { return p.cfg.Role }

// ICE returns the ICE settings in use.
func (p *Peer) ICE() ICESettings { return p.ice }

func (p *Peer) send(m Message) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.sig.Send(ctx, m); err != nil {
		p.tl.Add(p.cfg.Name, EvError, fmt.Sprintf("send %s: %v", m.Type, err))
		return
	}
	p.tl.Record(signalEvent(p.cfg.Name, EvSignalSend, m))
}

// signalEvent records a signaling message by its type, and its size and
// candidate type for people.
func signalEvent(peer string, kind EventKind, m Message) Event {
	detail := fmt.Sprintf("%s %dB", m.Type, m.Size())
	if t := m.CandidateType(); t != "" {
		detail += " " + t
	}
	return Event{Peer: peer, Kind: kind, Detail: detail, Signal: m.Type}
}

func (p *Peer) attach(dc *webrtc.DataChannel) {
	p.mu.Lock()
	p.dc = dc
	p.mu.Unlock()
	dc.OnOpen(func() {
		p.tl.Add(p.cfg.Name, EvDataChannelOpen, "sctp up, channel "+dc.Label())
		p.dcOpenOnce.Do(func() { close(p.dcOpen) })
	})
	dc.OnMessage(func(msg webrtc.DataChannelMessage) { p.onMessage(dc, msg.Data) })
}

func (p *Peer) onMessage(dc *webrtc.DataChannel, b []byte) {
	p.mu.Lock()
	first := !p.gotFirst
	p.gotFirst = true
	p.mu.Unlock()
	if first {
		p.tl.Add(p.cfg.Name, EvFirstMessage, fmt.Sprintf("%d bytes", len(b)))
	}
	if len(b) < probeHeader {
		return
	}
	switch b[0] {
	case probePing:
		echo := append([]byte(nil), b...)
		echo[0] = probeEcho
		_ = dc.Send(echo)
	case probeEcho:
		seq := binary.BigEndian.Uint32(b[1:5])
		sent := time.Duration(binary.BigEndian.Uint64(b[5:13]))
		rtt := time.Since(p.start) - sent
		p.mu.Lock()
		ch, ok := p.inflight[seq]
		delete(p.inflight, seq)
		p.mu.Unlock()
		if ok {
			ch <- rtt
		}
	}
}

// Start begins the call: the signaling loop, and for the offerer the data
// channel and the offer.
func (p *Peer) Start(ctx context.Context) error {
	p.wg.Add(1)
	go p.loop()
	if p.track != nil {
		p.wg.Add(1)
		go p.sendAudio()
	}
	if p.cfg.Role != RoleOffer {
		return nil
	}
	ordered := false
	var retransmits uint16
	dc, err := p.pc.CreateDataChannel("natkit", &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &retransmits})
	if err != nil {
		return &PeerError{Peer: p.cfg.Name, Op: "create data channel", Err: err}
	}
	p.attach(dc)
	return p.offer(false)
}

func (p *Peer) offer(restart bool) error {
	// pion starts a restart's gathering in CreateOffer.
	p.holdCandidates()
	defer p.releaseCandidates()
	offer, err := p.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err != nil {
		return &PeerError{Peer: p.cfg.Name, Op: "create offer", Err: err}
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return &PeerError{Peer: p.cfg.Name, Op: "set local offer", Err: err}
	}
	sdp, err := p.localSDP(offer.SDP)
	if err != nil {
		return err
	}
	p.send(Message{Type: MsgOffer, SDP: sdp})
	return nil
}

// holdCandidates keeps trickled candidates back until releaseCandidates,
// which runs once the description that starts their generation is sent.
func (p *Peer) holdCandidates() {
	p.mu.Lock()
	p.describing = true
	p.mu.Unlock()
}

func (p *Peer) releaseCandidates() {
	p.mu.Lock()
	p.describing = false
	early := p.early
	p.early = nil
	p.mu.Unlock()
	for _, c := range early {
		p.sendCandidate(c)
	}
}

// sendCandidate trickles c, or keeps it in the outbox until the answer
// when the peer sends its candidates only after the answer.
func (p *Peer) sendCandidate(c webrtc.ICECandidateInit) {
	p.mu.Lock()
	if p.cfg.CandidatesAfterAnswer && !p.outboxOpen {
		p.outbox = append(p.outbox, c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.send(Message{Type: MsgCandidate, Candidate: &c})
}

// localSDP returns the description to send: as is when trickling, or
// after gathering completed, with every candidate, when not.
func (p *Peer) localSDP(sdp string) (string, error) {
	if !p.cfg.NoTrickle {
		return sdp, nil
	}
	timeout := p.cfg.GatherTimeout
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-webrtc.GatheringCompletePromise(p.pc):
	case <-p.done:
		return "", &PeerError{Peer: p.cfg.Name, Op: "gather", Err: ErrClosed}
	case <-t.C:
		p.tl.Add(p.cfg.Name, EvError, fmt.Sprintf("gathering not complete after %v; sending what we have", timeout))
	}
	return p.pc.LocalDescription().SDP, nil
}

func (p *Peer) loop() {
	defer p.wg.Done()
	for {
		select {
		case <-p.done:
			return
		case m, ok := <-p.sig.Recv():
			if !ok {
				return
			}
			p.tl.Record(signalEvent(p.cfg.Name, EvSignalRecv, m))
			if err := p.handle(m); err != nil {
				p.tl.Add(p.cfg.Name, EvError, err.Error())
			}
		}
	}
}

func (p *Peer) handle(m Message) error {
	switch m.Type {
	case MsgOffer, MsgAnswer:
		typ := webrtc.SDPTypeOffer
		if m.Type == MsgAnswer {
			typ = webrtc.SDPTypeAnswer
		} else {
			// A restart offer can start gathering as soon as it is set.
			p.holdCandidates()
			defer p.releaseCandidates()
		}
		if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: typ, SDP: m.SDP}); err != nil {
			return &PeerError{Peer: p.cfg.Name, Op: "set remote " + m.Type, Err: err}
		}
		p.mu.Lock()
		p.haveRemote = true
		pending := p.pending
		p.pending = nil
		p.mu.Unlock()
		for _, c := range pending {
			if err := p.pc.AddICECandidate(c); err != nil {
				return &PeerError{Peer: p.cfg.Name, Op: "add buffered candidate", Err: err}
			}
		}
		if typ == webrtc.SDPTypeAnswer {
			if p.cfg.CandidatesAfterAnswer {
				p.releaseOutbox(sdpCandidates(m.SDP))
			}
			return nil
		}
		answer, err := p.pc.CreateAnswer(nil)
		if err != nil {
			return &PeerError{Peer: p.cfg.Name, Op: "create answer", Err: err}
		}
		if err := p.pc.SetLocalDescription(answer); err != nil {
			return &PeerError{Peer: p.cfg.Name, Op: "set local answer", Err: err}
		}
		sdp, err := p.localSDP(answer.SDP)
		if err != nil {
			return err
		}
		p.send(Message{Type: MsgAnswer, SDP: sdp})
	case MsgCandidate:
		if m.Candidate == nil {
			return fmt.Errorf("%w: candidate message without a candidate", ErrBadMessage)
		}
		p.mu.Lock()
		if !p.haveRemote {
			p.pending = append(p.pending, *m.Candidate)
			p.mu.Unlock()
			p.tl.Add(p.cfg.Name, EvCandidateBuffered, "candidate before the remote description; held until it arrives")
			return nil
		}
		p.mu.Unlock()
		if err := p.pc.AddICECandidate(*m.Candidate); err != nil {
			return &PeerError{Peer: p.cfg.Name, Op: "add candidate", Err: err}
		}
	case MsgBye:
		p.byeOnce.Do(func() { close(p.remoteBye) })
	default:
		return fmt.Errorf("%w: unknown type %q", ErrBadMessage, m.Type)
	}
	return nil
}

// releaseOutbox sends the held candidates once the ICE agent holds the n
// candidates of the answer. pion adds a description's candidates to the
// agent asynchronously; releasing earlier lets the answerer's checks (from
// its relay candidate, say) arrive before the agent knows that candidate,
// and the agent then learns it as peer-reflexive. The wait is bounded.
func (p *Peer) releaseOutbox(n int) {
	deadline := time.Now().Add(2 * time.Second)
	have := 0
	for n > 0 && time.Now().Before(deadline) {
		if have = p.remoteCandidateCount(); have >= n {
			break
		}
		select {
		case <-p.done:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	p.mu.Lock()
	p.outboxOpen = true
	outbox := p.outbox
	p.outbox = nil
	p.mu.Unlock()
	p.tl.Add(p.cfg.Name, EvCandidatesReleased, fmt.Sprintf("%d held candidates sent; the ice agent holds %d of the answer's %d", len(outbox), have, n))
	for i := range outbox {
		p.send(Message{Type: MsgCandidate, Candidate: &outbox[i]})
	}
}

// sdpCandidates counts a description's component-1 candidates (pion also
// writes each one for component 2, which the agent ignores).
func sdpCandidates(sdp string) int {
	n := 0
	for _, line := range strings.Split(sdp, "\n") {
		if f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "a=candidate:")); strings.HasPrefix(strings.TrimSpace(line), "a=candidate:") && len(f) > 1 && f[1] == "1" {
			n++
		}
	}
	return n
}

func (p *Peer) remoteCandidateCount() int {
	n := 0
	for _, st := range p.pc.GetStats() {
		if c, ok := st.(webrtc.ICECandidateStats); ok && c.Type == webrtc.StatsTypeRemoteCandidate {
			n++
		}
	}
	return n
}

// WaitConnected waits until the peer connection is connected, failed, or
// ctx ends. A relay-only peer whose relay refused the other peer's
// addresses (403) and granted none gives up early: ErrRelayRefusedPeer.
func (p *Peer) WaitConnected(ctx context.Context) error {
	select {
	case <-p.connected:
		return nil
	case <-p.failed:
		return &PeerError{Peer: p.cfg.Name, Op: "connect", Err: ErrFailed}
	case <-p.turn.refused:
		return &PeerError{Peer: p.cfg.Name, Op: "connect", Err: ErrRelayRefusedPeer}
	case <-ctx.Done():
		return &PeerError{Peer: p.cfg.Name, Op: "connect", Err: fmt.Errorf("%w: %w", ErrNotConnected, ctx.Err())}
	}
}

// WaitDataChannel waits until the data channel is open.
func (p *Peer) WaitDataChannel(ctx context.Context) error {
	select {
	case <-p.dcOpen:
		return nil
	case <-ctx.Done():
		return &PeerError{Peer: p.cfg.Name, Op: "open data channel", Err: fmt.Errorf("%w: %w", ErrNoDataChannel, ctx.Err())}
	}
}

// ConnectedAt returns when the peer connection first connected (zero if
// never).
func (p *Peer) ConnectedAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connectedAt
}

// Selected returns the selected candidate pair, or nil. It asks the ICE
// transport first (pion does not always report a pair change after an ICE
// restart), then falls back to the last reported pair.
func (p *Peer) Selected() *Pair {
	var pair Pair
	if cp, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair(); err == nil && cp != nil {
		pair = Pair{Local: fromICE(cp.Local), Remote: fromICE(cp.Remote)}
	} else {
		p.mu.Lock()
		if p.selected == nil {
			p.mu.Unlock()
			return nil
		}
		pair = *p.selected
		p.mu.Unlock()
	}
	if pair.Local.Type == "relay" {
		pair.Local.RelayProtocol = p.relayProtocol(pair.Local.Address)
	}
	return &pair
}

// relayProtocol is how the local relay candidate at addr reaches its TURN
// server, from pion's candidate stats ("" when they do not say).
func (p *Peer) relayProtocol(addr string) string {
	for _, st := range p.pc.GetStats() {
		c, ok := st.(webrtc.ICECandidateStats)
		if ok && c.Type == webrtc.StatsTypeLocalCandidate && c.CandidateType == webrtc.ICECandidateTypeRelay &&
			net.JoinHostPort(c.IP, strconv.Itoa(int(c.Port))) == addr {
			return c.RelayProtocol
		}
	}
	return ""
}

// Candidates returns the local candidates gathered so far.
func (p *Peer) Candidates() []Candidate {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Candidate(nil), p.candidates...)
}

// State returns the peer connection state.
func (p *Peer) State() webrtc.PeerConnectionState { return p.pc.ConnectionState() }

// WaitState blocks until the peer connection's state satisfies ok (checked
// now and at each change), and returns that state; or until ctx ends.
func (p *Peer) WaitState(ctx context.Context, ok func(webrtc.PeerConnectionState) bool) (webrtc.PeerConnectionState, error) {
	for {
		// Take the channel before reading the state: a change in between
		// closes it, so none is missed.
		p.stateMu.Lock()
		changed := p.changed
		p.stateMu.Unlock()
		if s := p.State(); ok(s) {
			return s, nil
		}
		select {
		case <-changed:
		case <-p.done:
			return p.State(), &PeerError{Peer: p.cfg.Name, Op: "wait for state", Err: ErrClosed}
		case <-ctx.Done():
			return p.State(), ctx.Err()
		}
	}
}

// TURNErrors returns the TURN servers' error responses this peer saw
// (each distinct one once), and how many permissions were granted.
func (p *Peer) TURNErrors() ([]TURNError, int) { return p.turn.result() }

// TURNHandshakeErrors returns the failed TLS and DTLS handshakes with TURN
// servers.
func (p *Peer) TURNHandshakeErrors() []TURNHandshakeError { return p.turn.handshakeErrors() }

// RTT returns the data-channel RTT recorder of this peer's probes.
func (p *Peer) RTT() *reports.Recorder { return p.rtt }

// ProbeStats counts one round of probe messages.
type ProbeStats struct {
	Sent     int `json:"sent"`
	Received int `json:"received"`
}

// Lost returns the number of probes without an echo.
func (s ProbeStats) Lost() int { return s.Sent - s.Received }

// Add sums two rounds.
func (s ProbeStats) Add(o ProbeStats) ProbeStats {
	return ProbeStats{Sent: s.Sent + o.Sent, Received: s.Received + o.Received}
}

// Probe sends cfg.Count probe messages on the data channel, which the other
// peer echoes, and records their RTT. Only the offerer probes.
func (p *Peer) Probe(ctx context.Context, cfg ProbeConfig) (ProbeStats, error) {
	if err := cfg.validate(); err != nil {
		return ProbeStats{}, err
	}
	cfg = cfg.withDefaults()
	p.mu.Lock()
	dc := p.dc
	p.mu.Unlock()
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
		return ProbeStats{}, &PeerError{Peer: p.cfg.Name, Op: "probe", Err: ErrNoDataChannel}
	}
	results := make(chan time.Duration, cfg.Count)
	var st ProbeStats
	var seqs []uint32
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	buf := make([]byte, cfg.Size)
	for i := 0; i < cfg.Count; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				p.forget(seqs)
				return st, ctx.Err()
			case <-tick.C:
			}
		}
		p.mu.Lock()
		p.seq++
		seq := p.seq
		p.inflight[seq] = results
		p.mu.Unlock()
		seqs = append(seqs, seq)
		buf[0] = probePing
		binary.BigEndian.PutUint32(buf[1:5], seq)
		binary.BigEndian.PutUint64(buf[5:13], uint64(time.Since(p.start)))
		if err := dc.Send(buf); err != nil {
			p.tl.Add(p.cfg.Name, EvError, "send probe: "+err.Error())
		}
		st.Sent++
	}
	grace := time.NewTimer(cfg.Grace)
	defer grace.Stop()
	for st.Received < st.Sent {
		select {
		case rtt := <-results:
			p.rtt.RecordDuration(rtt)
			st.Received++
		case <-grace.C:
			p.forget(seqs)
			return st, nil
		case <-ctx.Done():
			p.forget(seqs)
			return st, ctx.Err()
		}
	}
	return st, nil
}

func (p *Peer) forget(seqs []uint32) {
	p.mu.Lock()
	for _, s := range seqs {
		delete(p.inflight, s)
	}
	p.mu.Unlock()
}

// RestartICE makes a new offer with fresh ICE credentials (offerer only).
func (p *Peer) RestartICE() error {
	if p.cfg.Role != RoleOffer {
		return &PeerError{Peer: p.cfg.Name, Op: "ice restart", Err: errors.New("only the offerer restarts ice")}
	}
	p.tl.Add(p.cfg.Name, EvICERestart, "new offer with fresh ice credentials")
	return p.offer(true)
}

// Reconnected returns a channel that receives each time the peer
// connection reaches "connected".
func (p *Peer) Reconnected() <-chan struct{} { return p.reconnects }

// RemoteHungUp is closed when the other peer said bye.
func (p *Peer) RemoteHungUp() <-chan struct{} { return p.remoteBye }

// HangUp says bye to the other peer and closes the peer connection.
func (p *Peer) HangUp() error {
	p.send(Message{Type: MsgBye})
	p.tl.Add(p.cfg.Name, EvHangUp, "")
	return p.Close()
}

// Close closes the peer connection and stops the signaling loop. It does
// not close the signaler.
func (p *Peer) Close() error {
	var err error
	p.closeOnce.Do(func() {
		close(p.done)
		p.turn.stop()
		err = p.pc.Close()
		p.iceTCP.close()
		p.wg.Wait()
	})
	return err
}
