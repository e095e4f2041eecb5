package signalserver

import (
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/pion/transport/v3"

	"github.com/natkit/natkit/internal/sidehttp"
	"github.com/pion/transport/v3/stdnet"
)

// MaxTokenTTL bounds Config.TokenTTL.
const MaxTokenTTL = 24 * time.Hour

// Config configures a Server. Zero fields take the defaults stated on each
// field; withDefaults fills them in one place.
type Config struct {
	// Net listens in ListenAndServe; default stdnet.NewNet().
	Net transport.Net
	// Logger receives the server's logs; default: discard.
	Logger *slog.Logger
	// Hub shares rooms between instances; default NewMemoryHub().
	Hub Hub

	// RoomCapacity is the most peers in a room; default 2.
	RoomCapacity int
	// MaxConnections is the most WebSocket connections; default 50000.
	MaxConnections int
	// MaxRooms is the most rooms with peers on this instance; default 25000.
	MaxRooms int
	// MaxMessageSize is the largest client frame in bytes; default 64 KiB.
	// A larger frame gets too_large, then the connection is closed.
	MaxMessageSize int
	// RatePerSecond and RateBurst are the per-connection token bucket;
	// default 50 messages/s with a burst of 100. Over it: rate_limited.
	RatePerSecond float64
	RateBurst     int
	// SendQueue is the per-connection queue of outgoing frames; default 64.
	// A consumer that lets it fill is disconnected ("slow consumer").
	SendQueue int
	// WriteTimeout bounds one frame write; default 10s.
	WriteTimeout time.Duration
	// HeartbeatInterval is how often the server pings; default 20s.
	HeartbeatInterval time.Duration
	// IdleTimeout closes a connection that sent nothing and answered no
	// ping for this long; default 60s.
	IdleTimeout time.Duration
	// QueueTTL is how long a message for a peer that has not joined (or is
	// reconnecting) waits before its sender gets "undelivered"; default 10s.
	QueueTTL time.Duration
	// QueueMax bounds the queued messages per room and per away peer;
	// default 64.
	QueueMax int
	// ResumeGrace is how long a peer whose connection dropped stays in its
	// room, queueing messages, awaiting a resume; default 10s; negative
	// disables resume.
	ResumeGrace time.Duration

	// TURNSecrets are coturn use-auth-secret shared secrets; the first mints
	// credentials (the others are for the relays during a rotation). Default
	// none: /v1/ice-servers answers 503 and joined carries no iceServers.
	TURNSecrets []string
	// TURNURLs are the uris handed out (turn:, turns:, stun:); required
	// with TURNSecrets.
	TURNURLs []string
	// TokenTTL is the lifetime of minted TURN credentials; default 1h, at
	// most 24h.
	TokenTTL time.Duration
	// TokenRatePerSecond and TokenBurst rate-limit /v1/ice-servers per
	// client IP; default 5/s, burst 20.
	TokenRatePerSecond float64
	TokenBurst         int

	// AuthSecret, when set, makes join require a room token: an HS256 JWT
	// with claims room, exp and optional sub (the peer id). Default none.
	AuthSecret string
	// AllowedOrigins are extra browser origins ("https://app.example.com",
	// path.Match patterns allowed) for /ws and CORS. The same origin is
	// always allowed. Default: none, plus any localhost origin when empty.
	AllowedOrigins []string

	// EventLoops is how many epoll loops serve the WebSockets that arrive
	// over plain TCP on a real socket (Linux): such a connection holds no
	// goroutine and no buffer while idle. Default 1; negative: none, every
	// connection has a reader goroutine (as on vnet, TLS and other systems).
	EventLoops int

	// PprofAddr, if set, serves net/http/pprof's /debug/pprof/ on its own
	// TCP listener at this HOST:PORT (an IP or localhost; port 0 picks
	// one, see Server.PprofAddr), never on the signaling port. The
	// profiles expose the process's internals: keep it on loopback or an
	// internal interface; a non-loopback address is served (it was named
	// explicitly) with a warning in the log. Default: "", off.
	PprofAddr string
	// MetricsAddr, if set, serves Prometheus /metrics (the server's
	// metrics with the Go runtime and process collectors) and /healthz on
	// its own TCP listener at this HOST:PORT (see Server.MetricsAddr).
	// Default: "", off.
	MetricsAddr string
}

func (c Config) withDefaults() Config {
	if c.Net == nil {
		if n, err := stdnet.NewNet(); err == nil {
			c.Net = n
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Hub == nil {
		c.Hub = NewMemoryHub()
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.RoomCapacity, 2)
	def(&c.MaxConnections, 50000)
	def(&c.MaxRooms, 25000)
	def(&c.MaxMessageSize, 64<<10)
	if c.RatePerSecond == 0 {
		c.RatePerSecond = 50
	}
	def(&c.RateBurst, 100)
	def(&c.SendQueue, 64)
	def(&c.EventLoops, 1)
	defD(&c.WriteTimeout, 10*time.Second)
	defD(&c.HeartbeatInterval, 20*time.Second)
	defD(&c.IdleTimeout, 60*time.Second)
	defD(&c.QueueTTL, 10*time.Second)
	def(&c.QueueMax, 64)
	defD(&c.ResumeGrace, 10*time.Second)
	defD(&c.TokenTTL, time.Hour)
	if c.TokenRatePerSecond == 0 {
		c.TokenRatePerSecond = 5
	}
	def(&c.TokenBurst, 20)
	return c
}

// validate checks a Config after defaults.
func (c Config) validate() error {
	pos := []struct {
		name string
		v    int
	}{
		{"RoomCapacity", c.RoomCapacity}, {"MaxConnections", c.MaxConnections}, {"MaxRooms", c.MaxRooms},
		{"MaxMessageSize", c.MaxMessageSize}, {"RateBurst", c.RateBurst}, {"SendQueue", c.SendQueue},
		{"QueueMax", c.QueueMax}, {"TokenBurst", c.TokenBurst},
	}
	for _, p := range pos {
		if p.v < 0 {
			return configErrorf(p.name, "%d is negative", p.v)
		}
	}
	if c.RoomCapacity < 2 {
		return configErrorf("RoomCapacity", "%d: a room needs room for at least 2 peers", c.RoomCapacity)
	}
	if c.RatePerSecond < 0 || c.TokenRatePerSecond < 0 {
		return configErrorf("RatePerSecond", "rates must be positive")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"WriteTimeout", c.WriteTimeout}, {"HeartbeatInterval", c.HeartbeatInterval}, {"IdleTimeout", c.IdleTimeout}, {"QueueTTL", c.QueueTTL}, {"TokenTTL", c.TokenTTL}} {
		if d.v < 0 {
			return configErrorf(d.name, "%s is negative", d.v)
		}
	}
	if c.IdleTimeout <= c.HeartbeatInterval {
		return configErrorf("IdleTimeout", "%s must be longer than HeartbeatInterval %s", c.IdleTimeout, c.HeartbeatInterval)
	}
	if c.TokenTTL > MaxTokenTTL {
		return configErrorf("TokenTTL", "%s is longer than the maximum of 24h", c.TokenTTL)
	}
	for i, s := range c.TURNSecrets {
		if s == "" {
			return configErrorf("TURNSecrets", "secret %d is empty", i+1)
		}
	}
	if len(c.TURNSecrets) > 0 && len(c.TURNURLs) == 0 {
		return configErrorf("TURNURLs", "a TURN secret needs at least one TURN URL to hand out")
	}
	for _, u := range c.TURNURLs {
		if err := checkICEURL(u); err != nil {
			return configErrorf("TURNURLs", "%q: %v", u, err)
		}
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return configErrorf("MetricsAddr", "%q: want HOST:PORT", c.MetricsAddr)
		}
	}
	if c.PprofAddr != "" {
		if err := sidehttp.CheckAddr(c.PprofAddr); err != nil {
			return configErrorf("PprofAddr", "%q: %v", c.PprofAddr, err)
		}
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		if !strings.Contains(o, "://") {
			return configErrorf("AllowedOrigins", "%q: want scheme://host[:port], e.g. https://app.example.com", o)
		}
	}
	return nil
}

func checkICEURL(s string) error {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return errorf("want stun:, turn: or turns: followed by host[:port]")
	}
	switch scheme {
	case "stun", "stuns", "turn", "turns":
	default:
		return errorf("scheme %q: want stun, stuns, turn or turns", scheme)
	}
	host, query, _ := strings.Cut(rest, "?")
	if strings.HasPrefix(host, "//") || host == "" {
		return errorf("want %s:host[:port] without //", scheme)
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return errorf("query %q: %v", query, err)
		}
		if t := q.Get("transport"); t != "" && t != "udp" && t != "tcp" {
			return errorf("transport=%q: want udp or tcp", t)
		}
	}
	return nil
}
