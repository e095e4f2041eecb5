package signalserver

import (
	"context"
	"sort"
	"sync"
)

// Envelope is one frame on its way to a peer.
type Envelope struct {
	Room string `json:"r"`
	// From is the sending peer, "" for the server itself.
	From string `json:"f,omitempty"`
	// To is the recipient; Route with To == "" means every peer of the
	// room except From.
	To string `json:"t,omitempty"`
	// Type is the message type (for metrics and undelivered errors).
	Type string `json:"y"`
	// Frame is the encoded server → client message.
	Frame []byte `json:"m"`
	// rerouted marks a frame sent through the hub again because its
	// recipient had moved; it is not rerouted twice.
	rerouted bool
}

// Delivery is what a hub calls on the server that started it.
type Delivery interface {
	// Deliver hands a frame to a peer connected to this instance.
	Deliver(env Envelope)
	// PeerJoined and PeerLeft report presence changes made by other
	// instances (or, for PeerLeft, found by reaping a dead instance) in a
	// room; the instance that made a change reports it locally itself.
	PeerJoined(room, peer string)
	PeerLeft(room, peer string)
	// PeerMoved reports that peer resumed on another instance: this
	// instance forgets it without reporting it left, and forwards what it
	// held for it.
	PeerMoved(room, peer string)
}

// Mover is implemented by hubs that let a peer resume on another instance
// (the Redis hub): the resume token's hash is shared, and the peer's
// membership moves to the instance it resumes on.
type Mover interface {
	// SetResume records the hash of peer's resume token.
	SetResume(ctx context.Context, room, peer, hash string) error
	// Takeover moves peer to this instance if hash is its resume token's
	// and another instance holds it; otherwise ErrUnknownPeer or
	// ErrBadToken.
	Takeover(ctx context.Context, room, peer, hash string) error
}

// Hub holds room membership and routes frames between the instances that
// hold the peers. The memory hub serves one instance; the Redis hub lets
// several natkit signal instances share rooms.
type Hub interface {
	// Start makes the hub deliver to d; it is called once, by NewServer.
	Start(d Delivery) error
	// Join adds peer to room unless the room holds capacity peers
	// (ErrRoomFull) or the id is in use (ErrPeerTaken), and returns the
	// other peers.
	Join(ctx context.Context, room, peer string, capacity int) ([]string, error)
	// Leave removes peer from room; leaving twice is not an error.
	Leave(ctx context.Context, room, peer string) error
	// Members lists the peers of room.
	Members(ctx context.Context, room string) ([]string, error)
	// Route delivers env to env.To, or, with To == "", to every other
	// peer of env.Room. It returns how many peers it went to, and
	// ErrUnknownPeer when To is not in the room.
	Route(ctx context.Context, env Envelope) (int, error)
	// Close stops the hub and removes this instance's peers.
	Close() error
}

// memoryHub is the single-instance hub.
type memoryHub struct {
	mu     sync.RWMutex
	rooms  map[string]map[string]struct{}
	d      Delivery
	closed bool
}

// NewMemoryHub returns the in-memory hub, for a single instance.
func NewMemoryHub() Hub {
	return &memoryHub{rooms: map[string]map[string]struct{}{}}
}

func (h *memoryHub) Start(d Delivery) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.d = d
	return nil
}

func (h *memoryHub) Join(_ context.Context, room, peer string, capacity int) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	r := h.rooms[room]
	if _, ok := r[peer]; ok {
		return nil, ErrPeerTaken
	}
	if len(r) >= capacity {
		return nil, ErrRoomFull
	}
	if r == nil {
		r = map[string]struct{}{}
		h.rooms[room] = r
	}
	others := make([]string, 0, len(r))
	for p := range r {
		others = append(others, p)
	}
	r[peer] = struct{}{}
	sort.Strings(others)
	return others, nil
}

func (h *memoryHub) Leave(_ context.Context, room, peer string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	delete(r, peer)
	if len(r) == 0 {
		delete(h.rooms, room)
	}
	return nil
}

func (h *memoryHub) Members(_ context.Context, room string) ([]string, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]string, 0, len(h.rooms[room]))
	for p := range h.rooms[room] {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

func (h *memoryHub) Route(_ context.Context, env Envelope) (int, error) {
	h.mu.RLock()
	if h.closed {
		h.mu.RUnlock()
		return 0, ErrHubClosed
	}
	r := h.rooms[env.Room]
	var to []string
	if env.To != "" {
		if _, ok := r[env.To]; !ok {
			h.mu.RUnlock()
			return 0, ErrUnknownPeer
		}
		to = []string{env.To}
	} else {
		to = make([]string, 0, len(r))
		for p := range r {
			if p != env.From {
				to = append(to, p)
			}
		}
	}
	d := h.d
	h.mu.RUnlock()
	for _, p := range to {
		e := env
		e.To = p
		d.Deliver(e)
	}
	return len(to), nil
}

func (h *memoryHub) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.rooms = map[string]map[string]struct{}{}
	return nil
}

func sortStrings(s []string) { sort.Strings(s) }
