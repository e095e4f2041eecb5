package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/spf13/cobra"

	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/reports"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/signalserver/protocol"
)

func init() { register(newCallCmd) }

type callFlags struct {
	signal     string
	room       string
	roomToken  string
	iceServers string
	tokenURL   string
	user       string
	credential string
	secret     string
	relayOnly  bool
	audio      bool
	messages   int
	size       int
	timeout    time.Duration
	role       string
}

func newCallCmd(a *app) *cobra.Command {
	var f callFlags
	var out outputFlags
	cmd := &cobra.Command{
		Use:   "call [ICE-SERVER-URL...]",
		Short: "Place a real two-peer WebRTC call through a deployed signaling server and relay",
		Long: `call places a WebRTC call with a data channel through a signaling server
that speaks natkit's signaling protocol v1 (natkit signal), and reports the
verdict and the call's timeline: candidates, signaling, ICE and connection
states, the selected pair (direct or relayed, and through whose relay), DTLS
and SCTP up, data-channel RTT and lost messages.

By default it runs both peers in this process. With --role offer or
--role answer it runs one, so that two machines call each other through the
deployment: start the answerer first, then the offerer, with the same room.

ICE servers come from URLs with --user/--credential, --ice-servers FILE,
--token-url (e.g. natkit signal's /v1/ice-servers), or --secret to mint TURN
REST credentials; without any, the iceServers of the server's joined
message are used.`,
		Example: `  natkit call --signal ws://127.0.0.1:8080/ws --room test --token-url http://127.0.0.1:8080/v1/ice-servers
  natkit call --signal wss://sig.example.com/ws --room r1 turn:turn.example.com:3478 --user u --credential p --relay-only
  natkit call --signal wss://sig.example.com/ws --room r1 --role answer   # on machine B, first
  natkit call --signal wss://sig.example.com/ws --room r1 --role offer    # on machine A`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCall(cmd, a, args, &f, &out)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.signal, "signal", "", "signaling server WebSocket URL, ws://host/ws or wss://host/ws (required)")
	fl.StringVar(&f.room, "room", "", "room to meet in (required)")
	fl.StringVar(&f.roomToken, "room-token", "", "room token, when the server requires one (default $NATKIT_ROOM_TOKEN)")
	fl.StringVar(&f.iceServers, "ice-servers", "", "read ICE servers from FILE, or - for stdin")
	fl.StringVar(&f.tokenURL, "token-url", "", "GET the ICE servers from this URL (e.g. http://host/v1/ice-servers)")
	fl.StringVar(&f.user, "user", "", "TURN username for URLs given as arguments")
	fl.StringVar(&f.credential, "credential", "", "TURN password (default $NATKIT_TURN_PASSWORD)")
	fl.StringVar(&f.secret, "secret", "", "TURN REST shared secret: mint credentials locally (default $NATKIT_TURN_SECRET)")
	fl.BoolVar(&f.relayOnly, "relay-only", false, "ICE transport policy relay: only relayed candidates")
	fl.BoolVar(&f.audio, "audio", false, "add an Opus track of synthetic RTP from the offerer (both peers must use it)")
	fl.IntVar(&f.messages, "messages", 10, "data-channel probe messages the offerer sends (echoed by the answerer)")
	fl.IntVar(&f.size, "size", 64, "probe message size in bytes (16 to 65535)")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up if the call has not connected after this long; an answerer also waits this long for the offerer's bye")
	fl.StringVar(&f.role, "role", "both", "peers to run here: both, offer or answer")
	addOutputFlags(cmd, &out)
	_ = cmd.RegisterFlagCompletionFunc("role", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"both", "offer", "answer"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func (f *callFlags) validate() error {
	u, err := url.Parse(f.signal)
	switch {
	case f.signal == "":
		return usageErrorf("--signal: required, e.g. ws://127.0.0.1:8080/ws")
	case err != nil:
		return usageErrorf("--signal %q: %v", f.signal, err)
	case u.Scheme != "ws" && u.Scheme != "wss":
		return usageErrorf("--signal %q: want a ws:// or wss:// URL", f.signal)
	case u.Host == "":
		return usageErrorf("--signal %q: no host", f.signal)
	case f.room == "":
		return usageErrorf("--room: required")
	}
	if err := protocol.ValidID("--room", f.room); err != nil {
		return usageError(err)
	}
	switch f.role {
	case "both", "offer", "answer":
	default:
		return usageErrorf("--role %q: want both, offer or answer", f.role)
	}
	if f.messages < 1 {
		return usageErrorf("--messages %d: want 1 or more", f.messages)
	}
	if f.size < 16 || f.size > 65535 {
		return usageErrorf("--size %d: want 16 to 65535", f.size)
	}
	if f.timeout <= 0 {
		return usageErrorf("--timeout %v: must be positive", f.timeout)
	}
	return nil
}

func runCall(cmd *cobra.Command, a *app, args []string, f *callFlags, out *outputFlags) error {
	if err := out.validate(); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	ctx := cmd.Context()
	if f.roomToken == "" {
		f.roomToken = os.Getenv("NATKIT_ROOM_TOKEN")
	}
	if !cmd.Flags().Changed("credential") && f.user != "" {
		f.credential = os.Getenv("NATKIT_TURN_PASSWORD")
	}
	if !cmd.Flags().Changed("secret") && f.user == "" && (len(args) > 0 || f.iceServers != "") {
		f.secret = os.Getenv("NATKIT_TURN_SECRET")
	}
	var servers []webrtc.ICEServer
	if len(args) > 0 || f.iceServers != "" || f.tokenURL != "" {
		ss, err := iceconfig.Load(ctx, iceconfig.Input{
			URLs: args, Username: f.user, Credential: f.credential, File: f.iceServers,
			Stdin: a.stdin, TokenURL: f.tokenURL, Secret: f.secret,
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return usageError(err)
		}
		servers = ss.WebRTC()
	}
	rep := reports.New("call", "call "+f.room)
	rep.Target = redactSignal(f.signal)
	res, err := placeCall(ctx, a, f, servers, rep)
	if res != nil {
		callReport(rep, res, f)
	} else if err != nil && ctx.Err() == nil {
		rep.AddCheck(reports.Check{ID: "signal", Name: "signaling", Verdict: reports.VerdictFail, Observed: err.Error(),
			Message: "the call could not start: check --signal, --room and the server's logs"})
		rep.Summary = err.Error()
	}
	rep.Finish()
	if ctx.Err() != nil {
		rep.Interrupt()
	}
	return a.emit(rep, out)
}

func redactSignal(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}

// placeCall joins the room with one or two signaling clients and runs the
// call.
func placeCall(ctx context.Context, a *app, f *callFlags, servers []webrtc.ICEServer, rep *reports.Report) (*call.Result, error) {
	peer := func(name string, role call.Role, joined protocol.Message) call.PeerConfig {
		ss := servers
		if len(ss) == 0 {
			for _, s := range joined.ICEServers {
				ss = append(ss, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
			}
		}
		return call.PeerConfig{Name: name, Role: role, ICEServers: ss, RelayOnly: f.relayOnly, Audio: f.audio, LoggerFactory: vnetPionLoggers(a)}
	}
	probe := call.ProbeConfig{Count: f.messages, Size: f.size}
	switch f.role {
	case "both":
		sa, ja, err := joinRoom(ctx, f, rep, "a")
		if err != nil {
			return nil, err
		}
		sb, jb, err := joinRoom(ctx, f, rep, "b")
		if err != nil {
			_ = sa.Close()
			return nil, err
		}
		if err := sa.waitPeer(ctx, ja, f.timeout); err != nil {
			_ = sa.Close()
			_ = sb.Close()
			return nil, err
		}
		return call.RunWith(ctx, call.Config{A: peer("a", call.RoleOffer, ja), B: peer("b", call.RoleAnswer, jb), ConnectTimeout: f.timeout, Probe: probe}, sa, sb)
	case "offer":
		s, j, err := joinRoom(ctx, f, rep, "offer")
		if err != nil {
			return nil, err
		}
		if err := s.waitPeer(ctx, j, f.timeout); err != nil {
			_ = s.Close()
			return nil, err
		}
		defer s.Close()
		return call.RunSolo(ctx, call.SoloConfig{Peer: peer("offer", call.RoleOffer, j), ConnectTimeout: f.timeout, Probe: probe}, s)
	default:
		s, j, err := joinRoom(ctx, f, rep, "answer")
		if err != nil {
			return nil, err
		}
		defer s.Close()
		return call.RunSolo(ctx, call.SoloConfig{Peer: peer("answer", call.RoleAnswer, j), ConnectTimeout: f.timeout, Linger: f.timeout}, s)
	}
}

// wsSignaler carries a call's messages over signaling protocol v1.
type wsSignaler struct {
	c      *client.Client
	name   string
	rep    *reports.Report
	repMu  *sync.Mutex
	in     chan call.Message
	joined chan string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu sync.Mutex
	to string
}

var reportMu sync.Mutex

func joinRoom(ctx context.Context, f *callFlags, rep *reports.Report, name string) (*wsSignaler, protocol.Message, error) {
	dctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	c, err := client.Dial(dctx, f.signal, nil)
	if err != nil {
		return nil, protocol.Message{}, err
	}
	j, err := c.Join(dctx, f.room, client.JoinOptions{Token: f.roomToken})
	if err != nil {
		_ = c.Close()
		return nil, protocol.Message{}, err
	}
	rctx, rcancel := context.WithCancel(context.Background())
	s := &wsSignaler{c: c, name: name, rep: rep, repMu: &reportMu, in: make(chan call.Message, 256), joined: make(chan string, 8), cancel: rcancel}
	s.event("joined", fmt.Sprintf("room %s as %s, %d other peer(s), %d ice server(s) offered", f.room, j.Peer, len(j.Peers), len(j.ICEServers)))
	s.wg.Add(1)
	go s.recv(rctx)
	return s, j, nil
}

func (s *wsSignaler) event(kind, detail string) {
	s.repMu.Lock()
	s.rep.AddEvent(time.Now(), s.name, kind, detail)
	s.repMu.Unlock()
}

func (s *wsSignaler) recv(ctx context.Context) {
	defer s.wg.Done()
	defer close(s.in)
	for {
		m, err := s.c.Recv(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, client.ErrClosed) {
				s.event("signal-error", err.Error())
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
			s.event("peer-joined", m.Peer)
			select {
			case s.joined <- m.Peer:
			default:
			}
		case protocol.TypePeerLeft:
			s.event("peer-left", m.Peer)
		case protocol.TypeError:
			s.event("signal-error", m.Err().Error())
		}
	}
}

// waitPeer finds the peer to call: one already in the room, or the next
// to join.
func (s *wsSignaler) waitPeer(ctx context.Context, j protocol.Message, timeout time.Duration) error {
	if len(j.Peers) > 0 {
		s.mu.Lock()
		s.to = j.Peers[0]
		s.mu.Unlock()
		return nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case p := <-s.joined:
		s.mu.Lock()
		s.to = p
		s.mu.Unlock()
		return nil
	case <-t.C:
		return fmt.Errorf("%w: no other peer joined room %q within %v; start the answerer first", call.ErrNotConnected, j.Room, timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *wsSignaler) Send(ctx context.Context, m call.Message) error {
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

func (s *wsSignaler) Recv() <-chan call.Message { return s.in }

func (s *wsSignaler) Close() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		err = s.c.Close()
		s.wg.Wait()
	})
	return err
}

// callReport turns a call result into checks: connected, messages echoed,
// and (with --relay-only) relayed.
func callReport(rep *reports.Report, r *call.Result, f *callFlags) {
	r.Fill(rep)
	obs := "not connected"
	if r.Connected {
		obs = fmt.Sprintf("connected in %v", r.TimeToConnected.Round(time.Millisecond))
	}
	c := reports.Check{ID: "connected", Name: "the call connects", Expected: "connected", Observed: obs, Verdict: reports.VerdictPass}
	if !r.Connected {
		c.Verdict = reports.VerdictFail
		c.Message = callDiagnosis(r)
	}
	rep.AddCheck(c)
	if r.Connected {
		rep.AddCheck(reports.Check{ID: "path", Name: "media path", Verdict: pathVerdict(r, f), Expected: map[bool]string{true: "relay", false: "any"}[f.relayOnly], Observed: r.Path.Describe()})
	}
	if r.Messages.Sent > 0 {
		v := reports.VerdictPass
		if r.Messages.Lost() > 0 {
			v = reports.VerdictFail
		}
		rep.AddCheck(reports.Check{ID: "messages", Name: "probe messages echoed", Verdict: v,
			Expected: fmt.Sprint(r.Messages.Sent), Observed: fmt.Sprintf("%d of %d (%d lost)", r.Messages.Received, r.Messages.Sent, r.Messages.Lost())})
	}
	if r.Audio != nil && r.Audio.Sent > 0 && f.role == "both" {
		v := reports.VerdictPass
		if r.Audio.Received == 0 {
			v = reports.VerdictFail
		}
		rep.AddCheck(reports.Check{ID: "audio", Name: "audio packets received", Verdict: v,
			Expected: "> 0", Observed: fmt.Sprintf("%d of %d RTP packets", r.Audio.Received, r.Audio.Sent)})
	}
	parts := []string{obs}
	if r.Connected {
		parts = append(parts, r.Path.Describe())
	}
	if r.Messages.Sent > 0 {
		parts = append(parts, fmt.Sprintf("%d/%d messages echoed", r.Messages.Received, r.Messages.Sent))
	}
	rep.Summary = strings.Join(parts, "; ")
	_ = rep.SetDetails(r)
}

func pathVerdict(r *call.Result, f *callFlags) reports.Verdict {
	if f.relayOnly && r.Path.Class != call.PathRelay {
		return reports.VerdictFail
	}
	return reports.VerdictPass
}

// callDiagnosis names the likely cause of a call that did not connect.
func callDiagnosis(r *call.Result) string {
	var mine []call.Candidate
	for _, cs := range r.Candidates {
		mine = append(mine, cs...)
	}
	relay := false
	for _, c := range mine {
		if c.Type == "relay" {
			relay = true
		}
	}
	gotRemote := false
	for _, e := range r.Events {
		if e.Kind == call.EvSignalRecv && (strings.HasPrefix(e.Detail, "offer") || strings.HasPrefix(e.Detail, "answer")) {
			gotRemote = true
		}
	}
	switch {
	case !gotRemote:
		return "no offer or answer arrived through the signaling server: is the other peer in the same room?"
	case len(mine) == 0:
		return "no local candidate was gathered: with --relay-only, the TURN server gave no relay candidate (check it with natkit gather --expect relay)"
	case !relay:
		return "no relay candidate was gathered, and the direct paths failed: add a TURN server, or check its credentials with natkit gather --expect relay"
	}
	return "ICE checks failed on every candidate pair, relayed ones included: check that the relay can reach the other peer's relay address"
}
