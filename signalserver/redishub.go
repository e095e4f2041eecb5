package signalserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v3"
	"github.com/redis/go-redis/v9"

	"github.com/natkit/natkit/signalserver/protocol"
)

// RedisHubConfig configures NewRedisHub.
type RedisHubConfig struct {
	// URL is the Redis server, redis://[user:password@]host:port[/db];
	// required unless Client is set.
	URL string
	// Net dials Redis; default stdnet.NewNet().
	Net transport.Net
	// Client is an existing client to use instead of URL; default none.
	// The hub does not close it.
	Client *redis.Client
	// Prefix namespaces the keys and channels; default "natkit:signal:".
	Prefix string
	// InstanceID names this instance; default a random id.
	InstanceID string
	// Heartbeat is how often the instance proves it is alive and looks for
	// dead instances; default 1s.
	Heartbeat time.Duration
	// DeadAfter is how long without a heartbeat before an instance is dead
	// and its peers are reported as left; default 5s. Peers of a dead
	// instance are reported left within DeadAfter + Heartbeat.
	DeadAfter time.Duration
	// Logger receives the hub's logs; default: discard.
	Logger *slog.Logger
}

func (c RedisHubConfig) withDefaults() RedisHubConfig {
	if c.Prefix == "" {
		c.Prefix = "natkit:signal:"
	}
	if c.InstanceID == "" {
		c.InstanceID = randomID(9)
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = time.Second
	}
	if c.DeadAfter == 0 {
		c.DeadAfter = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c RedisHubConfig) validate() error {
	if c.URL == "" && c.Client == nil {
		return configErrorf("Redis.URL", "a Redis URL (redis://host:port) is required")
	}
	if c.Heartbeat < 0 || c.DeadAfter <= c.Heartbeat {
		return configErrorf("Redis.DeadAfter", "%s must be longer than the heartbeat %s", c.DeadAfter, c.Heartbeat)
	}
	if strings.ContainsAny(c.InstanceID, "\n ") {
		return configErrorf("Redis.InstanceID", "%q has a space or newline", c.InstanceID)
	}
	return nil
}

// redisHub shares rooms between instances through Redis:
//
//	<prefix>room:<room>      hash   peer → instance id (membership)
//	<prefix>ver:<room>       int    the room's membership version
//	<prefix>inst:<id>        set    "room\npeer" for the instance's peers (reaping)
//	<prefix>resume:<room>    hash   peer → hash of its resume token
//	<prefix>instances        zset   instance id → last heartbeat (ms)
//	<prefix>ch:<id>          pub/sub channel of an instance: batches of
//	                         messages and presence records (rediswire.go)
//
// Membership changes are Lua scripts, so capacity holds across instances
// and a dead instance's peer is reported left exactly once. Messages do
// not touch Redis's data: each instance caches the membership of the rooms
// it holds peers of (rediscache.go), delivers to its own peers directly,
// and hands the rest to one writer goroutine, which publishes everything
// queued for an instance as one batch, all instances in one pipeline.
type redisHub struct {
	cfg     RedisHubConfig
	rdb     *redis.Client
	ownsRDB bool
	id      string
	closed  atomic.Bool

	mu     sync.Mutex // guards d, sub and cancel
	d      Delivery
	sub    *redis.PubSub
	cancel context.CancelFunc
	wg     sync.WaitGroup

	cmu   sync.RWMutex
	rooms map[string]*roomCache

	// out is the writer's queue: bounded, so a sender waits (in Route)
	// rather than the queue growing without limit when Redis is slow.
	out        chan wireRec
	stopWrite  chan struct{}
	writerDone chan struct{}
}

const (
	// redisOutQueue bounds the records waiting for the writer.
	redisOutQueue = 8192
	// redisBatchBytes ends a batch early: one PUBLISH stays well under
	// Redis's limits and the receiver's buffers.
	redisBatchBytes = 256 << 10
)

// NewRedisHub connects to Redis and returns a hub that shares rooms with
// every instance using the same Redis and prefix.
func NewRedisHub(ctx context.Context, cfg RedisHubConfig) (Hub, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := &redisHub{cfg: cfg, rdb: cfg.Client, id: cfg.InstanceID, rooms: map[string]*roomCache{},
		out: make(chan wireRec, redisOutQueue), stopWrite: make(chan struct{}), writerDone: make(chan struct{})}
	if h.rdb == nil {
		opt, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, configErrorf("Redis.URL", "%q: %v", cfg.URL, err)
		}
		if cfg.Net != nil {
			nw := cfg.Net
			opt.Dialer = func(_ context.Context, network, addr string) (net.Conn, error) { return nw.Dial(network, addr) }
		}
		h.rdb = redis.NewClient(opt)
		h.ownsRDB = true
	}
	if err := h.rdb.Ping(ctx).Err(); err != nil {
		if h.ownsRDB {
			h.rdb.Close()
		}
		return nil, &HubError{Op: "connect to redis " + cfg.URL, Err: err}
	}
	return h, nil
}

func (h *redisHub) key(parts ...string) string   { return h.cfg.Prefix + strings.Join(parts, "") }
func (h *redisHub) roomKey(room string) string   { return h.key("room:", room) }
func (h *redisHub) verKey(room string) string    { return h.key("ver:", room) }
func (h *redisHub) instKey(id string) string     { return h.key("inst:", id) }
func (h *redisHub) channel(id string) string     { return h.key("ch:", id) }
func (h *redisHub) resumeKey(room string) string { return h.key("resume:", room) }

// SetResume implements Mover.
func (h *redisHub) SetResume(ctx context.Context, room, peer, hash string) error {
	if err := h.rdb.HSet(ctx, h.resumeKey(room), peer, hash).Err(); err != nil {
		return &HubError{Op: "set resume", Err: err}
	}
	return nil
}

// The membership scripts reply {version, peer, instance, …} (the room
// after the change), or a negative number when nothing changed. An empty
// room's version key is kept a day, so versions never go back while an
// instance may still cache the room.
var joinScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return -2 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
local v = redis.call('INCR', KEYS[3])
redis.call('PERSIST', KEYS[3])
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, v)
return out
`)

var leaveScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[3])
local v = redis.call('INCR', KEYS[4])
local out = redis.call('HGETALL', KEYS[1])
if #out == 0 then redis.call('PEXPIRE', KEYS[4], 86400000) end
table.insert(out, 1, v)
return out
`)

// takeoverScript replies {version, old instance, peer, instance, …}.
var takeoverScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old or old == ARGV[3] then return -1 end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return -2 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SREM', ARGV[5] .. 'inst:' .. old, ARGV[4])
redis.call('SADD', KEYS[3], ARGV[4])
local v = redis.call('INCR', KEYS[4])
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, old)
table.insert(out, 1, v)
return out
`)

var snapshotScript = redis.NewScript(`
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, tonumber(redis.call('GET', KEYS[2]) or '0'))
return out
`)

// membership decodes a script's reply: version, then n leading strings,
// then peer → instance pairs. ok is false for a negative number (code).
func membership(res any, n int) (ver int64, lead []string, members map[string]string, code int64, ok bool) {
	if c, isInt := res.(int64); isInt {
		return 0, nil, nil, c, false
	}
	arr, _ := res.([]any)
	if len(arr) < 1+n {
		return 0, nil, nil, 0, false
	}
	ver, _ = arr[0].(int64)
	for _, v := range arr[1 : 1+n] {
		s, _ := v.(string)
		lead = append(lead, s)
	}
	rest := arr[1+n:]
	members = make(map[string]string, len(rest)/2)
	for i := 0; i+1 < len(rest); i += 2 {
		k, _ := rest[i].(string)
		v, _ := rest[i+1].(string)
		members[k] = v
	}
	return ver, lead, members, 0, true
}

// Takeover implements Mover.
func (h *redisHub) Takeover(ctx context.Context, room, peer, hash string) error {
	if h.closed.Load() {
		return ErrHubClosed
	}
	h.beginJoin(room)
	defer h.endJoin(room)
	res, err := takeoverScript.Run(ctx, h.rdb, []string{h.roomKey(room), h.resumeKey(room), h.instKey(h.id), h.verKey(room)},
		peer, hash, h.id, room+"\n"+peer, h.cfg.Prefix).Result()
	if err != nil {
		return &HubError{Op: "takeover", Err: err}
	}
	ver, lead, members, code, ok := membership(res, 1)
	switch {
	case !ok && code == -2:
		return ErrBadToken
	case !ok:
		return ErrUnknownPeer
	}
	h.installSnapshot(room, members, ver)
	// Every instance of the room learns the new place; the old one also
	// forwards what it held (Delivery.PeerMoved).
	h.publishPresence(ctx, room, presence{kind: recMoved, peer: peer, inst: h.id, ver: ver}, lead[0], members)
	return nil
}

func (h *redisHub) Start(d Delivery) error {
	ctx, cancel := context.WithCancel(context.Background())
	sub := h.rdb.Subscribe(ctx, h.channel(h.id))
	if _, err := sub.Receive(ctx); err != nil {
		cancel()
		sub.Close()
		return &HubError{Op: "subscribe", Err: err}
	}
	h.mu.Lock()
	h.d, h.sub, h.cancel = d, sub, cancel
	h.mu.Unlock()
	if err := h.heartbeat(ctx); err != nil {
		cancel()
		sub.Close()
		return err
	}
	h.wg.Add(3)
	go h.receive(sub.Channel(redis.WithChannelSize(1024)))
	go h.beat(ctx)
	go h.write(ctx)
	return nil
}

func (h *redisHub) receive(ch <-chan *redis.Message) {
	defer h.wg.Done()
	var rec wireRec
	for msg := range ch {
		r := newBatchReader(msg.Payload)
		for r.next(&rec) {
			h.dispatch(&rec)
		}
		if r.err != nil {
			h.cfg.Logger.Warn("redis hub: malformed batch; is an older natkit on the same Redis and prefix?", "err", r.err)
		}
	}
}

func (h *redisHub) dispatch(rec *wireRec) {
	switch rec.kind {
	case recMessage, recRerouted:
		h.d.Deliver(Envelope{Room: rec.room, From: rec.from, To: rec.to, Type: rec.typ, Frame: rec.frame, rerouted: rec.kind == recRerouted})
		return
	}
	// The cache learns the change before the server tells its peers, so a
	// peer that hears of a newcomer can address it at once.
	p := presence{kind: rec.kind, peer: rec.peer, inst: rec.inst, ver: rec.ver}
	h.cmu.Lock()
	if c := h.rooms[rec.room]; c != nil {
		c.event(p, time.Now())
		h.dropIfUnusedLocked(rec.room, c)
	}
	h.cmu.Unlock()
	switch rec.kind {
	case recJoined:
		h.d.PeerJoined(rec.room, rec.peer)
	case recLeft:
		h.d.PeerLeft(rec.room, rec.peer)
	case recMoved:
		if rec.old == h.id {
			h.d.PeerMoved(rec.room, rec.peer)
		}
	}
}

// beginJoin keeps the room's cache while a join or takeover is in flight,
// so that records arriving before its reply are not lost.
func (h *redisHub) beginJoin(room string) {
	h.cmu.Lock()
	c := h.rooms[room]
	if c == nil {
		c = newRoomCache()
		h.rooms[room] = c
	}
	c.joining++
	h.cmu.Unlock()
}

func (h *redisHub) endJoin(room string) {
	h.cmu.Lock()
	if c := h.rooms[room]; c != nil {
		c.joining--
		h.dropIfUnusedLocked(room, c)
	}
	h.cmu.Unlock()
}

// installSnapshot records the membership a script replied, if this
// instance caches the room.
func (h *redisHub) installSnapshot(room string, members map[string]string, ver int64) {
	h.cmu.Lock()
	if c := h.rooms[room]; c != nil {
		c.snapshot(maps.Clone(members), ver) // the caller keeps using members
		h.dropIfUnusedLocked(room, c)
	}
	h.cmu.Unlock()
}

// dropIfUnusedLocked forgets a room this instance no longer holds a peer
// of. h.cmu must be held.
func (h *redisHub) dropIfUnusedLocked(room string, c *roomCache) {
	if c.joining == 0 && (!c.loaded || !c.holds(h.id)) {
		delete(h.rooms, room)
	}
}

func (h *redisHub) heartbeat(ctx context.Context) error {
	if err := h.rdb.ZAdd(ctx, h.key("instances"), redis.Z{Score: float64(time.Now().UnixMilli()), Member: h.id}).Err(); err != nil {
		return &HubError{Op: "heartbeat", Err: err}
	}
	return nil
}

func (h *redisHub) beat(ctx context.Context) {
	defer h.wg.Done()
	t := time.NewTicker(h.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := h.heartbeat(ctx); err != nil {
				h.cfg.Logger.Warn("redis hub", "err", err)
				continue
			}
			h.reapDead(ctx)
			h.reloadGapped(ctx)
		}
	}
}

// reloadGapped reloads from Redis the rooms whose cache has missed a
// change for longer than a heartbeat (a record lost while the
// subscription reconnected).
func (h *redisHub) reloadGapped(ctx context.Context) {
	limit := time.Now().Add(-h.cfg.Heartbeat)
	var rooms []string
	h.cmu.RLock()
	for room, c := range h.rooms {
		if !c.gapSince.IsZero() && c.gapSince.Before(limit) {
			rooms = append(rooms, room)
		}
	}
	h.cmu.RUnlock()
	for _, room := range rooms {
		res, err := snapshotScript.Run(ctx, h.rdb, []string{h.roomKey(room), h.verKey(room)}).Result()
		if err != nil {
			h.cfg.Logger.Warn("redis hub: reload room", "room", room, "err", err)
			continue
		}
		if ver, _, members, _, ok := membership(res, 0); ok {
			h.cfg.Logger.Info("redis hub: room reloaded after a missed change", "room", room)
			h.installSnapshot(room, members, ver)
		}
	}
}

// reapDead removes the peers of instances whose heartbeat stopped and
// reports them as left.
func (h *redisHub) reapDead(ctx context.Context) {
	limit := time.Now().Add(-h.cfg.DeadAfter).UnixMilli()
	dead, err := h.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: h.key("instances"), Start: "-inf", Stop: strconv.FormatInt(limit, 10), ByScore: true}).Result()
	if err != nil {
		return
	}
	for _, id := range dead {
		if id == h.id {
			continue
		}
		members, err := h.rdb.SMembers(ctx, h.instKey(id)).Result()
		if err != nil {
			continue
		}
		for _, m := range members {
			room, peer, ok := strings.Cut(m, "\n")
			if !ok {
				continue
			}
			h.cfg.Logger.Info("redis hub: peer of dead instance left", "instance", id, "room", room, "peer", peer)
			_ = h.leaveAs(ctx, room, peer, id)
		}
		h.rdb.Del(ctx, h.instKey(id))
		h.rdb.ZRem(ctx, h.key("instances"), id)
	}
}

func (h *redisHub) Join(ctx context.Context, room, peer string, capacity int) ([]string, error) {
	if h.closed.Load() {
		return nil, ErrHubClosed
	}
	h.beginJoin(room)
	defer h.endJoin(room)
	res, err := joinScript.Run(ctx, h.rdb, []string{h.roomKey(room), h.instKey(h.id), h.verKey(room)}, peer, h.id, capacity, room+"\n"+peer).Result()
	if err != nil {
		return nil, &HubError{Op: "join", Err: err}
	}
	ver, _, members, code, ok := membership(res, 0)
	switch {
	case !ok && code == -2:
		return nil, ErrPeerTaken
	case !ok:
		return nil, ErrRoomFull
	}
	h.installSnapshot(room, members, ver)
	others := make([]string, 0, len(members))
	for p := range members {
		if p != peer {
			others = append(others, p)
		}
	}
	sortStrings(others)
	h.publishPresence(ctx, room, presence{kind: recJoined, peer: peer, inst: h.id, ver: ver}, "", members)
	return others, nil
}

// publishPresence queues a presence record for the other instances
// holding members of the room (and old, the instance a moved peer left).
// It goes through the writer, behind the messages already queued, so a
// peer's last messages arrive before its peer-left.
func (h *redisHub) publishPresence(ctx context.Context, room string, p presence, old string, members map[string]string) {
	sent := map[string]bool{h.id: true, "": true}
	send := func(inst string) {
		if sent[inst] {
			return
		}
		sent[inst] = true
		if err := h.enqueue(ctx, wireRec{dest: inst, kind: p.kind, room: room, peer: p.peer, inst: p.inst, old: old, ver: p.ver}); err != nil {
			h.cfg.Logger.Warn("redis hub: publish presence", "room", room, "err", err)
		}
	}
	send(old)
	for _, inst := range members {
		send(inst)
	}
}

func (h *redisHub) Leave(ctx context.Context, room, peer string) error {
	if h.closed.Load() {
		return ErrHubClosed
	}
	return h.leaveAs(ctx, room, peer, h.id)
}

// leaveAs removes peer if instance inst holds it, and reports it left to
// the instances of the remaining members (locally too when inst is not
// this instance, i.e. when reaping).
func (h *redisHub) leaveAs(ctx context.Context, room, peer, inst string) error {
	res, err := leaveScript.Run(ctx, h.rdb, []string{h.roomKey(room), h.instKey(inst), h.resumeKey(room), h.verKey(room)}, peer, inst, room+"\n"+peer).Result()
	if err != nil {
		return &HubError{Op: "leave", Err: err}
	}
	ver, _, members, _, ok := membership(res, 0)
	if !ok {
		return nil
	}
	h.installSnapshot(room, members, ver)
	if inst != h.id {
		for _, i := range members {
			if i == h.id {
				h.d.PeerLeft(room, peer)
				break
			}
		}
	}
	h.publishPresence(ctx, room, presence{kind: recLeft, peer: peer, inst: inst, ver: ver}, "", members)
	return nil
}

func (h *redisHub) Members(ctx context.Context, room string) ([]string, error) {
	ps, err := h.rdb.HKeys(ctx, h.roomKey(room)).Result()
	if err != nil {
		return nil, &HubError{Op: "members", Err: err}
	}
	sortStrings(ps)
	return ps, nil
}

// Route finds the recipients in the cached membership (in Redis only for
// a room this instance holds no peer of, or a recipient it does not know
// yet), delivers to its own peers directly and queues the rest for the
// writer. Order per sender and recipient holds: a sender's messages take
// one path, the writer's queue, one PUBLISH stream and the receiver's one
// subscription, each in order.
func (h *redisHub) Route(ctx context.Context, env Envelope) (int, error) {
	if h.closed.Load() {
		return 0, ErrHubClosed
	}
	if env.To != "" {
		h.cmu.RLock()
		inst, ok := "", false
		if c := h.rooms[env.Room]; c != nil {
			inst, ok = c.members[env.To]
		}
		h.cmu.RUnlock()
		if !ok {
			var err error
			inst, err = h.rdb.HGet(ctx, h.roomKey(env.Room), env.To).Result()
			if errors.Is(err, redis.Nil) {
				return 0, ErrUnknownPeer
			}
			if err != nil {
				return 0, &HubError{Op: "route", Err: err}
			}
		}
		if err := h.routeTo(ctx, inst, env); err != nil {
			return 0, err
		}
		return 1, nil
	}
	var targets [][2]string // peer, instance
	h.cmu.RLock()
	c := h.rooms[env.Room]
	if c != nil {
		for p, inst := range c.members {
			if p != env.From {
				targets = append(targets, [2]string{p, inst})
			}
		}
	}
	h.cmu.RUnlock()
	if c == nil {
		all, err := h.rdb.HGetAll(ctx, h.roomKey(env.Room)).Result()
		if err != nil {
			return 0, &HubError{Op: "route", Err: err}
		}
		for p, inst := range all {
			if p != env.From {
				targets = append(targets, [2]string{p, inst})
			}
		}
	}
	for _, t := range targets {
		e := env
		e.To = t[0]
		if err := h.routeTo(ctx, t[1], e); err != nil {
			return 0, err
		}
	}
	return len(targets), nil
}

func (h *redisHub) routeTo(ctx context.Context, inst string, env Envelope) error {
	if inst == h.id {
		h.d.Deliver(env)
		return nil
	}
	kind := recMessage
	if env.rerouted {
		kind = recRerouted
	}
	return h.enqueue(ctx, wireRec{dest: inst, kind: kind, room: env.Room, from: env.From, to: env.To, typ: env.Type, frame: env.Frame})
}

// enqueue hands a record to the writer, waiting while its queue is full.
func (h *redisHub) enqueue(ctx context.Context, r wireRec) error {
	select {
	case h.out <- r:
		return nil
	default:
	}
	select {
	case h.out <- r:
		return nil
	case <-h.writerDone:
		return ErrHubClosed
	case <-ctx.Done():
		return &HubError{Op: "publish", Err: ctx.Err()}
	}
}

// write is the writer: it takes everything queued, one batch per
// destination instance, and publishes the batches in one pipeline. It
// never waits to fill a batch: under load batches grow by themselves while
// the previous pipeline is in flight.
func (h *redisHub) write(ctx context.Context) {
	defer h.wg.Done()
	defer close(h.writerDone)
	batches := map[string][]byte{}
	var msgs []wireRec // messages in the batch, to tell their senders if it fails
	for {
		var r wireRec
		stopping := false
		select {
		case r = <-h.out:
		case <-h.stopWrite:
			stopping = true
		case <-ctx.Done():
			return
		}
		size := 0
		add := func(r *wireRec) {
			b := batches[r.dest]
			if len(b) == 0 {
				b = append(b, redisWireFormat)
			}
			n := len(b)
			b = appendRec(b, r)
			size += len(b) - n
			batches[r.dest] = b
			if r.kind == recMessage || r.kind == recRerouted {
				msgs = append(msgs, *r)
			}
		}
		if !stopping {
			add(&r)
		}
	fill:
		for size < redisBatchBytes {
			select {
			case r := <-h.out:
				add(&r)
			default:
				break fill
			}
		}
		if size > 0 {
			h.publish(ctx, batches, msgs)
		}
		for dest, b := range batches {
			if cap(b) > 4*redisBatchBytes {
				delete(batches, dest)
			} else {
				batches[dest] = b[:0]
			}
		}
		clear(msgs)
		msgs = msgs[:0]
		if stopping && size == 0 {
			return
		}
	}
}

func (h *redisHub) publish(ctx context.Context, batches map[string][]byte, msgs []wireRec) {
	pipe := h.rdb.Pipeline()
	for dest, b := range batches {
		if len(b) > 0 {
			pipe.Publish(ctx, h.channel(dest), b)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		h.cfg.Logger.Warn("redis hub: publish failed", "messages", len(msgs), "err", err)
		for _, m := range msgs {
			h.undelivered(m, err)
		}
	}
}

// undelivered tells the local sender of a message that could not be
// published (the protocol never drops in silence).
func (h *redisHub) undelivered(m wireRec, err error) {
	if m.from == "" || !protocol.Relayed(m.typ) {
		return
	}
	e := &protocol.Error{Code: protocol.CodeUndelivered, Ref: m.typ,
		Message: fmt.Sprintf("%s for peer %q in room %q was not delivered: %v", m.typ, m.to, m.room, err)}
	h.d.Deliver(Envelope{Room: m.room, To: m.from, Type: protocol.TypeError, Frame: protocol.Encode(e.Frame())})
}

// Close removes this instance's peers (reporting them left), publishes
// what is queued, and removes its heartbeat and subscription.
func (h *redisHub) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	h.mu.Lock()
	cancel, sub := h.cancel, h.sub
	h.mu.Unlock()
	ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	var errs []error
	if members, err := h.rdb.SMembers(ctx, h.instKey(h.id)).Result(); err == nil {
		for _, m := range members {
			if room, peer, ok := strings.Cut(m, "\n"); ok {
				if err := h.leaveAs(ctx, room, peer, h.id); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if cancel != nil { // started: let the writer publish what is queued
		close(h.stopWrite)
		select {
		case <-h.writerDone:
		case <-ctx.Done():
		}
	}
	h.rdb.Del(ctx, h.instKey(h.id))
	h.rdb.ZRem(ctx, h.key("instances"), h.id)
	h.stop(cancel, sub)
	if h.ownsRDB {
		if err := h.rdb.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (h *redisHub) stop(cancel context.CancelFunc, sub *redis.PubSub) {
	if cancel != nil {
		cancel()
	}
	if sub != nil {
		sub.Close()
	}
	h.wg.Wait()
}

// crash stops the hub as if its process died: no clean-up in Redis, so the
// other instances must find out from the missing heartbeat.
func (h *redisHub) crash() {
	if h.closed.Swap(true) {
		return
	}
	h.mu.Lock()
	cancel, sub := h.cancel, h.sub
	h.mu.Unlock()
	h.stop(cancel, sub)
	if h.ownsRDB {
		h.rdb.Close()
	}
}
