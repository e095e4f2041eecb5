package signalserver

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/transport/v3"
	"github.com/redis/go-redis/v9"
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
//	<prefix>inst:<id>        set    "room\npeer" for the instance's peers (reaping)
//	<prefix>instances        zset   instance id → last heartbeat (ms)
//	<prefix>ch:<id>          pub/sub channel of an instance: presence as JSON,
//	                         messages as "peer\n" + JSON (see routeScript)
//
// Joins and leaves are Lua scripts, so capacity holds across instances and
// a dead instance's peer is reported left exactly once.
type redisHub struct {
	cfg     RedisHubConfig
	rdb     *redis.Client
	ownsRDB bool
	id      string

	mu     sync.Mutex
	d      Delivery
	sub    *redis.PubSub
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

// NewRedisHub connects to Redis and returns a hub that shares rooms with
// every instance using the same Redis and prefix.
func NewRedisHub(ctx context.Context, cfg RedisHubConfig) (Hub, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := &redisHub{cfg: cfg, rdb: cfg.Client, id: cfg.InstanceID}
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

type redisWire struct {
	Kind  string          `json:"k"` // m: message, j: joined, l: left, v: moved
	Room  string          `json:"r"`
	From  string          `json:"f,omitempty"`
	Type  string          `json:"y,omitempty"`
	Peer  string          `json:"p,omitempty"`
	Frame json.RawMessage `json:"m,omitempty"`
}

func (h *redisHub) key(parts ...string) string   { return h.cfg.Prefix + strings.Join(parts, "") }
func (h *redisHub) roomKey(room string) string   { return h.key("room:", room) }
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

var takeoverScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old or old == ARGV[3] then return -1 end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return -2 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SREM', ARGV[5] .. 'inst:' .. old, ARGV[4])
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('PUBLISH', ARGV[5] .. 'ch:' .. old, ARGV[6])
return 0
`)

// Takeover implements Mover.
func (h *redisHub) Takeover(ctx context.Context, room, peer, hash string) error {
	if h.isClosed() {
		return ErrHubClosed
	}
	payload, err := json.Marshal(redisWire{Kind: "v", Room: room, Peer: peer})
	if err != nil {
		return &HubError{Op: "takeover", Err: err}
	}
	res, err := takeoverScript.Run(ctx, h.rdb, []string{h.roomKey(room), h.resumeKey(room), h.instKey(h.id)},
		peer, hash, h.id, room+"\n"+peer, h.cfg.Prefix, payload).Int64()
	if err != nil {
		return &HubError{Op: "takeover", Err: err}
	}
	switch res {
	case -1:
		return ErrUnknownPeer
	case -2:
		return ErrBadToken
	}
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
	h.wg.Add(2)
	go h.receive(sub.Channel(redis.WithChannelSize(1024)))
	go h.beat(ctx)
	return nil
}

func (h *redisHub) receive(ch <-chan *redis.Message) {
	defer h.wg.Done()
	for msg := range ch {
		var w redisWire
		payload := msg.Payload
		to := ""
		if !strings.HasPrefix(payload, "{") { // "peer\n" + message, from routeScript
			var ok bool
			to, payload, ok = strings.Cut(payload, "\n")
			if !ok {
				h.cfg.Logger.Warn("redis hub: malformed message")
				continue
			}
		}
		if err := json.Unmarshal([]byte(payload), &w); err != nil {
			h.cfg.Logger.Warn("redis hub: malformed message", "err", err)
			continue
		}
		switch w.Kind {
		case "m":
			h.d.Deliver(Envelope{Room: w.Room, From: w.From, To: to, Type: w.Type, Frame: []byte(w.Frame)})
		case "j":
			h.d.PeerJoined(w.Room, w.Peer)
		case "l":
			h.d.PeerLeft(w.Room, w.Peer)
		case "v":
			h.d.PeerMoved(w.Room, w.Peer)
		}
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

var joinScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return -2 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
local all = redis.call('HGETALL', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
return all
`)

var leaveScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[3])
return redis.call('HGETALL', KEYS[1])
`)

func (h *redisHub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// pairs turns an HGETALL reply into peer → instance.
func pairs(v any) map[string]string {
	arr, _ := v.([]any)
	out := make(map[string]string, len(arr)/2)
	for i := 0; i+1 < len(arr); i += 2 {
		k, _ := arr[i].(string)
		val, _ := arr[i+1].(string)
		out[k] = val
	}
	return out
}

func (h *redisHub) Join(ctx context.Context, room, peer string, capacity int) ([]string, error) {
	if h.isClosed() {
		return nil, ErrHubClosed
	}
	res, err := joinScript.Run(ctx, h.rdb, []string{h.roomKey(room), h.instKey(h.id)}, peer, h.id, capacity, room+"\n"+peer).Result()
	if err != nil {
		return nil, &HubError{Op: "join", Err: err}
	}
	if n, ok := res.(int64); ok {
		if n == -2 {
			return nil, ErrPeerTaken
		}
		return nil, ErrRoomFull
	}
	members := pairs(res)
	others := make([]string, 0, len(members))
	for p := range members {
		others = append(others, p)
	}
	sortStrings(others)
	h.publishPresence(ctx, "j", room, peer, members)
	return others, nil
}

// publishPresence tells the other instances holding members of room.
func (h *redisHub) publishPresence(ctx context.Context, kind, room, peer string, members map[string]string) {
	sent := map[string]bool{h.id: true}
	payload, _ := json.Marshal(redisWire{Kind: kind, Room: room, Peer: peer})
	for _, inst := range members {
		if sent[inst] {
			continue
		}
		sent[inst] = true
		if err := h.rdb.Publish(ctx, h.channel(inst), payload).Err(); err != nil {
			h.cfg.Logger.Warn("redis hub: publish presence", "err", err)
		}
	}
}

func (h *redisHub) Leave(ctx context.Context, room, peer string) error {
	if h.isClosed() {
		return ErrHubClosed
	}
	return h.leaveAs(ctx, room, peer, h.id)
}

// leaveAs removes peer if instance inst holds it, and reports it left to
// the instances of the remaining members (locally too when inst is not
// this instance, i.e. when reaping).
func (h *redisHub) leaveAs(ctx context.Context, room, peer, inst string) error {
	res, err := leaveScript.Run(ctx, h.rdb, []string{h.roomKey(room), h.instKey(inst), h.resumeKey(room)}, peer, inst, room+"\n"+peer).Result()
	if err != nil {
		return &HubError{Op: "leave", Err: err}
	}
	if _, ok := res.(int64); ok {
		return nil
	}
	members := pairs(res)
	if inst != h.id {
		for _, i := range members {
			if i == h.id {
				h.d.PeerLeft(room, peer)
				break
			}
		}
	}
	h.publishPresence(ctx, "l", room, peer, members)
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

// routeScript looks up the recipients and publishes to the remote ones in
// one round trip. A message goes out as "peer\n" + the wire JSON (without
// "t"), so one payload serves every recipient. It returns -1 when the
// addressed peer is not in the room, else {remote count, local peers…}.
var routeScript = redis.NewScript(`
local locals = {0}
if ARGV[3] ~= '' then
  local inst = redis.call('HGET', KEYS[1], ARGV[3])
  if not inst then return -1 end
  if inst == ARGV[1] then
    table.insert(locals, ARGV[3])
  else
    redis.call('PUBLISH', ARGV[5] .. inst, ARGV[3] .. '\n' .. ARGV[4])
    locals[1] = 1
  end
  return locals
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local p, inst = all[i], all[i + 1]
  if p ~= ARGV[2] then
    if inst == ARGV[1] then
      table.insert(locals, p)
    else
      redis.call('PUBLISH', ARGV[5] .. inst, p .. '\n' .. ARGV[4])
      locals[1] = locals[1] + 1
    end
  end
end
return locals
`)

func (h *redisHub) Route(ctx context.Context, env Envelope) (int, error) {
	if h.isClosed() {
		return 0, ErrHubClosed
	}
	payload, err := json.Marshal(redisWire{Kind: "m", Room: env.Room, From: env.From, Type: env.Type, Frame: json.RawMessage(env.Frame)})
	if err != nil {
		return 0, &HubError{Op: "route", Err: err}
	}
	res, err := routeScript.Run(ctx, h.rdb, []string{h.roomKey(env.Room)}, h.id, env.From, env.To, payload, h.channel("")).Result()
	if err != nil {
		return 0, &HubError{Op: "route", Err: err}
	}
	if n, ok := res.(int64); ok && n < 0 {
		return 0, ErrUnknownPeer
	}
	arr, _ := res.([]any)
	if len(arr) == 0 {
		return 0, &HubError{Op: "route", Err: errorf("unexpected reply %v", res)}
	}
	remote, _ := arr[0].(int64)
	n := int(remote)
	for _, v := range arr[1:] {
		peer, _ := v.(string)
		e := env
		e.To = peer
		h.d.Deliver(e)
		n++
	}
	return n, nil
}

// Close removes this instance's peers (reporting them left), its
// heartbeat and its subscription.
func (h *redisHub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
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
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	cancel, sub := h.cancel, h.sub
	h.mu.Unlock()
	h.stop(cancel, sub)
	if h.ownsRDB {
		h.rdb.Close()
	}
}
