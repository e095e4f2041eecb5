package signalserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
)

func TestRedisWireRoundTrip(t *testing.T) {
	recs := []wireRec{
		{kind: recMessage, room: "r1", from: "a", to: "b", typ: "offer", frame: []byte(`{"type":"offer","sdp":"v=0"}`)},
		{kind: recRerouted, room: "r1", from: "", to: "b", typ: "error", frame: []byte(`{}`)},
		{kind: recJoined, room: "r2", peer: "p", inst: "i1", ver: 1},
		{kind: recLeft, room: "r2", peer: "p", inst: "i1", ver: 300},
		{kind: recMoved, room: strings.Repeat("x", 200), peer: "p", inst: "i2", old: "i1", ver: 1 << 40},
	}
	b := []byte{redisWireFormat}
	for i := range recs {
		b = appendRec(b, &recs[i])
	}
	r := newBatchReader(string(b))
	var got []wireRec
	var rec wireRec
	for r.next(&rec) {
		got = append(got, rec)
	}
	require.NoError(t, r.err)
	require.Equal(t, recs, got)

	// A cut inside a record is an error, never a panic.
	for n := 2; n < len(b); n++ {
		r := newBatchReader(string(b[:n]))
		k := 0
		for r.next(&rec) {
			k++
		}
		require.True(t, r.err != nil || k > 0, "cut at %d", n)
	}
	r = newBatchReader(`{"k":"m"}`)
	require.False(t, r.next(&rec))
	require.ErrorIs(t, r.err, errMalformedBatch)
	r = newBatchReader(string([]byte{redisWireFormat, 'z', 0}))
	require.False(t, r.next(&rec))
	require.ErrorIs(t, r.err, errMalformedBatch)
}

// TestRoomCacheConverges: whatever order replies and records arrive in,
// the cache ends at the membership of the newest version, and routes to a
// peer as soon as any record about it arrived.
func TestRoomCacheConverges(t *testing.T) {
	now := time.Now()
	// Versions 1..4: a@i1 joins, b@i2 joins, b moves to i3, a leaves.
	events := []presence{
		{kind: recJoined, peer: "a", inst: "i1", ver: 1},
		{kind: recJoined, peer: "b", inst: "i2", ver: 2},
		{kind: recMoved, peer: "b", inst: "i3", ver: 3},
		{kind: recLeft, peer: "a", inst: "i1", ver: 4},
	}
	final := map[string]string{"b": "i3"}
	perms := [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1}}
	for _, perm := range perms {
		t.Run(fmt.Sprint(perm), func(t *testing.T) {
			c := newRoomCache()
			c.snapshot(map[string]string{}, 0)
			aLeft := false
			for _, i := range perm {
				c.event(events[i], now)
				aLeft = aLeft || i == 3
				if events[i].kind != recLeft && (events[i].peer != "a" || !aLeft) {
					require.Contains(t, c.members, events[i].peer, "routable at once")
				}
			}
			require.Equal(t, final, c.members)
			require.EqualValues(t, 4, c.ver)
			require.Empty(t, c.early)
			require.True(t, c.gapSince.IsZero())
		})
	}

	// A snapshot (a script's reply) between records: older records are
	// ignored, newer ones replayed on top.
	c := newRoomCache()
	c.event(events[3], now) // arrives while the join is in flight
	c.snapshot(map[string]string{"a": "i1", "b": "i3"}, 3)
	require.Equal(t, final, c.members)
	c.event(events[1], now)
	require.Equal(t, final, c.members)
	require.EqualValues(t, 4, c.ver)

	// A gap that stays open is visible, for reloadGapped.
	c = newRoomCache()
	c.snapshot(map[string]string{}, 0)
	c.event(events[2], now)
	require.False(t, c.gapSince.IsZero())
	c.snapshot(map[string]string{"b": "i3"}, 3)
	require.True(t, c.gapSince.IsZero())
}

// startTestRedis runs redis-server on 127.0.0.1 with a free port, stopped
// in t.Cleanup, and returns its address.
func startTestRedis(t *testing.T) string {
	t.Helper()
	bin := externaltest.LookPath(t, "redis-server", "redis-server")
	port := externaltest.FreeTCPPort(t, "127.0.0.1")
	externaltest.Start(t, bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	externaltest.WaitTCP(t, addr, 5*time.Second)
	return addr
}

// commandCalls reads how often Redis ran cmd (INFO commandstats).
func commandCalls(t *testing.T, rdb *redis.Client, cmd string) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	require.NoError(t, err)
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
			var n int
			_, _ = fmt.Sscanf(rest, "%d", &n)
			return n
		}
	}
	return 0
}

type recordingDelivery struct{ got chan Envelope }

func (d recordingDelivery) Deliver(env Envelope) { d.got <- env }
func (recordingDelivery) PeerJoined(_, _ string) {}
func (recordingDelivery) PeerLeft(_, _ string)   {}
func (recordingDelivery) PeerMoved(_, _ string)  {}

// TestRedisHubRoutesWithoutRedis: messages between peers of one instance
// touch no Redis command, and messages for another instance queued
// together go out as one PUBLISH, in order.
func TestRedisHubRoutesWithoutRedis(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: startTestRedis(t)})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	newHub := func(id string) (*redisHub, recordingDelivery) {
		hub, err := NewRedisHub(ctx, RedisHubConfig{Client: rdb, InstanceID: id, Prefix: "unit:"})
		require.NoError(t, err)
		h := hub.(*redisHub)
		d := recordingDelivery{got: make(chan Envelope, 1000)}
		require.NoError(t, h.Start(d))
		t.Cleanup(func() { require.NoError(t, h.Close()) })
		return h, d
	}
	h1, d1 := newHub("i1")
	h2, d2 := newHub("i2")
	for _, p := range []struct {
		h    *redisHub
		peer string
	}{{h1, "a"}, {h1, "b"}, {h2, "c"}} {
		_, err := p.h.Join(ctx, "r", p.peer, 3)
		require.NoError(t, err)
	}
	// i1 learns of c through i2's presence record.
	require.Eventually(t, func() bool {
		h1.cmu.RLock()
		defer h1.cmu.RUnlock()
		return h1.rooms["r"].members["c"] == "i2"
	}, 5*time.Second, 10*time.Millisecond)

	evals, gets := commandCalls(t, rdb, "evalsha"), commandCalls(t, rdb, "hget")
	pubs := commandCalls(t, rdb, "publish")
	for i := range 100 {
		n, err := h1.Route(ctx, Envelope{Room: "r", From: "a", To: "b", Type: "offer", Frame: []byte(fmt.Sprint(i))})
		require.NoError(t, err)
		require.Equal(t, 1, n)
	}
	for i := range 100 {
		require.Equal(t, fmt.Sprint(i), string((<-d1.got).Frame))
	}
	require.Equal(t, evals, commandCalls(t, rdb, "evalsha"))
	require.Equal(t, gets, commandCalls(t, rdb, "hget"))
	require.Equal(t, pubs, commandCalls(t, rdb, "publish"), "same-instance messages never reach Redis")

	// Records queued while the writer is busy go out together: queue 100
	// for two instances before a writer starts.
	hub, err := NewRedisHub(ctx, RedisHubConfig{Client: rdb, InstanceID: "i3", Prefix: "unit:"})
	require.NoError(t, err)
	h3 := hub.(*redisHub)
	for i := range 100 {
		dest, to := "i2", "c"
		if i%2 == 1 {
			dest, to = "i1", "a"
		}
		h3.out <- wireRec{dest: dest, kind: recMessage, room: "r", from: "x", to: to, typ: "offer", frame: []byte(fmt.Sprint(i))}
	}
	h3.wg.Add(1)
	go h3.write(ctx)
	for i := range 100 {
		d := d2
		if i%2 == 1 {
			d = d1
		}
		select {
		case env := <-d.got:
			require.Equal(t, fmt.Sprint(i), string(env.Frame))
			require.Equal(t, "x", env.From)
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d not delivered", i)
		}
	}
	require.Equal(t, 2, commandCalls(t, rdb, "publish")-pubs, "one PUBLISH per instance")
	close(h3.stopWrite)
	h3.wg.Wait()
}
