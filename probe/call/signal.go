package call

import (
	"container/heap"
	"context"
	"math/rand"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Message types, as in signaling protocol v1.
const (
	MsgOffer     = "offer"
	MsgAnswer    = "answer"
	MsgCandidate = "candidate"
	MsgBye       = "bye"
)

// Message is one signaling message between the two peers.
type Message struct {
	Type      string                   `json:"type"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
}

// Size is the message's payload size in bytes, for the timeline.
func (m Message) Size() int {
	n := len(m.SDP)
	if m.Candidate != nil {
		n += len(m.Candidate.Candidate)
	}
	return n
}

// CandidateType returns the candidate's type ("host", "srflx", "prflx",
// "relay"), or "" when m holds no candidate.
func (m Message) CandidateType() string {
	if m.Candidate == nil {
		return ""
	}
	f := strings.Fields(m.Candidate.Candidate)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "typ" {
			return f[i+1]
		}
	}
	return ""
}

// Signaler carries messages to the other peer. Recv's channel is closed
// when the signaler closes.
type Signaler interface {
	Send(ctx context.Context, m Message) error
	Recv() <-chan Message
	Close() error
}

// PipeConfig shapes the in-process signaling pipe, to replay signaling
// races.
type PipeConfig struct {
	// Delay is added to every message. Default 0.
	Delay time.Duration
	// Jitter adds a seeded uniform 0..Jitter to each message. Default 0.
	Jitter time.Duration
	// Reorder lets jittered messages overtake each other; without it
	// messages keep their order. Default false.
	Reorder bool
	// DropCandidateTypes drops candidates of these types ("host", "srflx",
	// "prflx", "relay") in both directions. Default none.
	DropCandidateTypes []string
	// HoldDescriptions delays offers and answers (not candidates) by this
	// much more, so that candidates arrive before the description: the
	// classic trickle race. Default 0.
	HoldDescriptions time.Duration
	// Seed seeds the jitter. Default 1.
	Seed int64
}

func (c PipeConfig) withDefaults() PipeConfig {
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

func (c PipeConfig) validate() error {
	if c.Delay < 0 || c.Jitter < 0 || c.HoldDescriptions < 0 {
		return configErrorf("signaling", "delay, jitter and hold must not be negative")
	}
	for _, t := range c.DropCandidateTypes {
		switch t {
		case "host", "srflx", "prflx", "relay":
		default:
			return configErrorf("signaling drop_candidates", "%q: want host, srflx, prflx or relay", t)
		}
	}
	return nil
}

// NewPipe returns the two connected ends of an in-process signaling
// channel. Close either end to stop both.
func NewPipe(cfg PipeConfig) (Signaler, Signaler) {
	cfg = cfg.withDefaults()
	p := &pipe{cfg: cfg, rng: rand.New(rand.NewSource(cfg.Seed)), done: make(chan struct{})} //nolint:gosec // repeatable jitter
	a := &pipeEnd{p: p, in: make(chan Message, 256)}
	b := &pipeEnd{p: p, in: make(chan Message, 256)}
	a.peer, b.peer = b, a
	for _, e := range []*pipeEnd{a, b} {
		e.q = &lane{wake: make(chan struct{}, 1)}
		p.wg.Add(1)
		go p.deliver(e.peer, e.q)
	}
	return a, b
}

type pipe struct {
	cfg      PipeConfig
	mu       sync.Mutex
	rng      *rand.Rand
	seq      int
	done     chan struct{}
	closeOne sync.Once
	wg       sync.WaitGroup
}

type pipeEnd struct {
	p    *pipe
	peer *pipeEnd
	in   chan Message
	q    *lane // messages this end sent, towards peer
}

type timed struct {
	at  time.Time
	seq int
	m   Message
}

type lane struct {
	mu   sync.Mutex
	h    timedHeap
	last time.Time
	wake chan struct{}
}

type timedHeap []timed

func (h timedHeap) Len() int { return len(h) }
func (h timedHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h timedHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timedHeap) Push(x any)   { *h = append(*h, x.(timed)) }
func (h *timedHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (e *pipeEnd) Send(ctx context.Context, m Message) error {
	select {
	case <-e.p.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	default:
	}
	cfg := e.p.cfg
	for _, t := range cfg.DropCandidateTypes {
		if m.CandidateType() == t {
			return nil
		}
	}
	e.p.mu.Lock()
	d := cfg.Delay
	if cfg.Jitter > 0 {
		d += time.Duration(e.p.rng.Int63n(int64(cfg.Jitter)))
	}
	e.p.seq++
	seq := e.p.seq
	e.p.mu.Unlock()
	at := time.Now().Add(d)
	q := e.q
	q.mu.Lock()
	held := cfg.HoldDescriptions > 0 && (m.Type == MsgOffer || m.Type == MsgAnswer)
	switch {
	case held:
		at = at.Add(cfg.HoldDescriptions)
	case !cfg.Reorder:
		if at.Before(q.last) {
			at = q.last
		}
		q.last = at
	}
	heap.Push(&q.h, timed{at: at, seq: seq, m: m})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

func (p *pipe) deliver(to *pipeEnd, q *lane) {
	defer p.wg.Done()
	defer close(to.in)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		q.mu.Lock()
		wait := time.Hour
		var ready []Message
		now := time.Now()
		for q.h.Len() > 0 {
			if q.h[0].at.After(now) {
				wait = q.h[0].at.Sub(now)
				break
			}
			ready = append(ready, heap.Pop(&q.h).(timed).m)
		}
		q.mu.Unlock()
		for _, m := range ready {
			select {
			case to.in <- m:
			case <-p.done:
				return
			}
		}
		timer.Reset(wait)
		select {
		case <-p.done:
			return
		case <-q.wake:
		case <-timer.C:
		}
	}
}

func (e *pipeEnd) Recv() <-chan Message { return e.in }

func (e *pipeEnd) Close() error {
	e.p.closeOne.Do(func() { close(e.p.done) })
	e.p.wg.Wait()
	return nil
}
