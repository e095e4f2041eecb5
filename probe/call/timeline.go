package call

import (
	"sort"
	"sync"
	"time"
)

// EventKind names what a timeline event records.
type EventKind string

// Event kinds of the timeline.
const (
	EvGatheringStart     EventKind = "gathering-start"
	EvGatheringComplete  EventKind = "gathering-complete"
	EvCandidate          EventKind = "candidate"
	EvCandidateBuffered  EventKind = "candidate-buffered"
	EvCandidatesReleased EventKind = "candidates-released"
	EvSignalSend         EventKind = "signal-send"
	EvSignalRecv         EventKind = "signal-recv"
	EvICEState           EventKind = "ice-state"
	EvPCState            EventKind = "pc-state"
	EvSelectedPair       EventKind = "selected-pair"
	EvDTLSState          EventKind = "dtls-state"
	EvDataChannelOpen    EventKind = "datachannel-open"
	EvFirstMessage       EventKind = "first-message"
	EvTrack              EventKind = "track"
	EvFirstRTP           EventKind = "first-rtp"
	EvICERestart         EventKind = "ice-restart"
	EvHangUp             EventKind = "hangup"
	EvError              EventKind = "error"
	// EvTURNError: a TURN server answered one of the peer's requests with
	// an error response (Event.TURN says which).
	EvTURNError EventKind = "turn-error"
	// Signaling-server events, recorded by a signaler (e.g.
	// signalserver/client.Signaler).
	EvJoined      EventKind = "joined"
	EvPeerJoined  EventKind = "peer-joined"
	EvPeerLeft    EventKind = "peer-left"
	EvSignalError EventKind = "signal-error"
)

// Event is one entry of a call's timeline. Detail (or Text) is for people;
// the typed fields are for code.
type Event struct {
	At     time.Time `json:"at"`
	Peer   string    `json:"peer"`
	Kind   EventKind `json:"kind"`
	Detail string    `json:"detail,omitempty"`
	// Signal is the message type (offer, answer, candidate, bye) of a
	// signal-send or signal-recv event.
	Signal string `json:"signal,omitempty"`
	// State is the new state of an ice-state, pc-state or dtls-state event.
	State string `json:"state,omitempty"`
	// TURN is the error response of a turn-error event.
	TURN *TURNError `json:"turn,omitempty"`
}

// Text is the event's detail for people: Detail, or the new state of a
// state event.
func (e Event) Text() string {
	if e.Detail == "" {
		return e.State
	}
	return e.Detail
}

// Timeline collects events from both peers (and from whoever drives the
// call, e.g. a scenario step or a signaler). It is safe for concurrent use.
type Timeline struct {
	// Observe, if set, is called with each event as it is recorded, e.g.
	// to drive a progress line. Set it before the call starts.
	Observe func(Event)

	mu     sync.Mutex
	events []Event
}

// Add records an event now.
func (t *Timeline) Add(peer string, kind EventKind, detail string) {
	t.Record(Event{Peer: peer, Kind: kind, Detail: detail})
}

// AddAt records an event that happened at at (e.g. one observed in the
// network after the fact); Events keeps time order.
func (t *Timeline) AddAt(at time.Time, peer string, kind EventKind, detail string) {
	t.Record(Event{At: at, Peer: peer, Kind: kind, Detail: detail})
}

// Record records e, at e.At or now when e.At is zero.
func (t *Timeline) Record(e Event) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	t.mu.Lock()
	t.events = append(t.events, e)
	t.mu.Unlock()
	if t.Observe != nil {
		t.Observe(e)
	}
}

// Events returns the events in time order.
func (t *Timeline) Events() []Event {
	t.mu.Lock()
	out := append([]Event(nil), t.events...)
	t.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}
