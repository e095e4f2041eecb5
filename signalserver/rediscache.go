package signalserver

import (
	"sort"
	"time"
)

// roomCache is one instance's copy of a room's membership (peer →
// instance), kept while the instance holds a peer of the room or is
// joining one, so that Route needs no Redis round trip.
//
// Every membership change is a Lua script that increments the room's
// version; the changing instance gets the new membership and version in
// the reply, and tells the instances of the other members with a presence
// record carrying the version. Replies and records arrive in any order, so
// the cache applies changes in version order: a snapshot (a reply) newer
// than the cache replaces it; a record right after the cache's version is
// applied; a later one is applied at once (so routing sees it) and kept
// until the changes before it arrive, then replayed in order. A gap that
// stays open (a record lost when the subscription reconnected) is closed
// by reloading the room from Redis (redisHub.reloadGapped).
type roomCache struct {
	loaded  bool
	ver     int64
	members map[string]string
	// early holds records newer than ver+1, sorted by version.
	early    []presence
	gapSince time.Time
	// joining counts this instance's joins and takeovers in flight: the
	// cache is kept for them before they hold a member.
	joining int
}

// presence is one membership change of a room.
type presence struct {
	kind byte // recJoined, recLeft, recMoved
	peer string
	inst string // where peer is now (recJoined, recMoved), or was (recLeft)
	ver  int64
}

func newRoomCache() *roomCache { return &roomCache{members: map[string]string{}} }

func (c *roomCache) set(p presence) {
	if p.kind == recLeft {
		if c.members[p.peer] == p.inst {
			delete(c.members, p.peer)
		}
		return
	}
	c.members[p.peer] = p.inst
}

// snapshot installs the membership at version ver unless the cache is
// newer.
func (c *roomCache) snapshot(members map[string]string, ver int64) {
	if c.loaded && ver <= c.ver {
		return
	}
	c.members, c.ver, c.loaded = members, ver, true
	c.replay()
}

// event applies one change record.
func (c *roomCache) event(p presence, now time.Time) {
	if c.loaded && p.ver <= c.ver {
		return
	}
	if c.loaded && p.ver == c.ver+1 {
		c.set(p)
		c.ver = p.ver
		c.replay()
		return
	}
	c.set(p)
	i := sort.Search(len(c.early), func(i int) bool { return c.early[i].ver >= p.ver })
	if i < len(c.early) && c.early[i].ver == p.ver {
		return
	}
	c.early = append(c.early, presence{})
	copy(c.early[i+1:], c.early[i:])
	c.early[i] = p
	if c.gapSince.IsZero() {
		c.gapSince = now
	}
}

// replay applies the early records that are now in order, and re-applies
// the rest on top (they are newer than anything applied).
func (c *roomCache) replay() {
	k := 0
	for _, p := range c.early {
		switch {
		case p.ver <= c.ver:
		case p.ver == c.ver+1:
			c.set(p)
			c.ver = p.ver
		default:
			c.early[k] = p
			k++
		}
	}
	clear(c.early[k:])
	c.early = c.early[:k]
	for _, p := range c.early {
		c.set(p)
	}
	if k == 0 {
		c.gapSince = time.Time{}
	}
}

// holds reports whether instance id holds a member of the room.
func (c *roomCache) holds(id string) bool {
	for _, inst := range c.members {
		if inst == id {
			return true
		}
	}
	return false
}
