package call

import (
	"context"
	"net"
	"testing"

	"github.com/pion/stun/v3"
	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	desc := Event{Kind: EvSignalRecv, Signal: MsgAnswer}
	failed := Event{Kind: EvICEState, State: "failed"}
	host := map[string][]Candidate{"a": {{Type: "host"}}}
	relay := map[string][]Candidate{"a": {{Type: "relay"}}}
	refused := []TURNError{{Method: "CreatePermission", Code: 403, Reason: "Forbidden", PeerAddr: "127.0.0.1:5000"}}
	tests := []struct {
		name string
		r    Result
		err  error
		intr bool
		want Cause
	}{
		{"ok", Result{Connected: true}, nil, false, CauseOK},
		{"interrupted", Result{}, context.Canceled, true, CauseInterrupted},
		{"probes failed", Result{Connected: true}, ErrNoDataChannel, false, CauseDataChannelFailed},
		{"no description", Result{Candidates: host}, ErrFailed, false, CauseNoDescription},
		{"no candidates", Result{Events: []Event{desc}}, ErrFailed, false, CauseNoCandidates},
		{"servers unreachable", Result{Events: []Event{desc, failed}, Candidates: host, TURNErrors: refused, Unreached: []string{"a"}}, ErrRelayRefusedPeer, false, CauseServersUnreachable},
		{"refused", Result{Events: []Event{desc, failed}, Candidates: relay, TURNErrors: refused}, ErrRelayRefusedPeer, false, CauseRelayRefusedPeer},
		{"refused but granted", Result{Events: []Event{desc, failed}, Candidates: relay, TURNErrors: refused, PermissionsGranted: 1}, ErrFailed, false, CauseRelayedPathFailed},
		{"dtls", Result{Events: []Event{desc, {Kind: EvDTLSState, State: "failed"}}, Candidates: host}, ErrFailed, false, CauseDTLSFailed},
		{"still checking", Result{Events: []Event{desc}, Candidates: host}, ErrNotConnected, false, CauseTimeout},
		{"nat theory", Result{Events: []Event{desc, failed}, Candidates: host, NoDirectPath: "because"}, ErrFailed, false, CauseNoDirectPath},
		{"no relay", Result{Events: []Event{desc, failed}, Candidates: host}, ErrFailed, false, CauseNoRelay},
		{"relayed failed", Result{Events: []Event{desc, failed}, Candidates: relay}, ErrFailed, false, CauseRelayedPathFailed},
		{"one side without its relay", Result{Events: []Event{desc, failed}, Candidates: map[string][]Candidate{"a": {{Type: "srflx"}}, "b": {{Type: "relay"}}}, RelayNotGathered: []string{"a"}}, ErrFailed, false, CauseRelayNotGathered},
		{"neither side has a relay", Result{Events: []Event{desc, failed}, Candidates: host, RelayNotGathered: []string{"a", "b"}}, ErrFailed, false, CauseNoRelay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			require.Equal(t, tt.want, r.classify(tt.err, tt.intr))
			r.Cause = tt.want
			if tt.want != CauseOK {
				require.NotEmpty(t, r.Diagnosis())
			}
		})
	}
	r := Result{Cause: CauseRelayRefusedPeer, TURNErrors: refused}
	require.Equal(t, "the relay refused the peer address (403 Forbidden): its peer policy denies it — for a relay on loopback use `natkit relay --allow-peer 127.0.0.0/8`", r.Diagnosis())
	r.TURNErrors[0].PeerAddr = "198.51.100.7:5000"
	require.Contains(t, r.Diagnosis(), "refused the peer address 198.51.100.7 (403 Forbidden)")
}

// turnMessage builds a STUN message of method and class with the given
// transaction id and attributes.
func turnMessage(t *testing.T, id [stun.TransactionIDSize]byte, typ stun.MessageType, setters ...stun.Setter) []byte {
	t.Helper()
	m, err := stun.Build(append([]stun.Setter{stun.NewTransactionIDSetter(id), typ}, setters...)...)
	require.NoError(t, err)
	return m.Raw
}

func TestTURNWatch(t *testing.T) {
	tl := &Timeline{}
	w := newTURNWatch("a", tl, true)
	server := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3478}
	// The first Allocate's 401 is the challenge: not an error.
	alloc := [12]byte{1}
	w.sent(turnMessage(t, alloc, stun.NewType(stun.MethodAllocate, stun.ClassRequest)))
	w.received(turnMessage(t, alloc, stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse), stun.CodeUnauthorized), server)
	// A CreatePermission for a loopback peer, refused.
	perm := [12]byte{2}
	peer := stun.XORMappedAddress{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	w.sent(turnMessage(t, perm, stun.NewType(stun.MethodCreatePermission, stun.ClassRequest), setterAs{peer, stun.AttrXORPeerAddress}, stun.NewShortTermIntegrity("x")))
	w.received(turnMessage(t, perm, stun.NewType(stun.MethodCreatePermission, stun.ClassErrorResponse), stun.CodeForbidden), server)
	// An answer to nothing we sent is ignored.
	w.received(turnMessage(t, [12]byte{3}, stun.NewType(stun.MethodCreatePermission, stun.ClassErrorResponse), stun.CodeForbidden), server)
	errs, granted := w.result()
	require.Zero(t, granted)
	require.Len(t, errs, 1)
	require.Equal(t, TURNError{Side: "a", Server: "127.0.0.1:3478", Method: "CreatePermission", Code: 403, Reason: "Forbidden", PeerAddr: "127.0.0.1:5000"}, errs[0])
	// Relay-only and nothing granted: the peer gives up.
	<-w.refused
	ev := tl.Events()
	require.Len(t, ev, 1)
	require.Equal(t, EvTURNError, ev[0].Kind)
}

// setterAs adds an address under another attribute type.
type setterAs struct {
	a stun.XORMappedAddress
	t stun.AttrType
}

func (s setterAs) AddTo(m *stun.Message) error { return s.a.AddToAs(m, s.t) }
