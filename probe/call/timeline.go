package call

import (
	"sort"
	"sync"
	"time"
)

// Event kinds of the timeline.
const (
	EvGatheringStart     = "gathering-start"
	EvGatheringComplete  = "gathering-complete"
	EvCandidate          = "candidate"
	EvCandidateBuffered  = "candidate-buffered"
	EvCandidatesReleased = "candidates-released"
	EvSignalSend         = "signal-send"
	EvSignalRecv         = "signal-recv"
	EvICEState           = "ice-state"
	EvPCState            = "pc-state"
	EvSelectedPair       = "selected-pair"
	EvDTLSState          = "dtls-state"
	EvDataChannelOpen    = "datachannel-open"
	EvFirstMessage       = "first-message"
	EvTrack              = "track"
	EvFirstRTP           = "first-rtp"
	EvICERestart         = "ice-restart"
	EvHangUp             = "hangup"
	EvError              = "error"
)

// Event is one entry of a call's timeline.
type Event struct {
	At     time.Time `json:"at"`
	Peer   string    `json:"peer"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail,omitempty"`
}

// Timeline collects events from both peers (and from whoever drives the
// call, e.g. a scenario step). It is safe for concurrent use.
type Timeline struct {
	mu     sync.Mutex
	events []Event
}

// Add records an event now.
func (t *Timeline) Add(peer, kind, detail string) {
	t.mu.Lock()
	t.events = append(t.events, Event{At: time.Now(), Peer: peer, Kind: kind, Detail: detail})
	t.mu.Unlock()
}

// AddAt records an event that happened at at (e.g. one observed in the
// network after the fact); Events keeps time order.
func (t *Timeline) AddAt(at time.Time, peer, kind, detail string) {
	t.mu.Lock()
	t.events = append(t.events, Event{At: at, Peer: peer, Kind: kind, Detail: detail})
	t.mu.Unlock()
}

// Events returns the events in time order.
func (t *Timeline) Events() []Event {
	t.mu.Lock()
	out := append([]Event(nil), t.events...)
	t.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}
