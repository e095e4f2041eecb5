package call

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/natkit/natkit/vnet"
)

// pion/turn's client can leave a ChannelBind transaction waiting out its
// retransmissions after the allocation closes; it ends on its own.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/pion/turn/v4/internal/client.(*Transaction).WaitForResult"))
}

func vnetConfig(t *testing.T, top *vnet.Topology, turn bool) Config {
	t.Helper()
	na, err := top.Net(vnet.SideA)
	require.NoError(t, err)
	nb, err := top.Net(vnet.SideB)
	require.NoError(t, err)
	servers := []webrtc.ICEServer{{URLs: []string{top.STUNURL()}}}
	if turn {
		servers = append(servers, webrtc.ICEServer{URLs: []string{top.TURNURL()}, Username: "natkit", Credential: "natkit"})
	}
	fast := FastICE()
	return Config{
		A:              PeerConfig{Net: na, ICEServers: servers, ICE: &fast},
		B:              PeerConfig{Net: nb, ICEServers: servers, ICE: &fast},
		ConnectTimeout: 8 * time.Second,
		Probe:          ProbeConfig{Count: 5, Interval: 5 * time.Millisecond},
	}
}

func TestCallOverVNet(t *testing.T) {
	tests := []struct {
		a, b      string
		turn      bool
		connected bool
		path      string
	}{
		{"open", "open", false, true, PathDirectHost},
		{"full-cone", "port-restricted-cone", false, true, PathDirectNAT},
		{"symmetric", "restricted-cone", false, true, PathDirectNAT},
		{"symmetric", "port-restricted-cone", false, false, PathNone},
		{"symmetric", "symmetric", true, true, PathRelay},
	}
	for _, tt := range tests {
		t.Run(tt.a+"/"+tt.b, func(t *testing.T) {
			top, err := vnet.Build(vnet.Spec{A: vnet.Side{Preset: tt.a}, B: vnet.Side{Preset: tt.b}})
			require.NoError(t, err)
			defer top.Close()
			res, err := Run(context.Background(), vnetConfig(t, top, tt.turn))
			require.NoError(t, err)
			require.Equal(t, tt.connected, res.Connected, "error %q", res.Error)
			if tt.connected {
				require.Equal(t, tt.path, res.Path.Class, res.Path.Describe())
				require.Equal(t, 5, res.Messages.Received)
				require.EqualValues(t, 5, res.RTT.Count())
			}
			kinds := map[EventKind]bool{}
			for _, e := range res.Events {
				kinds[e.Kind] = true
			}
			for _, k := range []EventKind{EvGatheringStart, EvCandidate, EvSignalSend, EvSignalRecv, EvICEState} {
				require.True(t, kinds[k], "timeline has %s", k)
			}
		})
	}
}

func TestPipeCandidatesBeforeOffer(t *testing.T) {
	a, b := NewPipe(PipeConfig{HoldDescriptions: 50 * time.Millisecond, DropCandidateTypes: []string{"relay"}})
	defer a.Close()
	ctx := context.Background()
	cand := func(typ string) Message {
		return Message{Type: MsgCandidate, Candidate: &webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 203.0.113.1 5000 typ " + typ}}
	}
	require.NoError(t, a.Send(ctx, Message{Type: MsgOffer, SDP: "v=0"}))
	require.NoError(t, a.Send(ctx, cand("host")))
	require.NoError(t, a.Send(ctx, cand("relay")))
	require.NoError(t, a.Send(ctx, cand("srflx")))
	var got []string
	for i := 0; i < 3; i++ {
		m := <-b.Recv()
		got = append(got, m.Type+":"+m.CandidateType())
	}
	require.Equal(t, []string{"candidate:host", "candidate:srflx", "offer:"}, got)
}

func TestConfigErrors(t *testing.T) {
	bad := FastICE()
	bad.FailedTimeout = -1
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative ice", Config{A: PeerConfig{ICE: &bad}}, "ice failed_timeout"},
		{"probe size", Config{Probe: ProbeConfig{Size: 3}}, "message size"},
		{"drop type", Config{Signaling: PipeConfig{DropCandidateTypes: []string{"mdns"}}}, "drop_candidates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			require.ErrorIs(t, err, ErrConfig)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestRunSoloBothRoles(t *testing.T) {
	top, err := vnet.Build(vnet.Spec{A: vnet.Side{Preset: "full-cone"}, B: vnet.Side{Preset: "symmetric"}})
	require.NoError(t, err)
	defer top.Close()
	cfg := vnetConfig(t, top, false)
	cfg.A.Role, cfg.B.Role = RoleOffer, RoleAnswer
	sigA, sigB := NewPipe(PipeConfig{})
	defer sigA.Close()
	answered := make(chan *Result, 1)
	go func() {
		r, _ := RunSolo(context.Background(), SoloConfig{Peer: cfg.B, ConnectTimeout: 8 * time.Second, Linger: 5 * time.Second}, sigB)
		answered <- r
	}()
	offered, err := RunSolo(context.Background(), SoloConfig{Peer: cfg.A, ConnectTimeout: 8 * time.Second, Probe: ProbeConfig{Count: 3}}, sigA)
	require.NoError(t, err)
	require.True(t, offered.Connected, offered.Error)
	require.Equal(t, 3, offered.Messages.Received)
	require.True(t, offered.Path.Direct(), offered.Path.Describe())
	ans := <-answered
	require.True(t, ans.Connected, ans.Error)
	require.Less(t, ans.Events[len(ans.Events)-1].At.Sub(ans.Started), 5*time.Second, "the answerer left on the offerer's bye, not after lingering")
}

func TestCallWithAudio(t *testing.T) {
	top, err := vnet.Build(vnet.Spec{A: vnet.Side{Preset: "port-restricted-cone"}, B: vnet.Side{Preset: "full-cone"}})
	require.NoError(t, err)
	defer top.Close()
	cfg := vnetConfig(t, top, false)
	cfg.A.Audio, cfg.B.Audio = true, true
	cfg.Probe = ProbeConfig{Count: 20, Interval: 20 * time.Millisecond}
	res, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.True(t, res.Connected, res.Error)
	require.NotNil(t, res.Audio)
	require.Greater(t, res.Audio.Sent, int64(5))
	require.Greater(t, res.Audio.Received, int64(0))
	require.LessOrEqual(t, res.Audio.Received, res.Audio.Sent)
	kinds := map[EventKind]bool{}
	for _, e := range res.Events {
		kinds[e.Kind] = true
	}
	require.True(t, kinds[EvTrack] && kinds[EvFirstRTP], "the answerer saw the track and its first packet")
}

func TestPipeOrdering(t *testing.T) {
	tests := []struct {
		name    string
		cfg     PipeConfig
		ordered bool
	}{
		{"fifo despite jitter", PipeConfig{Jitter: 20 * time.Millisecond, Seed: 5}, true},
		{"reorder with jitter", PipeConfig{Jitter: 20 * time.Millisecond, Reorder: true, Seed: 5}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := NewPipe(tt.cfg)
			defer a.Close()
			for i := 0; i < 30; i++ {
				require.NoError(t, a.Send(context.Background(), Message{Type: MsgCandidate, Candidate: &webrtc.ICECandidateInit{Candidate: string(rune('A' + i))}}))
			}
			inOrder := true
			prev := ""
			for i := 0; i < 30; i++ {
				m := <-b.Recv()
				if m.Candidate.Candidate < prev {
					inOrder = false
				}
				prev = m.Candidate.Candidate
			}
			require.Equal(t, tt.ordered, inOrder)
		})
	}
}

// TestRestartCandidatesFollowDescription: after an ICE restart each peer
// sends its new candidates only after the description that starts their
// generation (a candidate that overtakes the restart offer reaches the
// other peer's old session and is lost: between two port-restricted
// NATs the restart then never connects), and the call comes back.
func TestRestartCandidatesFollowDescription(t *testing.T) {
	top, err := vnet.Build(vnet.Spec{A: vnet.Side{Preset: "port-restricted-cone"}, B: vnet.Side{Preset: "port-restricted-cone"}})
	require.NoError(t, err)
	defer top.Close()
	c, err := New(vnetConfig(t, top, false))
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	require.NoError(t, c.Start(ctx))
	require.NoError(t, c.WaitConnected(ctx))
	for i := 0; i < 3; i++ {
		from := len(c.Timeline.Events())
		require.NoError(t, c.A.RestartICE())
		require.Eventually(t, func() bool {
			if c.A.State() != webrtc.PeerConnectionStateConnected || c.B.State() != webrtc.PeerConnectionStateConnected {
				return false
			}
			st, err := c.Probe(ctx, ProbeConfig{Count: 1, Grace: 200 * time.Millisecond})
			return err == nil && st.Received == 1
		}, 10*time.Second, 50*time.Millisecond, "restart %d recovers", i+1)
		first := map[string]string{}
		candidates := 0
		for _, e := range c.Timeline.Events()[from:] {
			if e.Kind != EvSignalSend {
				continue
			}
			if _, ok := first[e.Peer]; !ok {
				first[e.Peer] = e.Signal
			}
			if e.Signal == MsgCandidate {
				candidates++
			}
		}
		require.Equal(t, MsgOffer, first["a"], "restart %d: a's first message", i+1)
		require.Equal(t, MsgAnswer, first["b"], "restart %d: b's first message", i+1)
		require.Positive(t, candidates, "restart %d trickles new candidates", i+1)
	}
}
