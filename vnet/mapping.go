package vnet

import (
	"context"
	"fmt"
	"time"

	pvnet "github.com/pion/transport/v3/vnet"
)

// RebindMargin is how much longer than the mapping lifetime Rebind keeps a
// side silent. pion's NAT drops a mapping at the first outbound packet
// after its lifetime has passed since the last outbound packet; the margin
// covers packets already past the silence filter when it switched on.
const RebindMargin = 250 * time.Millisecond

// maxPending bounds the outbound packets waiting to be matched between a
// side's NAT and the WAN (a few at a time in practice).
const maxPending = 4096

// MappingChange is a NAT mapping the topology saw change: packets from the
// same host address to the same destination left the NAT from a new
// external address. That is a NAT rebind as the destination sees it.
type MappingChange struct {
	At time.Time `json:"at"`
	// Local is the host's address (the socket), Remote the destination.
	Local  string `json:"local"`
	Remote string `json:"remote"`
	// Old and New are the external addresses before and after.
	Old string `json:"old"`
	New string `json:"new"`
}

// flow is one host socket talking to one destination.
type flow struct{ local, remote string }

// mappingLog watches a side's NAT from both ends: its own router's chunk
// filter sees each outbound packet before translation (the host's
// address), the WAN router's filter sees it after (the external address).
// pion keeps a chunk's tag through translation, which pairs the two.
type mappingLog struct {
	pending  map[string]string // chunk tag → host address
	external map[flow]string   // current external address of a flow
	changes  []MappingChange
}

// Silence drops (on) or passes again (off) every packet side's host sends,
// at the side's NAT before translation: the NAT sees no outbound traffic,
// so it stops refreshing the side's mappings and, after the mapping
// lifetime, forgets them. Packets towards the host still arrive for as
// long as the NAT keeps a mapping. A side without a NAT has no mapping to
// starve: ErrNoNAT.
func (t *Topology) Silence(sideName string, on bool) error {
	sd, err := t.side(sideName)
	if err != nil {
		return err
	}
	if sd.router == nil {
		return fmt.Errorf("silence side %s: %w", sideName, ErrNoNAT)
	}
	t.mu.Lock()
	sd.silent = on
	t.mu.Unlock()
	return nil
}

// MappingLifetime is how long side's NAT keeps an idle mapping (0 for a
// side without a NAT).
func (t *Topology) MappingLifetime(sideName string) time.Duration {
	sd, ok := t.sides[sideName]
	if !ok || sd.router == nil {
		return 0
	}
	return sd.lifetime
}

// Rebind makes side's NAT forget its mappings: it silences the side for
// its mapping lifetime plus RebindMargin, then lets traffic through again.
// The next packet from each of the host's sockets leaves from a new
// external port (MappingChanges shows them). It blocks for that long and
// returns the silence it imposed; when ctx ends first the silence is
// lifted and ctx's error returned.
func (t *Topology) Rebind(ctx context.Context, sideName string) (time.Duration, error) {
	if err := t.Silence(sideName, true); err != nil {
		return 0, err
	}
	d := t.MappingLifetime(sideName) + RebindMargin
	tm := time.NewTimer(d)
	defer tm.Stop()
	var err error
	select {
	case <-tm.C:
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.stop:
		err = ErrClosed
	}
	_ = t.Silence(sideName, false)
	return d, err
}

// MappingChanges returns the NAT mappings of side seen to change, oldest
// first.
func (t *Topology) MappingChanges(sideName string) []MappingChange {
	t.mu.Lock()
	defer t.mu.Unlock()
	sd, ok := t.sides[sideName]
	if !ok || sd.mappings == nil {
		return nil
	}
	return append([]MappingChange(nil), sd.mappings.changes...)
}

// ExternalAddr returns the external address side's NAT last used for
// packets from the host address local to remote ("" if none was seen).
func (t *Topology) ExternalAddr(sideName, local, remote string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	sd, ok := t.sides[sideName]
	if !ok || sd.mappings == nil {
		return ""
	}
	return sd.mappings.external[flow{local, remote}]
}

// natFilter runs on side's own NAT router for every packet crossing it,
// before outbound translation (and after inbound translation).
func (t *Topology) natFilter(sd *side) pvnet.ChunkFilter {
	return func(c pvnet.Chunk) bool {
		if c.Network() != "udp" || !chunkIP(c.SourceAddr()).Equal(sd.host) {
			return true // inbound, towards the host
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if sd.silent {
			sd.drops.Silence++
			return false
		}
		m := sd.mappings
		if len(m.pending) >= maxPending {
			clear(m.pending)
		}
		m.pending[c.Tag()] = c.SourceAddr().String()
		return true
	}
}

// noteExternal pairs an outbound packet seen on the WAN with its host
// address. The caller holds t.mu.
func (t *Topology) noteExternal(sd *side, c pvnet.Chunk) {
	m := sd.mappings
	if m == nil || c.Network() != "udp" {
		return
	}
	local, ok := m.pending[c.Tag()]
	if !ok {
		return
	}
	delete(m.pending, c.Tag())
	f := flow{local, c.DestinationAddr().String()}
	ext := c.SourceAddr().String()
	if old, seen := m.external[f]; seen && old != ext {
		m.changes = append(m.changes, MappingChange{At: time.Now(), Local: f.local, Remote: f.remote, Old: old, New: ext})
	}
	m.external[f] = ext
}

func newMappingLog() *mappingLog {
	return &mappingLog{pending: map[string]string{}, external: map[flow]string{}}
}
